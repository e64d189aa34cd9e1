"""formats/quants.py: hand-built blocks, ggml reference quantizers, round-trip bounds, gguf-py parity."""

import math
import struct

import gguf
import gguf.quants
import numpy as np
import pytest

from webinfer.formats.quants import (BF16, F16, F32, GGML_BLOCK_SIZES, GGML_TYPE_NAMES, Q4_0,
                                     Q4_1, Q8_0, QUANT_TYPES, type_label)

ALL = list(QUANT_TYPES.values())


def blocks_of(raw: bytes, q) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, q.type_size)


# ---- hand-built blocks with known values -------------------------------------------------

def test_f32_f16_bf16_known_values():
    assert F32.dequantize(blocks_of(struct.pack("<3f", 1.0, -2.5, 3.25), F32)).tolist() == [1.0, -2.5, 3.25]
    assert F16.dequantize(blocks_of(struct.pack("<3e", 0.5, -2.0, 65504.0), F16)).tolist() == [0.5, -2.0, 65504.0]
    # bf16 is the top half of a float32: 0x3F80 -> 1.0, 0xC020 -> -2.5, 0x4049 -> 3.140625
    assert BF16.dequantize(blocks_of(struct.pack("<3H", 0x3F80, 0xC020, 0x4049), BF16)).tolist() == [1.0, -2.5, 3.140625]


def test_q4_0_known_block():
    # byte j: low nibble = element j, high nibble = element j + 16
    qs = bytes((j & 0xF) | ((15 - j) << 4) for j in range(16))
    out = Q4_0.dequantize(blocks_of(struct.pack("<e", 0.5) + qs, Q4_0))
    expected = [0.5 * (j - 8) for j in range(16)] + [0.5 * ((15 - j) - 8) for j in range(16)]
    assert out.dtype == np.float32 and out.tolist() == expected


def test_q4_1_known_block():
    qs = bytes(j | (3 << 4) for j in range(16))
    out = Q4_1.dequantize(blocks_of(struct.pack("<ee", 0.25, -1.0) + qs, Q4_1))
    assert out.tolist() == [0.25 * j - 1.0 for j in range(16)] + [0.25 * 3 - 1.0] * 16


def test_q8_0_known_two_blocks():
    q1 = list(range(-16, 16))
    q2 = [-128, 127] + [0] * 30
    raw = struct.pack("<e32b", 0.125, *q1) + struct.pack("<e32b", 2.0, *q2)
    out = Q8_0.dequantize(blocks_of(raw, Q8_0))
    assert out.shape == (64,)
    assert out.tolist() == [0.125 * q for q in q1] + [2.0 * q for q in q2]


# ---- ggml reference quantizers, ported loop by loop from ggml-quants.c -------------------

def f16_bytes(x: float) -> bytes:
    return np.float32(x).astype(np.float16).tobytes()


def ref_q4_0(x: np.ndarray) -> bytes:
    out = b""
    for blk in x.reshape(-1, 32):
        amax, vmax = np.float32(0), np.float32(0)
        for v in blk:
            if amax < abs(v):
                amax, vmax = abs(v), v
        d = np.float32(vmax / np.float32(-8))
        inv = np.float32(1) / d if d else np.float32(0)
        qs = bytes(min(15, int(np.float32(blk[j] * inv) + np.float32(8.5)))
                   | (min(15, int(np.float32(blk[16 + j] * inv) + np.float32(8.5))) << 4) for j in range(16))
        out += f16_bytes(d) + qs
    return out


def ref_q4_1(x: np.ndarray) -> bytes:
    out = b""
    for blk in x.reshape(-1, 32):
        lo, hi = np.float32(np.inf), np.float32(-np.inf)
        for v in blk:
            lo, hi = min(lo, v), max(hi, v)
        d = np.float32((hi - lo) / np.float32(15))
        inv = np.float32(1) / d if d else np.float32(0)
        q = [min(15, int(np.float32((blk[j] - lo) * inv) + np.float32(0.5))) for j in range(32)]
        out += f16_bytes(d) + f16_bytes(lo) + bytes(q[j] | (q[16 + j] << 4) for j in range(16))
    return out


def ref_q8_0(x: np.ndarray) -> bytes:
    out = b""
    for blk in x.reshape(-1, 32):
        d = np.float32(max(abs(v) for v in blk) / np.float32(127))
        inv = np.float32(1) / d if d else np.float32(0)
        # C roundf: half away from zero
        q = [int(math.copysign(math.floor(abs(float(np.float32(v * inv))) + 0.5), v)) for v in blk]
        out += f16_bytes(d) + struct.pack("<32b", *q)
    return out


def awkward_blocks(rng) -> np.ndarray:
    x = rng.standard_normal(32 * 6).astype(np.float32)
    x[0:32] = 0                                   # all-zero block: d = 0, id = 0
    x[32:64] = np.linspace(-1, 1, 32)             # symmetric extremes: first max wins
    x[64:96] = 3.0                                # constant block
    x[96:128] = np.arange(32) * 0.5 - 8           # halves: exercise round-half cases
    x[128:160] *= 1e-6                            # tiny scale (f16 subnormal)
    return x


