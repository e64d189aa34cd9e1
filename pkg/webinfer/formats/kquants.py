"""K-quants (Q2_K..Q6_K) and the IQ4 types: NumPy dequantizers over raw ggml blocks.

What this is: one small class per type, subclassing ``quants._Quant``, that turns
``(n_blocks, type_size)`` uint8 arrays into float32 exactly as ggml's ``dequantize_row_*``
(ggml-quants.c) does, so the results equal the ``gguf`` package's bit for bit. ``quants.py``
registers them in ``DEQUANT_TYPES``. What this is not: a quantizer (these types have none yet),
a dot product, or the GPU path.

Layouts, little-endian, in the order the bytes sit in a block. A K-quant super-block holds
QK_K = 256 consecutive elements of one row, cut into sub-blocks of 16 or 32 elements that each
have their own scale (and min); element ``e`` belongs to sub-block ``e // 16`` or ``e // 32``.

    Q2_K   256, 84 bytes:  u8 scales[16] | u8 qs[64] | f16 d | f16 dmin
           sub-block s of 16: x = (d * (scales[s] & 15)) * q - dmin * (scales[s] >> 4)
    Q3_K   256, 110 bytes: u8 hmask[32] | u8 qs[64] | u8 scales[12] | f16 d
           sub-block s of 16: x = (d * (sc[s] - 32)) * (q - (hbit ? 0 : 4)), sc 6-bit
    Q4_K   256, 144 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qs[128]
           sub-block s of 32: x = (d * sc[s]) * q - dmin * m[s], sc and m 6-bit
    Q5_K   256, 176 bytes: f16 d | f16 dmin | u8 scales[12] | u8 qh[32] | u8 qs[128]
           as Q4_K, q = nibble | qh bit << 4
    Q6_K   256, 210 bytes: u8 ql[128] | u8 qh[64] | i8 scales[16] | f16 d
           sub-block s of 16: x = (d * scales[s]) * (q - 32), q = ql nibble | qh 2 bits << 4
    IQ4_NL  32, 18 bytes:  f16 d | u8 qs[16]                     x = d * kvalues[q]
    IQ4_XS 256, 136 bytes: f16 d | u16 scales_h | u8 scales_l[4] | u8 qs[128]
           sub-block s of 32: x = (d * (ls[s] - 32)) * kvalues[q], ls 6-bit

Where the bits of element ``e`` sit (h = e // 128 is the half of a super-block, l = e % 32):

    2-bit codes (Q2_K, Q3_K qs): (qs[32h + l] >> 2 * (e % 128 // 32)) & 3
    4-bit codes (Q4_K, Q5_K qs; IQ4_XS per sub-block s of 32): Q4_K/Q5_K take
        qs[32 * (s // 2) + l] low nibble for even s, high for odd; IQ4_XS and IQ4_NL put element
        j of a 32-group in qs[16s + j % 16], low nibble for j < 16, high for j >= 16
    1-bit planes (Q3_K hmask, Q5_K qh): bit e // 32 of byte [l]
    Q6_K: ql[64h + l + 32 * (k % 2)] nibble k // 2 and (qh[32h + l] >> 2k) & 3, k = e % 128 // 32
    6-bit scales of Q3_K: low 4 bits from scales[s] (s < 8) or scales[s - 8] >> 4, top 2 from
        (scales[8 + s % 4] >> 2 * (s // 4)) & 3
    6-bit scale/min of Q4_K/Q5_K: ggml's get_scale_min_k4; of IQ4_XS: the nibble s % 2 of
        scales_l[s // 2], top 2 bits (scales_h >> 2s) & 3

Every product is float32 and is rounded in ggml's order: the sub-block scale ``d * sc`` first,
then times the code, then minus ``dmin * m``. NaN or Inf scales pass through as ggml passes them.
"""

from __future__ import annotations

import numpy as np

from .quants import _f16_scale, _Quant, _unpack_nibbles

QK_K = 256

# kvalues_iq4nl of ggml-common.h: the 16 non-uniform levels of IQ4_NL and IQ4_XS.
KVALUES_IQ4NL = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113],
                         dtype=np.float32)

