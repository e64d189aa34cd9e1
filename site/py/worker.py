"""The chat page's engine: webinfer in the PyScript worker named "engine" (index.html).

py/main.py awaits these exported functions (__export__); each returns JSON text:
  load(request_json, data)  install the runtime (first call), read the model (the site's cache,
                            the network, or a File from the page), refuse a model that cannot fit
                            (webinfer.fit, from its header), free the model in use, load the new
                            one with webinfer (on failure, rebuild the old one), and cache it. On
                            WebGPU the bytes stream to the GPU as they arrive (webinfer.stream: the
                            heap never holds the file); on NumPy they go into the heap first
  ask(text, settings_json, docs_json)  one chat turn, streamed; with docs_json (the embedding
                            model's spec) grounded in the user's documents (documents.retrieve,
                            grounding.grounded_turn: webinfer.rag's prompt builder), the chunks
                            used given back as "sources"
  docs_list, docs_add, docs_delete, docs_clear  the Documents panel (py/documents.py)
  response_format(schema)   the JSON mode's response_format for the schema box's text, or why
                            it cannot be used (py/structured.py)
  stop()                    end the running answer after its current token
  reset(system)             a new chat
While they run, the worker reports through functions main.py set on it (pyscript.sync here):
stage(text), progress(json), delta(text), notice(text) (e.g. a model that could not be cached),
and violation(json) for a CSP violation in the worker. They return Promises (no SharedArrayBuffer: the
page needs no special headers); nothing here waits for them.

Everything model-related is plain webinfer API (load_async, Model.generate with
Generation.cancel, ChatSession for the messages and the context-window truncation), so the page
shows exactly what the library does. What it is not: UI (main.py), or a second chat
implementation: the turn is ChatSession's, except that this module calls model.generate itself
so that Stop can cancel the Generation and the stopped answer still joins the history.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time

import js
import pyodide_js
from pyodide.ffi import create_proxy
from pyscript import sync

import store
import structured
import documents
from documents import retrieve
from grounding import grounded_turn

_runtime = None      # the task installing numpy + webinfer (started by the first load)
_model = None        # the loaded webinfer.Model
_session = None      # its ChatSession (the conversation survives a model change)
_gen = None          # the Generation streaming now, if any (stop() cancels it)
_bytes = None        # the loaded model's file, in the heap (NumPy: its weights are views of it); None when
                     # it was streamed to the GPU: then it is read again from _origin when needed
_origin = None       # (request, File or None) of the loaded model, to read its file again (_reopen)
_device = "auto"     # the device it was asked for (to rebuild it: _restore)

HEADER_MAX = 64 << 20   # a GGUF header longer than this is not waited for: the size alone is judged

SETTING_KEYS = {"temperature": float, "top_p": float, "top_k": int, "max_tokens": int}


def _report(kind: str, **fields) -> None:
    sync.progress(json.dumps({"kind": kind, **fields}))


def _on_violation(event) -> None:
    """A Content-Security-Policy violation in this worker (a blocked fetch, say) goes to the page,
    which keeps it with its own (window.webinferPage.cspViolations) instead of only the console."""
    sync.violation(json.dumps({"where": "worker", "directive": event.violatedDirective,
                               "blocked": event.blockedURI, "source": event.sourceFile, "line": event.lineNumber}))


js.self.addEventListener("securitypolicyviolation", create_proxy(_on_violation))


async def _install(wheel_url: str) -> float:
    """numpy and micropip from the site's Pyodide lock, then webinfer's wheel by URL (micropip asks
    no index: its only dependency is installed). Returns the seconds it took."""
    t0 = time.perf_counter()
    sync.stage("Loading numpy")
    await pyodide_js.loadPackage(js.Array.of("numpy", "micropip"))
    sync.stage("Installing webinfer")
    import micropip
    await micropip.install(wheel_url)
    import webinfer  # noqa: F401 - imported here, with numpy: the runtime is in the heap before any model
    return time.perf_counter() - t0


async def _incoming(req: dict, data):
    """(store.ModelBytes, source) with source "cache" | "network" | "file": nothing read yet but the
    response's headers (a File: nothing at all)."""
    if req["kind"] == "file":
        name = req["name"]
        return store.from_file(data, lambda snap: _report("file", name=name, **snap)), "file"
    url = req["url"]
    name = store.file_name(url)
    hit = await store.cached(url, lambda snap: _report("cache", name=name, **snap))
    if hit is not None:
        return hit, "cache"
    return await store.download(url, req["origin"], lambda snap: _report("download", name=name, **snap)), "network"


