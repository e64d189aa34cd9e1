"""Dequantizers of Q5_0, Q5_1, the K-quants and IQ4 (formats/quants.py, formats/kquants.py).

Two kinds of check: blocks packed here by ports of the packing loops of ggml's
``quantize_row_*_ref`` with known codes and scales (every bit pattern of every sub-block
scale/min at least once) and exactly representable results, and random blocks with awkward
f16 scales (0, -0, subnormal, 65504, Inf, NaNs with payloads) compared bit for bit -- NaN
payloads and signed zeros included -- with the ``gguf`` package's dequantizers.
"""

import gguf
import gguf.quants
import numpy as np
import pytest

from webinfer.device.numpy_device import NumpyDevice
from webinfer.device.webgpu.layout import gpu_blocks
from webinfer.formats.kquants import IQ4_NL, IQ4_XS, KVALUES_IQ4NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
from webinfer.formats.quants import (DEQUANT_TYPES, GGML_BLOCK_SIZES, GGML_TYPE_NAMES, QUANT_TYPES,
                                     Q5_0, Q5_1, supported_names)
from webinfer.weights import QWeight

NEW = [Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS]

# Byte offsets of each type's f16 fields (d, and dmin/m where there is one).
F16_FIELDS = {"Q5_0": (0,), "Q5_1": (0, 2), "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2),
              "Q5_K": (0, 2), "Q6_K": (208,), "IQ4_NL": (0,), "IQ4_XS": (0,)}

# f16 bit patterns: +-0, smallest/largest subnormal, smallest normal, +-1, +-65504, +-Inf,
# a quiet NaN, a signalling NaN, a negative NaN with a payload.
AWKWARD_F16 = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF,
                        0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE5A], dtype=np.uint16)


def gguf_dequantize(raw: np.ndarray, q) -> np.ndarray:
    with np.errstate(all="ignore"):
        return gguf.quants.dequantize(raw, gguf.GGMLQuantizationType(q.ggml_type)).reshape(-1)


def assert_bitwise_equal(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal as float32 bit patterns (NaN payloads, -0.0); prints the first mismatches."""
    assert ours.dtype == np.float32 and theirs.dtype == np.float32 and ours.shape == theirs.shape
    bad = np.flatnonzero(ours.view(np.uint32) != theirs.view(np.uint32))
    assert bad.size == 0, f"{bad.size} mismatches, first at {bad[:8].tolist()}: " \
                          f"ours {ours[bad[:8]].tolist()} gguf {theirs[bad[:8]].tolist()}"


def set_f16(raw: np.ndarray, q, bits: np.ndarray) -> None:
    """Write (n_blocks, n_fields) f16 bit patterns into the type's f16 fields."""
    for k, off in enumerate(F16_FIELDS[q.name]):
        raw[:, off:off + 2] = bits[:, k:k + 1].astype("<u2").view(np.uint8).reshape(-1, 2)


# ---- packers: the packing loops of ggml's quantize_row_*_ref, element codes L in, bytes out --

def pack_nibbles_32(L):
    """Q4_0/Q5_0/IQ4_NL order over a group of 32: byte j = L[j] | L[j + 16] << 4."""
    return [(L[j] & 0xF) | ((L[j + 16] & 0xF) << 4) for j in range(16)]


def pack_q5(L, fields: bytes) -> bytes:
    qh = sum(int((L[j] >> 4) & 1) << j for j in range(32))
    return fields + qh.to_bytes(4, "little") + bytes(pack_nibbles_32(L))


def pack_two_bit(L):
    """quantize_row_q2_K_ref / q3_K: qs[j/4 + l] = L[j+l] | L[j+l+32] << 2 | ... << 6."""
    return [L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6)
            for j in (0, 128) for l in range(32)]


def pack_q2_k(L, sc, m, fields: bytes) -> bytes:
    return bytes(s | (mm << 4) for s, mm in zip(sc, m)) + bytes(pack_two_bit(L)) + fields