@pytest.mark.parametrize("q, ref", [(Q4_0, ref_q4_0), (Q4_1, ref_q4_1), (Q8_0, ref_q8_0)])
def test_quantize_matches_ggml_reference(q, ref):
    x = awkward_blocks(np.random.default_rng(1))
    assert q.quantize(x).tobytes() == ref(x)


def _gguf_quantizes(q) -> bool:
    try:
        gguf.quants.quantize(np.zeros((1, 256), np.float32), gguf.GGMLQuantizationType(q.ggml_type))
    except NotImplementedError:
        return False
    return True


# gguf has no K-quant / IQ4 quantizer: those are held to ggml's C in test_quantize_new_types.py
@pytest.mark.parametrize("q", [q for q in ALL if _gguf_quantizes(q)], ids=lambda q: q.name)
def test_quantize_matches_gguf_py(q):
    x = np.random.default_rng(2).standard_normal(32 * 64).astype(np.float32) * 3
    ours = q.quantize(x)
    theirs = gguf.quants.quantize(x.reshape(4, -1), gguf.GGMLQuantizationType(q.ggml_type))
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("q", ALL, ids=lambda q: q.name)
def test_dequantize_random_bytes_matches_gguf_py(q):
    raw = np.random.default_rng(3).integers(0, 256, size=(257, q.type_size), dtype=np.uint8)
    with np.errstate(all="ignore"):   # random f16 scales include inf/NaN; both sides must agree
        ours = q.dequantize(raw)
        theirs = gguf.quants.dequantize(raw.reshape(1, -1), gguf.GGMLQuantizationType(q.ggml_type))
    assert ours.shape == (257 * q.block_size,) and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs.reshape(-1))


# ---- round trips ---------------------------------------------------------------------------

def per_block(x, f):
    return np.repeat(f(x.reshape(-1, 32)), 32)


def test_round_trip_error_bounds():
    x = np.random.default_rng(4).standard_normal(32 * 500).astype(np.float32) * 2
    amax = per_block(x, lambda b: np.abs(b).max(axis=1))
    span = per_block(x, lambda b: b.max(axis=1) - b.min(axis=1))
    lo = per_block(x, lambda b: np.abs(b.min(axis=1)))
    # Q4_0: step amax/8; the value opposite the max is clamped from +8 to +7 -> error up to one step.
    assert np.all(np.abs(Q4_0.dequantize(Q4_0.quantize(x)) - x) <= amax / 8 * (1 + 2**-9))
    # Q4_1: half a step, plus f16 rounding of d (times 15) and of the minimum.
    assert np.all(np.abs(Q4_1.dequantize(Q4_1.quantize(x)) - x) <= span / 30 + span * 2**-10 + lo * 2**-10)
    assert np.all(np.abs(Q8_0.dequantize(Q8_0.quantize(x)) - x) <= amax / 254 + amax * 2**-10)
    np.testing.assert_array_equal(F32.dequantize(F32.quantize(x)), x)
    assert np.all(np.abs(F16.dequantize(F16.quantize(x)) - x) <= np.abs(x) * 2**-11)
    assert np.all(np.abs(BF16.dequantize(BF16.quantize(x)) - x) <= np.abs(x) * 2**-8)


def test_zero_blocks_round_trip_to_zero():
    for q in ALL:
        z = np.zeros(512, dtype=np.float32)
        assert not q.dequantize(q.quantize(z)).any(), q.name


def test_bf16_rounds_to_nearest_even_and_quiets_nan():
    # 1 + 2^-8 is exactly between two bf16 values: ties go to the even one (1.0).
    x = np.array([1 + 2**-8, 1 + 3 * 2**-8, np.nan, -np.inf], dtype=np.float32)
    bits = BF16.quantize(x).view(np.uint16).reshape(-1)
    assert bits[0] == 0x3F80 and bits[1] == 0x3F82
    assert bits[2] & 0x0040 and np.isnan(BF16.dequantize(BF16.quantize(x))[2])
    assert bits[3] == 0xFF80


def test_shape_checks():
    with pytest.raises(ValueError, match="multiple of the block size 32"):
        Q4_1.quantize(np.zeros(33, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(n, 20\)"):
        Q4_1.dequantize(np.zeros((2, 18), dtype=np.uint8))


def test_dequantize_reads_a_strided_memmap_like_view():
    # raw() hands out slices of a big uint8 buffer: dequantize must not assume an owned array.
    x = np.random.default_rng(5).standard_normal(96).astype(np.float32)
    buf = np.concatenate([np.zeros(7, np.uint8), Q8_0.quantize(x).reshape(-1)])
    view = buf[7:].reshape(3, 34)
    np.testing.assert_array_equal(Q8_0.dequantize(view), Q8_0.dequantize(Q8_0.quantize(x)))


def test_type_tables_cover_every_ggml_type():
    for t, (block, size) in gguf.GGML_QUANT_SIZES.items():
        assert GGML_TYPE_NAMES[int(t)] == t.name
        assert GGML_BLOCK_SIZES[int(t)] == (block, size)
    for q in ALL:
        assert (q.block_size, q.type_size) == GGML_BLOCK_SIZES[q.ggml_type]
        assert GGML_TYPE_NAMES[q.ggml_type] == q.name
    assert type_label(13) == "Q5_K (13)" and type_label(99) == "unknown type 99"
