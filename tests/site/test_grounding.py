"""The chat page's grounded prompt (site/py/grounding.py), in CPython: the retrieved chunks go into
the question's message best first while they fit the token budget (counted with the chat model's
tokenizer), a chunk too long for what is left is skipped for a shorter one, and with no room the
question goes alone. Chunks come from a real webinfer.rag store embedded by the tests' tiny BERT."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "site" / "py"))
from grounding import PREAMBLE, grounded_message  # noqa: E402

LONG = "Zebras live in herds on the open savanna and their stripes are unique to each animal. " * 12
SHORT = "Oswin keeps the lighthouse."


@pytest.fixture(scope="module")
def hits():
    import webinfer
    from webinfer.rag import Store
    emb = webinfer.load_embedder(REPO / "tests" / "data" / "embed" / "tiny", device="numpy")
    store = Store.open(":memory:")
    store.add("long.txt", LONG, embed=emb.embed, tokenizer=emb.tokenizer, chunk_tokens=1000)
    store.add("short.txt", SHORT, embed=emb.embed, tokenizer=emb.tokenizer)
    found = store.search(emb.embed(["zebra stripes"])[0], k=2)
    long_first = sorted(found, key=lambda h: -len(h.chunk.text))      # the long chunk ranks first here
    return long_first


@pytest.fixture(scope="module")
def count(model_file):
    from webinfer.formats.gguf import read_gguf
    from webinfer.rag import token_counter
    from webinfer.tokenizer import Tokenizer
    return token_counter(Tokenizer.from_metadata(read_gguf(model_file).metadata))


def test_all_fit(hits, count):
    message, used = grounded_message("Who keeps the lighthouse?", hits, count, 10_000)
    assert used == hits
    assert message.startswith(PREAMBLE) and message.endswith("\n\nQuestion: Who keeps the lighthouse?")
    assert "[1] long.txt:\n" + LONG.strip() in message and "[2] short.txt:\n" + SHORT in message


def test_budget_skips_a_long_chunk_for_a_short_one(hits, count):
    question = "Who keeps the lighthouse?"
    budget = count(PREAMBLE + "\n\nQuestion: " + question) + count("[1] short.txt:\n" + SHORT + "\n\n") + 5
    message, used = grounded_message(question, hits, count, budget)
    assert [h.doc_name for h in used] == ["short.txt"]
    assert count(message) <= budget and LONG.strip() not in message


def test_no_room_means_the_question_alone(hits, count):
    assert grounded_message("Who?", hits, count, 10) == ("Who?", [])
    assert grounded_message("Who?", [], count, 10_000) == ("Who?", [])
