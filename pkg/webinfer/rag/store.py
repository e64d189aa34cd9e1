"""The vector store: documents, chunks, metadata and vectors in one SQLite file.

    store = Store.open("notes.sqlite")                 # or ":memory:"; in the browser see persist.py
    doc = store.add("notes.md", text, {"tags": ["x"]}, embed=model.embed, tokenizer=model.tokenizer)
    for hit in store.search(model.embed([question])[0], k=5):
        print(hit.score, hit.doc_name, hit.text)

Why SQLite: it is the one embedded database that Python has in both places webinfer runs, the
standard library's `sqlite3` in CPython and Pyodide's `sqlite3` package (in the verified
Pyodide 0.27.7 set that tools/pyodide_dist.py ships), so the same file and the same code work
on disk and in the browser; the alternatives are weighed in docs/rag.md.

Schema (schema.py: version SCHEMA_VERSION, in table `meta`, with `format` = FORMAT):
- documents(id, name, added (unix time), metadata (JSON object), text, n_chars, n_tokens)
- chunks(id, doc_id, ordinal, text, char_start, char_end, tok_start, tok_end, vector): `vector`
  is the unit-length embedding as little-endian float32 bytes, `dim` of them (meta `dim`,
  fixed by the first add or by Store.open(dim=...)); text[char_start:char_end] of the document.
- ivf_centroids(list_id, vector), ivf_members(chunk_id, list_id): the approximate index
  (ivf.py), built on demand; meta `ivf_n` is the chunk count it was built for.
Every change is one transaction: an add whose embedding (or anything) fails stores nothing.

Search: the vectors live in memory as one (n, dim) matrix, loaded on the first search and
dropped on any change (this connection's, or another's through PRAGMA data_version). Exact
search is one matrix-vector product and a partial sort; approximate (IVF) search probes the
cells nearest the query. Scores are cosine similarities.

Opening checks the file before anything is written to it: not SQLite, SQLite but not a store,
a newer schema, a corrupt file (PRAGMA quick_check) or another dimension each raise StoreError,
and the file stays byte for byte as it was.

What it is not: an embedding model (any `embed(list[str]) -> (n, dim) array` will do), the
chunker (chunk.py) or browser persistence (persist.py).
"""

from __future__ import annotations

import inspect
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import DocumentError, StoreError
from . import ivf
from .chunk import MAX_DOCUMENT_BYTES, Piece, check_text, chunk_text, token_counter
from .schema import check_head, check_or_create, sqlite3_module

INDEX_MIN = 20_000        # below this many chunks the approximate search is the exact one
EMBED_BATCH = 64          # texts per embed() call
_LOAD_BLOCK = 4096        # rows fetched at a time when loading vectors


@dataclass(frozen=True)
class Document:
    id: int
    name: str
    added: float          # unix time
    metadata: dict
    n_chunks: int
    n_chars: int


@dataclass(frozen=True)
class Chunk:
    id: int
    doc_id: int
    ordinal: int          # 0, 1, ... within its document
    text: str
    char_start: int       # text == document text[char_start:char_end]
    char_end: int
    tok_start: int
    tok_end: int


@dataclass(frozen=True)
class Hit:
    score: float          # cosine similarity to the query
    chunk: Chunk
    doc_name: str


def _blob(v: np.ndarray) -> bytes:
    return np.ascontiguousarray(v, dtype="<f4").tobytes()


def _batches(texts: list) -> list:
    """texts in runs of EMBED_BATCH: what one embed() call is given."""
    return [texts[a:a + EMBED_BATCH] for a in range(0, len(texts), EMBED_BATCH)]


