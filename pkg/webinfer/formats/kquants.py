"""K-quants (Q2_K..Q6_K) and the IQ4 types: NumPy (de)quantizers over raw ggml blocks.

What this is: one small class per type, subclassing ``quants._Quant``, that turns
``(n_blocks, type_size)`` uint8 arrays into float32 exactly as ggml's ``dequantize_row_*``
(ggml-quants.c) does, so the results equal the ``gguf`` package's bit for bit. ``quants.py``
registers them in ``DEQUANT_TYPES`` and ``QUANT_TYPES``. The quantizers (float32 -> blocks, at the
end of the file) port ggml's reference ones without importance weights -- quantize_row_q2_K_ref ..
q6_K_ref with make_qkx2_quants / make_qx_quants / make_q3_quants, and quantize_row_iq4_nl_impl
with best_index_int8 -- vectorised over sub-blocks, in float32 and in ggml's order of operations.
They give the same bytes as a C transliteration of those ggml functions on Gaussian, scaled,
offset, heavy-tailed, zero and constant rows; the ``gguf`` package has no quantizer for these
types to test against. What this is not: an importance-matrix quantizer (llama-quantize
--imatrix), a dot product, or the GPU path.

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

from .quants import _f16_scale, _minus_rows, _nibbles, _Quant, _times_rows

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


_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)


def _nibble_codes(qs: np.ndarray) -> np.ndarray:
    """(n, 128) Q4_K/Q5_K qs -> (n, 256) uint8 codes 0..15: each 32 bytes give 32 low nibbles,
    then the same 32 bytes' high nibbles. Masked 8 bytes at a time over all blocks, then the
    32-byte runs interleaved by one copy of 32-byte items."""
    n = qs.shape[0]
    words = np.ascontiguousarray(qs).view(np.uint64)                      # (n, 16)
    out = np.empty((n, 8), dtype="V32")                                   # runs: low 0, high 0, low 1, ...
    out[:, 0::2] = (words & _LOW_NIBBLES).view("V32")
    out[:, 1::2] = ((words >> np.uint64(4)) & _LOW_NIBBLES).view("V32")
    return out.view(np.uint8).reshape(n, QK_K)


_CRUMB_SHIFTS = np.arange(0, 8, 2, dtype=np.uint64)[:, None, None]   # (4, 1, 1): the crumbs of a byte
_LOW_CRUMBS = np.uint64(0x0303030303030303)
_PLANE_SHIFTS = np.arange(8, dtype=np.uint64)[:, None, None]        # (8, 1, 1): bit k of every byte
_LOW_BITS = np.uint64(0x0101010101010101)


def _fifth_bit_planes(b: np.ndarray) -> np.ndarray:
    """(n, 32) Q5_K qh -> (n, 256) uint8 16 or 0: element e is bit e // 32 of b[e % 32], as 16. The
    eight planes are cut from 8-byte words over all blocks at once, then laid in element order."""
    n = b.shape[0]
    words = np.ascontiguousarray(b).view(np.uint64)                      # (n, 4)
    planes = ((words[None] >> _PLANE_SHIFTS) & _LOW_BITS) << np.uint64(4)  # (8, n, 4)
    out = np.empty((n, 8), dtype="V32")                                   # one 32-byte run a plane
    out[...] = planes.view("V32").reshape(8, n).T
    return out.view(np.uint8).reshape(n, QK_K)


def _bit_planes(b: np.ndarray) -> np.ndarray:
    """(n, 32) Q3_K hmask / Q5_K qh -> (n, 256) uint8 0/1: element e is bit e // 32 of b[e % 32]."""
    n = b.shape[0]
    return ((b.reshape(n, 1, 32) >> _SHIFT_1BIT) & 1).reshape(n, QK_K)


