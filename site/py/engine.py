"""The page's Python side: one model and one chat, driven by the worker (js/worker.js).

The worker imports this module after installing the webinfer wheel and calls four functions:
``load_model(bytes, name, device, progress)``, ``send(text, settings_json, on_delta)``,
``stop()`` and ``reset(system)``. Everything here is plain webinfer API (``webinfer.load``,
``Model.generate`` with ``Generation.cancel``, ``ChatSession`` for the message list and its
context-window truncation), so the page shows exactly what the library does.

What it is not: UI, fetching or caching (the page does those in JavaScript and hands over the
bytes), or a second chat implementation: the turn is ChatSession's, with one difference --
we call ``model.generate`` ourselves so that Stop can ``cancel()`` the Generation and the
cancelled answer still goes into the history (ChatSession.send hides its Generation).
"""

from __future__ import annotations

import json
import time

import webinfer

_model = None        # the loaded webinfer.Model
_session = None      # its webinfer ChatSession
_gen = None          # the Generation streaming now, if any (Stop cancels it)

SETTING_KEYS = {"temperature": float, "top_p": float, "top_k": int, "max_tokens": int}


async def load_model(data, name: str, device: str, progress):
    """Load a GGUF from the page's bytes (a JS Uint8Array); returns what the status line shows.

    The async loader (``webinfer.load_async``) opens the browser's WebGPU first (navigator.gpu is
    async-only); with device "auto" it falls back to NumPy and ``device.description`` says why.
    A GPU that fails while taking the weights also falls back to NumPy, with that reason."""
    global _model, _session
    t0 = time.perf_counter()
    gguf = data.to_py() if hasattr(data, "to_py") else data      # one copy into Python's memory
    _model = _session = None                                    # free the previous model first
    load_async = _async_loader()
    try:
        if load_async is not None:
            model = await load_async(gguf, device=device, progress=progress)
        else:
            model = webinfer.load(gguf, device=device, progress=progress)
    except Exception as e:  # noqa: BLE001 - any GPU failure under "auto" means: run on NumPy
        if device != "auto" or not isinstance(e, (webinfer.DeviceError, _JsException)):
            raise
        # The GPU failed while opening or taking the weights: the answer is the same on NumPy.
        from webinfer.device.numpy_device import NumpyDevice
        why = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        model = webinfer.load(gguf, device=NumpyDevice(f"WebGPU failed: {why}"), progress=progress)
    _model = model
    _session = model.chat()
    return {"device": model.device.description, "model": name or model.config.name,
            "n_ctx": model.n_ctx, "load_s": round(time.perf_counter() - t0, 3)}


def _use_site_kits() -> None:
    """Let webinfer's JS helpers ("kits") come from the site's own js/kits.js, not from eval.

    webinfer.ffi.make_kit builds its JS functions with pyodide's run_js, i.e. JavaScript eval,
    which the page's Content-Security-Policy forbids ('unsafe-eval' is not allowed). The site
    build (tools/build_site.py) writes every kit source found in the wheel into js/kits.js,
    keyed by the sha256 of its text; the worker exposes them as webinferKit(sha256). A source
    the site does not have still goes to run_js (and fails under the CSP, which "auto" turns
    into the NumPy fallback with the reason). Remove once webinfer.ffi has such a hook itself."""
    try:
        from webinfer import ffi
    except ImportError:
        return
    import hashlib

    import js
    run_js = ffi.run_js

    def run_js_from_site(source: str):
        kit = js.webinferKit(hashlib.sha256(source.encode()).hexdigest())
        return kit if kit is not None else run_js(source)
    ffi.run_js = run_js_from_site


try:
    from pyodide.ffi import JsException as _JsException
except ImportError:   # CPython (the module's unit use): no JS errors can happen
    class _JsException(Exception):
        pass

_use_site_kits()


def _async_loader():
    """webinfer's async loader (it opens the browser's WebGPU first), or None in older wheels."""
    fn = getattr(webinfer, "load_async", None)
    if fn is None:
        try:
            from webinfer.aload import load_async as fn
        except ImportError:
            return None
    return fn


def _options(settings_json: str) -> dict:
    """generate() keywords from the page's settings (validated again by webinfer itself)."""
    raw = json.loads(settings_json)
    opts = {k: cast(raw[k]) for k, cast in SETTING_KEYS.items() if raw.get(k) not in (None, "")}
    if opts.get("top_k") == 0:
        opts.pop("top_k")          # the page's "0 = off"
    return opts


async def send(text: str, settings_json: str, on_delta) -> str:
    """One chat turn: stream the answer's text deltas to on_delta; return the Completion as JSON."""
    global _gen
    if _model is None:
        raise webinfer.WebinferError("no model is loaded yet")
    opts = _options(settings_json)
    reserve = min(opts.get("max_tokens", 256), _model.n_ctx // 4)
    _session.messages.append({"role": "user", "content": text})
    try:
        ids = _session.prompt_ids(reserve)
    except webinfer.WebinferError:
        _session.messages.pop()
        raise
    _gen = gen = _model.generate(ids, **opts)
    try:
        async for delta in gen:
            on_delta(delta)
    finally:
        _gen = None
        answer = gen.result.text if gen.result is not None else ""
        _session.messages.append({"role": "assistant", "content": answer})
        _session.last = gen.result
    c = gen.result
    return json.dumps({**c.to_dict(), "prefill_s": round(c.prefill_s, 3), "decode_s": round(c.decode_s, 3)})


def stop() -> None:
    """Stop the running answer after its current token (no-op when idle)."""
    if _gen is not None:
        _gen.cancel()


def reset(system: str = "") -> None:
    """New chat, with `system` as the system message (empty: the chat template's default)."""
    global _session
    if _model is not None:
        _session = _model.chat(system=system or None)