async def _reopen(req: dict, data):
    """The file of a model loaded before, from its first byte again, as store.ModelBytes: the File
    from the page's picker (a handle to the disk, not a copy), else the site's cache (a model that
    loaded from the network was cached as it streamed: CacheTee), else the network again."""
    if req["kind"] == "file":
        return store.from_file(data)
    return await store.cached(req["url"]) or await store.download(req["url"], req["origin"], None)


def _has_webgpu() -> bool:
    """Whether this browser has WebGPU at all (not whether "auto" will pick it: init_gpu says that)."""
    return bool(js.Reflect.has(js.navigator, "gpu"))


async def _streams(device: str, total: int) -> bool:
    """Whether the weights go to the GPU as they arrive: WebGPU is asked for (or "auto" picks it:
    webinfer.init_gpu says which), and the file's size is known (the header is checked against it)."""
    if device == "numpy" or not total:
        return False
    import webinfer
    return (await webinfer.init_gpu(device=device)).startswith("webgpu")


def _heap_kept() -> int:
    """What stays in the heap while the next model loads: the runtime, and the file of the model in
    use (its weights, KV cache and tokenizer are freed first: _release)."""
    from webinfer.fit import RUNTIME_BYTES
    return RUNTIME_BYTES + (len(_bytes) if _bytes is not None else 0)


def _memory_facts() -> dict:
    """fit.verdict's runtime: the heap's ceiling, what stays in use during a load, and what the
    browser says."""
    from webinfer import fit
    facts = {"heap_limit": fit.WASM32_HEAP, "heap_in_use": _heap_kept()}
    if js.Reflect.has(js.navigator, "deviceMemory"):
        facts["device_memory"] = float(js.navigator.deviceMemory)
    from webinfer.device.webgpu import adapter_js
    if adapter_js._opened is not None:
        facts.update({k: adapter_js._opened.limits[k] for k in ("max_buffer_size", "max_storage_buffer_binding_size")})
    return facts


async def _header(incoming):
    """The GGUF header (metadata, tensors) of the model arriving, from its first bytes (more until
    the tensor table is in, up to HEADER_MAX); None past that or when the size is not known. A file
    that is not a GGUF raises GGUFError here, after its first megabyte."""
    from webinfer.formats.gguf import read_gguf_header
    n = 1 << 20
    while incoming.total:
        head = await incoming.head(n)
        header = read_gguf_header(head, incoming.total)
        if header is not None or len(head) < n or n >= HEADER_MAX:
            return header
        n *= 4
    return None


def _judge(header, size: int, kind: str, name: str):
    """fit.verdict for a model of `size` bytes with this header (None: by its size) in this worker;
    kind: where its weights go, "webgpu" (streamed there) or "numpy"."""
    from webinfer import fit
    if not size:
        return None
    dims = fit.dims_from_gguf(*header) if header else None
    return fit.verdict(size, dims, _memory_facts(), kind, name=name)


async def _open(gguf: bytes, device: str):
    """webinfer.load_async on `device`; under "auto" a GPU that fails while opening or taking the
    weights means NumPy, with that reason (the answer is the same there)."""
    import webinfer
    from pyodide.ffi import JsException

    last = [0.0]

    def progress(stage, done, total):          # stage: "read" (parsing) or "upload" (weights)
        now = time.monotonic()
        if now - last[0] >= store.REPORT_EVERY_S or done >= total:
            last[0] = now
            _report(stage, done=int(done), total=int(total))

    try:
        return await webinfer.load_async(gguf, device=device, progress=progress)
    except (webinfer.DeviceError, JsException) as e:
        if device != "auto":
            raise
        from webinfer.device.numpy_device import NumpyDevice
        why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        return webinfer.load(gguf, device=NumpyDevice(f"WebGPU failed: {why}"), progress=progress)


