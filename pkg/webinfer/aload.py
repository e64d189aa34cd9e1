"""Async entry points for the browser: open WebGPU, load a model, self-test, without blocking.

In Pyodide, WebGPU is async-only (requestAdapter, requestDevice, mapAsync), and webinfer does
not depend on run_sync/JSPI (the page must work in any browser on any static host), so the sync
``webinfer.load`` cannot open the GPU itself. Instead:

    await webinfer.init_gpu()                      # once: open navigator.gpu (+ self-test it)
    model = webinfer.load(data, device="auto")     # now "auto"/"webgpu" can pick it
    # or, in one step (fetches an http(s) URL with the browser's fetch):
    model = await webinfer.load_async("/models/SmolLM2-135M-Instruct.Q4_1.gguf")

In CPython both work too: wgpu-py opens synchronously, so ``init_gpu`` has nothing to do and
``load_async`` is ``load``.

Not here: the adapter (device/webgpu/adapter_js.py), the sync API (model.py).
"""

from __future__ import annotations

import sys

import numpy as np

from .errors import DeviceError
from .model import Model, load

IN_PYODIDE = sys.platform == "emscripten"


async def init_gpu(power_preference: str = "high-performance", device: str = "auto") -> str:
    """Open the browser's WebGPU (Pyodide) for the sync loaders. Returns the description of the
    device that `device` ("auto", or "webgpu" to force it) now gets: "webgpu: <adapter>", or
    "numpy: <why not>" (no adapter; a CPU-emulated one such as SwiftShader under "auto"; a failed
    self-test; a CSP that blocks webinfer's JS kits); a missing or broken GPU never raises here.
    The self-test (one matvec against NumPy) runs only on an adapter that will be used.
    In CPython (wgpu-py opens synchronously) it only says what select_device(device) picks."""
    if device not in ("auto", "webgpu"):
        raise DeviceError(f"init_gpu(device={device!r}): device must be \"auto\" or \"webgpu\"")
    if not IN_PYODIDE:
        from .device import select_device
        try:
            return select_device(device).description
        except DeviceError as e:
            return f"numpy: {e}"
    from .device import numpy_preferred_over
    from .device.webgpu import adapter_js
    from .device.webgpu.device import WebGPUDevice
    adapter = adapter_js._opened
    if adapter is not None and adapter._failed is not None:   # lost or failed since: open a new one
        adapter = None
    try:
        if adapter is None:
            adapter = await adapter_js.open_js_adapter(power_preference)
            adapter_js.remember(adapter)
        why = numpy_preferred_over(adapter)
        if device == "auto" and why:
            return f"numpy: {why}"
        if not adapter.self_tested:
            await quick_check_async(WebGPUDevice(adapter))
            await adapter.check_errors()
            adapter.self_tested = True
    except DeviceError as e:
        adapter_js.remember(None, e)
        return f"numpy: {e}"
    except Exception as e:  # noqa: BLE001 - a JS exception from a broken GPU stack must not stop the page
        err = DeviceError(f"webgpu unavailable ({type(e).__name__}: {e})")
        adapter_js.remember(None, err)
        return f"numpy: {err}"
    return f"webgpu: {adapter.description}"


async def load_async(source=None, device: str = "auto", n_ctx: int | None = None, progress=None) -> Model:
    """``webinfer.load`` for the browser: opens WebGPU first (init_gpu) when device is "auto" or
    "webgpu", fetches an http(s) URL with the browser's fetch, and waits for the GPU's
    validation of the uploads. "auto" falls back to NumPy with the reason in
    ``model.device.description``; "webgpu" raises DeviceError (KitUnavailableError under a CSP
    that blocks webinfer's JS kits) if WebGPU cannot be used.
    source may also be a ``webinfer.ByteStream`` (chunks as they arrive, and the file's size) or
    a binary file object: on WebGPU the weights then go to the GPU as they pass, the file never
    whole in memory (webinfer.stream); on NumPy it is read into memory first."""
    if IN_PYODIDE and device in ("auto", "webgpu"):
        await init_gpu(device=device)
    from .stream import as_stream, load_stream
    stream = as_stream(source)
    if stream is not None:
        from .device import select_device
        dev = select_device(device) if isinstance(device, str) else device
        return await load_stream(stream, dev, n_ctx, progress, fall_back=device == "auto")
    if IN_PYODIDE and isinstance(source, str) and source.startswith(("http://", "https://")):
        from .ffi import fetch_bytes
        source = await fetch_bytes(source)
    model = load(source, device=device, n_ctx=n_ctx, progress=progress)
    await model.device.check_errors()
    return model


async def load_embedder_async(source=None, device: str = "auto", max_length: int | None = None):
    """``webinfer.load_embedder`` for the browser: opens WebGPU first (as load_async), and fetches
    an http(s) URL with the browser's fetch: a .gguf file, or a HF checkpoint folder (its
    config.json, model.safetensors, tokenizer.json and, where the server has them,
    sentence-transformers' sentence_bert_config.json and 1_Pooling/config.json). Embed with
    ``await embedder.aembed(texts)``."""
    from .embed import HF_FILES, ST_FILES, load_embedder
    if IN_PYODIDE and device in ("auto", "webgpu"):
        await init_gpu(device=device)
    if IN_PYODIDE and isinstance(source, str) and source.startswith(("http://", "https://")):
        from .ffi import fetch_bytes
        if source.endswith(".gguf"):
            source = await fetch_bytes(source)
        else:
            base = source.rstrip("/") + "/"
            files = {n: await fetch_bytes(base + n) for n in HF_FILES}
            for n in ST_FILES:
                try:
                    files[n] = await fetch_bytes(base + n)
                except OSError:
                    pass        # optional (an HTTP error): the model's own defaults
            source = files
    emb = load_embedder(source, device=device, max_length=max_length)
    await emb.device.check_errors()
    return emb