def _scale_min_k4(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 12) packed Q4_K/Q5_K scales -> (sc, m), each (n, 8) uint8 0..63, as get_scale_min_k4:
    sub-blocks 0..3 keep 6 bits in bytes 0..7; 4..7 take their low 4 bits from bytes 8..11 and
    their top 2 from the spare top bits of bytes 0..7. Worked four bytes at a time, as uint32."""
    w = np.ascontiguousarray(s).view(np.uint32)                          # (n, 3): bytes 0-3, 4-7, 8-11
    w0, w1, w2 = w[:, 0], w[:, 1], w[:, 2]
    low6, low4, top2 = np.uint32(0x3F3F3F3F), np.uint32(0x0F0F0F0F), np.uint32(0x03030303)
    sc = np.empty((s.shape[0], 2), dtype=np.uint32)
    m = np.empty((s.shape[0], 2), dtype=np.uint32)
    np.bitwise_and(w0, low6, out=sc[:, 0])
    np.bitwise_and(w1, low6, out=m[:, 0])
    sc[:, 1] = (w2 & low4) | (((w0 >> np.uint32(6)) & top2) << np.uint32(4))
    m[:, 1] = ((w2 >> np.uint32(4)) & low4) | (((w1 >> np.uint32(6)) & top2) << np.uint32(4))
    return sc.view(np.uint8), m.view(np.uint8)


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
    def _quantize(cls, x):
        return _quantize_q2_k(x)

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
    def _quantize(cls, x):
        return _quantize_q3_k(x)

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
    def _quantize(cls, x):
        dd, s, L = _quantize_q45_k(x, 15, -1.0, 0.1, 20)
        return np.concatenate([dd, s, _pack_nibbles_k(L)], axis=1)

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q4_K: d1 = d * sc, m1 = dmin * m, x = d1 * q - m1.
        d, dmin = _f16_scale(blocks, 0), _f16_scale(blocks, 2)             # (n, 1) each
        sc, m = _scale_min_k4(blocks[:, 4:16])                             # (n, 8) each
        x = _f32(_nibble_codes(blocks[:, 16:]))                            # (n, 256)
        _times_rows(x, d * _f32(sc))                                       # in place: no temporaries (faster)
        return _minus_rows(x, dmin * _f32(m))


class Q5_K(_Quant):
    name, ggml_type, block_size, type_size = "Q5_K", 13, QK_K, 176

    @classmethod
    def _quantize(cls, x):
        dd, s, L = _quantize_q45_k(x, 31, -0.5, 0.1, 15)
        return np.concatenate([dd, s, _pack_bit_planes(L >> 4), _pack_nibbles_k(L & 15)], axis=1)

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q5_K: as Q4_K, with qh bit e // 32 of byte e % 32 adding 16.
        d, dmin = _f16_scale(blocks, 0), _f16_scale(blocks, 2)             # (n, 1) each
        sc, m = _scale_min_k4(blocks[:, 4:16])                             # (n, 8) each
        q = _nibble_codes(blocks[:, 48:])
        q |= _fifth_bit_planes(blocks[:, 16:48])
        x = _f32(q)                                                        # (n, 256) 0..31
        _times_rows(x, d * _f32(sc))                                       # in place (faster)
        return _minus_rows(x, dmin * _f32(m))


class Q6_K(_Quant):
    name, ggml_type, block_size, type_size = "Q6_K", 14, QK_K, 210

    @classmethod
    def _quantize(cls, x):
        return _quantize_q6_k(x)

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q6_K: x = d * sc * (q - 32), evaluated left to right.
        # Worked 8 bytes at a time over all blocks, the runs then laid in element order by copies
        # of 64- and 32-byte items (see _nibble_codes).
        n = blocks.shape[0]
        ql = np.ascontiguousarray(blocks[:, :128]).view(np.uint64)         # (n, 16): two halves of 64 bytes
        q = np.empty((n, 4), dtype="V64")                                  # (n, half, nibble) runs of 64
        q[:, 0::2] = (ql & _LOW_NIBBLES).view("V64")
        q[:, 1::2] = ((ql >> np.uint64(4)) & _LOW_NIBBLES).view("V64")
        qh = np.ascontiguousarray(blocks[:, 128:192]).view(np.uint64)     # (n, 8): two halves of 32 bytes
        crumbs = ((qh[None] >> _CRUMB_SHIFTS) & _LOW_CRUMBS) << np.uint64(4)  # (crumb, n, 8)
        high = np.empty((n, 2, 4), dtype="V32")                            # (n, half, crumb) runs of 32
        high[...] = crumbs.view("V32").reshape(4, n, 2).transpose(1, 2, 0)
        codes = q.view(np.uint8).reshape(n, QK_K)
        codes |= high.view(np.uint8).reshape(n, QK_K)                      # 0..63
        x = _f32(codes)
        x -= np.float32(32)                                                # q - 32, exact
        sc = _f32(blocks[:, 192:208].view(np.int8))                        # (n, 16)
        d = _f16_scale(blocks, 208)                                        # (n, 1)
        return _times_rows(x, d * sc)                                      # (d * sc) * q


class IQ4_NL(_Quant):
    name, ggml_type, block_size, type_size = "IQ4_NL", 20, 32, 18

    @classmethod
    def _quantize(cls, x):
        return _quantize_iq4_nl(x)

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_iq4_nl: x = d * kvalues_iq4nl[q], nibbles in Q4_0's order.
        return _times_rows(KVALUES_IQ4NL[_nibbles(blocks, 2)], _f16_scale(blocks, 0))


class IQ4_XS(_Quant):
    name, ggml_type, block_size, type_size = "IQ4_XS", 23, QK_K, 136

    @classmethod
    def _quantize(cls, x):
        return _quantize_iq4_xs(x)

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


# ---- quantizers: ports of ggml's quantize_row_*_ref, vectorised over sub-blocks ----------------
#
# Each search below runs ggml's per-group loop on many groups at once: x is (G, n), one row per
# sub-block. The arithmetic is float32 in ggml's order (products left to right, sums running
# left to right), and nearest_int (ggml's 1.5 * 2**23 trick) is np.rint, round half to even.

_GROUP_MAX_EPS = np.float32(1e-15)


def _seqsum(a: np.ndarray) -> np.ndarray:
    """(G, n) -> (G,): float32 sums taken left to right, as ggml's ``sum += ...`` loops (NumPy's
    pairwise sum rounds differently, which can flip a near-tied choice of scale)."""
    acc = a[:, 0].copy()
    for i in range(1, a.shape[1]):
        acc += a[:, i]
    return acc


def _nearest_int(v: np.ndarray) -> np.ndarray:
    # Clamped to ggml's asserted range |v| <= 4194303 first: lanes whose result is thrown away
    # (a where() that keeps the old code) can hold inf, and casting inf is undefined.
    return np.rint(np.clip(v, -4194303, 4194303)).astype(np.int32)


def _signed_absmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, n) -> (amax, max), each (G,): the largest |x| and the signed value that has it
    (the first such, as ggml's ``if (ax > amax)`` scan keeps)."""
    i = np.abs(x).argmax(axis=1)
    mx = x[np.arange(x.shape[0]), i]
    return np.abs(mx), mx