async def _open_stream(incoming, device: str, req: dict, data, tee=None):
    """(model, None): webinfer.load_async over the chunks as they arrive, the weights going to the GPU
    as they pass (the heap holds the header and a chunk); tee gets a copy of each for the cache.
    Under "auto", a GPU that cannot hold the model (known before any weight is read) means NumPy
    with the rest of the stream read into the heap (webinfer.stream), and one that fails later also
    means NumPy: the rest of the stream still goes to the cache, and the file is read again from the
    start (_reopen: the File, or the cache). On NumPy: (model, the file's bytes in the heap)."""
    import webinfer
    from pyodide.ffi import JsException
    chunks = incoming.chunks(tee)
    try:
        model = await webinfer.load_async(webinfer.ByteStream(chunks, incoming.total), device=device)
        return model, (model.gguf.data if model.gguf is not None else None)
    except (webinfer.DeviceError, JsException) as e:
        if device != "auto":
            raise
        why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    async for _ in chunks:           # the rest of the file, into the cache entry
        pass
    if tee is not None:
        await _close_cache(tee)
    from webinfer.device.numpy_device import NumpyDevice
    sync.stage("WebGPU failed: reading the model again for NumPy")
    gguf = await (await _reopen(req, data)).body()
    return webinfer.load(gguf, device=NumpyDevice(f"WebGPU failed: {why}")), gguf


def _heap_bytes() -> int:
    """The size of this interpreter's WebAssembly memory. It only grows (up to wasm32's 4 GiB), so
    its size after a step is that step's peak (the page reports it: webinferPage.memory)."""
    return int(pyodide_js._module.HEAP8.length)


def _describe(model, name: str) -> dict:
    """What the page shows of a loaded model; its sampling settings start from the recommendation."""
    return {"device": model.device.description, "model": name or model.config.name, "n_ctx": model.n_ctx,
            "recommended": model.recommended_sampling.to_dict()}


def _release() -> None:
    """Free the model in use (its weights, KV cache and tokenizer: most of its memory) before the next
    one is read, keeping its file's bytes and the conversation. With both models in memory a switch
    took the sum of the two (and the heap never shrinks: bench/RESULTS.md); if the new one fails,
    _restore rebuilds the old one from its bytes."""
    global _model, _session
    _model = _session = None
    gc.collect()


async def _restore(messages: list) -> bool:
    """Rebuild the model released for a load that failed (from its bytes, or its file read again when
    it was streamed to the GPU); False if that fails too."""
    global _model, _session, _bytes
    try:
        if _bytes is not None:
            model = await _open(_bytes, _device)
        else:
            model, _bytes = await _open_stream(await _reopen(*_origin), _device, *_origin)
    except Exception as e:  # noqa: BLE001 - the page then has no model, and says so
        js.console.warn("webinfer: the model in use could not be rebuilt: " + str(e))
        return False
    _model, _session = model, model.chat()
    _session.messages = messages
    return True


async def load(request_json: str, data=None) -> str:
    """Load the model the request names; the current model and chat stay if anything fails. Once its
    header is in, webinfer.fit judges it, and a model that cannot fit is refused there (the rest of
    the file is not read). Past that the model in use is freed (_release), and rebuilt if this load
    fails (_restore). On WebGPU the file streams to the GPU (and, from the network, into the cache)
    as it arrives; on NumPy it goes into this heap first."""
    global _runtime, _model, _session, _bytes, _device, _origin
    req = json.loads(request_json)
    t0 = time.perf_counter()
    name = req.get("name") or store.file_name(req.get("url", ""))
    if _runtime is None:
        _runtime = asyncio.ensure_future(_install(req["wheel"]))
    incoming = gguf = tee = None
    messages = _session.messages if _session is not None else []
    released = streamed = False
    heap_at_load = 0         # the heap once the runtime is in, before this model's bytes (0: not measured)
    try:
        incoming, source = await _incoming(req, data)
        if not _runtime.done() and (req["device"] == "numpy" or (req["device"] == "auto" and not _has_webgpu())):
            # The first load on NumPy (the site's model, judged by its size on the main thread): its
            # download overlaps the runtime's installation, and the header is judged once both are in.
            # (WebGPU waits for the runtime: webinfer opens the GPU before the weights can stream there.)
            gguf, incoming = await incoming.body(), None
            install_s = await _runtime
            from webinfer.formats.gguf import read_gguf_header
            fit = _judge(read_gguf_header(gguf, len(gguf)), len(gguf), "numpy", name)
        else:
            install_s = await _runtime
            heap_at_load = _heap_bytes()
            streamed = await _streams(req["device"], incoming.total)
            kind = "webgpu" if streamed or req["device"] == "webgpu" else "numpy"
            fit = _judge(await _header(incoming), incoming.total, kind, name)
        if fit is not None and fit["verdict"] == "cannot":
            if incoming is not None:
                await incoming.cancel()
            return json.dumps({"ok": False, "error": fit["message"], "fit": fit["verdict"], "heap_bytes": _heap_bytes()})
        if _model is not None:
            _release()
            released = True
        if streamed:
            sync.stage("Loading the model onto the GPU as it arrives")
            if source == "network":
                tee = await store.CacheTee(req["url"], incoming.total).open()
            model, gguf = await _open_stream(incoming, req["device"], req, data, tee)
            incoming, streamed = None, gguf is None
        else:
            if gguf is None:
                gguf, incoming = await incoming.body(), None
            sync.stage("Loading the model")
            model = await _open(gguf, req["device"])
    except Exception as e:  # noqa: BLE001 - every failure is reported to the page in words
        if tee is not None:
            await tee.abort()
        if incoming is not None:
            await incoming.cancel()
        if _runtime.done() and _runtime.exception() is not None:
            _runtime = None                                 # a failed install is retried next time
        error = _words(e)
        e.__traceback__ = gguf = model = None      # (its frames hold the new model's bytes: free them first)
        lost = released and not await _restore(messages)
        if lost:
            _bytes = None
        return json.dumps({"ok": False, "error": error, "lost": lost, "heap_bytes": _heap_bytes()})
    if tee is not None:         # streamed: the cache entry is complete once this load is known good
        asyncio.ensure_future(_close_cache(tee))
    elif source == "network":   # only a model that loaded is cached; the page need not wait for it
        asyncio.ensure_future(_remember(req["url"], gguf))
    _model, _session = model, model.chat()
    _session.messages = messages
    _bytes, _device, _origin = gguf, req["device"], (req, data)
    return json.dumps({"ok": True, **_describe(model, name), "source": source,
                       "load_s": round(time.perf_counter() - t0, 3), "install_s": round(install_s, 3),
                       "heap_bytes": _heap_bytes(), "heap_at_load": heap_at_load, "heap_in_use": _heap_kept(),
                       "streamed": streamed,
                       "fit": fit["verdict"] if fit else None, "fit_message": fit["message"] if fit else ""})


