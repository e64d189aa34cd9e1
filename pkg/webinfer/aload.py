"""Async entry points for the browser: open WebGPU, load a model, self-test, without blocking.

In Pyodide, WebGPU is async-only (requestAdapter, requestDevice, mapAsync) and DESIGN.md rules
out run_sync/JSPI, so the sync ``webinfer.load`` cannot open the GPU itself. Instead:

    await webinfer.init_gpu()                      # once: open navigator.gpu + self-test it
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


async def init_gpu(power_preference: str = "high-performance") -> str:
    """Open the browser's WebGPU (Pyodide) and check it against NumPy; never raises.
    Returns the device description ("webgpu: ...") or the reason there is none ("numpy: ...").
    After it, device="auto" picks WebGPU only when it worked. No-op in CPython."""
    if not IN_PYODIDE:
        return "webgpu: wgpu-py, opened when a model loads"
    from .device.webgpu import adapter_js
    from .device.webgpu.device import WebGPUDevice
    if adapter_js._opened is not None:
        return f"webgpu: {adapter_js._opened.description}"
    try:
        adapter = await adapter_js.open_js_adapter(power_preference)
        await quick_check_async(WebGPUDevice(adapter))
        await adapter.check_errors()
    except DeviceError as e:
        adapter_js.remember(None, str(e))
        return f"numpy: {e}"
    adapter_js.remember(adapter)
    return f"webgpu: {adapter.description}"


async def load_async(source=None, device: str = "auto", n_ctx: int | None = None, progress=None) -> Model:
    """``webinfer.load`` for the browser: opens WebGPU first (init_gpu) when device is "auto" or
    "webgpu", fetches an http(s) URL with the browser's fetch, and waits for the GPU's
    validation of the uploads; raises DeviceError if that failed."""
    if IN_PYODIDE and device in ("auto", "webgpu"):
        await init_gpu()
    if IN_PYODIDE and isinstance(source, str) and source.startswith(("http://", "https://")):
        from .ffi import fetch_bytes
        source = await fetch_bytes(source)
    model = load(source, device=device, n_ctx=n_ctx, progress=progress)
    check = getattr(getattr(model.device, "adapter", None), "check_errors", None)
    if check is not None:
        await check()
    return model


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
    gc, rc = dev.kv_cache(1, KV, hd, ctx), ref.kv_cache(1, KV, hd, ctx)
    gq = dev.rope_kv(dev.tensor(qkv), gc, 0, 3, H, KV, hd, 10000.0, False)
    rq = ref.rope_kv(qkv, rc, 0, 3, H, KV, hd, 10000.0, False)
    await cmp("rope_kv", gq, rq)
    await cmp("attention", dev.attention(gq, gc, 0, 3, H, KV, hd), ref.attention(rq, rc, 0, 3, H, KV, hd))
    logits = rng.standard_normal((2, 1000)).astype(np.float32)
    await cmp("argmax", dev.argmax(dev.tensor(logits)), ref.argmax(logits)[:, None])
    check = getattr(dev.adapter, "check_errors", None)
    if check is not None:
        await check()
    return errs
