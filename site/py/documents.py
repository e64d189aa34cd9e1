"""The Documents panel's engine, in the "engine" worker (Pyodide): the user's documents in a
webinfer.rag Store, embedded with a sentence-embedding model the site ships.

The store is a SQLite file in the origin private file system (OPFS, webinfer.rag.open_persistent),
so documents survive a reload; where OPFS is unavailable it is kept in memory for the session,
and the panel says why. One store file per embedding model ("<model name>.sqlite": a store holds
the vectors of one model). The embedding model is fetched (Cache Storage first, then this site)
only when first needed, adding a document or asking with "Use documents", and runs where the chat
model runs: on WebGPU when that is on WebGPU (webinfer.load_embedder_async; if that fails, on
NumPy, with a notice), else on NumPy. Nothing here leaves the machine.

py/worker.py exports docs_list, docs_add, docs_delete and docs_clear (each returns JSON text) and
calls retrieve() for a question; `spec` is site-config.json's entry for the embedding model, with
its URL made absolute by the page: {"name", "url", "files": [{"name", "size"}]}.
"""

from __future__ import annotations

import asyncio
import json
import time

import js
from pyscript import sync

import store

TOP_K = 4              # chunks retrieved for a question

_store = None          # the webinfer.rag.Store
_persistent = False    # whether it is in OPFS
_why = ""              # why it is not (shown by the panel)
_embedder = None       # the loaded webinfer.Embedder
_loading = None        # the task loading it
_device = "numpy"      # where it runs: the chat model's device, "webgpu" or "numpy" (use_device)


def use_device(name: str) -> None:
    """Run the embedding model on the chat model's device (py/worker.py tells before each call);
    a change drops the loaded one, which loads again on that device at its next use."""
    global _device, _embedder, _loading
    name = "webgpu" if name == "webgpu" else "numpy"
    if name != _device:
        _device, _embedder, _loading = name, None, None


def _report(**fields) -> None:
    sync.progress(json.dumps({"kind": "embed", **fields}))


async def _open(spec: dict):
    """The store, opened once: in OPFS, else in memory (with the reason kept in _why)."""
    global _store, _persistent, _why
    if _store is None:
        import webinfer.rag as rag
        try:
            _store = await rag.open_persistent(file=spec["name"] + ".sqlite")
            _persistent = True
        except Exception as e:  # noqa: BLE001 - no OPFS (or an unreadable file there): memory, and say so
            js.console.warn("webinfer: documents kept in memory: " + str(e))
            _why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            await rag.load_sqlite3()
            _store = rag.Store.open(":memory:")
    return _store


async def _fetch_embedder(spec: dict, origin: str):
    """The embedding model's files (this browser's cache first, then the site; a download is cached
    afterwards) with byte progress over all of them, loaded on _device: WebGPU with
    webinfer.load_embedder_async, falling back to NumPy with a notice if that fails."""
    import webinfer
    total = sum(f["size"] for f in spec["files"])
    files, before = {}, 0
    for f in spec["files"]:
        url = spec["url"] + f["name"]

        def progress(snap, before=before):
            _report(name=spec["name"], done=before + snap["done"], total=total,
                    rate=snap.get("rate"), left_s=snap.get("left_s"))
        hit = await store.cached(url, progress)
        data = await (hit or await store.download(url, origin, progress)).body()
        if hit is None:
            asyncio.ensure_future(store.remember(url, data))
        files[f["name"]] = data
        before += f["size"]
    _report(name=spec["name"], done=total, total=total, stage="load")
    if _device == "webgpu":
        try:
            return await webinfer.load_embedder_async(files, device="webgpu")
        except Exception as e:  # noqa: BLE001 - any GPU failure: NumPy gives the same vectors
            why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            sync.notice(f"The embedding model could not run on WebGPU ({why}); it runs on NumPy.")
    return webinfer.load_embedder(files, device="numpy")


async def embedder(spec: dict, origin: str):
    """The embedding model, loaded on first use (one load, however many callers wait for it)."""
    global _embedder, _loading
    if _embedder is None:
        if _loading is None:
            _loading = asyncio.ensure_future(_fetch_embedder(spec, origin))
        try:
            _embedder = await _loading
        finally:
            _loading = None if _embedder is None else _loading
    return _embedder


