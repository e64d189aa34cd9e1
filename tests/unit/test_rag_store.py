"""webinfer.rag in CPython: the store's API, chunking, exact and IVF search, atomic writes, and
bad input (empty, oversized, binary, any script; corrupt and newer store files left intact).

Vectors come from `hash_embed`, a real (if crude) embedding: bag of words hashed into 64
dimensions, so texts sharing words are close; or from seeded random clusters for search maths.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3

import numpy as np
import pytest

from webinfer.errors import DocumentError, StoreError
from webinfer.rag import MAX_DOCUMENT_BYTES, SCHEMA_VERSION, Store, chunk_text, simple_count, token_counter
from webinfer.rag import ivf
from webinfer.rag.persist import load_sqlite3
from webinfer.sources import default_model_path

DIM = 64
STORY = ("The lighthouse keeper counted ships every night. Cats slept on the warm stones by the lamp. "
         "In winter the sea froze near the harbour, and the keeper wrote letters to his sister in the city. ") * 20
SCRIPTS = {
    "cjk": "東京は日本の首都です。人口は約千四百万人で、世界最大級の都市圏を形成している。" * 30,
    "rtl": "مرحبا بالعالم، هذه وثيقة باللغة العربية. שלום עולם, זהו מסמך בעברית. " * 30,
    "emoji": "family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 skin 👍🏽 and text é (e\u0301) ñ ÷ — done. " * 30,
}


def hash_embed(texts):
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % DIM] += 1
    out[:, 0] += 1e-3          # no all-zero row (a text of punctuation only)
    return out


def clustered(n, dim, n_clusters, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, n_clusters, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    return ivf.normalize(x)


def vectors_embed(pool):
    """embed() handing out rows of `pool` in order: for tests that need chosen vectors."""
    it = iter(pool)
    return lambda texts: np.stack([next(it) for _ in texts])


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.sqlite")
    yield s
    s.close()


# --- chunking --------------------------------------------------------------------------------

def _check_chunks(text, chunks, count, chunk_tokens, overlap):
    assert chunks
    for c in chunks:
        assert text[c.char_start:c.char_end] == c.text and c.text == c.text.strip()
        assert 0 < c.tok_end - c.tok_start <= chunk_tokens
    for a, b in zip(chunks, chunks[1:]):
        assert a.tok_start < b.tok_start and 0 <= a.tok_end - b.tok_start <= overlap
        assert not text[a.char_end:b.char_start].strip()     # every non-space character is in a chunk
    assert chunks[0].char_start == len(text) - len(text.lstrip()) and chunks[-1].char_end == len(text.rstrip())


@pytest.mark.parametrize("chunk_tokens,overlap", [(16, 0), (32, 8), (128, 16)])
def test_chunks_are_slices_within_the_budget(chunk_tokens, overlap):
    chunks = chunk_text(STORY, simple_count, chunk_tokens, overlap)
    _check_chunks(STORY, chunks, simple_count, chunk_tokens, overlap)
    assert chunks[-1].tok_end == simple_count(STORY)


@pytest.mark.skipif(not default_model_path().exists(), reason="the default model (its tokenizer) is not downloaded")
def test_chunks_by_the_chat_models_tokenizer():
    from webinfer.formats.gguf import read_gguf
    from webinfer.tokenizer import Tokenizer
    tok = Tokenizer.from_metadata(read_gguf(str(default_model_path())).metadata)
    count = token_counter(tok)
    for text in [STORY, *SCRIPTS.values()]:
        chunks = chunk_text(text, count, 48, 8)
        _check_chunks(text, chunks, count, 48, 8)
        for c in chunks:    # the pieces' counts are the chunk's own count, give or take a merge
            assert abs(len(tok.encode(c.text, add_special=False)) - (c.tok_end - c.tok_start)) <= 2, c.text


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_any_script_chunks_and_round_trips(store, name):
    text = SCRIPTS[name]
    _check_chunks(text, chunk_text(text, simple_count, 24, 4), simple_count, 24, 4)
    doc = store.add(name, text, {"script": name, "note": "é 日本 😀"}, embed=hash_embed, chunk_tokens=24, overlap=4)
    assert store.document_text(doc) == text
    assert store.documents()[0].metadata == {"script": name, "note": "é 日本 😀"}
    chunks = store.chunks(doc)
    assert all(text[c.char_start:c.char_end] == c.text for c in chunks)
    hit = store.search(hash_embed([chunks[3].text])[0], k=1)[0]
    assert hit.chunk.text == chunks[3].text or hit.score == pytest.approx(1.0, abs=1e-6)   # repeats tie


def test_counters():
    assert simple_count("Hello, world!") == 4 and simple_count("日本語") == 3 and simple_count("") == 0
    assert token_counter(lambda s: s.split())("a b c") == 3 and token_counter(len)("abcd") == 4
    with pytest.raises(ValueError, match="overlap"):
        chunk_text("x", simple_count, 8, 8)


# --- the store -------------------------------------------------------------------------------

def test_add_list_search_reopen(tmp_path):
    path = tmp_path / "docs.sqlite"
    with Store.open(path) as s:
        a = s.add("story.txt", STORY, {"source": "test"}, embed=hash_embed, chunk_tokens=32, overlap=8)
        b = s.add("other.txt", "Quantum chromodynamics describes quarks and gluons.", embed=hash_embed)
        docs = s.documents()
        assert [(d.id, d.name, d.n_chunks) for d in docs] == [(a, "story.txt", len(s.chunks(a))), (b, "other.txt", 1)]
        assert docs[0].metadata == {"source": "test"} and s.dim == DIM
        hits = s.search(hash_embed(["quarks and gluons"])[0], k=3)
        assert hits[0].doc_name == "other.txt" and hits[0].score > hits[1].score
        hits = s.search(hash_embed(["the cats slept on warm stones"])[0], k=3)
        assert {h.doc_name for h in hits} == {"story.txt"} and "Cats slept" in hits[0].chunk.text
        before = [(h.chunk, h.score) for h in hits]
        vectors = s.vectors(a)
    with Store.open(path) as s:
        assert [(h.chunk, h.score) for h in s.search(hash_embed(["the cats slept on warm stones"])[0], k=3)] == before
        assert np.array_equal(s.vectors(a), vectors)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-6)


def test_exact_search_is_brute_force_cosine(store):
    x = np.random.default_rng(1).standard_normal((300, 24)).astype(np.float32)
    store.add("r", " ".join(f"w{i}" for i in range(300)), embed=vectors_embed(x), chunk_tokens=1, overlap=0)
    q = np.random.default_rng(2).standard_normal(24)
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    hits = store.search(q, k=10)
    assert [h.chunk.ordinal for h in hits] == list(np.argsort(-cos)[:10])
    assert np.allclose([h.score for h in hits], np.sort(cos)[::-1][:10], atol=1e-5)
    assert len(store.search(q, k=1000)) == 300


def test_ivf_recall_and_upkeep(store):
    x = clustered(6000, 32, 40, seed=3)
    words = " ".join(f"w{i}" for i in range(6000))
    store.add("c", words, embed=vectors_embed(x), chunk_tokens=1, overlap=0)
    assert store.build_index() == ivf.default_lists(6000)
    queries = clustered(50, 32, 40, seed=4)
    recall = np.mean([len({h.chunk.id for h in store.search(q, 10)} & {h.chunk.id for h in store.search(q, 10, exact=False)})
                      / 10 for q in queries])
    assert recall >= 0.9, recall
    assert {h.chunk.id for h in store.search(queries[0], 10, exact=False, nprobe=10**6)} == \
        {h.chunk.id for h in store.search(queries[0], 10)}       # probing every cell is exact
    # later adds join the index's cells; deletes leave it
    extra = store.add("near", "a b", embed=vectors_embed(queries[:2]), chunk_tokens=1, overlap=0)
    assert store.search(queries[0], 1, exact=False)[0].chunk.doc_id == extra
    n_members = store._conn.execute("SELECT count(*) FROM ivf_members").fetchone()[0]
    assert n_members == store.count() == 6002
    store.delete(extra)
    assert store._conn.execute("SELECT count(*) FROM ivf_members").fetchone()[0] == 6000


def test_delete_and_clear(store):
    a = store.add("a", "alpha beta", embed=hash_embed)
    b = store.add("b", "gamma delta", embed=hash_embed)
    assert store.delete(a) and not store.delete(a)
    assert [d.name for d in store.documents()] == ["b"] and store.chunks(a) == []
    assert all(h.doc_name == "b" for h in store.search(hash_embed(["alpha"])[0], k=5))
    store.clear()
    assert store.documents() == [] and store.count() == 0 and store.search(hash_embed(["x"])[0]) == []
    assert store.dim == DIM and b


def test_another_connections_change_is_seen(tmp_path):
    with Store.open(tmp_path / "s.sqlite") as one, Store.open(tmp_path / "s.sqlite") as two:
        one.add("a", "alpha beta", embed=hash_embed)
        assert len(two.search(hash_embed(["alpha"])[0])) == 1      # two caches its matrix here
        one.add("b", "alpha gamma", embed=hash_embed)
        assert len(two.search(hash_embed(["alpha"])[0])) == 2      # ... and sees one's commit


def test_add_async_awaits_the_embedder(store):
    async def embed(texts):
        await asyncio.sleep(0)
        return hash_embed(texts)
    doc = asyncio.run(store.add_async("a", STORY, embed=embed, chunk_tokens=32))
    assert len(store.chunks(doc)) > 1
    with pytest.raises(StoreError, match="add_async"):
        store.add("b", STORY, embed=embed)
    assert len(store.documents()) == 1
    asyncio.run(load_sqlite3())                                     # CPython: nothing to load


# --- bad input -------------------------------------------------------------------------------

def _file_bytes(store):
    return open(store.path, "rb").read()


def test_nothing_stored_when_embedding_fails(store):
    store.add("keep", "kept text", embed=hash_embed)
    before = _file_bytes(store)
    calls = []

    def failing(texts):
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("the GPU went away")
        return hash_embed(texts)
    with pytest.raises(RuntimeError, match="GPU went away"):
        store.add("big", STORY * 3, embed=failing, chunk_tokens=8, overlap=0)     # > 64 chunks: 2+ batches
    for bad, match in [(lambda t: np.ones((len(t), DIM + 1)), r"shape \(\d+, 65\).*needs \(\d+, 64\)"),
                       (lambda t: np.full((len(t), DIM), np.nan), "NaN"),
                       (lambda t: [[1.0]] * (len(t) + 1), "shape")]:
        with pytest.raises(StoreError, match=match):
            store.add("bad", STORY, embed=bad)
    assert [d.name for d in store.documents()] == ["keep"] and _file_bytes(store) == before


def test_first_add_fixes_the_width_from_its_first_batch(store):
    widths = iter([16, 17])
    with pytest.raises(StoreError, match=r"shape \(\d+, 17\); the store needs \(\d+, 16\)"):
        store.add("a", STORY * 3, embed=lambda t: np.ones((len(t), next(widths))), chunk_tokens=8, overlap=0)
    assert store.dim is None and store.documents() == []


@pytest.mark.parametrize("text,match", [
    ("", "is empty"),
    (" \n\t ", r"is empty \(only whitespace\)"),
    ("abc\x00def", "NUL byte.*character 3"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8.*0x89 at offset 0"),
    (b"ok then \xff\xfe", "not UTF-8.*0xff at offset 8"),
    ("lone \udc80 surrogate", "lone surrogate.*U\\+DC80"),
    ("\x01\x02\x03\x04 words " * 50, "control characters"),
    (12345, "expected str or UTF-8 bytes, got int"),
])
def test_bad_documents_are_refused(store, text, match):
    store.add("keep", "kept", embed=hash_embed)
    before = _file_bytes(store)
    with pytest.raises(DocumentError, match=match):
        store.add("doc.bin", text, embed=hash_embed)
    assert len(store.documents()) == 1 and _file_bytes(store) == before


def test_a_50_mb_paste_is_refused_with_its_size_and_the_limit(store):
    paste = "All work and no play makes Jack a dull boy. " * (50 * 2**20 // 44)
    with pytest.raises(DocumentError, match=r"at least 52,428,\d+ bytes \(50\.0 MiB\).*limit is 10,485,760 bytes "
                                            r"\(10\.0 MiB\)"):
        store.add("paste", paste, embed=hash_embed)
    with pytest.raises(DocumentError, match=r"is 52,428,\d+ bytes \(50\.0 MiB\); the limit"):
        store.add("paste", paste.encode(), embed=hash_embed)
    wide = "日本語" * (MAX_DOCUMENT_BYTES // 6)       # under the limit in characters, over it in UTF-8
    with pytest.raises(DocumentError, match=r"is 15,728,\d+ bytes \(15\.0 MiB\) of UTF-8"):
        store.add("wide", wide, embed=hash_embed)
    assert store.documents() == []


def test_bad_names_and_metadata(store):
    for name in ["", "  ", None]:
        with pytest.raises(DocumentError, match="non-empty name"):
            store.add(name, "text", embed=hash_embed)
    with pytest.raises(DocumentError, match="not JSON"):
        store.add("a", "text", {"when": object()}, embed=hash_embed)
    with pytest.raises(DocumentError, match="must be a dict"):
        store.add("a", "text", ["x"], embed=hash_embed)
    assert store.documents() == []


def _newer(path):
    with sqlite3.connect(path) as c:
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))


def _foreign(path):
    with sqlite3.connect(path) as c:
        c.execute("DELETE FROM meta WHERE key = 'format'")


def _valid(tmp_path, name):
    path = tmp_path / name
    with Store.open(path) as s:
        s.add("story", STORY * 5, embed=hash_embed, chunk_tokens=16)
    return path


@pytest.mark.parametrize("case,match", [
    ("garbage", "not an SQLite database"),
    ("truncated", "corrupt"),
    ("scribbled", "corrupt"),
    ("other_sqlite", "not a webinfer store"),
    ("foreign", r"not a webinfer store \(tables: chunks, documents"),
    ("newer", f"schema version {SCHEMA_VERSION + 1}, written by a newer webinfer"),
    ("bad_version", r"unknown store schema \(version -1"),
    ("bad_dim", "dimension is 'wide', not a positive integer"),
    ("folder", "cannot open"),
])
def test_bad_store_files_are_refused_and_left_intact(tmp_path, case, match):
    if case == "garbage":
        path = tmp_path / "g.sqlite"
        path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    elif case == "folder":
        path = tmp_path / "f.sqlite"
        path.mkdir()
        (path / "x").write_text("x")
    elif case == "other_sqlite":
        path = tmp_path / "o.sqlite"
        with sqlite3.connect(path) as c:
            c.execute("CREATE TABLE notes (x TEXT)")
    else:
        path = _valid(tmp_path, f"{case}.sqlite")
        data = bytearray(path.read_bytes())
        if case == "truncated":
            path.write_bytes(data[:len(data) // 2])
        elif case == "scribbled":          # 4 kB in the middle (a chunks page) overwritten with noise
            mid = len(data) // 2
            data[mid:mid + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
            path.write_bytes(bytes(data))
        elif case == "newer":
            _newer(path)
        elif case == "foreign":
            _foreign(path)
        elif case in ("bad_version", "bad_dim"):
            with sqlite3.connect(path) as c:
                key, value = ("schema_version", "1.5") if case == "bad_version" else ("dim", "wide")
                c.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    if case == "folder":
        with pytest.raises(StoreError, match=match):
            Store.open(path)
        return
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match):
        Store.open(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]   # no journal left either


def test_dimension_is_fixed_per_store(tmp_path):
    with Store.open(tmp_path / "s.sqlite", dim=DIM) as s:
        assert s.dim == DIM
        with pytest.raises(StoreError, match=r"shape \(1, 8\)"):
            s.add("a", "text", embed=lambda t: np.ones((len(t), 8)))
        with pytest.raises(StoreError, match="64-d"):
            s.search(np.ones(8))
    with pytest.raises(StoreError, match="holds 64-d vectors, not 384-d"):
        Store.open(tmp_path / "s.sqlite", dim=384)