async def _remember(url: str, gguf) -> None:
    """Put the model's bytes in Cache Storage, from the heap (the model keeps them: its weights are
    views of them, or a fall-back to NumPy rebuilds from them); a failure (a full disk, say) becomes
    a notice."""
    notice = await store.remember(url, gguf)
    if notice:
        sync.notice(notice)


async def _close_cache(tee) -> None:
    """End the cache entry a streamed load wrote (CacheTee); a failure becomes a notice."""
    notice = await tee.close()
    if notice:
        sync.notice(notice)


def _words(e: Exception) -> str:
    """A failure as one line a user can read: webinfer's own messages already name the problem."""
    import webinfer
    text = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    if isinstance(e, store.DownloadError):
        return text[0].upper() + text[1:]
    if isinstance(e, webinfer.GGUFError):
        return f"This file is not a model webinfer can read: {text}"
    if isinstance(e, webinfer.UnsupportedModelError):
        return f"This model is not supported: {text}"
    if isinstance(e, MemoryError):
        return "The model does not fit in this tab's memory."
    return f"{type(e).__name__}: {text}"


def _options(settings_json: str) -> dict:
    """generate() keywords from the page's settings (validated again by webinfer itself)."""
    raw = json.loads(settings_json)
    opts = {k: cast(raw[k]) for k, cast in SETTING_KEYS.items() if raw.get(k) not in (None, "")}
    if opts.get("top_k") == 0:
        opts.pop("top_k")          # the page's "0 = off"
    if raw.get("response_format"):
        opts["response_format"] = raw["response_format"]    # JSON mode (checked first: response_format())
    return opts


def _shown(sources: list) -> list:
    """The chunks a prompt held (webinfer.rag Sources), as the page shows them under the answer."""
    return [{"index": s.index, "doc": s.doc_name, "ordinal": s.ordinal, "score": round(float(s.score), 4),
             "text": s.text} for s in sources]


