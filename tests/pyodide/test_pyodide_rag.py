"""The vector store (webinfer.rag) inside Pyodide, on Node and in Chromium: sqlite3 loaded from the
local dist, a store made in Pyodide's file system, documents added, searched, deleted, the store
reopened; the same scenario run here in CPython gives the same chunks, scores and ranking, and
the file Pyodide wrote opens in CPython with the same answers (one schema on both sides).
A garbage file is refused in Pyodide too, and left as it was.
"""

from __future__ import annotations

import base64
import inspect
import json

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

DOCS = [   # no two chunks alike: equal vectors would tie, and ties may break either way across BLAS builds
    ("story.txt", " ".join(f"Night {i}: the keeper counted {7 * i} ships; cats slept on stone {i % 5}." for i in range(30))),
    ("tokyo.txt", "".join(f"第{i}章。東京は日本の首都で、人口は約{1400 + i}万人です。" for i in range(20))),
    ("mixed.md", " ".join(f"مرحبا {i} — שלום {i} — family 👨‍👩‍👧‍👦 café{i} (cafe\u0301)" for i in range(15))),
    ("gone.txt", "This document is deleted before the searches."),
]
QUERIES = ["cats on warm stones", "日本の首都", "שלום café", "ships at night"]


def scenario(path, docs, queries):
    """Add, delete, search, reopen; returns a JSON-able record. Runs in CPython and in Pyodide."""
    import zlib

    import numpy as np

    from webinfer.rag import Store

    def embed(texts):      # words and characters hashed into 48 dimensions (crc32: the same everywhere)
        out = np.full((len(texts), 48), 1e-3, dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % 48] += 1
            for ch in t:
                out[i, zlib.crc32(ch.encode()) % 48] += 0.1
        return out

    def searches(store):
        return [[[h.chunk.id, h.doc_name, h.chunk.text, h.score] for h in store.search(embed([q])[0], k=4)]
                for q in queries]

    store = Store.open(path)
    ids = [store.add(name, text, {"n": i, "name": name}, embed=embed, chunk_tokens=24, overlap=4)
           for i, (name, text) in enumerate(docs)]
    if ids:
        store.delete(ids[-1])
    first = searches(store)
    store.close()
    store = Store.open(path)
    record = {
        "first": first,
        "reopened": searches(store),
        "documents": [[d.id, d.name, d.metadata, d.n_chunks, d.n_chars] for d in store.documents()],
        "chunks": [[c.text, c.char_start, c.char_end, c.tok_start, c.tok_end] for d in ids[:-1] for c in store.chunks(d)],
        "vectors": [store.vectors(d).tolist() for d in ids[:-1]],
    }
    if ids:   # the IVF index (k-means in NumPy) probing all its cells: the exact answer
        n_lists = store.build_index(n_lists=4)
        record["ivf"] = [[[h.chunk.id, h.score] for h in store.search(embed([q])[0], k=4, exact=False, nprobe=n_lists)]
                         for q in queries]
    store.close()
    return record


def _mismatch(a, b, where=""):
    """Where two records differ (None if nowhere), floats compared to 1e-6: NumPy with and
    without BLAS round differently."""
    if isinstance(a, float) or isinstance(b, float):
        return None if abs(a - b) <= 1e-6 else f"{where}: {a!r} != {b!r}"
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{where}: lengths {len(a)} != {len(b)}"
        return next((m for i, (x, y) in enumerate(zip(a, b)) if (m := _mismatch(x, y, f"{where}[{i}]"))), None)
    return None if a == b else f"{where}: {a!r} != {b!r}"


@run_in_pyodide
async def _run_in_pyodide(selenium, source, docs, queries):
    import base64
    import json

    import webinfer.rag
    from webinfer.errors import StoreError

    await webinfer.rag.load_sqlite3()
    namespace = {}
    exec(source, namespace)
    record = namespace["scenario"]("/tmp/rag-test.sqlite", docs, queries)
    with open("/tmp/rag-test.sqlite", "rb") as f:
        record["file"] = base64.b64encode(f.read()).decode()
    with open("/tmp/garbage.sqlite", "wb") as f:
        f.write(b"not a database" * 100)
    try:
        webinfer.rag.Store.open("/tmp/garbage.sqlite")
        record["garbage"] = "opened"
    except StoreError as e:
        record["garbage"] = str(e)
    with open("/tmp/garbage.sqlite", "rb") as f:
        record["garbage_intact"] = f.read() == b"not a database" * 100
    return json.dumps(record)