async def quick_check_async(dev) -> None:
    """selftest.quick_check with an awaited read (mapAsync): one Q8_0 matvec vs NumPy."""
    from .device.numpy_device import NumpyDevice
    from .device.webgpu.selftest import random_qweight
    rng = np.random.default_rng(0)
    w = random_qweight(rng, "Q8_0", 40, 64)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    ref = NumpyDevice().linear(x, NumpyDevice().weight(w))
    got = await dev.read(dev.linear(dev.tensor(x), dev.weight(w)))
    err = float(np.max(np.abs(got - ref)))
    if not np.isfinite(err) or err > 1e-3 * (1 + float(np.max(np.abs(ref)))):
        raise DeviceError(f"{dev.description} failed the self-test (matvec error {err:.3g} vs NumPy)")


async def aselftest(dev=None) -> dict[str, float]:
    """Largest |webgpu - numpy| of every op on random data, {op: error}: ``selftest.selftest``
    for the browser, where reads must be awaited. dev: a WebGPU device (default: a new one)."""
    from .device.numpy_device import NumpyDevice
    from .device.webgpu import open_device
    from .device.webgpu.selftest import random_qweight
    dev = dev if dev is not None else open_device()
    rng, ref = np.random.default_rng(1), NumpyDevice()
    errs: dict[str, float] = {}

    async def cmp(name, got, want):
        errs[name] = float(np.max(np.abs((await dev.read(got)).astype(np.float64) - np.asarray(want, np.float64))))

    # the same cases, in the same order and with the same random draws, as selftest.selftest
    n, d, ff, H, KV, hd, ctx = 5, 64, 96, 4, 2, 16, 32
    x = rng.standard_normal((n, d)).astype(np.float32)
    nw = rng.standard_normal(d).astype(np.float32)
    for t in ("Q4_0", "Q4_1", "Q8_0", "F16", "F32"):
        w = random_qweight(rng, t, 48, d)
        await cmp(f"linear[{t}]", dev.linear(dev.tensor(x), dev.weight(w)), ref.linear(x, ref.weight(w)))
        await cmp(f"embed[{t}]", dev.embed(dev.weight(w), [3, 0, 47]), ref.embed(ref.weight(w), [3, 0, 47]))
    await cmp("rms_norm", dev.rms_norm(dev.tensor(x), dev.vector(nw), 1e-5), ref.rms_norm(x, nw, 1e-5))
    gu = random_qweight(rng, "Q8_0", 2 * ff, d)
    await cmp("linear_swiglu", dev.linear_swiglu(dev.tensor(x), dev.weight(gu)), ref.linear_swiglu(x, ref.weight(gu)))
    y = rng.standard_normal((n, d)).astype(np.float32)
    await cmp("add", dev.add(dev.tensor(x), dev.tensor(y)), x + y)
    qkv = rng.standard_normal((n, (H + 2 * KV) * hd)).astype(np.float32)
    qw, kw = rng.standard_normal(hd).astype(np.float32), rng.standard_normal(hd).astype(np.float32)
    await cmp("head_norm", dev.head_norm(dev.tensor(qkv), dev.vector(qw), dev.vector(kw), H, KV, hd, 1e-6),
              ref.head_norm(qkv, qw, kw, H, KV, hd, 1e-6))
    gc, rc = dev.kv_cache(1, KV, hd, ctx), ref.kv_cache(1, KV, hd, ctx)
    gq = dev.rope_kv(dev.tensor(qkv), gc, 0, 3, H, KV, hd, 10000.0, False)
    rq = ref.rope_kv(qkv, rc, 0, 3, H, KV, hd, 10000.0, False)
    await cmp("rope_kv", gq, rq)
    await cmp("attention", dev.attention(gq, gc, 0, 3, H, KV, hd), ref.attention(rq, rc, 0, 3, H, KV, hd))
    await cmp("linear_geglu", dev.linear_geglu(dev.tensor(x), dev.weight(gu)), ref.linear_geglu(x, ref.weight(gu)))
    await cmp("scale", dev.scale(dev.tensor(x), 8.0), ref.scale(x, 8.0))
    await cmp("softcap", dev.softcap(dev.tensor(3 * x), 2.0), ref.softcap(3 * x, 2.0))
    await cmp("add_norm", dev.add(dev.tensor(y), dev.rms_norm(dev.tensor(x), dev.vector(nw), 1e-6)),
              ref.add(y, ref.rms_norm(x, nw, 1e-6)))
    from .device.numpy_device import rope_inv_freq
    freqs = rope_inv_freq(1e6, hd) / np.float32(8.0)          # Gemma 3's linearly scaled global layers
    gq = dev.rope_kv(dev.tensor(qkv), gc, 0, 3, H, KV, hd, 1e6, True, freqs)
    rq = ref.rope_kv(qkv, rc, 0, 3, H, KV, hd, 1e6, True, freqs)
    await cmp("rope_kv_scaled", gq, rq)
    await cmp("attention_window_softcap", dev.attention(gq, gc, 0, 3, H, KV, hd, 0.2, 3, 5.0),
              ref.attention(rq, rc, 0, 3, H, KV, hd, 0.2, 3, 5.0))
    logits = rng.standard_normal((2, 1000)).astype(np.float32)
    await cmp("argmax", dev.argmax(dev.tensor(logits)), ref.argmax(logits)[:, None])
    from .device.webgpu.selftest import bert_cases, gpt2_cases
    for name, got, want in (*gpt2_cases(dev, ref), *bert_cases(dev, ref)):
        await cmp(name, got, want)
    await dev.check_errors()
    return errs