async def ask(text: str, settings_json: str, docs_json: str = "") -> str:
    """One chat turn: stream the answer's text through sync.delta; the Completion as JSON. With
    docs_json the question is asked with the chunks retrieved for it (grounded_turn); the history
    keeps the question alone (the chunks are not carried into later turns)."""
    global _gen
    import webinfer
    if _model is None:
        return json.dumps({"ok": False, "error": "No model is loaded yet."})
    opts = _options(settings_json)
    model, session = _model, _session     # a reset() or load() meanwhile does not touch this turn
    reserve = min(opts.get("max_tokens", 256), model.n_ctx // 4)
    try:
        documents.use_device(model.device.name)
        hits = await retrieve(json.loads(docs_json), text) if docs_json else []
    except Exception as e:  # noqa: BLE001 - retrieval failed: say so, ask nothing
        return json.dumps({"ok": False, "error": "Could not search the documents: " + _words(e)})
    session.messages.append({"role": "user", "content": text})
    try:
        ids, sources = grounded_turn(model, session, hits, reserve)
    except webinfer.WebinferError as e:
        session.messages.pop()
        return json.dumps({"ok": False, "error": str(e)})
    t0 = time.perf_counter()
    try:
        gen = model.generate(ids, **opts)   # under a constraint: its grammar compiled (and cached) here
    except webinfer.WebinferError as e:     # e.g. max_tokens below the schema's shortest answer
        session.messages.pop()
        return json.dumps({"ok": False, "error": str(e)})
    _gen = gen
    setup_s = time.perf_counter() - t0
    masks = structured.time_masks(gen)
    try:
        async for delta in gen:
            sync.delta(delta)
    except Exception as e:  # noqa: BLE001 - reported; the partial answer stays in the history
        if isinstance(e, webinfer.DeviceError) and _bytes is None and model is _model:
            error = await _rebuild_on_numpy(getattr(e, "reason", None) or _words(e))
            return json.dumps({"ok": False, "error": error, "lost": _model is None,
                               "device": _model.device.description if _model is not None else ""})
        return json.dumps({"ok": False, "error": _words(e)})
    finally:
        _gen = None
        session.messages.append({"role": "assistant", "content": gen.result.text if gen.result else ""})
        session.last = gen.result
    c = gen.result
    shaped = structured.pretty(c.text) if "response_format" in opts else None
    return json.dumps({"ok": True, **c.to_dict(), "sources": _shown(sources), "json_text": shaped,
                       "mask_ms": structured.mask_stats(masks), "setup_s": round(setup_s, 3),
                       "prefill_s": round(c.prefill_s, 3), "decode_s": round(c.decode_s, 3),
                       "decode_path": _model.device.decode_path(), "heap_bytes": _heap_bytes()})


async def _rebuild_on_numpy(why: str) -> str:
    """The GPU failed mid-answer under a model streamed there, which keeps no copy of its file to
    rebuild on NumPy from (webinfer.stream): read the file again (_reopen) and load it on NumPy,
    keeping the conversation. Returns what to tell the user."""
    global _model, _session, _bytes
    import webinfer
    from webinfer.device.numpy_device import NumpyDevice
    messages = _session.messages
    _release()
    try:
        gguf = await (await _reopen(*_origin)).body()
        model = webinfer.load(gguf, device=NumpyDevice(f"WebGPU failed mid-answer: {why}"))
    except Exception as e:  # noqa: BLE001 - then there is no model, and the page says so
        _bytes = None
        return f"The GPU failed mid-answer ({why}). Reloading the model on NumPy failed too: {_words(e)}"
    _model, _session, _bytes = model, model.chat(), gguf
    _session.messages = messages
    return f"The GPU failed mid-answer ({why}). The model was reloaded on NumPy: ask again."


async def _documents(fn, *args) -> str:
    """A Documents panel call, once webinfer is installed (the first load installs it)."""
    if _runtime is None:
        return json.dumps({"ok": False, "error": "Python is still starting: try again in a moment."})
    try:
        await _runtime
    except Exception as e:  # noqa: BLE001 - the load reports it too
        return json.dumps({"ok": False, "error": "webinfer could not be installed: " + _words(e)})
    documents.use_device(_model.device.name if _model is not None else "numpy")
    return await fn(*args)


async def docs_list(spec_json: str) -> str:
    return await _documents(documents.docs_list, spec_json)


async def docs_add(spec_json: str, name: str, text: str, file=None) -> str:
    return await _documents(documents.docs_add, spec_json, name, text, file)


async def docs_delete(spec_json: str, doc_id: int) -> str:
    return await _documents(documents.docs_delete, spec_json, doc_id)


async def docs_clear(spec_json: str) -> str:
    return await _documents(documents.docs_clear, spec_json)


async def response_format(schema_text: str) -> str:
    """The JSON mode's response_format for the schema box's text, or the reason it cannot be used
    (structured.response_format), once webinfer is installed (_documents waits for it)."""
    async def check():
        return json.dumps(structured.response_format(schema_text))
    return await _documents(check)


def stop() -> None:
    if _gen is not None:
        _gen.cancel()


def reset(system: str = "") -> None:
    global _session
    if _model is not None:
        _session = _model.chat(system=system or None)


__export__ = ["load", "ask", "response_format", "stop", "reset", "docs_list", "docs_add", "docs_delete", "docs_clear"]