def test_store_in_pyodide_equals_cpython(selenium_webinfer, tmp_path):
    got = json.loads(_run_in_pyodide(selenium_webinfer, inspect.getsource(scenario), DOCS, QUERIES))
    want = scenario(tmp_path / "cpython.sqlite", DOCS, QUERIES)
    for record in (got, want):    # per-cell products round apart from the whole matrix's: 1e-6
        assert _mismatch(record["ivf"], [[[h[0], h[3]] for h in hits] for hits in record["reopened"]], "ivf") is None
    for key in want:
        assert _mismatch(got[key], want[key], key) is None
    assert got["first"] == got["reopened"]
    assert [d[1] for d in got["documents"]] == ["story.txt", "tokyo.txt", "mixed.md"]
    assert "not an SQLite database" in got["garbage"] and got["garbage_intact"]
    # the file Pyodide wrote, opened by CPython: the same answers
    from webinfer.rag import Store
    path = tmp_path / "from-pyodide.sqlite"
    path.write_bytes(base64.b64decode(got["file"]))
    with Store.open(path) as store:
        assert [d.name for d in store.documents()] == ["story.txt", "tokyo.txt", "mixed.md"]
    again = scenario(path, [], QUERIES)          # adds nothing; searches the Pyodide-made file
    assert _mismatch(again["reopened"], want["reopened"], "reopened") is None


GROUND_DOCS = {"zubrowka.txt": "The capital of Zubrowka is Lutz, a spa town on the river Nebelsbad. " * 3,
               "bakery.txt": "The bakery on Mill Street opens at six and its rye bread sells out by noon. " * 3}


@pytest.fixture(scope="module")
def ground_case():
    """The tiny BERT's files (as the browser hands them over) and CPython's retrieval with it."""
    from pathlib import Path

    import webinfer
    from webinfer.rag import Retriever, Store
    tiny = Path(__file__).resolve().parents[1] / "data" / "embed" / "tiny"
    kb = Retriever(Store.open(":memory:"), webinfer.load_embedder(tiny, device="numpy"))
    for name, text in GROUND_DOCS.items():
        kb.add(name, text)
    hits = kb.retrieve(GROUND_DOCS["bakery.txt"], k=3)
    return {"files": {n: (tiny / n).read_bytes() for n in ("config.json", "model.safetensors", "tokenizer.json")},
            "hits": [[h.doc_name, h.chunk.ordinal, h.chunk.text, h.score] for h in hits]}


@run_in_pyodide
async def _retrieve_in_pyodide(selenium, files, docs):
    import json

    import webinfer
    import webinfer.rag
    from webinfer.rag import Retriever, Store

    await webinfer.rag.load_sqlite3()
    kb = Retriever(Store.open("/tmp/ground.sqlite"), await webinfer.load_embedder_async(files, device="numpy"))
    for name, text in docs.items():
        await kb.aadd(name, text)
    hits = await kb.aretrieve(docs["bakery.txt"], k=3)
    sync_hits = kb.retrieve(docs["bakery.txt"], k=3)
    return json.dumps({"hits": [[h.doc_name, h.chunk.ordinal, h.chunk.text, h.score] for h in hits],
                       "sync": [[h.doc_name, h.chunk.ordinal, h.chunk.text, h.score] for h in sync_hits]})


def test_retriever_in_pyodide_equals_cpython(selenium_webinfer, ground_case):
    """The Retriever in Pyodide (aadd / aretrieve, and the sync retrieve on NumPy) with the tiny
    BERT: the chunks, their order and their scores that CPython gets."""
    got = json.loads(_retrieve_in_pyodide(selenium_webinfer, ground_case["files"], GROUND_DOCS))
    assert got["hits"][0][0] == "bakery.txt"
    for key in ("hits", "sync"):
        assert _mismatch(got[key], ground_case["hits"], key) is None
