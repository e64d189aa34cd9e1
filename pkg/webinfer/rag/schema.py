"""The store's file: its SQLite schema (version SCHEMA_VERSION) and the checks made on opening.

What this is: the tables (store.py's docstring says what each holds), and `check_or_create`,
which runs on a fresh connection before anything is written: an empty database gets the schema;
anything else must be a webinfer store of this schema version that passes PRAGMA quick_check,
or it is refused with a StoreError naming what it is, and left as it was.

What it is not: reading or writing documents (store.py).
"""

from __future__ import annotations

import os

from ..errors import StoreError

FORMAT = "webinfer.rag"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
# A chunk's row is ~2.2 kB (a 384-d vector, ~600 bytes of text): SQLite's default 4 kB pages hold
# one such row each, half empty; 16 kB pages hold seven (the file at 10k chunks: 28.8 MiB, not 45.2).
PAGE_SIZE = 16384

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (id INTEGER PRIMARY KEY, name TEXT NOT NULL, added REAL NOT NULL,
    metadata TEXT NOT NULL, text TEXT NOT NULL, n_chars INTEGER NOT NULL, n_tokens INTEGER NOT NULL);
CREATE TABLE chunks (id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL, text TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    tok_start INTEGER NOT NULL, tok_end INTEGER NOT NULL, vector BLOB NOT NULL, UNIQUE (doc_id, ordinal));
CREATE TABLE ivf_centroids (list_id INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE ivf_members (chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id), list_id INTEGER NOT NULL);
"""
TABLES = {"meta", "documents", "chunks", "ivf_centroids", "ivf_members"}


def sqlite3_module():
    """The sqlite3 module, or StoreError saying how to load it in Pyodide."""
    try:
        import sqlite3
    except ImportError as e:   # Pyodide ships sqlite3 as a separate package
        raise StoreError("the sqlite3 module is not loaded: in Pyodide, `await webinfer.rag.load_sqlite3()` "
                         "(or pyodide.loadPackage('sqlite3')) first") from e
    return sqlite3


def check_head(path: str) -> None:
    """StoreError unless `path` is missing, empty, ":memory:" or starts as an SQLite file does:
    read before SQLite opens it, which leaves such a file alone but is then less specific."""
    if path == ":memory:" or not os.path.exists(path) or os.path.getsize(path) == 0:
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"cannot open {path}: {e}") from e
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a webinfer store: not an SQLite database (it starts {head[:8]!r})")


def check_or_create(conn, path: str) -> int | None:
    """The stored dimension (None if not fixed yet), after the checks in the module doc."""
    sqlite3 = sqlite3_module()
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            conn.executescript(f"PRAGMA page_size = {PAGE_SIZE}; BEGIN; {_SCHEMA} INSERT INTO meta VALUES "
                               f"('format', '{FORMAT}'), ('schema_version', '{SCHEMA_VERSION}'), ('ivf_n', '0'); "
                               "COMMIT;")
            return None
        meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        if meta.get("format") != FORMAT:
            raise StoreError(f"{path} is an SQLite database but not a webinfer store "
                             f"(tables: {', '.join(sorted(tables)) or 'none'})")
        version = int(meta["schema_version"]) if str(meta.get("schema_version")).isdigit() else -1
        if version > SCHEMA_VERSION:
            raise StoreError(f"{path} is a webinfer store of schema version {version}, written by a newer "
                             f"webinfer; this one reads version {SCHEMA_VERSION}: upgrade webinfer")
        if version != SCHEMA_VERSION or not TABLES <= tables:
            raise StoreError(f"{path}: unknown store schema (version {version}, tables {sorted(tables)})")
        problems = [r[0] for r in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise StoreError(f"{path} is corrupt: {'; '.join(problems[:3])}")
        dim = meta.get("dim")
        if dim is not None and not (dim.isdigit() and int(dim) > 0):
            raise StoreError(f"{path}: the store's dimension is {dim!r}, not a positive integer")
        return int(dim) if dim else None
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is corrupt or not a webinfer store: {e}") from e
