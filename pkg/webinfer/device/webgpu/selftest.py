"""Self-tests of the WebGPU device against the NumPy device.

``quick_check`` runs when a device opens (one small Q8_0 matvec, a few ms): an adapter whose
results are wrong must not be chosen over NumPy. ``selftest`` runs every op on random data
and reports the largest error of each (``webinfer.selftest()``).

Not here: the kernel tests with awkward shapes (tests/kernels/).
"""

from __future__ import annotations

import numpy as np

from ...errors import DeviceError
from ...formats.quants import QUANT_TYPES
from ...weights import QWeight
from ..numpy_device import NumpyDevice, rope_inv_freq


def random_qweight(rng, type_name: str, rows: int, cols: int, scale: float = 0.5) -> QWeight:
    qt = next(q for q in QUANT_TYPES.values() if q.name == type_name)
    w = (rng.standard_normal((rows, cols)) * scale).astype(np.float32)
    raw = qt.quantize(w.reshape(-1)).reshape(rows, -1)
    return QWeight(f"w_{type_name}", qt.ggml_type, raw, rows, cols)


def quick_check(dev) -> None:
    rng = np.random.default_rng(0)
    w = random_qweight(rng, "Q8_0", 40, 64)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    ref = NumpyDevice().linear(x, NumpyDevice().weight(w))
    got = dev.read_sync(dev.linear(dev.tensor(x), dev.weight(w)))
    err = float(np.max(np.abs(got - ref)))
    if not np.isfinite(err) or err > 1e-3 * (1 + float(np.max(np.abs(ref)))):
        raise DeviceError(f"{dev.description} failed the self-test (matvec error {err:.3g} vs NumPy)")


def selftest(dev) -> dict[str, float]:
    """Largest |webgpu - numpy| of every op on random data, {op: error}."""
    rng = np.random.default_rng(1)
    ref = NumpyDevice()
    errs: dict[str, float] = {}

    def cmp(name, got, want):
        errs[name] = float(np.max(np.abs(dev.read_sync(got).astype(np.float64) - np.asarray(want, np.float64))))

    n, d, ff, H, KV, hd, ctx = 5, 64, 96, 4, 2, 16, 32
    x = rng.standard_normal((n, d)).astype(np.float32)
    nw = rng.standard_normal(d).astype(np.float32)
    for t in ("Q4_0", "Q4_1", "Q8_0", "F16", "F32"):
        w = random_qweight(rng, t, 48, d)
        cmp(f"linear[{t}]", dev.linear(dev.tensor(x), dev.weight(w)), ref.linear(x, ref.weight(w)))
        cmp(f"embed[{t}]", dev.embed(dev.weight(w), [3, 0, 47]), ref.embed(ref.weight(w), [3, 0, 47]))
    cmp("rms_norm", dev.rms_norm(dev.tensor(x), dev.vector(nw), 1e-5), ref.rms_norm(x, nw, 1e-5))
    gu = random_qweight(rng, "Q8_0", 2 * ff, d)
    cmp("linear_swiglu", dev.linear_swiglu(dev.tensor(x), dev.weight(gu)), ref.linear_swiglu(x, ref.weight(gu)))
    y = rng.standard_normal((n, d)).astype(np.float32)
    cmp("add", dev.add(dev.tensor(x), dev.tensor(y)), x + y)
    qkv = rng.standard_normal((n, (H + 2 * KV) * hd)).astype(np.float32)
    qw, kw = rng.standard_normal(hd).astype(np.float32), rng.standard_normal(hd).astype(np.float32)
    cmp("head_norm", dev.head_norm(dev.tensor(qkv), dev.vector(qw), dev.vector(kw), H, KV, hd, 1e-6),
        ref.head_norm(qkv, qw, kw, H, KV, hd, 1e-6))
    gc, rc = dev.kv_cache(1, KV, hd, ctx), ref.kv_cache(1, KV, hd, ctx)
    gq = dev.rope_kv(dev.tensor(qkv), gc, 0, 3, H, KV, hd, 10000.0, False)
    rq = ref.rope_kv(qkv, rc, 0, 3, H, KV, hd, 10000.0, False)
    cmp("rope_kv", gq, rq)
    cmp("attention", dev.attention(gq, gc, 0, 3, H, KV, hd), ref.attention(rq, rc, 0, 3, H, KV, hd))
    # the Gemma family's: GEGLU, scale, soft-cap, norm + residual, scaled RoPE, windowed / capped attention
    cmp("linear_geglu", dev.linear_geglu(dev.tensor(x), dev.weight(gu)), ref.linear_geglu(x, ref.weight(gu)))
    cmp("scale", dev.scale(dev.tensor(x), 8.0), ref.scale(x, 8.0))
    cmp("softcap", dev.softcap(dev.tensor(3 * x), 2.0), ref.softcap(3 * x, 2.0))
    cmp("add_norm", dev.add(dev.tensor(y), dev.rms_norm(dev.tensor(x), dev.vector(nw), 1e-6)),
        ref.add(y, ref.rms_norm(x, nw, 1e-6)))
    freqs = rope_inv_freq(1e6, hd) / np.float32(8.0)          # Gemma 3's linearly scaled global layers
    gq = dev.rope_kv(dev.tensor(qkv), gc, 0, 3, H, KV, hd, 1e6, True, freqs)
    rq = ref.rope_kv(qkv, rc, 0, 3, H, KV, hd, 1e6, True, freqs)
    cmp("rope_kv_scaled", gq, rq)
    cmp("attention_window_softcap", dev.attention(gq, gc, 0, 3, H, KV, hd, 0.2, 3, 5.0),
        ref.attention(rq, rc, 0, 3, H, KV, hd, 0.2, 3, 5.0))
    logits = rng.standard_normal((2, 1000)).astype(np.float32)
    cmp("argmax", dev.argmax(dev.tensor(logits)), ref.argmax(logits)[:, None])
    # sample.wgsl vs its twin: the error is how far the drawn id is from the twin's (0 = the same token)
    from ..gpu_sample import sample_reference
    for i, u in enumerate((0.1, 0.5, 0.93)):
        want = sample_reference(logits, 0.8, 40, 0.9, 0.02, u)[:, None]
        cmp(f"sample[{i}]", dev.sample(dev.tensor(logits), 0.8, 40, 0.9, 0.02, u), want)
    errs["sample"] = max(errs.pop(f"sample[{i}]") for i in range(3))
    for name, got, want in (*gpt2_cases(dev, ref), *bert_cases(dev, ref)):
        cmp(name, got, want)
    return errs


