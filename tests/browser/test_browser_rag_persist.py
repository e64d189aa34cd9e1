"""The vector store survives a page reload in Chromium: webinfer.rag.open_persistent (OPFS mounted
into Pyodide's file system, synced after each write) in a page served from 127.0.0.1; the page
is reloaded (Pyodide and everything in memory gone), Pyodide boots again, and the store opened
from OPFS holds the same documents, chunks and search answers. A delete after the reload is
still gone after a second reload.

A Chromium of its own (a fresh profile, so OPFS starts empty), not the session's shared one.
"""

from __future__ import annotations

import json

import pytest

from pyodide_fixtures import INSTALL_WEBINFER

pytestmark = [pytest.mark.slow]

EMBED = """
import zlib, numpy as np
def embed(texts):
    out = np.full((len(texts), 32), 1e-3, dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, zlib.crc32(w.encode()) % 32] += 1
    return out
"""

WRITE = EMBED + """
import json, webinfer.rag
store = await webinfer.rag.open_persistent("test-reload")
store.add("keep.txt", "The lighthouse keeper counted ships. " * 20 + "東京 👨‍👩‍👧‍👦", {"k": 1}, embed=embed,
          chunk_tokens=16)
store.add("drop.txt", "A document deleted after the first reload.", embed=embed)
await webinfer.rag.flush(store)
json.dumps({"docs": [[d.id, d.name, d.n_chunks] for d in store.documents()],
            "hits": [[h.chunk.id, h.score] for h in store.search(embed(["keeper ships"])[0], k=3)]})
"""

READ = EMBED + """
import json, webinfer.rag
store = await webinfer.rag.open_persistent("test-reload")
record = {"docs": [[d.id, d.name, d.n_chunks] for d in store.documents()],
          "hits": [[h.chunk.id, h.score] for h in store.search(embed(["keeper ships"])[0], k=3)],
          "text_ok": store.document_text(1).endswith("東京 👨‍👩‍👧‍👦")}
store.delete(2)
await webinfer.rag.flush(store)
json.dumps(record)
"""

AGAIN = """
import json, webinfer.rag
store = await webinfer.rag.open_persistent("test-reload")
json.dumps([d.name for d in store.documents()])
"""


def _reload(runner, webinfer_url) -> None:
    """What a user's reload does: the page (and Pyodide in it) is gone; boot and install again."""
    runner.refresh()
    runner.javascript_setup()
    runner.load_pyodide()
    runner.initialize_pyodide()
    runner.run_async(INSTALL_WEBINFER.format(url=webinfer_url))


@pytest.mark.driver_timeout(120)
def test_store_survives_a_reload(new_runtime, webinfer_url):
    runner = new_runtime("chrome")
    try:
        runner.run_async(INSTALL_WEBINFER.format(url=webinfer_url))
        assert runner.run_js("return window.isSecureContext && !!navigator.storage.getDirectory")
        before = json.loads(runner.run_async(WRITE))
        assert [d[1] for d in before["docs"]] == ["keep.txt", "drop.txt"] and before["docs"][0][2] > 2

        _reload(runner, webinfer_url)
        assert runner.run_js("return typeof pyodide.globals.get('store')") == "undefined"   # a fresh Pyodide
        after = json.loads(runner.run_async(READ))
        assert after["docs"] == before["docs"] and after["hits"] == before["hits"] and after["text_ok"]

        _reload(runner, webinfer_url)
        assert json.loads(runner.run_async(AGAIN)) == ["keep.txt"]
    finally:
        runner.quit()
