"""BERT's kernels against their NumPy twins: attention_encoder.wgsl (encoder_attention: padded
sequences, bidirectional, awkward lengths and head sizes: its TILED variant for head_dim <= 64,
the one-row variant for 128 and 256), and the erf GELU (gelu.wgsl ERF) as the
epilogue of matvec.wgsl / matmul.wgsl and as elementwise.wgsl GELU after a split weight; and the
NumPy twins themselves against float64 / a by-hand softmax."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from gpu_available import open_webgpu

from webinfer.device.numpy_device import NumpyDevice, gelu_erf
from webinfer.device.webgpu.selftest import random_qweight
from webinfer.device.webgpu.split import GSplitWeight

from kernel_check import assert_close

REF = NumpyDevice()


def test_gelu_erf_twin_is_torch_gelu():
    """The NumPy twin is 0.5 y (1 + erf(y / sqrt 2)) (torch's exact gelu) to float32's precision."""
    x = np.linspace(-12, 12, 4001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert_close(gelu_erf(x), exact, 2e-6, 1e-5, "gelu_erf")


def by_hand(qkv, lengths, s, h, hd):
    """encoder_attention written out per sequence and head, in float64."""
    d = h * hd
    out = np.zeros((len(lengths) * s, d))
    for b, n in enumerate(lengths):
        rows = qkv[b * s:(b + 1) * s].astype(np.float64)
        for j in range(h):
            q, k, v = (rows[:, o + j * hd:o + (j + 1) * hd] for o in (0, d, 2 * d))
            sc = q @ k[:n].T / math.sqrt(hd)
            p = np.exp(sc - sc.max(1, keepdims=True))
            out[b * s:(b + 1) * s, j * hd:(j + 1) * hd] = (p / p.sum(1, keepdims=True)) @ v[:n]
    return out


@pytest.mark.parametrize("lengths,s,h,hd", [
    ([1], 1, 1, 4), ([3, 1, 2], 3, 2, 8), ([31, 33, 32], 33, 4, 16), ([7, 64], 64, 12, 32),
    ([65, 2], 65, 3, 64), ([255, 256, 257], 257, 2, 12), ([512, 100], 512, 1, 128), ([5], 5, 2, 256),
])
def test_encoder_attention(gdev, lengths, s, h, hd):
    rng = np.random.default_rng(zlib.crc32(f"{lengths}/{h}/{hd}".encode()))
    qkv = (rng.standard_normal((len(lengths) * s, 3 * h * hd)) * 1.5).astype(np.float32)
    want = REF.encoder_attention(qkv, lengths, s, h, hd)
    assert_close(want, by_hand(qkv, lengths, s, h, hd), 1e-5, 1e-5, "numpy twin vs by hand")
    got = gdev.read_sync(gdev.encoder_attention(gdev.tensor(qkv), lengths, s, h, hd))
    assert_close(got, want, 1e-5, 1e-4, f"encoder_attention {lengths} S={s} H={h} hd={hd}")


def test_padding_changes_no_real_row(gdev):
    """A sequence's rows are the same alone and padded beside a longer one (garbage in the padding)."""
    rng = np.random.default_rng(3)
    h, hd = 2, 16
    alone = rng.standard_normal((5, 3 * h * hd)).astype(np.float32)
    padded = rng.standard_normal((2 * 9, 3 * h * hd)).astype(np.float32) * 100
    padded[:5] = alone
    for dev in (REF, gdev):
        a = np.asarray(dev.read_sync(dev.encoder_attention(dev.tensor(alone), [5], 5, h, hd)))
        p = np.asarray(dev.read_sync(dev.encoder_attention(dev.tensor(padded), [5, 9], 9, h, hd)))
        assert_close(p[:5], a, 1e-6, 1e-6, f"{dev.name}: padded vs alone")


@pytest.mark.parametrize("t", ["Q8_0", "F16", "F32"])
@pytest.mark.parametrize("n", [1, 3, 9, 65])   # 1-8 tokens: matvec GELU ERF; more: matmul GELU ERF
def test_linear_gelu_erf(gdev, layout, t, n):
    rng = np.random.default_rng(zlib.crc32(f"gelu_erf/{t}/{n}".encode()))
    cols = 64 if t.startswith("Q") else 33
    for rows in (1, 31, 257):
        w = random_qweight(rng, t, rows, cols, scale=1.0)
        w.bias = rng.standard_normal(rows).astype(np.float32)
        x = rng.standard_normal((n, cols)).astype(np.float32)
        got = gdev.read_sync(gdev.linear_gelu_erf(gdev.tensor(x), gdev.weight(w)))
        assert_close(got, REF.linear_gelu_erf(x, REF.weight(w)), 1e-4, 1e-4, f"{t} n={n} rows={rows}")


def test_split_gelu_erf():
    """An up projection over the binding limit: its chunks, then elementwise.wgsl GELU ERF."""
    dev = open_webgpu(limits={"max_storage_buffer_binding_size": 4096})
    rng = np.random.default_rng(11)
    up = random_qweight(rng, "Q8_0", 200, 64, scale=1.0)
    up.bias = rng.standard_normal(200).astype(np.float32)
    gup = dev.weight(up)
    assert isinstance(gup, GSplitWeight)
    for n in (1, 4):
        x = rng.standard_normal((n, 64)).astype(np.float32)
        assert_close(dev.read_sync(dev.linear_gelu_erf(dev.tensor(x), gup)), REF.linear_gelu_erf(x, REF.weight(up)),
                     1e-4, 1e-4, f"split gelu erf n={n}")
