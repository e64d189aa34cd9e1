"""The Gemma family's kernels vs their NumPy twins: GEGLU (matvec / matmul / elementwise), scale,
soft-cap, rmsnorm RESIDUAL, scaled RoPE, sliding-window and soft-capped attention (decode, split
decode, prefill both kernels)."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device.numpy_device import NumpyDevice, gelu_tanh, rope_inv_freq, softcap
from webinfer.device.webgpu.selftest import random_qweight

from kernel_check import assert_close

REF = NumpyDevice()


def test_gelu_tanh_twin_is_pytorchs_formula():
    x = np.linspace(-12, 12, 97, dtype=np.float32)
    want = 0.5 * x.astype(np.float64) * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x.astype(np.float64) ** 3)))
    assert np.allclose(gelu_tanh(x), want, atol=1e-6, rtol=1e-6)
    assert gelu_tanh(x).dtype == np.float32


@pytest.mark.parametrize("n", [1, 3, 70])        # matvec (1-8 tokens) and the tiled matmul
@pytest.mark.parametrize("t", ["Q8_0", "F32"])
def test_geglu(gdev, layout, t, n):
    rng = np.random.default_rng(20 + n)
    cols = 96 if t != "F32" else 33
    x = (3 * rng.standard_normal((n, cols))).astype(np.float32)
    nw = rng.standard_normal(cols).astype(np.float32)
    h_ref = REF.rms_norm(x, nw, 1e-6)
    for rows in (31, 257):
        gu = random_qweight(rng, t, 2 * rows, cols)
        want = REF.linear_geglu(h_ref, REF.weight(gu))
        got = gdev.linear_geglu(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-6), gdev.weight(gu))
        assert_close(gdev.read_sync(got), want, 1e-4, 1e-4, f"geglu norm {rows}")
        got = gdev.linear_geglu(gdev.tensor(h_ref), gdev.weight(gu))
        assert_close(gdev.read_sync(got), want, 1e-4, 1e-4, f"geglu {rows}")


def test_geglu_elementwise_split_fallback(gdev):
    """elementwise.wgsl SWIGLU+GEGLU (a gate/up weight split over the binding limit takes it)."""
    from webinfer.device.webgpu import split
    rng = np.random.default_rng(5)
    gu = (4 * rng.standard_normal((3, 2 * 77))).astype(np.float32)
    got = gdev.read_sync(split.swiglu(gdev.gpu, gdev.tensor(gu), geglu=True))
    assert_close(got, gelu_tanh(gu[:, :77]) * gu[:, 77:], 1e-5, 1e-5, "geglu elementwise")   # (the tail: 0.5 x (1 + tanh) cancels)


@pytest.mark.parametrize("width", [1, 255, 257, 1000])
def test_scale_softcap_and_norm_residual(gdev, width):
    rng = np.random.default_rng(width)
    x = (20 * rng.standard_normal((3, width))).astype(np.float32)
    r = rng.standard_normal((3, width)).astype(np.float32)
    w = rng.standard_normal(width).astype(np.float32)
    s = float(np.float32(np.sqrt(640.0)))
    assert_close(gdev.read_sync(gdev.scale(gdev.tensor(x), s)), REF.scale(x, s), 0, 0, "scale")
    for cap in (30.0, 50.0, 0.5):
        assert_close(gdev.read_sync(gdev.softcap(gdev.tensor(x), cap)), softcap(x, cap), 1e-5, 1e-5, f"cap {cap}")
    want = REF.add(r, REF.rms_norm(x, w, 1e-6))
    got = gdev.add(gdev.tensor(r), gdev.rms_norm(gdev.tensor(x), gdev.vector(w), 1e-6))
    assert_close(gdev.read_sync(got), want, 1e-5, 1e-5, "residual + norm")
    got = gdev.add(gdev.rms_norm(gdev.tensor(x), gdev.vector(w), 1e-6), gdev.tensor(r))
    assert_close(gdev.read_sync(got), want, 1e-5, 1e-5, "norm + residual")


def test_softcap_of_huge_values_is_finite(gdev):
    x = np.array([[1e30, -1e30, 3e38, 0.0, 89.0, -89.0]], np.float32)
    got = gdev.read_sync(gdev.softcap(gdev.tensor(x), 30.0))
    assert np.isfinite(got).all()
    assert_close(got, softcap(x, 30.0), 1e-5, 1e-6, "cap of huge")


def test_rope_linear_scaling(gdev, layout):
    """rope_kv with linearly scaled frequencies (Gemma 3's global layers: theta's inverse
    frequencies / 8, passed as freqs), both the rope_kv kernel and matvec ROPE."""
    rng = np.random.default_rng(2)
    heads, kv, hd = 4, 2, 32
    freqs = rope_inv_freq(1e6, hd) / np.float32(8.0)
    for n in (5, 1):
        gc, rc = gdev.kv_cache(1, kv, hd, 64), REF.kv_cache(1, kv, hd, 64)
        qkv = rng.standard_normal((n, (heads + 2 * kv) * hd)).astype(np.float32)
        gq = gdev.rope_kv(gdev.tensor(qkv), gc, 0, 7, heads, kv, hd, 1e6, True, freqs)
        rq = REF.rope_kv(qkv, rc, 0, 7, heads, kv, hd, 1e6, True, freqs)
        assert_close(gdev.read_sync(gq), rq, 1e-5, 1e-5, f"scaled rope n={n}")
        plain = REF.rope_kv(qkv, REF.kv_cache(1, kv, hd, 64), 0, 7, heads, kv, hd, 1e6, True)
        assert not np.allclose(plain, rq)
    w = random_qweight(rng, "Q8_0", (heads + 2 * kv) * hd, 64)
    x = rng.standard_normal((1, 64)).astype(np.float32)
    gc, rc = gdev.kv_cache(1, kv, hd, 64), REF.kv_cache(1, kv, hd, 64)
    gq = gdev.rope_kv(gdev.linear(gdev.tensor(x), gdev.weight(w)), gc, 0, 9, heads, kv, hd, 1e6, True, freqs)
    rq = REF.rope_kv(REF.linear(x, REF.weight(w)), rc, 0, 9, heads, kv, hd, 1e6, True, freqs)
    assert_close(gdev.read_sync(gq), rq, 1e-4, 1e-4, "matvec ROPE scaled")


def _reference_attention(q, k, v, pos, heads, kv, hd, scale, window, cap):
    """Straight loops, float64: what every head of every query sees."""
    n = q.shape[0]
    out = np.zeros((n, heads * hd))
    g = heads // kv
    for t in range(n):
        p = pos + t
        for h in range(heads):
            lo = max(0, p - window + 1) if window else 0
            ks, vs = k[h // g, lo:p + 1].astype(np.float64), v[h // g, lo:p + 1].astype(np.float64)
            s = ks @ q[t, h * hd:(h + 1) * hd].astype(np.float64) * scale
            if cap:
                s = np.tanh(s / cap) * cap
            e = np.exp(s - s.max())
            out[t, h * hd:(h + 1) * hd] = e @ vs / e.sum()
    return out


GQA = [(4, 2, 16), (8, 2, 64), (2, 1, 128), (4, 1, 256)]


@pytest.mark.parametrize("heads,kv,hd", GQA)
@pytest.mark.parametrize("window,cap", [(5, 0.0), (40, 0.0), (0, 50.0), (24, 20.0)])
def test_attention_window_softcap(gdev, heads, kv, hd, window, cap):
    """Prefill 37 tokens then decode past the window, over a short cache (one-split decode) and a
    long one (flash-decoding splits, some wholly outside the window), against the NumPy twin and a
    float64 loop."""
    rng = np.random.default_rng(heads + hd + window)
    scale = float(256 ** -0.5)                 # query_pre_attn_scalar != head_dim
    w = random_qweight(rng, "Q8_0", 40, heads * hd)
    gw = gdev.weight(w)
    for ctx in (100, 700):
        gc, rc = gdev.kv_cache(1, kv, hd, ctx), REF.kv_cache(1, kv, hd, ctx)
        width = (heads + 2 * kv) * hd
        pos = 0
        steps = (37, 1, 1, 20, 1) if ctx == 100 else (37, 1, 400, 1, 200, 1)
        for n in steps:
            qkv = (2 * rng.standard_normal((n, width))).astype(np.float32)
            gq = gdev.rope_kv(gdev.tensor(qkv), gc, 0, pos, heads, kv, hd, 10000.0, True)
            rq = REF.rope_kv(qkv, rc, 0, pos, heads, kv, hd, 10000.0, True)
            want = REF.attention(rq, rc, 0, pos, heads, kv, hd, scale, window, cap)
            if n < 40:
                loop = _reference_attention(rq, rc.k[0], rc.v[0], pos, heads, kv, hd, scale, window, cap)
                assert_close(want, loop, 1e-5, 1e-4, f"numpy twin n={n} pos={pos}")
            ga = gdev.attention(gq, gc, 0, pos, heads, kv, hd, scale, window, cap)
            if n == 1:
                # the out-projection merges the split partials itself (matvec COMBINE), the empty
                # partials of the splits below the window included
                proj = gdev.read_sync(gdev.linear(ga, gw))
                assert_close(proj, REF.linear(want, REF.weight(w)), 1e-4, 1e-4, f"combine ctx={ctx} pos={pos}")
            got = gdev.read_sync(ga)
            assert_close(got, want, 5e-5, 1e-4, f"ctx={ctx} n={n} pos={pos}")
            pos += n


def test_plain_attention_arguments_unchanged(gdev):
    """scale=0 / window=0 / softcap=0 is the plain kernel (no variant), equal to the old call."""
    rng = np.random.default_rng(1)
    heads, kv, hd = 4, 2, 32
    gc, rc = gdev.kv_cache(1, kv, hd, 64), REF.kv_cache(1, kv, hd, 64)
    qkv = rng.standard_normal((9, (heads + 2 * kv) * hd)).astype(np.float32)
    gq = gdev.rope_kv(gdev.tensor(qkv), gc, 0, 0, heads, kv, hd, 10000.0, True)
    rq = REF.rope_kv(qkv, rc, 0, 0, heads, kv, hd, 10000.0, True)
    a = gdev.read_sync(gdev.attention(gq, gc, 0, 0, heads, kv, hd))
    b = gdev.read_sync(gdev.attention(gq, gc, 0, 0, heads, kv, hd, 1 / np.sqrt(hd), 0, 0.0))
    assert np.array_equal(a, b)
    assert_close(a, REF.attention(rq, rc, 0, 0, heads, kv, hd), 1e-5, 1e-4, "plain")