def gpt2_cases(dev, ref):
    """GPT-2's ops (layer_norm, linear_gelu, store_kv, embed with positions): (name, device result,
    NumPy result), on draws of their own (the other cases' draws stay as they were)."""
    rng = np.random.default_rng(2)
    n, d, H, hd, ctx = 5, 64, 4, 16, 32
    x = rng.standard_normal((n, d)).astype(np.float32)
    w, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    yield "layer_norm", dev.layer_norm(dev.tensor(x), dev.vector(w), dev.vector(b), 1e-5), ref.layer_norm(x, w, b, 1e-5)
    up = random_qweight(rng, "Q8_0", 96, d)
    up.bias = rng.standard_normal(96).astype(np.float32)
    yield "linear_gelu", dev.linear_gelu(dev.tensor(x), dev.weight(up)), ref.linear_gelu(x, ref.weight(up))
    qkv = rng.standard_normal((n, 3 * H * hd)).astype(np.float32)
    gc, rc = dev.kv_cache(1, H, hd, ctx), ref.kv_cache(1, H, hd, ctx)
    gq, rq = dev.store_kv(dev.tensor(qkv), gc, 0, 3, H, H, hd), ref.store_kv(qkv, rc, 0, 3, H, H, hd)
    yield "store_kv", gq, rq
    yield "attention[store_kv]", dev.attention(gq, gc, 0, 3, H, H, hd), ref.attention(rq, rc, 0, 3, H, H, hd)
    tab, pe = random_qweight(rng, "Q8_0", 48, d), rng.standard_normal((ctx, d)).astype(np.float32)
    yield ("embed[positions]", dev.embed(dev.weight(tab), [3, 0, 47], dev.vector(pe), 7),
           ref.embed(ref.weight(tab), [3, 0, 47], pe, 7))


def bert_cases(dev, ref):
    """BERT's ops (linear_gelu_erf, encoder_attention over two padded sequences): (name, device
    result, NumPy result), on draws of their own."""
    rng = np.random.default_rng(3)
    d, H, hd, s = 64, 4, 16, 6
    x = rng.standard_normal((2 * s, d)).astype(np.float32)
    up = random_qweight(rng, "Q8_0", 96, d)
    up.bias = rng.standard_normal(96).astype(np.float32)
    yield "linear_gelu_erf", dev.linear_gelu_erf(dev.tensor(x), dev.weight(up)), ref.linear_gelu_erf(x, ref.weight(up))
    qkv = rng.standard_normal((2 * s, 3 * H * hd)).astype(np.float32)
    yield ("encoder_attention", dev.encoder_attention(dev.tensor(qkv), [s, 4], s, H, hd),
           ref.encoder_attention(qkv, [s, 4], s, H, hd))
