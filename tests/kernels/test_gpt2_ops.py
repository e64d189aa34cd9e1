"""GPT-2's kernels against their NumPy twins: rmsnorm.wgsl LAYERNORM (layer_norm), the GELU
epilogue of matvec.wgsl / matmul.wgsl (linear_gelu, with bias, both matvec layouts) and
elementwise.wgsl GELU (a split weight), embed.wgsl POS (learned positions, plain and split table),
and rope_kv.wgsl / matvec.wgsl ROPE with NOROPE (store_kv: prefill, then decode at later positions)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from gpu_available import open_webgpu

from webinfer.device.numpy_device import NumpyDevice, gelu_tanh
from webinfer.device.webgpu.selftest import random_qweight
from webinfer.device.webgpu.split import GSplitWeight

from kernel_check import assert_close

REF = NumpyDevice()


@pytest.mark.parametrize("width", [1, 31, 32, 33, 255, 256, 257, 1000])
def test_layer_norm(gdev, width):
    rng = np.random.default_rng(width)
    x = (rng.standard_normal((3, width)) * 3 + 5).astype(np.float32)      # a mean well off zero
    w = rng.standard_normal(width).astype(np.float32)
    b = rng.standard_normal(width).astype(np.float32)
    got = gdev.read_sync(gdev.layer_norm(gdev.tensor(x), gdev.vector(w), gdev.vector(b), 1e-5))
    want = REF.layer_norm(x, w, b, 1e-5)
    x64 = x.astype(np.float64)
    d = x64 - x64.mean(-1, keepdims=True)
    exact = d / np.sqrt((d * d).mean(-1, keepdims=True) + 1e-5) * w + b
    assert_close(want, exact, 1e-5, 1e-5, "numpy layer_norm vs float64")
    assert_close(got, want, 1e-5, 1e-5, f"layer_norm width={width}")


def test_gelu_twin_is_hf_gelu_new():
    """The NumPy twin is HF's gelu_new (tanh form) in float32, over the range activations take."""
    x = np.linspace(-12, 12, 4001, dtype=np.float32)
    exact = 0.5 * x.astype(np.float64) * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x.astype(np.float64) ** 3)))
    assert_close(gelu_tanh(x.copy()), exact, 1e-6, 1e-5, "gelu_tanh")


@pytest.mark.parametrize("t", ["Q4_1", "Q8_0", "F16", "F32"])
@pytest.mark.parametrize("n", [1, 3, 9, 65])   # 1-8 tokens: matvec GELU; more: matmul GELU
def test_linear_gelu(gdev, layout, t, n):
    rng = np.random.default_rng(zlib.crc32(f"gelu/{t}/{n}".encode()))
    cols = 64 if t.startswith("Q") else 33
    for rows in (1, 31, 257):
        w = random_qweight(rng, t, rows, cols, scale=1.0)      # products of several units: GELU's both tails
        w.bias = rng.standard_normal(rows).astype(np.float32)
        x = rng.standard_normal((n, cols)).astype(np.float32)
        got = gdev.read_sync(gdev.linear_gelu(gdev.tensor(x), gdev.weight(w)))
        assert_close(got, REF.linear_gelu(x, REF.weight(w)), 1e-4, 1e-4, f"{t} n={n} rows={rows}")


@pytest.mark.parametrize("heads,hd", [(4, 16), (12, 64), (2, 128)])
def test_store_kv_and_attention(gdev, heads, hd):
    """Prefill 33 tokens (rope_kv.wgsl NOROPE) and 3 (matvec ROPE NOROPE from a projection), then
    decode single tokens at later positions: the same q, cache and attention as NumPy."""
    rng = np.random.default_rng(heads * 7 + hd)
    ctx, d = 300, 64
    gc, rc = gdev.kv_cache(2, heads, hd, ctx), REF.kv_cache(2, heads, hd, ctx)
    w = random_qweight(rng, "Q8_0", 3 * heads * hd, d)
    w.bias = rng.standard_normal(3 * heads * hd).astype(np.float32)
    gw, rw = gdev.weight(w), REF.weight(w)
    pos = 0
    for n in (33, 3, 1, 1, 200, 1):
        x = rng.standard_normal((n, d)).astype(np.float32)
        gq = gdev.store_kv(gdev.linear(gdev.tensor(x), gw), gc, 1, pos, heads, heads, hd)
        rq = REF.store_kv(REF.linear(x, rw), rc, 1, pos, heads, heads, hd)
        assert_close(gdev.read_sync(gq), rq, 1e-4, 1e-4, f"q n={n} pos={pos}")
        ga = gdev.attention(gq, gc, 1, pos, heads, heads, hd)
        assert_close(gdev.read_sync(ga), REF.attention(rq, rc, 1, pos, heads, heads, hd), 1e-4, 1e-4,
                     f"attention n={n} pos={pos}")
        pos += n


@pytest.mark.parametrize("t", ["Q8_0", "F32"])
def test_embed_with_positions(gdev, t):
    rng = np.random.default_rng(5)
    cols = 64 if t == "Q8_0" else 33
    w = random_qweight(rng, t, 257, cols)
    pe = rng.standard_normal((40, cols)).astype(np.float32)
    gw, gp = gdev.weight(w), gdev.vector(pe)
    for ids, pos in (([0, 256, 128, 0], 0), ([7], 39), ([3, 3], 17)):
        got = gdev.read_sync(gdev.embed(gw, ids, gp, pos))
        assert_close(got, REF.embed(REF.weight(w), ids, pe, pos), 0, 0, f"{t} pos={pos}")
        assert_close(got, w.dequantize()[ids] + pe[pos:pos + len(ids)], 0, 0, "by hand")


def test_split_table_positions_and_gelu():
    """A table and an up projection over the binding limit: embed.wgsl POS per chunk, and the
    projection's chunks followed by elementwise.wgsl GELU."""
    dev = open_webgpu(limits={"max_storage_buffer_binding_size": 4096})
    rng = np.random.default_rng(9)
    w = random_qweight(rng, "Q8_0", 300, 64)          # 300 x 68 B: 5 chunks
    pe = rng.standard_normal((16, 64)).astype(np.float32)
    gw = dev.weight(w)
    assert isinstance(gw, GSplitWeight)
    ids = [0, 299, 150, 61]
    assert_close(dev.read_sync(dev.embed(gw, ids, dev.vector(pe), 5)), w.dequantize()[ids] + pe[5:9], 0, 0, "split embed")
    up = random_qweight(rng, "Q8_0", 200, 64, scale=1.0)
    up.bias = rng.standard_normal(200).astype(np.float32)
    gup = dev.weight(up)
    assert isinstance(gup, GSplitWeight)
    for n in (1, 3):
        x = rng.standard_normal((n, 64)).astype(np.float32)
        assert_close(dev.read_sync(dev.linear_gelu(dev.tensor(x), gup)), REF.linear_gelu(x, REF.weight(up)),
                     1e-4, 1e-4, f"split gelu n={n}")
