"""The chat page's grounded turn (site/py/grounding.py), in CPython: the prompt is exactly the
library's (webinfer.rag.grounded_messages over the page's ChatSession), older turns are dropped
to make room for the chunks (up to half the context), the prompt leaves the answer's reserve
free, and the session keeps the question alone. With the real chat model's tokenizer and
template at a 512-token context, and chunks from a real webinfer.rag store embedded by the
tests' tiny BERT."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "site" / "py"))
from grounding import SOURCE_SHARE, grounded_turn  # noqa: E402

LONG = "Zebras live in herds on the open savanna and their stripes are unique to each animal. " * 3
SHORT = "Oswin keeps the lighthouse."
FILLER = "Tell me about rivers, mountains, valleys, farms, towns and the sea, please, in some detail. " * 3
RESERVE = 64


@pytest.fixture(scope="module")
def model(model_file):
    import webinfer
    return webinfer.load(str(model_file), device="numpy", n_ctx=512)


def stored_hits(docs: dict) -> list:
    """Every chunk of these documents as search hits (one chunk each), best for "zebra stripes" first."""
    import webinfer
    from webinfer.rag import Store
    emb = webinfer.load_embedder(REPO / "tests" / "data" / "embed" / "tiny", device="numpy")
    store = Store.open(":memory:")
    for name, text in docs.items():
        store.add(name, text, embed=emb.embed, tokenizer=emb.tokenizer, chunk_tokens=1000)
    return store.search(emb.embed(["zebra stripes"])[0], k=len(docs))


@pytest.fixture(scope="module")
def hits():
    return stored_hits({"long.txt": LONG, "short.txt": SHORT})


def chat(model, turns: int, question: str = "Who keeps the lighthouse?"):
    session = model.chat(system="Be brief.")
    for i in range(turns):
        session.messages += [{"role": "user", "content": f"{i}: {FILLER}"}, {"role": "assistant", "content": "Sure."}]
    session.messages.append({"role": "user", "content": question})
    return session


def test_the_prompt_is_the_librarys(model, hits):
    from webinfer.rag import grounded_messages
    session = chat(model, 0)
    before = [dict(m) for m in session.messages]
    ids, sources = grounded_turn(model, session, hits, RESERVE)
    messages, want = grounded_messages(model, before, hits, budget=model.n_ctx - RESERVE)
    assert ids == model.encode_chat(messages) and sources == want and len(sources) == 2
    assert messages[0]["role"] == "system" and messages[0]["content"].startswith("Be brief.\n\n")
    assert all(s.text in messages[0]["content"] for s in sources)
    assert session.messages == before                 # the history keeps the question alone


def test_older_turns_make_room_for_the_chunks(model, hits):
    session = chat(model, 5)
    bare = len(model.encode_chat(session.messages))
    assert bare + RESERVE <= model.n_ctx < bare + RESERVE + 150   # fits alone, not with the chunks
    ids, sources = grounded_turn(model, session, hits, RESERVE)
    assert len(sources) == 2 and len(ids) + RESERVE <= model.n_ctx
    kept = [m["content"][:2] for m in session.messages if m["content"].startswith(tuple("0123456789"))]
    assert kept and kept[0] != "0:" and kept[-1] == "4:"          # the oldest went, the newest stayed
    assert session.messages[0]["content"] == "Be brief." and session.messages[-1]["content"] == "Who keeps the lighthouse?"


def test_chunks_claim_at_most_their_share(model):
    """A chunk larger than SOURCE_SHARE of the context does not push the whole history out: older
    turns go only until the share is free, the huge chunk is left out and the short one goes in."""
    huge = LONG * 6
    share = int(model.n_ctx * SOURCE_SHARE)
    assert len(model.encode_chat([{"role": "user", "content": huge}])) > share
    session = chat(model, 3)
    ids, sources = grounded_turn(model, session, stored_hits({"huge.txt": huge, "short.txt": SHORT}), RESERVE)
    assert [s.doc_name for s in sources] == ["short.txt"] and len(ids) + RESERVE <= model.n_ctx
    turns = [m["content"][:2] for m in session.messages if m["role"] == "user"][:-1]
    assert turns == ["1:", "2:"], turns           # one turn made room for the share, two stayed


def test_without_hits_it_is_chatsessions_prompt(model):
    a, b = chat(model, 6), chat(model, 6)
    assert grounded_turn(model, a, [], RESERVE) == (b.prompt_ids(RESERVE), [])


def test_a_question_too_long_is_refused(model, hits):
    from webinfer.errors import ContextLengthError
    session = chat(model, 2, question=FILLER * 10)
    with pytest.raises(ContextLengthError):
        grounded_turn(model, session, hits, RESERVE)
