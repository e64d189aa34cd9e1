"""matvec.wgsl / matmul.wgsl / embed.wgsl vs the NumPy device, every weight type, awkward shapes."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from webinfer.device.numpy_device import NumpyDevice
from webinfer.device.webgpu.selftest import random_qweight

from kernel_check import assert_close

REF = NumpyDevice()
TYPES = ["Q4_0", "Q4_1", "Q8_0", "F16", "F32"]
ROWS = [1, 31, 32, 33, 255, 256, 257]


def _cols(t):
    return [64] if t.startswith("Q") else [31, 33]      # quant rows are whole blocks of 32


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("n", [1, 3, 9, 65])   # 1-8 tokens: matvec; more: tiled matmul
def test_linear(gdev, layout, t, n):
    rng = np.random.default_rng(zlib.crc32(f"{t}/{n}".encode()))
    for rows in ROWS:
        for cols in _cols(t):
            w = random_qweight(rng, t, rows, cols)
            w.bias = rng.standard_normal(rows).astype(np.float32) if rows == 33 else None
            x = rng.standard_normal((n, cols)).astype(np.float32)
            got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
            assert_close(got, REF.linear(x, REF.weight(w)), 1e-4, 1e-4, f"{t} n={n} {rows}x{cols}")


@pytest.mark.parametrize("n", [1, 2, 70])
@pytest.mark.parametrize("t", ["Q4_1", "Q8_0", "F32"])
def test_fused_norm_residual_swiglu(gdev, layout, t, n):
    rng = np.random.default_rng(7 + n)
    cols = 96 if t != "F32" else 33
    x = rng.standard_normal((n, cols)).astype(np.float32)
    nw = rng.standard_normal(cols).astype(np.float32)
    h_ref = REF.rms_norm(x, nw, 1e-5)
    for rows in (31, 257):
        w = random_qweight(rng, t, rows, cols)
        r = rng.standard_normal((n, rows)).astype(np.float32)
        got = gdev.add(gdev.tensor(r), gdev.linear(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(w)))
        assert_close(gdev.read_sync(got), r + REF.linear(h_ref, REF.weight(w)), 1e-4, 1e-4, f"norm+res {rows}")
        gu = random_qweight(rng, t, 2 * rows, cols)
        got = gdev.linear_swiglu(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(gu))
        assert_close(gdev.read_sync(got), REF.linear_swiglu(h_ref, REF.weight(gu)), 1e-4, 1e-4, f"swiglu {rows}")


@pytest.mark.parametrize("t", TYPES)
def test_embed(gdev, t):
    rng = np.random.default_rng(3)
    for rows, cols in ((257, 64 if t.startswith("Q") else 33), (1, 32)):
        w = random_qweight(rng, t, rows, cols)
        ids = [0, rows - 1, rows // 2, 0]
        assert_close(gdev.read_sync(gdev.embed(gdev.weight(w), ids)), REF.embed(REF.weight(w), ids), 0, 0, t)


def test_embed_reads_token_left_on_gpu(gdev):
    rng = np.random.default_rng(4)
    w = random_qweight(rng, "Q8_0", 100, 32)
    logits = np.zeros((1, 100), np.float32)
    logits[0, 42] = 1.0
    tok = gdev.argmax(gdev.tensor(logits))
    assert_close(gdev.read_sync(gdev.embed(gdev.weight(w), tok)), REF.embed(REF.weight(w), [42]), 0, 0)


@pytest.mark.parametrize("t", ["Q4_1", "Q8_0", "F32"])
def test_linear_wide_rows(gdev, layout, t):
    """Rows of 132-192 weight groups: matvec's two-groups-per-iteration loop and its odd tail
    (64 lanes), and many K blocks in the tiled matmul."""
    rng = np.random.default_rng(21)
    for cols in (1056, 1536, 1025 if t == "F32" else 1024):
        w = random_qweight(rng, t, 33, cols)
        for n in (1, 2, 33):
            x = rng.standard_normal((n, cols)).astype(np.float32)
            got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
            assert_close(got, REF.linear(x, REF.weight(w)), 1e-4, 1e-4, f"{t} n={n} 33x{cols}")


@pytest.mark.parametrize("t", ["Q4_0", "Q8_0", "F16", "F32"])
def test_linear_many_rows(gdev, layout, t):
    """Matrices of >= 16384 rows (an lm head): on the GPU layout a matvec slot takes 4 rows
    (matvec.wgsl WIDE); rows not a multiple of 4, plain, with a bias, and with the fused norm
    and residual."""
    from webinfer.device.webgpu.device import MATVEC_WIDE_ROWS
    rng = np.random.default_rng(23)
    rows, cols = MATVEC_WIDE_ROWS + 33, (64 if t.startswith("Q") else 33)
    w = random_qweight(rng, t, rows, cols)
    nw = rng.standard_normal(cols).astype(np.float32)
    for n in (1, 3):
        x = rng.standard_normal((n, cols)).astype(np.float32)
        r = rng.standard_normal((n, rows)).astype(np.float32)
        got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
        assert_close(got, REF.linear(x, REF.weight(w)), 1e-4, 1e-4, f"{t} n={n} plain")
        got = gdev.add(gdev.tensor(r), gdev.linear(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(w)))
        want = r + REF.linear(REF.rms_norm(x, nw, 1e-5), REF.weight(w))
        assert_close(gdev.read_sync(got), want, 1e-4, 1e-4, f"{t} n={n} norm+res")
    w.bias = rng.standard_normal(rows).astype(np.float32)
    x = rng.standard_normal((1, cols)).astype(np.float32)
    got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
    assert_close(got, REF.linear(x, REF.weight(w)), 1e-4, 1e-4, f"{t} bias")
