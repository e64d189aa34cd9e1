"""Retrieval: a vector store of the user's documents (store.py), the chunker (chunk.py), the
file's schema (schema.py), the approximate index (ivf.py), browser persistence (persist.py), PDF as text (pdf.py), and
grounded chat (ground.py: a Retriever = store + embedding model, and the prompt with sources).

    from webinfer.rag import Store
    store = Store.open("docs.sqlite")
    store.add("a.txt", text, embed=embed, tokenizer=tokenizer)
    hits = store.search(query_vector, k=5)

In Pyodide, load the sqlite3 package first (`await load_sqlite3()`), and for a store that
survives a reload open it with `await open_persistent()` (OPFS). Grounded chat:

    kb = Retriever(store, webinfer.load_embedder())
    kb.add("a.txt", text); kb.retrieve(question, k=4)
    model.create_chat_completion(messages, retriever=kb, k=4)    # reply["sources"]: chunks used
"""

from .chunk import MAX_DOCUMENT_BYTES, chunk_text, simple_count, token_counter
from .pdf import pdf_text, read_document
from .persist import flush, load_sqlite3, open_persistent
from .ground import Retriever, Source, grounded_messages
from .schema import SCHEMA_VERSION
from .store import Chunk, Document, Hit, Store

__all__ = ["Store", "Document", "Chunk", "Hit", "chunk_text", "simple_count", "token_counter",
           "MAX_DOCUMENT_BYTES", "SCHEMA_VERSION", "load_sqlite3", "open_persistent", "flush",
           "Retriever", "Source", "grounded_messages", "pdf_text", "read_document"]