def _inv(a: np.ndarray, where: np.ndarray) -> np.ndarray:
    """1 / a where ``where`` holds, else 0 (keeps zero groups free of inf/nan)."""
    out = np.zeros_like(a, dtype=np.float32)
    np.divide(np.float32(1), a, out=out, where=where)
    return out


def _make_qx_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL): symmetric codes L in 0..2*nmax-1
    (value L - nmax) and the scale, the weighted (w = x^2) least-squares fit tried at 19 trial
    scales -(nmax + 0.1 * is) / max. -> (scale (G,), L (G, n) uint8); zero groups give 0, 0."""
    amax, mx = _signed_absmax(x)
    live = amax >= _GROUP_MAX_EPS
    mx_safe = np.where(live, mx, np.float32(1))[:, None]
    w = x * x

    def fit(iscale):
        lv = np.clip(_nearest_int(iscale * x), -nmax, nmax - 1).astype(np.float32)
        return lv, _seqsum(w * x * lv), _seqsum(w * lv * lv)

    lv, sumlx, suml2 = fit(np.float32(-nmax) / mx_safe)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1), np.float32(0)).astype(np.float32)
    best = scale * sumlx
    L = lv
    for i in range(-9, 10):
        if i == 0:
            continue
        lv, sumlx, suml2 = fit(-(np.float32(nmax) + np.float32(0.1) * np.float32(i)) / mx_safe)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        L = np.where(better[:, None], lv, L)
        scale = np.where(better, sumlx / np.where(suml2 > 0, suml2, 1), scale).astype(np.float32)
        best = np.where(better, scale * sumlx, best)
    scale = np.where(live, scale, np.float32(0))
    L = np.where(live[:, None], L + nmax, 0)
    return scale.astype(np.float32), L.astype(np.uint8)


def _make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """make_q3_quants(n, nmax, x, L, do_rmse=true): codes from -nmax / max, then up to 5 sweeps
    of ggml's one-code-at-a-time improvement of the w = x^2 weighted fit. The sweep is sequential
    within a group (each change updates the sums the next element sees), so it loops over
    elements and runs all groups at once. -> (scale (G,), L (G, n) uint8 in 0..2*nmax-1)."""
    amax, mx = _signed_absmax(x)
    live = amax >= _GROUP_MAX_EPS
    iscale = (np.float32(-nmax) / np.where(live, mx, np.float32(1)))[:, None]
    L = np.clip(_nearest_int(iscale * x), -nmax, nmax - 1).astype(np.float32)
    w = x * x
    sumlx = _seqsum(w * x * L)
    suml2 = _seqsum(w * L * L)
    for _ in range(5):
        changed = np.zeros(x.shape[0], dtype=bool)
        for i in range(x.shape[1]):
            xi, wi, li = x[:, i], w[:, i], L[:, i]
            slx = sumlx - wi * xi * li
            sl2 = suml2 - wi * li * li
            pos = slx > 0
            new_l = np.clip(_nearest_int(xi * sl2 / np.where(pos, slx, 1)), -nmax, nmax - 1).astype(np.float32)
            slx2 = slx + wi * xi * new_l
            sl22 = sl2 + wi * new_l * new_l
            take = pos & (new_l != li) & (sl22 > 0) & (slx2 * slx2 * suml2 > sumlx * sumlx * sl22)
            L[:, i] = np.where(take, new_l, li)
            sumlx = np.where(take, slx2, sumlx)
            suml2 = np.where(take, sl22, suml2)
            changed |= take
        if not changed.any():
            break
    scale = np.where(live & (suml2 > 0), sumlx / np.where(suml2 > 0, suml2, 1), np.float32(0))
    return scale.astype(np.float32), np.where(live[:, None], L + nmax, 0).astype(np.uint8)


def _make_qkx2_quants(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float,
                      nstep: int, use_mad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """make_qkx2_quants: asymmetric codes L in 0..nmax with x ~ scale * L - the_min, min <= 0.
    Starts from the min/max grid, then tries nstep + 1 grids (rmin + rdelta * is + nmax) /
    (max - min), each refit by weighted least squares for scale and min, keeping the one of
    least weighted error (|diff| if use_mad, else diff^2). -> (scale, the_min, L)."""
    mn = np.minimum(x.min(axis=1), 0).astype(np.float32)
    mx = x.max(axis=1)
    live = mx != mn
    rng = np.where(live, mx - mn, np.float32(1))
    sum_w = _seqsum(w)
    sum_x = _seqsum(w * x)

    def err(scale, mins, lv):
        diff = scale[:, None] * lv + mins[:, None] - x
        return _seqsum(w * (np.abs(diff) if use_mad else diff * diff))

    iscale = np.float32(nmax) / rng
    scale = (np.float32(1) / iscale).astype(np.float32)
    L = np.clip(_nearest_int(iscale[:, None] * (x - mn[:, None])), 0, nmax).astype(np.float32)
    best = err(scale, mn, L)
    for i in range(nstep + 1):
        # ggml divides by max - min with the min of the best fit so far, not the starting one.
        rng = np.where(live, mx - mn, np.float32(1))
        iscale = (np.float32(rmin) + np.float32(rdelta) * np.float32(i) + np.float32(nmax)) / rng
        la = np.clip(_nearest_int(iscale[:, None] * (x - mn[:, None])), 0, nmax).astype(np.float32)
        sum_l, sum_l2, sum_xl = _seqsum(w * la), _seqsum(w * la * la), _seqsum(w * la * x)
        D = sum_w * sum_l2 - sum_l * sum_l
        ok = D > 0
        Ds = np.where(ok, D, 1)
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / Ds
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / Ds
        pos_min = this_min > 0
        this_scale = np.where(pos_min, sum_xl / np.where(sum_l2 > 0, sum_l2, 1), this_scale).astype(np.float32)
        this_min = np.where(pos_min, 0, this_min).astype(np.float32)
        cur = err(this_scale, this_min, la)
        better = ok & (cur < best)
        L = np.where(better[:, None], la, L)
        best = np.where(better, cur, best)
        scale = np.where(better, this_scale, scale)
        mn = np.where(better, this_min, mn)
    scale = np.where(live, scale, np.float32(0)).astype(np.float32)
    L = np.where(live[:, None], L, 0).astype(np.uint8)
    return scale, (-mn).astype(np.float32), L


def _f16(a: np.ndarray) -> np.ndarray:
    """float32 -> the f16 ggml stores, as (n, 2) bytes, and its float32 value (n, 1)."""
    h = a.astype(np.float16).reshape(-1, 1)
    return h.view(np.uint8), h.astype(np.float32)


def _requantize(x: np.ndarray, L: np.ndarray, d: np.ndarray, dm: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """ggml's last pass: with the stored (f16 x 6-bit) scale d and min dm of each sub-block,
    L = clamp(nearest_int((x + dm) / d), lo, hi) - lo; sub-blocks with d == 0 keep the search's L.
    x and L are (n, S, k); d and dm (n, S)."""
    live = d != 0
    q = _nearest_int((x + dm[..., None]) / np.where(live, d, 1)[..., None])
    return np.where(live[..., None], np.clip(q, lo, hi) - lo, L).astype(np.uint8)


def _pack_2bit(L: np.ndarray) -> np.ndarray:
    """(n, 256) codes 0..3 -> (n, 64) qs: qs[32h + l] = sum_k L[128h + 32k + l] << 2k."""
    n = L.shape[0]
    return (L.reshape(n, 2, 4, 32) << (2 * np.arange(4, dtype=np.uint8))[:, None]).sum(
        axis=2, dtype=np.uint8).reshape(n, 64)


def _pack_nibbles_k(L: np.ndarray) -> np.ndarray:
    """(n, 256) codes 0..15 -> (n, 128) Q4_K qs: q[32k + l] = L[64k + l] | L[64k + 32 + l] << 4."""
    n = L.shape[0]
    p = L.reshape(n, 4, 2, 32)
    return (p[:, :, 0] | (p[:, :, 1] << np.uint8(4))).reshape(n, 128)


def _pack_bit_planes(bits: np.ndarray) -> np.ndarray:
    """(n, 256) 0/1 -> (n, 32): bit e // 32 of byte e % 32 (Q3_K hmask, Q5_K qh)."""
    n = bits.shape[0]
    return (bits.reshape(n, 8, 32) << np.arange(8, dtype=np.uint8)[:, None]).sum(axis=1, dtype=np.uint8)