def pack_q3_k(L, sc, fields: bytes) -> bytes:
    """L in 0..7 (value L - 4), sc in 0..63 (value sc - 32), as quantize_row_q3_K_ref."""
    hmask, low = [0] * 32, list(L)
    for j in range(256):
        if low[j] > 3:
            hmask[j % 32] |= 1 << (j // 32)
            low[j] -= 4
    scales = [0] * 12
    for j in range(16):
        if j < 8:
            scales[j] = sc[j] & 0xF
        else:
            scales[j - 8] |= (sc[j] & 0xF) << 4
        scales[j % 4 + 8] |= (sc[j] >> 4) << (2 * (j // 4))
    return bytes(hmask) + bytes(pack_two_bit(low)) + bytes(scales) + fields


def pack_k4_scales(sc, m):
    """The scale/min packing of quantize_row_q4_K_ref (what get_scale_min_k4 undoes)."""
    s = [0] * 12
    for j in range(8):
        if j < 4:
            s[j], s[j + 4] = sc[j], m[j]
        else:
            s[j + 4] = (sc[j] & 0xF) | ((m[j] & 0xF) << 4)
            s[j - 4] |= (sc[j] >> 4) << 6
            s[j] |= (m[j] >> 4) << 6
    return s


def pack_q4_k(L, sc, m, fields: bytes) -> bytes:
    qs = [L[j + l] | (L[j + l + 32] << 4) for j in range(0, 256, 64) for l in range(32)]
    return fields + bytes(pack_k4_scales(sc, m)) + bytes(qs)


def pack_q5_k(L, sc, m, fields: bytes) -> bytes:
    qh, ql = [0] * 32, []
    for n in range(0, 256, 64):
        for j in range(32):
            qh[j] |= ((L[n + j] >> 4) << (n // 32)) | ((L[n + j + 32] >> 4) << (n // 32 + 1))
            ql.append((L[n + j] & 0xF) | ((L[n + j + 32] & 0xF) << 4))
    return fields + bytes(pack_k4_scales(sc, m)) + bytes(qh) + bytes(ql)


def pack_q6_k(L, sc, fields: bytes) -> bytes:
    """L in 0..63 (value L - 32), sc int8, as quantize_row_q6_K_ref."""
    ql, qh = [0] * 128, [0] * 64
    for j in (0, 128):
        for l in range(32):
            q1, q2, q3, q4 = (L[j + l + k] for k in (0, 32, 64, 96))
            ql[j // 2 + l] = (q1 & 0xF) | ((q3 & 0xF) << 4)
            ql[j // 2 + l + 32] = (q2 & 0xF) | ((q4 & 0xF) << 4)
            qh[j // 4 + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6)
    return bytes(ql) + bytes(qh) + np.array(sc, np.int8).tobytes() + fields


def pack_iq4_xs(L, ls, fields: bytes) -> bytes:
    """ls in 0..63 (value ls - 32), as quantize_row_iq4_xs_impl."""
    scales_h, scales_l = 0, [0] * 4
    for ib in range(8):
        scales_l[ib // 2] |= (ls[ib] & 0xF) << (4 * (ib % 2))
        scales_h |= int(ls[ib] >> 4) << (2 * ib)
    qs = [b for ib in range(8) for b in pack_nibbles_32(L[32 * ib:32 * ib + 32])]
    return fields + scales_h.to_bytes(2, "little") + bytes(scales_l) + bytes(qs)


def f16s(*xs) -> bytes:
    return np.array(xs, dtype=np.float16).tobytes()


def patterns(n_blocks: int, n_sub: int, n_values: int, mul: int, add: int) -> np.ndarray:
    """(n_blocks, n_sub): column j runs through every value 0..n_values-1 (mul odd, n_blocks >=
    n_values), shifted per column so sub-blocks of one block differ."""
    b = np.arange(n_blocks)[:, None]
    return (b * mul + add * np.arange(n_sub)[None, :] + 1) % n_values


# For each type: (n_blocks, function rng -> (raw blocks, exact expected float64 values)).
# Scales d = 0.5 and dmin/m = 0.25 keep every product exact, so the expected values do not
# depend on the order of the float32 operations: these tests pin down the layout alone.

def case_q5_0(rng):
    L = rng.integers(0, 32, (64, 32))
    raw = b"".join(pack_q5(row, f16s(0.5)) for row in L)
    return raw, (0.5 * (L - 16)).reshape(-1)


def case_q5_1(rng):
    L = rng.integers(0, 32, (64, 32))
    raw = b"".join(pack_q5(row, f16s(0.5, -3.25)) for row in L)
    return raw, (0.5 * L - 3.25).reshape(-1)


def case_q2_k(rng):
    n = 64
    L, sc, m = rng.integers(0, 4, (n, 256)), patterns(n, 16, 16, 1, 3), patterns(n, 16, 16, 5, 7)
    raw = b"".join(pack_q2_k(L[i], sc[i], m[i], f16s(0.5, 0.25)) for i in range(n))
    want = 0.5 * np.repeat(sc, 16, axis=1) * L - 0.25 * np.repeat(m, 16, axis=1)
    return raw, want.reshape(-1)


def case_q3_k(rng):
    n = 64
    L, sc = rng.integers(0, 8, (n, 256)), patterns(n, 16, 64, 1, 5)
    raw = b"".join(pack_q3_k(L[i], sc[i], f16s(0.5)) for i in range(n))
    return raw, (0.5 * (np.repeat(sc, 16, axis=1) - 32) * (L - 4)).reshape(-1)


def case_q4_k(rng, bits=4, pack=pack_q4_k):
    n = 64
    L, sc, m = rng.integers(0, 2 ** bits, (n, 256)), patterns(n, 8, 64, 1, 5), patterns(n, 8, 64, 3, 7)
    raw = b"".join(pack(L[i], sc[i], m[i], f16s(0.5, 0.25)) for i in range(n))
    want = 0.5 * np.repeat(sc, 32, axis=1) * L - 0.25 * np.repeat(m, 32, axis=1)
    return raw, want.reshape(-1)


def case_q5_k(rng):
    return case_q4_k(rng, 5, pack_q5_k)


def case_q6_k(rng):
    n = 256
    L, sc = rng.integers(0, 64, (n, 256)), patterns(n, 16, 256, 1, 37) - 128
    raw = b"".join(pack_q6_k(L[i], sc[i], f16s(0.5)) for i in range(n))
    return raw, (0.5 * np.repeat(sc, 16, axis=1) * (L - 32)).reshape(-1)


def case_iq4_nl(rng):
    L = rng.integers(0, 16, (64, 32))
    raw = b"".join(f16s(0.5) + bytes(pack_nibbles_32(row)) for row in L)
    return raw, (0.5 * KVALUES_IQ4NL.astype(np.float64)[L]).reshape(-1)


def case_iq4_xs(rng):
    n = 64
    L, ls = rng.integers(0, 16, (n, 256)), patterns(n, 8, 64, 1, 5)
    raw = b"".join(pack_iq4_xs(L[i], ls[i], f16s(0.5)) for i in range(n))
    return raw, (0.5 * (np.repeat(ls, 32, axis=1) - 32) * KVALUES_IQ4NL.astype(np.float64)[L]).reshape(-1)


CASES = {"Q5_0": case_q5_0, "Q5_1": case_q5_1, "Q2_K": case_q2_k, "Q3_K": case_q3_k,
         "Q4_K": case_q4_k, "Q5_K": case_q5_k, "Q6_K": case_q6_k, "IQ4_NL": case_iq4_nl,
         "IQ4_XS": case_iq4_xs}


def packed_case(q, seed: int) -> tuple[np.ndarray, np.ndarray]:
    raw, want = CASES[q.name](np.random.default_rng(seed))
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, q.type_size).copy(), want


# ---- tables ----------------------------------------------------------------------------------

def test_sizes_names_and_registration():
    for q in NEW:
        assert (q.block_size, q.type_size) == GGML_BLOCK_SIZES[q.ggml_type] == \
            tuple(gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(q.ggml_type)])
        assert GGML_TYPE_NAMES[q.ggml_type] == q.name == gguf.GGMLQuantizationType(q.ggml_type).name
        assert DEQUANT_TYPES[q.ggml_type] is q
    assert all(DEQUANT_TYPES[t] is q for t, q in QUANT_TYPES.items())
    assert supported_names().startswith("F32, F16, Q4_0, Q4_1, Q8_0, BF16, Q5_0, Q5_1")
    assert supported_names(DEQUANT_TYPES).endswith("Q6_K, IQ4_NL, IQ4_XS")


@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_shape_check_and_no_quantizer(q):
    with pytest.raises(ValueError, match=rf"\(n, {q.type_size}\)"):
        q.dequantize(np.zeros((2, q.type_size + 1), dtype=np.uint8))
    if q.ggml_type not in QUANT_TYPES:
        with pytest.raises(NotImplementedError, match=f"{q.name}: webinfer has no quantizer"):
            q.quantize(np.zeros(q.block_size, dtype=np.float32))


# ---- known values: blocks packed as ggml packs them ------------------------------------------

@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_packed_blocks_give_the_known_values(q):
    raw, want = packed_case(q, seed=10)
    ours = q.dequantize(raw)
    assert ours.dtype == np.float32 and ours.shape == (raw.shape[0] * q.block_size,)
    np.testing.assert_array_equal(ours, want)
    assert_bitwise_equal(ours, gguf_dequantize(raw, q))


def test_every_sub_block_scale_pattern_is_covered():
    # The packed cases above put every value of every sub-block scale and min in every position.
    for n_blocks, n_sub, n_values, mul, add in [(64, 16, 16, 1, 3), (64, 16, 16, 5, 7), (64, 16, 64, 1, 5),
                                                (64, 8, 64, 1, 5), (64, 8, 64, 3, 7), (256, 16, 256, 1, 37)]:
        p = patterns(n_blocks, n_sub, n_values, mul, add)
        assert all(len(set(p[:, j])) == n_values for j in range(n_sub))


# ---- bit-for-bit parity with gguf-py ---------------------------------------------------------

@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_random_blocks_with_awkward_scales_match_gguf_bitwise(q):
    rng = np.random.default_rng(20 + q.ggml_type)
    n_fields = len(F16_FIELDS[q.name])
    raw = rng.integers(0, 256, size=(600, q.type_size), dtype=np.uint8)
    # Each f16 field: an awkward pattern, a random finite scale, or 16 random bits.
    pick = rng.integers(0, 3, size=(600, n_fields))
    awkward = AWKWARD_F16[rng.integers(0, AWKWARD_F16.size, size=(600, n_fields))]
    finite = (rng.standard_normal((600, n_fields)) * 10.0 ** rng.integers(-6, 4, (600, n_fields)))
    finite = finite.astype(np.float16).view(np.uint16)
    bits = np.where(pick == 0, awkward, np.where(pick == 1, finite, rng.integers(0, 2**16, (600, n_fields))))
    set_f16(raw, q, bits.astype(np.uint16))
    raw[:8] = 0                        # zero blocks
    raw[8:12] = 0xFF                   # all-ones blocks: NaN scales, every code at its maximum
    set_f16(raw[12:12 + 15 * 15], q, np.stack(np.meshgrid(AWKWARD_F16, AWKWARD_F16), -1)
            .reshape(-1, 2)[:, :n_fields])   # every pair of awkward d / dmin
    with np.errstate(all="ignore"):    # Inf * 0 and NaN scales: both sides must agree
        ours = q.dequantize(raw)
    assert_bitwise_equal(ours, gguf_dequantize(raw, q))
    assert np.isnan(ours).any() and np.isinf(ours).any()


@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_packed_scale_patterns_with_random_scales_match_gguf_bitwise(q):
    # Every sub-block scale pattern, under scales whose products round (order matters here).
    raw, _ = packed_case(q, seed=30)
    rng = np.random.default_rng(31)
    n_fields = len(F16_FIELDS[q.name])
    bits = (rng.standard_normal((raw.shape[0], n_fields)) * 3).astype(np.float16).view(np.uint16)
    set_f16(raw, q, bits)
    assert_bitwise_equal(q.dequantize(raw), gguf_dequantize(raw, q))


@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_dequantize_reads_an_unaligned_strided_view(q):
    # GGUFFile.raw() hands out slices of the file's bytes, at any offset.
    raw = np.random.default_rng(40).integers(0, 256, size=(5, q.type_size), dtype=np.uint8)
    set_f16(raw, q, np.full((5, len(F16_FIELDS[q.name])), 0x3C00, np.uint16))
    buf = np.concatenate([np.zeros(7, np.uint8), raw.reshape(-1)])
    view = buf[7:].reshape(5, q.type_size)
    assert_bitwise_equal(q.dequantize(view), q.dequantize(raw))
    wide = np.zeros((5, q.type_size + 3), np.uint8)   # rows that are not C-contiguous
    wide[:, 1:-2] = raw
    assert_bitwise_equal(q.dequantize(wide[:, 1:-2]), q.dequantize(raw))


# ---- the devices take these weights: float32 on NumPy, raw blocks on the GPU --------------------

@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_qweight_of_a_new_type_goes_to_float32_on_numpy(q):
    rows, cols = 3, 2 * q.block_size
    raw, _ = packed_case(q, seed=50)
    raw = raw[:rows * 2].reshape(rows, -1)
    w = QWeight("blk.0.ffn_down.weight", q.ggml_type, raw, rows, cols)
    want = q.dequantize(raw.reshape(-1, q.type_size)).reshape(rows, cols)
    got, bias = NumpyDevice().weight(w)
    assert bias is None and got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_a_type_without_a_wgsl_decoder_goes_up_as_float32():
    from webinfer.device.webgpu.selftest import random_qweight
    w = random_qweight(np.random.default_rng(0), "BF16", 3, 40)
    name, data, row_words, note = gpu_blocks(w)
    assert name == "F32" and note == f"{w.name}: BF16 has no WGSL decoder, uploaded as F32"
    np.testing.assert_array_equal(data.view(np.float32)[:, :40], w.dequantize())
    assert row_words == 64 and not data.view(np.float32)[:, 40:].any()    # padded to 32 values


# Where each byte of a block goes on the GPU (quant.wgsl's layout): Q5_0 and IQ4_NL widen their f16
# scale to a word (22 -> 24, 18 -> 20 bytes), Q3_K and Q6_K get 2 zero bytes at their end (110 -> 112,
# 210 -> 212), the others go as they are.
GPU_BLOCK = {"Q5_0": (24, lambda b: np.concatenate([b[:, :2], np.zeros_like(b[:, :2]), b[:, 2:]], axis=1)),
             "Q5_1": (24, lambda b: b), "Q4_K": (144, lambda b: b), "Q5_K": (176, lambda b: b), "Q2_K": (84, lambda b: b),
             "Q3_K": (112, lambda b: np.concatenate([b, np.zeros_like(b[:, :2])], axis=1)),
             "IQ4_XS": (136, lambda b: b),
             "IQ4_NL": (20, lambda b: np.concatenate([b[:, :2], np.zeros_like(b[:, :2]), b[:, 2:]], axis=1)),
             "Q6_K": (212, lambda b: np.concatenate([b, np.zeros_like(b[:, :2])], axis=1))}


@pytest.mark.parametrize("q", NEW, ids=lambda q: q.name)
def test_types_with_a_wgsl_decoder_go_up_as_raw_word_aligned_blocks(q):
    from webinfer.device.webgpu.layout import BLOCK_WEIGHTS, BLOCK_WORDS, FUSED_QUANTS
    rows, cols = 3, 3 * q.block_size
    raw, _ = packed_case(q, seed=51)
    raw = raw[:rows * 3].reshape(rows, -1)
    name, data, row_words, note = gpu_blocks(QWeight("blk.0.ffn_down.weight", q.ggml_type, raw, rows, cols))
    size, place = GPU_BLOCK[q.name]
    assert (name, note) == (q.name, None) and BLOCK_WORDS[name] * 4 == size and BLOCK_WEIGHTS[name] == q.block_size
    assert data.dtype == np.uint8 and data.shape == (rows, 3 * size) and row_words == 3 * BLOCK_WORDS[name]
    np.testing.assert_array_equal(data.reshape(-1, size), place(raw.reshape(-1, q.type_size)))
    assert name in FUSED_QUANTS          # the fused decode step decodes it too (fused_layout.py)


def test_quant_wgsl_constants_are_the_layout_tables():
    """quant.wgsl's BLOCK_WORDS and GROUPS_PER_BLOCK of each type = layout.GPU_QUANTS's row."""
    from webinfer.device.webgpu import shaders
    from webinfer.device.webgpu.layout import BLOCK_WEIGHTS, BLOCK_WORDS
    for name, words in BLOCK_WORDS.items():
        text = shaders.expand("embed.wgsl", frozenset({name}))
        assert f"const BLOCK_WORDS: u32 = {words}u;" in text, name
        assert f"const GROUPS_PER_BLOCK: u32 = {BLOCK_WEIGHTS[name] // 8}u;" in text, name


def test_quant_iq4_wgsl_levels_are_kvalues_iq4nl():
    """quant_iq4.wgsl's packed levels (KV0..KV3) = kquants.KVALUES_IQ4NL."""
    import re

    from webinfer.device.webgpu import shaders
    from webinfer.formats.kquants import KVALUES_IQ4NL
    text = (shaders.shader_dir() / "quant_iq4.wgsl").read_text()
    words = [int(re.search(rf"const KV{i}: u32 = 0x([0-9a-f]+)u;", text).group(1), 16) for i in range(4)]
    np.testing.assert_array_equal(np.array(words, "<u4").view(np.int8), KVALUES_IQ4NL)


@pytest.mark.parametrize("q", [q for q in QUANT_TYPES.values() if q.block_size > 1], ids=lambda q: q.name)
def test_a_tensor_of_several_chunks_matches_gguf_bitwise(q):
    # Past DEQUANT_CHUNK values a tensor is dequantized a chunk at a time (the last one partial).
    from webinfer.formats.quants import DEQUANT_CHUNK
    n = (3 * DEQUANT_CHUNK + 5 * 256) // q.block_size + 1
    raw = np.random.default_rng(50 + q.ggml_type).integers(0, 256, size=(n, q.type_size), dtype=np.uint8)
    with np.errstate(all="ignore"):
        ours = q.dequantize(raw)
    assert ours.size > 3 * DEQUANT_CHUNK
    assert_bitwise_equal(ours, gguf_dequantize(raw, q))