_SHIFT_2BIT = np.array([0, 2, 4, 6], dtype=np.uint8)[:, None]   # (4, 1): the four crumbs of a byte
_SHIFT_4BIT = np.array([0, 4], dtype=np.uint8)[:, None]         # (2, 1): the two nibbles of a byte
_SHIFT_1BIT = np.arange(8, dtype=np.uint8)[:, None]              # (8, 1): the eight bits of a byte


def _two_bit_codes(qs: np.ndarray) -> np.ndarray:
    """(n, 64) Q2_K/Q3_K qs -> (n, 256) uint8 codes 0..3 in element order."""
    n = qs.shape[0]
    return ((qs.reshape(n, 2, 1, 32) >> _SHIFT_2BIT) & 3).reshape(n, QK_K)   # (n, half, crumb, l)


def _nibble_codes(qs: np.ndarray) -> np.ndarray:
    """(n, 128) Q4_K/Q5_K qs -> (n, 256) uint8 codes 0..15: each 32 bytes give 32 low nibbles,
    then the same 32 bytes' high nibbles."""
    n = qs.shape[0]
    return ((qs.reshape(n, 4, 1, 32) >> _SHIFT_4BIT) & 0xF).reshape(n, QK_K)


def _bit_planes(b: np.ndarray) -> np.ndarray:
    """(n, 32) Q3_K hmask / Q5_K qh -> (n, 256) uint8 0/1: element e is bit e // 32 of b[e % 32]."""
    n = b.shape[0]
    return ((b.reshape(n, 1, 32) >> _SHIFT_1BIT) & 1).reshape(n, QK_K)