class Store:
    """A vector store in one SQLite file; build with Store.open (module doc)."""

    def __init__(self, conn, path: str, dim: int | None, max_document_bytes: int):
        self._conn = conn
        self.path = path
        self.dim = dim
        self.max_document_bytes = max_document_bytes
        self.after_write = None      # called after each committed change (persist.py: OPFS sync)
        self._gen = 0                # bumped by this connection's changes
        self._cache = None           # (key, ids, matrix, lists-or-None)

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path, dim: int | None = None, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> "Store":
        """Open the store at `path` (created when missing or empty; ":memory:" for none)."""
        sqlite3 = sqlite3_module()
        path = os.fspath(path)
        check_head(path)
        try:
            conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open {path}: {e}") from e
        try:
            stored_dim = check_or_create(conn, path)
        except BaseException:
            conn.close()
            raise
        if dim is not None and stored_dim is not None and dim != stored_dim:
            conn.close()
            raise StoreError(f"{path} holds {stored_dim}-d vectors, not {dim}-d (a store belongs to one embedding model)")
        store = cls(conn, path, stored_dim, max_document_bytes)
        if stored_dim is None and dim is not None:
            with store._write():
                store._set_dim(dim)
        return store

    def close(self) -> None:
        self._conn.close()
        self._cache = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- writing ---------------------------------------------------------------------------
    @contextmanager
    def _write(self):
        """One transaction: everything in the block is stored, or (on any error) nothing."""
        sqlite3 = sqlite3_module()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: cannot write: {e}") from e
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as e:
            self._conn.execute("ROLLBACK")
            if isinstance(e, sqlite3.DatabaseError):
                raise StoreError(f"{self.path}: write failed, nothing stored: {e}") from e
            raise
        finally:
            self._gen += 1
            self._cache = None
        if self.after_write is not None:
            self.after_write()

    def _set_dim(self, dim: int) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise StoreError(f"vector dimension must be a positive int, got {dim!r}")
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('dim', ?)", (str(dim),))
        self.dim = dim

    def prepare(self, name: str, text, tokenizer=None, chunk_tokens: int = 128,
                overlap: int | None = None) -> tuple[str, list[Piece]]:
        """Check a document and cut it into chunks (nothing stored): (text, chunks)."""
        if not isinstance(name, str) or not name.strip():
            raise DocumentError(f"a document needs a non-empty name, got {name!r}")
        text = check_text(name, text, self.max_document_bytes)
        return text, chunk_text(text, token_counter(tokenizer), chunk_tokens, overlap)

    def _vectors(self, out, n: int, dim: int | None = None) -> np.ndarray:
        """embed()'s answer for n texts as (n, dim) unit float32 rows, or StoreError. The width
        must be the store's (or `dim`, an earlier batch's, before the store has one)."""
        try:
            v = np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise StoreError(f"embed() returned {type(out).__name__}, not an array of vectors: {e}") from e
        want = self.dim or dim or (v.shape[-1] if v.ndim == 2 else "dim")
        if v.ndim != 2 or v.shape[0] != n or v.shape[1] != want or v.shape[1] < 1:
            raise StoreError(f"embed() of {n} texts returned shape {v.shape}; the store needs ({n}, {want})")
        if not np.isfinite(v).all():
            raise StoreError("embed() returned vectors with NaN or infinite values")
        return ivf.normalize(v)

    def add(self, name: str, text, metadata: dict | None = None, *, embed, tokenizer=None,
            chunk_tokens: int = 128, overlap: int | None = None) -> int:
        """Store a document: check it, chunk it by tokens, embed the chunks (EMBED_BATCH texts a
        call), write it all in one transaction. Returns the document id."""
        text, pieces = self.prepare(name, text, tokenizer, chunk_tokens, overlap)
        meta = self._metadata(metadata)
        batches = []
        for batch in _batches([p.text for p in pieces]):
            out = embed(batch)
            if inspect.isawaitable(out):
                getattr(out, "close", lambda: None)()     # a coroutine never awaited: no warning
                raise StoreError("embed() returned an awaitable: use `await store.add_async(...)`")
            self._append(batches, out, len(batch))
        return self.add_chunks(name, text, pieces, np.concatenate(batches), meta)

    async def add_async(self, name: str, text, metadata: dict | None = None, *, embed, tokenizer=None,
                        chunk_tokens: int = 128, overlap: int | None = None) -> int:
        """add() for an embed() that may be async (the WebGPU model in the browser)."""
        text, pieces = self.prepare(name, text, tokenizer, chunk_tokens, overlap)
        meta = self._metadata(metadata)
        batches = []
        for batch in _batches([p.text for p in pieces]):
            out = embed(batch)
            self._append(batches, await out if inspect.isawaitable(out) else out, len(batch))
        return self.add_chunks(name, text, pieces, np.concatenate(batches), meta)

    def _append(self, batches: list, out, n: int) -> None:
        """One embed() answer for n texts, checked (_vectors: as wide as the first batch and the
        store) before the next batch is embedded, onto `batches`."""
        batches.append(self._vectors(out, n, batches[0].shape[1] if batches else None))

    @staticmethod
    def _metadata(metadata) -> dict:
        if metadata is None:
            return {}
        if not isinstance(metadata, dict):
            raise DocumentError(f"metadata must be a dict (a JSON object), got {type(metadata).__name__}")
        try:
            json.dumps(metadata, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise DocumentError(f"metadata is not JSON: {e}") from e
        return metadata

    def add_chunks(self, name: str, text: str, pieces: list[Piece], vectors: np.ndarray, metadata: dict) -> int:
        """Write a prepared document and its chunks' vectors (n_chunks, dim) in one transaction."""
        vectors = self._vectors(vectors, len(pieces))
        with self._write():
            if self.dim is None:
                self._set_dim(vectors.shape[1])
            cur = self._conn.execute(
                "INSERT INTO documents (name, added, metadata, text, n_chars, n_tokens) VALUES (?, ?, ?, ?, ?, ?)",
                (name, time.time(), json.dumps(metadata, ensure_ascii=False), text, len(text),
                 pieces[-1].tok_end if pieces else 0))
            doc_id = cur.lastrowid
            self._conn.executemany(
                "INSERT INTO chunks (doc_id, ordinal, text, char_start, char_end, tok_start, tok_end, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((doc_id, i, p.text, p.char_start, p.char_end, p.tok_start, p.tok_end, _blob(v))
                 for i, (p, v) in enumerate(zip(pieces, vectors))))
            centroids = self._centroids()
            if centroids is not None:     # new chunks join the nearest existing cell
                cells = ivf.assign(vectors, centroids)
                first = self._conn.execute("SELECT min(id) FROM chunks WHERE doc_id = ?", (doc_id,)).fetchone()[0]
                self._conn.executemany("INSERT INTO ivf_members VALUES (?, ?)",
                                       ((first + i, int(c)) for i, c in enumerate(cells)))
        return doc_id

    def delete(self, doc_id: int) -> bool:
        """Remove a document and its chunks; False when there is no such document."""
        with self._write():
            self._conn.execute("DELETE FROM ivf_members WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?)",
                               (doc_id,))
            self._conn.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
            gone = self._conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
        return gone > 0

    def clear(self) -> None:
        """Remove every document, chunk and the index (the dimension stays)."""
        with self._write():
            for table in ("ivf_members", "ivf_centroids", "chunks", "documents"):
                self._conn.execute(f"DELETE FROM {table}")
            self._conn.execute("UPDATE meta SET value = '0' WHERE key = 'ivf_n'")

    # --- reading ---------------------------------------------------------------------------
    def documents(self) -> list[Document]:
        rows = self._conn.execute(
            "SELECT d.id, d.name, d.added, d.metadata, count(c.id), d.n_chars FROM documents d "
            "LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id ORDER BY d.id")
        return [Document(i, n, a, json.loads(m), nc, nch) for i, n, a, m, nc, nch in rows]

    def document_text(self, doc_id: int) -> str:
        row = self._conn.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(f"no document {doc_id} in {self.path}")
        return row[0]

    _CHUNK_COLS = "c.id, c.doc_id, c.ordinal, c.text, c.char_start, c.char_end, c.tok_start, c.tok_end"

    def chunks(self, doc_id: int) -> list[Chunk]:
        rows = self._conn.execute(f"SELECT {self._CHUNK_COLS} FROM chunks c WHERE doc_id = ? ORDER BY ordinal",
                                  (doc_id,))
        return [Chunk(*r) for r in rows]

    def vectors(self, doc_id: int) -> np.ndarray:
        """(n_chunks, dim) the document's stored unit vectors, in chunk order."""
        rows = self._conn.execute("SELECT vector FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,))
        return np.frombuffer(b"".join(r[0] for r in rows), dtype="<f4").reshape(-1, self.dim or 0)

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def _key(self):
        return (self._conn.execute("PRAGMA data_version").fetchone()[0], self._gen)

    def _centroids(self) -> np.ndarray | None:
        rows = self._conn.execute("SELECT vector FROM ivf_centroids ORDER BY list_id").fetchall()
        if not rows:
            return None
        return np.frombuffer(b"".join(r[0] for r in rows), dtype="<f4").reshape(len(rows), self.dim)

    def _matrix(self):
        """(ids (n,), unit vectors (n, dim), ivf.Lists or None), cached until the next change."""
        key = self._key()
        if self.dim is None:         # fixed since by another connection's first add?
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
            self.dim = int(row[0]) if row else None
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1:]
        n = self.count()
        ids = np.empty(n, dtype=np.int64)
        mat = np.empty((n, self.dim or 0), dtype=np.float32)
        cur = self._conn.execute("SELECT id, vector FROM chunks ORDER BY id")
        i = 0
        while rows := cur.fetchmany(_LOAD_BLOCK):
            ids[i:i + len(rows)] = [r[0] for r in rows]
            mat[i:i + len(rows)] = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
            i += len(rows)
        lists = None
        centroids = self._centroids()
        if centroids is not None:
            members = self._conn.execute("SELECT chunk_id, list_id FROM ivf_members ORDER BY chunk_id").fetchall()
            if len(members) == n:
                cells = np.array([m[1] for m in members], dtype=np.int32)
                lists = ivf.Lists(mat, cells, centroids)
        self._cache = (key, ids, mat, lists)
        return ids, mat, lists

    def build_index(self, n_lists: int | None = None, seed: int = 0) -> int:
        """(Re)build the IVF index over all chunks; returns its number of lists."""
        ids, mat, _ = self._matrix()
        if len(ids) == 0:
            return 0
        n_lists = min(len(ids), n_lists or ivf.default_lists(len(ids)))
        centroids = ivf.kmeans(mat, n_lists, np.random.default_rng(seed))
        cells = ivf.assign(mat, centroids)
        with self._write():
            self._conn.execute("DELETE FROM ivf_members")
            self._conn.execute("DELETE FROM ivf_centroids")
            self._conn.executemany("INSERT INTO ivf_centroids VALUES (?, ?)",
                                   ((i, _blob(c)) for i, c in enumerate(centroids)))
            self._conn.executemany("INSERT INTO ivf_members VALUES (?, ?)",
                                   zip(ids.tolist(), cells.tolist()))
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'ivf_n'", (str(len(ids)),))
        return n_lists

    def _index_stale(self, n: int) -> bool:
        built = int(self._conn.execute("SELECT value FROM meta WHERE key = 'ivf_n'").fetchone()[0])
        return built == 0 or n > 2 * built or 2 * n < built

    def search(self, query, k: int = 5, exact: bool = True, nprobe: int | None = None) -> list[Hit]:
        """The k chunks most similar (cosine) to the query vector (dim,), best first.

        exact=False uses the IVF index, building it first when there is none or the store has
        grown or shrunk more than twofold since it was built; under INDEX_MIN chunks (or with
        no index possible) it is the exact search."""
        ids, mat, lists = self._matrix()
        if self.dim is None:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim or not np.isfinite(q).all():
            raise StoreError(f"query vector has shape {np.shape(query)}; the store holds {self.dim}-d vectors")
        q = ivf.normalize(q)
        if not exact and len(ids) >= INDEX_MIN and (lists is None or self._index_stale(len(ids))):
            self.build_index()
            ids, mat, lists = self._matrix()
        if exact or lists is None:
            scores = ivf.scores(mat, q)
            rows = ivf.top_k(scores, k)
            scores = scores[rows]
        else:
            rows, scores = lists.search(q, k, nprobe or ivf.default_nprobe(lists.centroids.shape[0]))
        return self._hits(ids[rows].tolist(), scores.tolist())

    def _hits(self, chunk_ids: list[int], scores: list[float]) -> list[Hit]:
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn.execute(f"SELECT {self._CHUNK_COLS}, d.name FROM chunks c JOIN documents d "
                                  f"ON d.id = c.doc_id WHERE c.id IN ({marks})", chunk_ids)
        by_id = {r[0]: r for r in rows}
        return [Hit(s, Chunk(*by_id[i][:8]), by_id[i][8]) for i, s in zip(chunk_ids, scores)]
