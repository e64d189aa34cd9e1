"""Grounded chat (webinfer.rag.ground): a Retriever over a Store with a real embedder (the tiny
random BERT of tests/data/embed for the mechanics, all-MiniLM-L6-v2 where the question must
find its chunk by meaning), prompts counted with the real chat model's tokenizer and template,
and the real chat model (greedy) answering a question it cannot know without the document."""

from __future__ import annotations

from pathlib import Path

import pytest

import webinfer
from webinfer.errors import ContextLengthError, WebinferError
from webinfer.rag import Retriever, Store, grounded_messages
from webinfer.rag.ground import INSTRUCTION, Source, _with_sources, reserve_for

TINY = Path(__file__).resolve().parents[1] / "data" / "embed" / "tiny"

DOCS = {   # "Zubrowka" and "Lutz" are made up: the chat model cannot know them
    "zubrowka.txt": "Zubrowka is a small mountain republic in central Europe. The capital of Zubrowka is Lutz, "
                    "a spa town on the river Nebelsbad. Lutz has about forty thousand inhabitants.",
    "bakery.txt": "The bakery on Mill Street opens at six in the morning. Its rye bread is baked in a "
                  "wood-fired oven and sells out by noon.",
    "comet.txt": "Comet Hallebrand returns every 83 years. It was last seen in 1990 and is named after the "
                 "astronomer who first computed its orbit.",
}
QUESTION = "What is the capital of Zubrowka?"


@pytest.fixture(scope="module")
def tiny_kb():
    kb = Retriever(Store.open(":memory:"), webinfer.load_embedder(TINY, device="numpy"))
    for name, text in DOCS.items():
        kb.add(name, text * 3)               # several chunks each: the tiny model reads 62 tokens
    return kb


@pytest.fixture(scope="module")
def minilm_kb(embed_model_path):
    kb = Retriever(Store.open(":memory:"), webinfer.load_embedder(embed_model_path, device="numpy"))
    for name, text in DOCS.items():
        kb.add(name, text)
    return kb


def test_chunks_fit_the_embedder(tiny_kb):
    assert tiny_kb.chunk_tokens == tiny_kb.embedder.max_length - 2 < 128
    tok = tiny_kb.embedder.tokenizer
    for d in tiny_kb.store.documents():
        chunks = tiny_kb.store.chunks(d.id)
        assert len(chunks) > 1
        assert all(len(tok.encode(c.text, add_special=False)) <= tiny_kb.chunk_tokens for c in chunks)


def test_prompt_stays_within_budget(tiny_kb, numpy_model):
    hits = tiny_kb.retrieve(DOCS["bakery.txt"], k=6)
    # the best hit is the text itself (the query truncated at the tiny model's 64 tokens)
    assert len(hits) == 6 and hits[0].doc_name == "bakery.txt" and hits[0].score > 0.99
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]
    full, used_all = grounded_messages(numpy_model, msgs, hits)
    assert [s.index for s in used_all] == [1, 2, 3, 4, 5, 6]            # all fit in 4096 - reserve
    assert [s.score for s in used_all] == sorted((h.score for h in hits), reverse=True)
    need = len(numpy_model.encode_chat(full))
    for budget in (need - 1, need - 60, need - 150):
        got, used = grounded_messages(numpy_model, msgs, hits, budget=budget)
        assert len(numpy_model.encode_chat(got)) <= budget
        assert 0 < len(used) < 6
        assert used[0].text == hits[0].chunk.text                      # the best one stays
        assert [s.index for s in used] == list(range(1, len(used) + 1))
        # each chunk left out would not have fit beside the better-scored ones that went in
        kept = {(s.doc_id, s.ordinal) for s in used}
        for h in hits:
            if (h.chunk.doc_id, h.chunk.ordinal) not in kept:
                above = [s for s in used if s.score >= h.score]
                extra = Source(len(above) + 1, h.doc_name, h.chunk.doc_id, h.chunk.ordinal, h.score, h.chunk.text)
                assert len(numpy_model.encode_chat(_with_sources(msgs, above + [extra]))) > budget
        system = got[0]["content"]
        assert got[0]["role"] == "system" and system.startswith("Be brief.\n\n" + INSTRUCTION)
        assert got[1:] == msgs[1:]                                      # the question stays last, as written
        for s in used:
            assert f'[{s.index}] (from "{s.doc_name}") {s.text}' in system
    bare = len(numpy_model.encode_chat(msgs))
    got, used = grounded_messages(numpy_model, msgs, hits, budget=bare)
    assert used == [] and got == msgs
    with pytest.raises(ContextLengthError, match="over the"):
        grounded_messages(numpy_model, msgs, hits, budget=bare - 1)
    # the default budget keeps room for the answer
    assert reserve_for(numpy_model, 100) == 100 and reserve_for(numpy_model, 10**6) == numpy_model.n_ctx // 4


def test_right_chunk_is_retrieved(minilm_kb):
    hits = minilm_kb.retrieve(QUESTION, k=3)
    assert hits[0].doc_name == "zubrowka.txt" and "capital of Zubrowka is Lutz" in hits[0].chunk.text
    assert hits[0].score > hits[1].score + 0.3
    assert minilm_kb.retrieve("When does the bread sell out?", k=1)[0].doc_name == "bakery.txt"


def test_retrieval_changes_the_answer(minilm_kb, numpy_model):
    """Greedy: without the document the model makes a capital up; with it, it says Lutz, and
    the reply names the chunk it was given."""
    msgs = [{"role": "user", "content": QUESTION}]
    bare = numpy_model.create_chat_completion(msgs, temperature=0, max_tokens=12)
    grounded = numpy_model.create_chat_completion(msgs, retriever=minilm_kb, k=2, temperature=0, max_tokens=12)
    assert "Lutz" not in bare["choices"][0]["message"]["content"] and "sources" not in bare
    assert "Lutz" in grounded["choices"][0]["message"]["content"], grounded
    src = grounded["sources"]
    assert [s["index"] for s in src] == [1, 2] and src[0]["document"] == "zubrowka.txt"
    assert src[0]["text"] == DOCS["zubrowka.txt"] and src[0]["chunk"] == 0
    assert src[0]["score"] > src[1]["score"]
    assert grounded["usage"]["prompt_tokens"] > bare["usage"]["prompt_tokens"] + 50


def test_streamed_reply_names_its_sources_first(minilm_kb, numpy_model):
    chunks = list(numpy_model.create_chat_completion([{"role": "user", "content": QUESTION}], stream=True,
                                                     retriever=minilm_kb, k=1, temperature=0, max_tokens=1))
    assert [s["document"] for s in chunks[0]["sources"]] == ["zubrowka.txt"]
    assert all("sources" not in c for c in chunks[1:])


def test_bad_use_is_named(tiny_kb, numpy_model, embed_model_path):
    with pytest.raises(WebinferError, match="needs retriever"):
        numpy_model.create_chat_completion([{"role": "user", "content": "hi"}], k=3, max_tokens=1)
    with pytest.raises(WebinferError, match="no user message"):
        numpy_model.create_chat_completion([{"role": "system", "content": "hi"}], retriever=tiny_kb, max_tokens=1)
    with pytest.raises(WebinferError, match="non-empty text"):
        tiny_kb.retrieve("   ")
    with pytest.raises(WebinferError, match="32-d vectors; this embedder makes 384-d"):
        Retriever(tiny_kb.store, webinfer.load_embedder(embed_model_path, device="numpy"))