async def _written() -> dict:
    """The listing, once the change before it is in OPFS (a reload right after finds it)."""
    import webinfer.rag as rag
    await rag.flush(_store)
    return _listing()


def _listing() -> dict:
    docs = [{"id": d.id, "name": d.name, "chunks": d.n_chunks, "chars": d.n_chars,
             "bytes": d.metadata.get("bytes", d.n_chars)} for d in _store.documents()]
    return {"ok": True, "docs": docs, "persistent": _persistent, "why": _why}


def _error(e: Exception) -> str:
    """The store's own message for bad input (DocumentError, StoreError); others with their type."""
    import webinfer
    text = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    if isinstance(e, (webinfer.DocumentError, webinfer.StoreError, store.DownloadError)):
        return text
    return f"{type(e).__name__}: {text}"


async def docs_list(spec_json: str) -> str:
    try:
        await _open(json.loads(spec_json))
        return json.dumps(_listing())
    except Exception as e:  # noqa: BLE001 - shown in the panel
        return json.dumps({"ok": False, "error": _error(e)})


async def docs_add(spec_json: str, name: str, text: str, file=None) -> str:
    """Add one document: pasted text under `name`, or a File from the picker (.txt, .md, or a PDF,
    whose text layer webinfer.rag.pdf_text extracts here). The store checks the text (empty, too
    big, binary: its DocumentError; a PDF it cannot read: pdf_text's) and writes it in one
    transaction, so nothing is stored half-way."""
    import webinfer
    from webinfer.rag.pdf import MAX_PDF_BYTES, is_pdf, pdf_text
    spec = json.loads(spec_json)
    try:
        st = await _open(spec)
        if file is not None:
            name = str(file.name)
            size = int(file.size)
            limit = MAX_PDF_BYTES if name.lower().endswith(".pdf") else st.max_document_bytes
            if size > limit:                       # refused before the file is read into memory
                raise webinfer.DocumentError(
                    f"document {name!r} is {size:,} bytes; the limit is {limit:,} bytes: split it into smaller documents")
            data = (await file.arrayBuffer()).to_bytes()
            text, source = data, "file"
            if is_pdf(data, name):
                text, source = pdf_text(data, name), "pdf"
        else:
            source, size = "paste", len(text.encode("utf-8", "surrogatepass"))
        st.prepare(name, text)          # bad input is refused before the embedding model loads
        emb = await embedder(spec, js.location.origin)
        spent, n = [0.0], [0]

        async def embed(texts):          # timed: the page reports embeddings/s (bench/site_embed.py)
            t0 = time.perf_counter()
            out = await emb.aembed(texts)
            spent[0] += time.perf_counter() - t0
            n[0] += len(texts)
            return out
        await st.add_async(name, text, {"source": source, "bytes": size}, embed=embed, tokenizer=emb.tokenizer)
        added = {"name": name, "chunks": n[0], "embed_s": round(spent[0], 4), "device": emb.device.description}
        return json.dumps({**await _written(), "added": added})
    except Exception as e:  # noqa: BLE001 - the store's message, in the panel
        return json.dumps({"ok": False, "error": _error(e)})


async def docs_delete(spec_json: str, doc_id: int) -> str:
    try:
        (await _open(json.loads(spec_json))).delete(int(doc_id))
        return json.dumps(await _written())
    except Exception as e:  # noqa: BLE001
        return json.dumps({"ok": False, "error": _error(e)})


async def docs_clear(spec_json: str) -> str:
    try:
        (await _open(json.loads(spec_json))).clear()
        return json.dumps(await _written())
    except Exception as e:  # noqa: BLE001
        return json.dumps({"ok": False, "error": _error(e)})


async def retrieve(spec: dict, question: str) -> list:
    """The TOP_K chunks nearest the question (webinfer.rag Hits, best first); [] with no documents."""
    st = await _open(spec)
    if not st.count():
        return []
    emb = await embedder(spec, js.location.origin)
    return st.search((await emb.aembed([question]))[0], k=TOP_K)