def _pack_scale_min_k4(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """(n, 8) 6-bit scales and mins -> (n, 12) bytes, the inverse of get_scale_min_k4."""
    s = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    s[:, 0:4] = ls[:, :4] | ((ls[:, 4:] >> 4) << 6)
    s[:, 4:8] = lm[:, :4] | ((lm[:, 4:] >> 4) << 6)
    s[:, 8:12] = (ls[:, 4:] & 0xF) | ((lm[:, 4:] & 0xF) << 4)
    return s


def _super_scale(v: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Sub-block scales (n, S) >= 0 -> their 'levels'-step codes against the largest and that
    largest / levels, as quantize_row_q2_K/q4_K/q5_K_ref: codes min(levels, nearest_int(levels /
    max * v)), 0 when max is 0. -> (codes uint8 (n, S), max / levels (n,))."""
    top = v.max(axis=1)
    top = np.where(top > 0, top, np.float32(0))     # ggml's running max starts at +0, never -0
    inv = np.where(top > 0, np.float32(levels) / np.where(top > 0, top, 1), np.float32(0))
    codes = np.minimum(levels, _nearest_int(inv[:, None] * v)).astype(np.uint8)
    return codes, (top / np.float32(levels)).astype(np.float32)


def _quantize_q45_k(x: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """quantize_row_q4_K_ref (nmax 15) / q5_K_ref (nmax 31) up to the codes: per sub-block of 32,
    weights av_x + |x| and make_qkx2_quants; 6-bit scales and mins against the block's largest.
    -> (d and dmin as (n, 4) f16 bytes, (n, 12) packed scales, (n, 256) codes)."""
    n = x.shape[0]
    xs = x.reshape(n * 8, 32)
    av_x = np.sqrt(_seqsum(xs * xs) / np.float32(32))
    w = av_x[:, None] + np.abs(xs)
    scales, mins, L = _make_qkx2_quants(xs, w, nmax, rmin, rdelta, nstep, use_mad=False)
    ls, d = _super_scale(scales.reshape(n, 8), 63)
    lm, dmin = _super_scale(mins.reshape(n, 8), 63)
    (d_b, d16), (m_b, m16) = _f16(d), _f16(dmin)
    L = _requantize(x.reshape(n, 8, 32), L.reshape(n, 8, 32), d16 * ls, m16 * lm, 0, nmax)
    return np.concatenate([d_b, m_b], axis=1), _pack_scale_min_k4(ls, lm), L.reshape(n, QK_K)


def _quantize_q2_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q2_K_ref: sub-blocks of 16, weights |x|, make_qkx2_quants(nmax 3, -0.5, 0.1,
    15 steps, mean absolute error); 4-bit scales and mins against the block's largest."""
    n = x.shape[0]
    xs = x.reshape(n * 16, 16)
    scales, mins, L = _make_qkx2_quants(xs, np.abs(xs), 3, -0.5, 0.1, 15, use_mad=True)
    ls, d = _super_scale(scales.reshape(n, 16), 15)
    lm, dmin = _super_scale(mins.reshape(n, 16), 15)
    (d_b, d16), (m_b, m16) = _f16(d), _f16(dmin)
    L = _requantize(x.reshape(n, 16, 16), L.reshape(n, 16, 16), d16 * ls, m16 * lm, 0, 3)
    return np.concatenate([ls | (lm << np.uint8(4)), _pack_2bit(L.reshape(n, QK_K)), d_b, m_b], axis=1)


def _quantize_q3_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q3_K_ref: sub-blocks of 16 by make_q3_quants (codes -4..3); signed 6-bit
    scales against the scale of largest magnitude (which maps to -32); codes -4..3 stored + 4,
    bit 2 in hmask."""
    n = x.shape[0]
    scales, L = _make_q3_quants(x.reshape(n * 16, 16), 4)
    scales = scales.reshape(n, 16)
    _, max_scale = _signed_absmax(scales)
    live = max_scale != 0
    iscale = np.float32(-32) / np.where(live, max_scale, 1)
    l6 = np.where(live[:, None], np.clip(_nearest_int(iscale[:, None] * scales), -32, 31) + 32, 0).astype(np.uint8)
    d_b, d16 = _f16(np.where(live, np.float32(1) / iscale, np.float32(0)))
    L = _requantize(x.reshape(n, 16, 16), L.reshape(n, 16, 16), d16 * (l6.astype(np.float32) - 32),
                    np.zeros((n, 16), np.float32), -4, 3).reshape(n, QK_K)
    s = np.zeros((n, 12), dtype=np.uint8)
    s[:, :8] = (l6[:, :8] & 0xF) | ((l6[:, 8:] & 0xF) << 4)
    s[:, 8:] = ((l6 >> 4).reshape(n, 4, 4) << (2 * np.arange(4, dtype=np.uint8))[:, None]).sum(axis=1, dtype=np.uint8)
    return np.concatenate([_pack_bit_planes(L >> 2), _pack_2bit(L & 3), s, d_b], axis=1)


def _quantize_q6_k(x: np.ndarray) -> np.ndarray:
    """quantize_row_q6_K_ref: sub-blocks of 16 by make_qx_quants(nmax 32); int8 scales against
    the scale of largest magnitude (which maps to -128); codes -32..31 stored + 32 as 4 + 2 bits.
    A block whose scales are all below GROUP_MAX_EPS is all zero bytes."""
    n = x.shape[0]
    scales, L = _make_qx_quants(x.reshape(n * 16, 16), 32)
    scales = scales.reshape(n, 16)
    amax, max_scale = _signed_absmax(scales)
    live = amax >= _GROUP_MAX_EPS
    iscale = np.float32(-128) / np.where(live, max_scale, 1)
    sc = np.where(live[:, None], np.minimum(127, _nearest_int(iscale[:, None] * scales)), 0).astype(np.int8)
    d_b, d16 = _f16(np.where(live, np.float32(1) / iscale, np.float32(0)))
    L = _requantize(x.reshape(n, 16, 16), L.reshape(n, 16, 16), d16 * sc.astype(np.float32),
                    np.zeros((n, 16), np.float32), -32, 31).reshape(n, 2, 4, 32)   # (n, half, k, l)
    L = np.where(live[:, None, None, None], L, 0)
    ql = (L[:, :, :2] & 0xF) | ((L[:, :, 2:] & 0xF) << np.uint8(4))                   # (n, half, 2, 32)
    qh = ((L >> 4) << (2 * np.arange(4, dtype=np.uint8))[:, None]).sum(axis=2, dtype=np.uint8)
    return np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), sc.view(np.uint8), d_b], axis=1)


# best_index_int8's thresholds: level i is picked once 2x reaches kvalues[i-1] + kvalues[i].
_IQ4_MIDS2 = (KVALUES_IQ4NL[:-1] + KVALUES_IQ4NL[1:]).astype(np.float32)


def _best_index(v: np.ndarray) -> np.ndarray:
    """best_index_int8(16, kvalues_iq4nl, v) elementwise -> uint8 0..15."""
    return np.searchsorted(_IQ4_MIDS2, v + v, side="right").astype(np.uint8)


def _iq4_block_scales(xs: np.ndarray, ntry: int = 7) -> np.ndarray:
    """quantize_row_iq4_nl_impl's per-32 search (no importance weights, so w = x^2): start at
    d = -max / kvalues[0], then try id = (itry + kvalues[0]) / max for itry in -7..7, keeping the
    weighted least-squares d of the best fit. -> d (G,), 0 for groups below GROUP_MAX_EPS."""
    amax, mx = _signed_absmax(xs)
    live = amax >= _GROUP_MAX_EPS
    mx = np.where(live, mx, np.float32(1))
    w = xs * xs

    def fit(iscale):
        q = KVALUES_IQ4NL[_best_index(iscale[:, None] * xs)]
        return _seqsum(w * q * xs), _seqsum(w * q * q)

    k0 = KVALUES_IQ4NL[0]
    sumqx, sumq2 = fit(np.float32(1) / (-mx / k0))
    d = sumqx / np.where(sumq2 > 0, sumq2, 1)
    best = d * sumqx
    for itry in range(-ntry, ntry + 1):
        sumqx, sumq2 = fit((np.float32(itry) + k0) / mx)
        better = (sumq2 > 0) & (sumqx * sumqx > best * sumq2)
        d = np.where(better, sumqx / np.where(sumq2 > 0, sumq2, 1), d)
        best = np.where(better, d * sumqx, best)
    return np.where(live, d, np.float32(0)).astype(np.float32)


def _pack_iq4(L: np.ndarray) -> np.ndarray:
    """(n, 32k) codes -> (n, 16k) bytes: per 32, byte j = L[j] | L[j + 16] << 4."""
    n = L.shape[0]
    p = L.reshape(n, -1, 2, 16)
    return (p[:, :, 0] | (p[:, :, 1] << np.uint8(4))).reshape(n, -1)


def _quantize_iq4_nl(x: np.ndarray) -> np.ndarray:
    """quantize_iq4_nl without importance weights (what llama-quantize runs; ntry = 7, where
    quantize_row_iq4_nl_ref takes the ntry = -1 shortcut with no scale search): one block of 32
    is its own super-block, d stored as f16 and the codes re-picked with the float32 1 / d."""
    d = _iq4_block_scales(x)
    L = _best_index(_inv(d, d != 0)[:, None] * x)
    return np.concatenate([_f16(d)[0], _pack_iq4(L)], axis=1)


def _quantize_iq4_xs(x: np.ndarray) -> np.ndarray:
    """quantize_row_iq4_xs_ref (quantize_iq4_xs, ntry = 7, no importance weights): the per-32 scales, then a signed 6-bit code each against
    d = -max_scale / 32 (the scale of largest magnitude maps to -32 + ...), codes re-picked with
    1 / (d * l) -- float32 d, as quantize_row_iq4_nl_impl."""
    n = x.shape[0]
    xs = x.reshape(n, 8, 32)
    scales = _iq4_block_scales(xs.reshape(n * 8, 32)).reshape(n, 8)
    _, max_scale = _signed_absmax(scales)
    d = (-max_scale / np.float32(32)).astype(np.float32)
    l = np.clip(_nearest_int(_inv(d, d != 0)[:, None] * scales), -32, 31)            # (n, 8)
    dl = d[:, None] * l.astype(np.float32)
    L = _best_index(_inv(dl, dl != 0)[:, :, None] * xs).reshape(n, QK_K)
    l6 = (l + 32).astype(np.uint8)
    scales_h = ((l6 >> 4).astype(np.uint16) << (2 * np.arange(8, dtype=np.uint16))).sum(axis=1, dtype=np.uint16)
    scales_l = l6[:, 0::2] & 0xF | ((l6[:, 1::2] & 0xF) << np.uint8(4))
    return np.concatenate([_f16(d)[0], scales_h.reshape(n, 1).view(np.uint8), scales_l, _pack_iq4(L)], axis=1)