def _scale_min_k4(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 12) packed Q4_K/Q5_K scales -> (sc, m), each (n, 8) uint8 0..63, as get_scale_min_k4:
    sub-blocks 0..3 keep 6 bits in bytes 0..7; 4..7 take their low 4 bits from bytes 8..11 and
    their top 2 from the spare top bits of bytes 0..7."""
    sc = np.concatenate([s[:, 0:4] & 63, (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)], axis=1)
    m = np.concatenate([s[:, 4:8] & 63, (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)], axis=1)
    return sc, m


def _q3_k_scales(s: np.ndarray) -> np.ndarray:
    """(n, 12) packed Q3_K scales -> (n, 16) uint8 0..63 (stored +32), as dequantize_row_q3_K's
    kmask1/kmask2 shuffle."""
    n = s.shape[0]
    low = np.concatenate([s[:, :8] & 0xF, s[:, :8] >> 4], axis=1)                 # (n, 16)
    high = ((s[:, 8:12].reshape(n, 1, 4) >> _SHIFT_2BIT) & 3).reshape(n, 16)     # (n, shift, byte)
    return low | (high << 4)


def _f32(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32)


class Q2_K(_Quant):
    name, ggml_type, block_size, type_size = "Q2_K", 10, QK_K, 84

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q2_K: dl = d * (sc & 15), ml = dmin * (sc >> 4), x = dl * q - ml.
        n = blocks.shape[0]
        sc = blocks[:, :16]                                                # (n, 16)
        d, dmin = _f16_scale(blocks, 80), _f16_scale(blocks, 82)           # (n, 1) each
        dl = (d * _f32(sc & 0xF))[:, :, None]                             # (n, 16, 1)
        ml = (dmin * _f32(sc >> 4))[:, :, None]                           # (n, 16, 1)
        q = _f32(_two_bit_codes(blocks[:, 16:80])).reshape(n, 16, 16)     # (n, 16, 16)
        return (dl * q - ml).reshape(n, QK_K)


class Q3_K(_Quant):
    name, ggml_type, block_size, type_size = "Q3_K", 11, QK_K, 110

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q3_K: dl = d * (sc - 32), x = dl * (q - (hmask bit ? 0 : 4)).
        n = blocks.shape[0]
        d = _f16_scale(blocks, 108)                                        # (n, 1)
        dl = (d * (_f32(_q3_k_scales(blocks[:, 96:108])) - np.float32(32)))[:, :, None]  # (n, 16, 1)
        q = _two_bit_codes(blocks[:, 32:96]).astype(np.int8)               # (n, 256) 0..3
        q -= (_bit_planes(blocks[:, :32]) ^ 1).astype(np.int8) << 2       # -4..3
        return (dl * _f32(q).reshape(n, 16, 16)).reshape(n, QK_K)


class Q4_K(_Quant):
    name, ggml_type, block_size, type_size = "Q4_K", 12, QK_K, 144

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q4_K: d1 = d * sc, m1 = dmin * m, x = d1 * q - m1.
        n = blocks.shape[0]
        d, dmin = _f16_scale(blocks, 0), _f16_scale(blocks, 2)             # (n, 1) each
        sc, m = _scale_min_k4(blocks[:, 4:16])                             # (n, 8) each
        q = _f32(_nibble_codes(blocks[:, 16:])).reshape(n, 8, 32)         # (n, 8, 32)
        return ((d * _f32(sc))[:, :, None] * q - (dmin * _f32(m))[:, :, None]).reshape(n, QK_K)


class Q5_K(_Quant):
    name, ggml_type, block_size, type_size = "Q5_K", 13, QK_K, 176

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q5_K: as Q4_K, with qh bit e // 32 of byte e % 32 adding 16.
        n = blocks.shape[0]
        d, dmin = _f16_scale(blocks, 0), _f16_scale(blocks, 2)             # (n, 1) each
        sc, m = _scale_min_k4(blocks[:, 4:16])                             # (n, 8) each
        q = _nibble_codes(blocks[:, 48:]) | (_bit_planes(blocks[:, 16:48]) << np.uint8(4))
        q = _f32(q).reshape(n, 8, 32)                                      # (n, 8, 32) 0..31
        return ((d * _f32(sc))[:, :, None] * q - (dmin * _f32(m))[:, :, None]).reshape(n, QK_K)


class Q6_K(_Quant):
    name, ggml_type, block_size, type_size = "Q6_K", 14, QK_K, 210

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q6_K: x = d * sc * (q - 32), evaluated left to right.
        n = blocks.shape[0]
        lo = (blocks[:, :128].reshape(n, 2, 1, 64) >> _SHIFT_4BIT) & 0xF   # (n, half, nibble, 64)
        hi = (blocks[:, 128:192].reshape(n, 2, 1, 32) >> _SHIFT_2BIT) & 3  # (n, half, crumb, 32)
        q = (lo.reshape(n, QK_K) | (hi.reshape(n, QK_K) << np.uint8(4))).astype(np.int8) - np.int8(32)
        sc = _f32(blocks[:, 192:208].view(np.int8))                        # (n, 16)
        d = _f16_scale(blocks, 208)                                        # (n, 1)
        return ((d * sc)[:, :, None] * _f32(q).reshape(n, 16, 16)).reshape(n, QK_K)


class IQ4_NL(_Quant):
    name, ggml_type, block_size, type_size = "IQ4_NL", 20, 32, 18

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_iq4_nl: x = d * kvalues_iq4nl[q], nibbles in Q4_0's order.
        return _f16_scale(blocks, 0) * KVALUES_IQ4NL[_unpack_nibbles(blocks[:, 2:])]


class IQ4_XS(_Quant):
    name, ggml_type, block_size, type_size = "IQ4_XS", 23, QK_K, 136

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_iq4_xs: dl = d * (ls - 32), x = dl * kvalues_iq4nl[q].
        n = blocks.shape[0]
        d = _f16_scale(blocks, 0)                                          # (n, 1)
        scales_h = blocks[:, 2].astype(np.uint16) | (blocks[:, 3].astype(np.uint16) << 8)   # (n,)
        low = (blocks[:, 4:8].reshape(n, 4, 1) >> _SHIFT_4BIT.T) & 0xF     # (n, byte, nibble)
        high = (scales_h[:, None] >> np.arange(0, 16, 2, dtype=np.uint16)) & 3   # (n, 8)
        ls = low.reshape(n, 8) | (high.astype(np.uint8) << 4)              # (n, 8) 0..63
        dl = (d * (_f32(ls) - np.float32(32)))[:, :, None]                 # (n, 8, 1)
        q = (blocks[:, 8:].reshape(n, 8, 1, 16) >> _SHIFT_4BIT) & 0xF      # (n, 8, nibble, 16)
        return (dl * KVALUES_IQ4NL[q.reshape(n, 8, 32)]).reshape(n, QK_K)
