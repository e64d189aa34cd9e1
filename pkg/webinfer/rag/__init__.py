"""Retrieval: a vector store of the user's documents (store.py), the chunker (chunk.py), the
file's schema (schema.py), the approximate index (ivf.py) and browser persistence (persist.py).

    from webinfer.rag import Store
    store = Store.open("docs.sqlite")
    store.add("a.txt", text, embed=embed, tokenizer=tokenizer)
    hits = store.search(query_vector, k=5)

In Pyodide, load the sqlite3 package first (`await load_sqlite3()`), and for a store that
survives a reload open it with `await open_persistent()` (OPFS). Not here: the embedding model.
"""

from .chunk import MAX_DOCUMENT_BYTES, chunk_text, simple_count, token_counter
from .persist import flush, load_sqlite3, open_persistent
from .schema import SCHEMA_VERSION
from .store import Chunk, Document, Hit, Store

__all__ = ["Store", "Document", "Chunk", "Hit", "chunk_text", "simple_count", "token_counter",
           "MAX_DOCUMENT_BYTES", "SCHEMA_VERSION", "load_sqlite3", "open_persistent", "flush"]
