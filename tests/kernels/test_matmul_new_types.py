"""matvec.wgsl / matmul.wgsl / embed.wgsl on the raw blocks of Q5_0, Q5_1, the K-quants (Q2_K ..
Q6_K), IQ4_NL and IQ4_XS (quant.wgsl's dq8_<type>) vs their NumPy twins (formats/quants.py,
kquants.py: dequantize, then a float64 matmul), on SmolLM2-135M's shapes and awkward ones.

These types have no quantizer yet, so the weights are random valid blocks: random bytes with f16
scales of a sane size (so outputs are O(1) to O(100) and a tolerance means something). The
decoders' float32 steps follow ggml's order, but a driver may contract `d1 * q - m1` into an fma,
so outputs are compared within 1e-4 * |ref| plus the rounding a float32 sum of these terms may
carry (sum_tol), and embeddings exactly or within an ulp."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from webinfer.device.numpy_device import NumpyDevice
from webinfer.formats.quants import DEQUANT_TYPES
from webinfer.weights import QWeight

from kernel_check import assert_close

REF = NumpyDevice()
BY_NAME = {q.name: q for q in DEQUANT_TYPES.values()}
TYPES = ["Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]

# Each type's f16 fields: byte offset in the block and the range of |value| drawn (random sign
# for a scale d, any sign for a min). Sized so a weight is O(1): Q5_0 |q - 16| <= 16, Q4_K
# sc, m <= 63 and q <= 15, Q6_K |scale| <= 128 and |q - 32| <= 32, IQ4 levels up to 127.
F16_FIELDS = {"Q5_0": ((0, 0.01, 0.06),), "Q5_1": ((0, 0.01, 0.06), (2, 0.0, 0.5)),
              "Q2_K": ((80, 0.005, 0.03), (82, 0.005, 0.03)), "Q3_K": ((108, 0.002, 0.008),),
              "Q4_K": ((0, 0.0005, 0.003), (2, 0.0005, 0.003)), "Q5_K": ((0, 0.0003, 0.0015), (2, 0.0005, 0.003)),
              "Q6_K": ((208, 0.0001, 0.0005),), "IQ4_NL": ((0, 0.002, 0.01),), "IQ4_XS": ((0, 0.0001, 0.0005),)}

SMOLLM2 = [(576, 576), (1536, 576), (576, 1536)]           # (rows, cols): q/o, gate/up, down
# A K-quant (and IQ4_XS) row is whole 256-weight blocks: of SmolLM2's only the down projection
# qualifies (llama.cpp gives the 576-wide ones Q5_0 etc. instead); and 2048-wide rows (Llama-3.2-1B's).
K_SHAPES = [(576, 1536), (256, 2048)]


def random_blocks(rng, t: str, rows: int, cols: int) -> QWeight:
    """A (rows, cols) weight of type t made of random valid blocks."""
    q = BY_NAME[t]
    assert cols % q.block_size == 0
    raw = rng.integers(0, 256, (rows * cols // q.block_size, q.type_size), dtype=np.uint8)
    for off, lo, hi in F16_FIELDS[t]:
        v = rng.uniform(lo, hi, raw.shape[0]) * rng.choice([-1.0, 1.0], raw.shape[0])
        raw[:, off:off + 2] = v.astype("<f2").view(np.uint8).reshape(-1, 2)
    return QWeight(f"w_{t}", q.ggml_type, raw.reshape(rows, -1), rows, cols)


def ref_linear(x: np.ndarray, w: QWeight) -> np.ndarray:
    """The NumPy twin: dequantize, then a float64 matmul (+ bias)."""
    y = np.asarray(x, np.float64) @ w.dequantize().astype(np.float64).T
    return y if w.bias is None else y + w.bias


def sum_tol(x: np.ndarray, w: QWeight) -> np.ndarray:
    """The rounding a float32 dot product may carry: 1e-4 + 2e-6 * sum |x_k w_k| (a few dozen
    ulps of the sum of magnitudes). Random O(1) weights over 1536 columns give outputs near 0
    whose error is set by the terms, not by the result."""
    return 1e-4 + 2e-6 * (np.abs(np.asarray(x, np.float64)) @ np.abs(w.dequantize().astype(np.float64)).T)


def awkward_cols(t):
    b = BY_NAME[t].block_size
    return [b, 3 * b, 33 * b] if b == 32 else [b, 3 * b, 5 * b]     # one block, an odd count, many


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("n", [1, 3, 9, 65])   # 1-8 tokens: matvec; more: tiled matmul
def test_linear_awkward_shapes(gdev, layout, t, n):
    rng = np.random.default_rng(zlib.crc32(f"{t}/{n}".encode()))
    for rows in (1, 31, 33, 257):
        for cols in awkward_cols(t):
            w = random_blocks(rng, t, rows, cols)
            w.bias = rng.standard_normal(rows).astype(np.float32) if rows == 33 else None
            x = rng.standard_normal((n, cols)).astype(np.float32)
            got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
            assert_close(got, ref_linear(x, w), sum_tol(x, w), 1e-4, f"{t} n={n} {rows}x{cols}")


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("n", [1, 70])
def test_linear_real_shapes(gdev, layout, t, n):
    rng = np.random.default_rng(zlib.crc32(f"smol/{t}/{n}".encode()))
    for rows, cols in (K_SHAPES if BY_NAME[t].block_size == 256 else SMOLLM2):
        w = random_blocks(rng, t, rows, cols)
        x = rng.standard_normal((n, cols)).astype(np.float32)
        got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
        assert_close(got, ref_linear(x, w), sum_tol(x, w), 1e-4, f"{t} n={n} {rows}x{cols}")


@pytest.mark.parametrize("t", TYPES)
@pytest.mark.parametrize("n", [1, 70])
def test_fused_norm_residual_swiglu(gdev, layout, t, n):
    rng = np.random.default_rng(17 + n)
    cols = 3 * BY_NAME[t].block_size
    x = rng.standard_normal((n, cols)).astype(np.float32)
    nw = rng.standard_normal(cols).astype(np.float32)
    h = REF.rms_norm(x, nw, 1e-5)
    for rows in (31, 257):
        w = random_blocks(rng, t, rows, cols)
        r = rng.standard_normal((n, rows)).astype(np.float32)
        got = gdev.add(gdev.tensor(r), gdev.linear(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(w)))
        assert_close(gdev.read_sync(got), r + ref_linear(h, w), sum_tol(h, w), 1e-4, f"{t} norm+res {rows}")
        gu = random_blocks(rng, t, 2 * rows, cols)
        got = gdev.linear_swiglu(gdev.rms_norm(gdev.tensor(x), gdev.vector(nw), 1e-5), gdev.weight(gu))
        g, u = np.split(ref_linear(h, gu), 2, axis=1)
        tg, tu = np.split(sum_tol(h, gu), 2, axis=1)
        silu = g / (1 + np.exp(-g))
        # silu' <= 1.1: an error e_g in g moves silu(g) * u by at most 1.1 |u| e_g
        tol = 1.1 * np.abs(u) * tg + np.abs(silu) * tu
        assert_close(gdev.read_sync(got), silu * u, tol, 1e-4, f"{t} swiglu {rows}")


@pytest.mark.parametrize("t", TYPES)
def test_linear_many_rows(gdev, layout, t):
    """>= MATVEC_WIDE_ROWS rows (an lm head): the GPU layout's WIDE matvec, 4 rows a slot."""
    from webinfer.device.webgpu.device import MATVEC_WIDE_ROWS
    rng = np.random.default_rng(29)
    w = random_blocks(rng, t, MATVEC_WIDE_ROWS + 33, BY_NAME[t].block_size * (2 if BY_NAME[t].block_size == 256 else 3))
    x = rng.standard_normal((1, w.cols)).astype(np.float32)
    got = gdev.read_sync(gdev.linear(gdev.tensor(x), gdev.weight(w)))
    assert_close(got, ref_linear(x, w), sum_tol(x, w), 1e-4, f"{t} {w.rows}x{w.cols}")


@pytest.mark.parametrize("t", TYPES)
def test_embed_is_the_dequantized_row(gdev, t):
    """embed.wgsl decodes every weight exactly (a product of a code and a scale, or ggml's
    d1 * q - m1, which only an fma could change by an ulp)."""
    rng = np.random.default_rng(3)
    for rows, cols in ((257, 3 * BY_NAME[t].block_size), (1, BY_NAME[t].block_size)):
        w = random_blocks(rng, t, rows, cols)
        ids = [0, rows - 1, rows // 2, 0]
        want = w.dequantize()[ids]
        exact = t in ("Q5_0", "Q3_K", "Q6_K", "IQ4_NL", "IQ4_XS")
        assert_close(gdev.read_sync(gdev.embed(gdev.weight(w), ids)), want, 0 if exact else 1e-6,
                     0 if exact else 1e-6, t)
