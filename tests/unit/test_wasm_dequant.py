"""The wasm dequantize kernels (dq_<type> in device/wasm/kernels.wat) under wasmtime, bit for bit
against the NumPy dequantizers of formats/quants.py and formats/kquants.py.

What this covers: every type of blas.Kernels.DQ_TYPES in both shipped modules (plain and fused) on
blocks of random bytes (so f16 scales of every kind: normal, subnormal, zero, Inf, NaN), blocks the
quantizer makes from Gaussian data at several magnitudes, all-zero blocks, and blocks whose f16
scale fields take each of a list of extreme values, in every combination where a block has two
(both NaN with different payloads, Inf times a zero sub-block scale, ...), over random, all-zero and
all-ones code bytes; F16 and BF16 on all 65536 values and on counts 0..17 (the vector loop and the
one-by-one tail). The source sits at an odd address (the file's blocks have no alignment) and the
output between guard words that must stay untouched; results compare as uint32, so the sign of a
zero and a NaN's payload count. The shipped .wasm equal kernels.wat (test_wasm_kernels_source.py).
Inside Pyodide, blas.dequantize and QMat: tests/pyodide/test_pyodide_blas.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device import blas
from webinfer.device.wasm_kernels import PREFIX
from webinfer.formats.gguf import SCALE_FIELDS
from webinfer.formats.quants import QUANT_BY_NAME
from wasm_heap import WasmHeap

VARIANTS = pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
TYPES = pytest.mark.parametrize("name", blas.Kernels.DQ_TYPES)
BLOCK_TYPES = pytest.mark.parametrize("name", [t for t in blas.Kernels.DQ_TYPES if QUANT_BY_NAME[t].block_size > 1])

# f16 bit patterns for the scale fields: zeros, subnormals, the smallest normal, one, the largest
# finite, infinities, quiet and signalling NaNs of both signs and with payloads.
SPECIAL_F16 = [0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00,
               0x7E00, 0xFE00, 0x7C01, 0x7EAB, 0xFD55]
GUARD = np.float32(-1234.5)


class _Heap(WasmHeap):
    """One shipped module on a fresh 4 MiB memory."""

    def __init__(self, fused: bool):
        super().__init__(fused, 64)

    def dequantize(self, name: str, raw: np.ndarray) -> np.ndarray:
        """dq_<name> on the blocks raw (n, type_size) -> float32 (n * block_size,); checks the guard
        words on both sides of the output."""
        q = QUANT_BY_NAME[name]
        nb = raw.shape[0]
        n = nb * q.block_size
        src, dst = 1001, 1 << 21                               # src: odd; dst: room for 2 MiB of raw before it
        assert src + raw.nbytes + 16 <= dst - 16 and dst + 4 * n + 16 <= 64 << 16
        self.memory.write(self.store, raw.tobytes(), src)
        self.memory.write(self.store, np.full(n + 8, GUARD, np.float32).tobytes(), dst - 16)
        self.exports[PREFIX + "dq_" + name.lower()](self.store, src, dst, nb)
        out = np.frombuffer(bytes(self.memory.read(self.store, dst - 16, dst + 4 * n + 16)), np.float32)
        assert (out[:4] == GUARD).all() and (out[-4:] == GUARD).all(), f"dq_{name.lower()} wrote outside its output"
        return out[4:-4]


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "fused"])
def heap(request):
    return _Heap(request.param)


def _check(heap: _Heap, name: str, raw: np.ndarray, what: str) -> None:
    q = QUANT_BY_NAME[name]
    got = heap.dequantize(name, raw).view(np.uint32)
    with np.errstate(all="ignore"):
        want = q.dequantize(raw).view(np.uint32)
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = int(bad[0])
        b = i // q.block_size
        pytest.fail(f"{name} ({what}): {bad.size} of {got.size} values differ; first at value {i % q.block_size} "
                    f"of block {b}: wasm 0x{int(got[i]):08x}, numpy 0x{int(want[i]):08x}; "
                    f"block bytes {raw[b].tobytes().hex()}")


@TYPES
def test_random_bytes(heap, name):
    """Random bytes: every kind of f16 scale turns up (1 in 32 is Inf or NaN, 1 in 32 subnormal)."""
    q = QUANT_BY_NAME[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    nb = 600 if q.block_size > 1 else 5003
    _check(heap, name, rng.integers(0, 256, (nb, q.type_size), dtype=np.uint8), "random bytes")


@TYPES
def test_quantized_gaussian_data(heap, name):
    """What a file holds: the type's own quantizer on Gaussian rows, tiny to huge (f16 scales from
    subnormal to near their largest), and on zeros."""
    q = QUANT_BY_NAME[name]
    rng = np.random.default_rng(1)
    for scale in (1e-6, 1e-2, 1.0, 300.0, 6e4 / 127 if q.block_size > 1 else 6e4):
        x = (rng.standard_normal(4 * 256) * scale).astype(np.float32)
        with np.errstate(over="ignore"):                       # F16: the largest round to Inf
            raw = q.quantize(x)
        _check(heap, name, raw, f"Gaussian x {scale:g}")
    _check(heap, name, q.quantize(np.zeros(512, np.float32)), "quantized zeros")
    _check(heap, name, np.zeros((7, q.type_size), np.uint8), "zero bytes")


@BLOCK_TYPES
def test_extreme_scales(heap, name):
    """Each f16 scale field set to each of SPECIAL_F16 (every pair of them where a block has d and
    dmin or m), over random, all-zero and all-ones code and sub-block scale bytes: subnormal and
    infinite scales, Inf times a zero sub-block scale (NaN), NaN d and NaN dmin together."""
    q = QUANT_BY_NAME[name]
    fields = SCALE_FIELDS[name]
    values = np.array(np.meshgrid(*[SPECIAL_F16] * len(fields), indexing="ij"), np.uint16).reshape(len(fields), -1).T
    rng = np.random.default_rng(2)
    for filler in ("random", "zeros", "ones"):
        if filler == "random":
            raw = rng.integers(0, 256, (values.shape[0], q.type_size), dtype=np.uint8)
        else:
            raw = np.full((values.shape[0], q.type_size), 0 if filler == "zeros" else 0xFF, np.uint8)
        for j, off in enumerate(fields):
            raw[:, off:off + 2] = values[:, j:j + 1].view(np.uint8)
        _check(heap, name, raw, f"extreme scales, {filler} codes")


@pytest.mark.parametrize("name", ["F16", "BF16"])
def test_every_16_bit_value_and_every_tail(heap, name):
    """All 65536 bit patterns (subnormals, infinities, every NaN payload, signalling ones kept), then
    counts 0..17: the 8-at-a-time loop, the one-by-one tail, and nothing written past the count."""
    raw = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2)
    _check(heap, name, raw, "every value")
    rng = np.random.default_rng(3)
    for n in range(18):
        _check(heap, name, rng.integers(0, 256, (n, 2), dtype=np.uint8), f"{n} values")


def test_every_type_with_a_kernel_has_a_numpy_twin():
    """DQ_TYPES names types formats.quants can dequantize, whose layouts the kernels assume."""
    sizes = {"Q8_0": (32, 34), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24),
             "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
             "IQ4_NL": (32, 18), "IQ4_XS": (256, 136), "F16": (1, 2), "BF16": (1, 2)}
    assert {t: (QUANT_BY_NAME[t].block_size, QUANT_BY_NAME[t].type_size) for t in blas.Kernels.DQ_TYPES} == sizes
