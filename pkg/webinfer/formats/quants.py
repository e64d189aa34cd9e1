"""GGML tensor types: one small class per type we can compute, over raw ggml blocks.

What this is: NumPy (de)quantizers for F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and BF16 (plus
the K-quants and IQ4 types of ``kquants.py``), that work on
``(n_blocks, type_size)`` uint8 arrays -- the bytes exactly as they sit in a GGUF file --
plus the names and block sizes of *every* ggml type id, so an error can say which type a
file uses even when we cannot run it. What this is not: a GGUF parser (see ``gguf.py``)
or the GPU path (the matmul shaders read the same raw blocks; see ``shaders/``).

On-GPU and in-file layout: ggml's raw blocks, unchanged. Little-endian throughout; ``f16``
is IEEE half, ``bf16`` the top 16 bits of an IEEE float. A block of ``block_size``
consecutive elements of one row is stored in ``type_size`` bytes:

    F32   block 1,  4 bytes:  f32 value
    F16   block 1,  2 bytes:  f16 value
    BF16  block 1,  2 bytes:  bf16 value
    Q4_0  block 32, 18 bytes: f16 d | u8 qs[16]                 x = d * (q - 8)
    Q4_1  block 32, 20 bytes: f16 d | f16 m | u8 qs[16]         x = d * q + m
    Q8_0  block 32, 34 bytes: f16 d | i8 qs[32]                 x = d * q
    Q5_0  block 32, 22 bytes: f16 d | u32 qh | u8 qs[16]        x = (q - 16) * d
    Q5_1  block 32, 24 bytes: f16 d | f16 m | u32 qh | u8 qs[16]   x = d * q + m

Nibble order in Q4_0/Q4_1/Q5_0/Q5_1: byte ``qs[j]`` holds element ``j`` in its LOW nibble and
element ``j + 16`` in its HIGH nibble (so low nibbles are elements 0..15, high nibbles 16..31).
In Q5_0/Q5_1 bit ``j`` of the little-endian ``qh`` is bit 4 of element ``j``.
Only Q4_1 blocks (20 bytes) are 4-byte aligned; Q4_0 (18) and Q8_0 (34) blocks straddle
``u32`` words when read as ``array<u32>``.

The quantizers reproduce ggml's reference ones (``quantize_row_q4_0_ref`` etc. in
ggml-quants.c) bit for bit: float32 arithmetic, scales rounded to f16 with
round-to-nearest-even, ``(int8_t)`` truncation for the 4-bit types, ``roundf`` (half away
from zero) for Q8_0. The dequantizers reproduce ggml's ``dequantize_row_*`` the same way (f16
scales widened exactly, float32 products in ggml's order), so they equal the ``gguf``
package's bit for bit, NaN payloads included. The K-quant and IQ4 quantizers are in
``kquants.py``.
"""

from __future__ import annotations

import numpy as np

# Every ggml type id, including the ones webinfer cannot compute, so messages can name them.
# Ids 4, 5, 31-33 and 36-38 were removed from ggml (old Q4_2/Q4_3 and repacked layouts).
GGML_TYPE_NAMES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 4: "Q4_2", 5: "Q4_3", 6: "Q5_0", 7: "Q5_1",
    8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
    15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL",
    21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64",
    28: "F64", 29: "IQ1_M", 30: "BF16", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
    34: "TQ1_0", 35: "TQ2_0", 36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8",
    39: "MXFP4", 40: "NVFP4", 41: "Q1_0",
}

# (block_size, type_size) of every type still in ggml, so a reader can size (and skip)
# tensors of types it cannot compute. Removed ids are absent: their files are unreadable.
_QK_K = 256
GGML_BLOCK_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
    14: (256, 210), 15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98),
    19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82), 23: (256, 136),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
    34: (256, 54), 35: (256, 66), 39: (32, 17), 40: (64, 36), 41: (128, 18),
}


def type_label(ggml_type: int) -> str:
    """'Q5_K (13)' for a known id, 'unknown type 99' otherwise."""
    name = GGML_TYPE_NAMES.get(ggml_type)
    return f"{name} ({ggml_type})" if name else f"unknown type {ggml_type}"


# The dequantizers run over tiles of many small blocks, where a NumPy operation on each block's few
# bytes (a (n, 16) slice, a (n, 1) broadcast) is mostly per-row loop overhead. So they work on
# whole contiguous arrays and long strided columns instead: a scale is one strided column of the
# float16 view, the nibbles are masked over the whole array and placed with one copy of 16-byte
# items, and a per-block scale is repeated to a full row before one contiguous multiply. The
# results are the same bits; the speed is in bench/RESULTS.md.


DEQUANT_CHUNK = 1 << 16   # values a block dequantizer works on at a time (256 KiB of float32)


def _f16_scale(blocks: np.ndarray, start: int) -> np.ndarray:
    """The f16 at byte ``start`` (even) of each C-contiguous block as float32, shape (n_blocks, 1)."""
    return blocks.view(np.float16)[:, start // 2, None].astype(np.float32)


def _nibbles(blocks: np.ndarray, start: int) -> np.ndarray:
    """The 16 packed bytes at ``start`` of each C-contiguous block -> (n, 32) uint8 values: the low
    nibbles first, then the high ones."""
    out = np.empty((blocks.shape[0], 32), dtype=np.uint8)
    halves = out.view("V16")                                              # (n, 2) items of 16 bytes
    halves[:, 0] = (blocks & np.uint8(0x0F))[:, start:start + 16].view("V16")[:, 0]
    halves[:, 1] = (blocks >> np.uint8(4))[:, start:start + 16].view("V16")[:, 0]
    return out


# Byte b -> eight bytes (a little-endian uint64), byte k holding bit k of b as the value 16.
_BIT4_OF_BYTE = np.array([sum(((b >> k) & 1) << (4 + 8 * k) for k in range(8)) for b in range(256)],
                         dtype=np.uint64)


def _fifth_bits(blocks: np.ndarray, start: int) -> np.ndarray:
    """Q5_0/Q5_1's ``qh``, the 4 bytes at ``start`` of each block -> (n, 32) uint8: 16 where bit j
    of the little-endian uint32 is set, else 0 (one table lookup a byte)."""
    qh = np.ascontiguousarray(blocks[:, start:start + 4].view("V4")[:, 0]).view(np.uint8)   # (n * 4,)
    return np.take(_BIT4_OF_BYTE, qh).view(np.uint8).reshape(-1, 32)


def _times_rows(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """float32 x (n, k * r) multiplied in place by scale (n, k): each scale on its run of r values."""
    x *= np.repeat(scale.reshape(-1), x.size // scale.size).reshape(x.shape)
    return x


def _plus_rows(x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """float32 x (n, k * r) plus offset (n, k) in place, each offset on its run of r values."""
    x += np.repeat(offset.reshape(-1), x.size // offset.size).reshape(x.shape)
    return x


def _minus_rows(x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """float32 x (n, k * r) minus offset (n, k) in place, each offset on its run of r values."""
    x -= np.repeat(offset.reshape(-1), x.size // offset.size).reshape(x.shape)
    return x


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """(n, 32) values 0..15 -> (n, 16) bytes: element j low, element j+16 high."""
    return (q[:, :16] | (q[:, 16:] << np.uint8(4))).astype(np.uint8)


def _pack_high_bits(q: np.ndarray) -> np.ndarray:
    """(n, 32) values 0..31 -> (n, 4) bytes: Q5_0/Q5_1's ``qh``, bit j = bit 4 of element j."""
    return np.packbits(q >> np.uint8(4), axis=1, bitorder="little")


def _roundf(x: np.ndarray) -> np.ndarray:
    """C ``roundf``: round half away from zero (np.round rounds half to even)."""
    a = np.abs(x)
    fl = np.floor(a)
    return np.copysign(fl + np.floor(2 * (a - fl)), x)


def _safe_inverse(d: np.ndarray) -> np.ndarray:
    """ggml's ``id = d ? 1.0f/d : 0.0f`` in float32."""
    with np.errstate(divide="ignore"):
        return np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)


class _Quant:
    """Shared checks; subclasses set the four class attributes and the two block kernels."""

    name: str
    ggml_type: int
    block_size: int
    type_size: int

    @classmethod
    def dequantize(cls, blocks: np.ndarray) -> np.ndarray:
        """(n_blocks, type_size) uint8 -> (n_blocks * block_size,) float32."""
        if blocks.dtype != np.uint8 or blocks.ndim != 2 or blocks.shape[1] != cls.type_size:
            raise ValueError(f"{cls.name}: expected uint8 blocks of shape (n, {cls.type_size}), "
                             f"got {blocks.dtype} {blocks.shape}")
        blocks = np.ascontiguousarray(blocks)
        step = max(1, DEQUANT_CHUNK // cls.block_size)
        if cls.block_size == 1 or blocks.shape[0] <= step:
            return cls._dequantize(blocks).reshape(-1)
        # A whole tensor goes a chunk at a time, so that the temporaries stay in the CPU's cache.
        out = np.empty(blocks.shape[0] * cls.block_size, dtype=np.float32)
        for a in range(0, blocks.shape[0], step):
            part = blocks[a:a + step]
            out[a * cls.block_size:(a + part.shape[0]) * cls.block_size] = cls._dequantize(part).reshape(-1)
        return out

    @classmethod
    def quantize(cls, x: np.ndarray) -> np.ndarray:
        """1-D float32 whose length is a multiple of block_size -> (n_blocks, type_size) uint8."""
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
        if x.size % cls.block_size:
            raise ValueError(f"{cls.name}: length {x.size} is not a multiple of the block size {cls.block_size}")
        out = cls._quantize(x.reshape(-1, cls.block_size))
        assert out.dtype == np.uint8 and out.shape == (x.size // cls.block_size, cls.type_size)
        return out

    @classmethod
    def _dequantize(cls, blocks: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # every registered subclass overrides this

    @classmethod
    def _quantize(cls, x: np.ndarray) -> np.ndarray:
        # Every class in QUANT_TYPES overrides this; the dequantize-only types do not.
        raise NotImplementedError(f"{cls.name}: webinfer has no quantizer (float32 -> blocks) for this type")


class F32(_Quant):
    name, ggml_type, block_size, type_size = "F32", 0, 1, 4

    @classmethod
    def _dequantize(cls, blocks):
        # A view (no copy) when the bytes allow it; read-only if the file is.
        return blocks.reshape(-1).view(np.float32) if blocks.flags.c_contiguous else \
            np.ascontiguousarray(blocks).reshape(-1).view(np.float32)

    @classmethod
    def _quantize(cls, x):
        return x.reshape(-1, 1).view(np.uint8).copy()


class F16(_Quant):
    name, ggml_type, block_size, type_size = "F16", 1, 1, 2

    @classmethod
    def _dequantize(cls, blocks):
        return np.ascontiguousarray(blocks).reshape(-1).view(np.float16).astype(np.float32)

    @classmethod
    def _quantize(cls, x):
        return x.astype(np.float16).reshape(-1, 1).view(np.uint8).copy()  # round-to-nearest-even, as ggml


class BF16(_Quant):
    name, ggml_type, block_size, type_size = "BF16", 30, 1, 2

    @classmethod
    def _dequantize(cls, blocks):
        hi = np.ascontiguousarray(blocks).reshape(-1).view(np.uint16).astype(np.uint32)
        return (hi << np.uint32(16)).view(np.float32)

    @classmethod
    def _quantize(cls, x):
        # ggml_compute_fp32_to_bf16: NaN -> quiet NaN, else round to nearest even.
        u = x.reshape(-1).view(np.uint32).astype(np.uint64)
        rounded = (u + (0x7FFF + ((u >> np.uint64(16)) & np.uint64(1)))) >> np.uint64(16)
        nan = (u & 0x7FFFFFFF) > 0x7F800000
        bits = np.where(nan, (u >> np.uint64(16)) | np.uint64(64), rounded)
        return bits.astype(np.uint16).reshape(-1, 1).view(np.uint8).copy()


class Q4_0(_Quant):
    name, ggml_type, block_size, type_size = "Q4_0", 2, 32, 18

    @classmethod
    def _dequantize(cls, blocks):
        x = _nibbles(blocks, 2).astype(np.float32)                 # (n, 32)
        x -= np.float32(8)                                          # in place: no temporaries (faster)
        return _times_rows(x, _f16_scale(blocks, 0))

    @classmethod
    def _quantize(cls, x):
        # The signed value of largest magnitude (first one on ties) maps to -8.
        vmax = np.take_along_axis(x, np.abs(x).argmax(axis=1, keepdims=True), axis=1)
        d = vmax / np.float32(-8)
        q = np.minimum(np.trunc(x * _safe_inverse(d) + np.float32(8.5)), 15).astype(np.uint8)
        return np.concatenate([d.astype(np.float16).view(np.uint8), _pack_nibbles(q)], axis=1)


class Q4_1(_Quant):
    name, ggml_type, block_size, type_size = "Q4_1", 3, 32, 20

    @classmethod
    def _dequantize(cls, blocks):
        x = _nibbles(blocks, 4).astype(np.float32)                 # (n, 32)
        _times_rows(x, _f16_scale(blocks, 0))                       # x = d * q + m, in place
        return _plus_rows(x, _f16_scale(blocks, 2))

    @classmethod
    def _quantize(cls, x):
        lo = x.min(axis=1, keepdims=True)
        d = (x.max(axis=1, keepdims=True) - lo) / np.float32(15)
        q = np.minimum(np.trunc((x - lo) * _safe_inverse(d) + np.float32(0.5)), 15).astype(np.uint8)
        return np.concatenate([d.astype(np.float16).view(np.uint8),
                               lo.astype(np.float16).view(np.uint8), _pack_nibbles(q)], axis=1)


class Q8_0(_Quant):
    name, ggml_type, block_size, type_size = "Q8_0", 8, 32, 34

    @classmethod
    def _dequantize(cls, blocks):
        q = np.empty((blocks.shape[0], 32), dtype=np.int8)
        q.view("V32")[:, 0] = blocks[:, 2:].view("V32")[:, 0]     # the codes, contiguous
        return _times_rows(q.astype(np.float32), _f16_scale(blocks, 0))

    @classmethod
    def _quantize(cls, x):
        d = np.abs(x).max(axis=1, keepdims=True) / np.float32(127)
        q = _roundf(x * _safe_inverse(d)).astype(np.int8)
        return np.concatenate([d.astype(np.float16).view(np.uint8), q.view(np.uint8)], axis=1)


class Q5_0(_Quant):
    name, ggml_type, block_size, type_size = "Q5_0", 6, 32, 22

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q5_0: x = (q - 16) * d, q = nibble | qh bit << 4 (exact in float32).
        q = _nibbles(blocks, 6)                                                    # (n, 32)
        q |= _fifth_bits(blocks, 2)
        x = q.astype(np.float32)
        x -= np.float32(16)                                                        # in place (faster)
        return _times_rows(x, _f16_scale(blocks, 0))

    @classmethod
    def _quantize(cls, x):
        # quantize_row_q5_0_ref: as Q4_0 with 5 bits -- the signed value of largest magnitude
        # maps to -16, codes are (int8_t)(x / d + 16.5) capped at 31; bit 4 goes to qh.
        vmax = np.take_along_axis(x, np.abs(x).argmax(axis=1, keepdims=True), axis=1)
        d = vmax / np.float32(-16)
        q = np.minimum(np.trunc(x * _safe_inverse(d) + np.float32(16.5)), 31).astype(np.uint8)
        return np.concatenate([d.astype(np.float16).view(np.uint8), _pack_high_bits(q),
                               _pack_nibbles(q & np.uint8(15))], axis=1)


class Q5_1(_Quant):
    name, ggml_type, block_size, type_size = "Q5_1", 7, 32, 24

    @classmethod
    def _dequantize(cls, blocks):
        # dequantize_row_q5_1: x = d * q + m, the product rounded before the sum.
        q = _nibbles(blocks, 8)                                                    # (n, 32)
        q |= _fifth_bits(blocks, 4)
        x = q.astype(np.float32)
        _times_rows(x, _f16_scale(blocks, 0))                                      # in place (faster)
        return _plus_rows(x, _f16_scale(blocks, 2))

    @classmethod
    def _quantize(cls, x):
        # quantize_row_q5_1_ref: as Q4_1 with 5 bits, d = (max - min) / 31, codes
        # (uint8_t)((x - min) / d + 0.5) capped at 31.
        lo = x.min(axis=1, keepdims=True)
        d = (x.max(axis=1, keepdims=True) - lo) / np.float32(31)
        q = np.minimum(np.trunc((x - lo) * _safe_inverse(d) + np.float32(0.5)), 31).astype(np.uint8)
        return np.concatenate([d.astype(np.float16).view(np.uint8), lo.astype(np.float16).view(np.uint8),
                               _pack_high_bits(q), _pack_nibbles(q & np.uint8(15))], axis=1)


# The types webinfer can quantize and dequantize, by ggml type id.
# kquants.py subclasses _Quant, so it is imported once everything above exists. (Importing
# kquants first also works: the package's __init__ imports this module before it.)
from .kquants import IQ4_NL, IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K  # noqa: E402

# The types webinfer can quantize and dequantize, by ggml type id.
QUANT_TYPES: dict[int, type[_Quant]] = {q.ggml_type: q for q in (
    F32, F16, Q4_0, Q4_1, Q8_0, BF16, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)}
QUANT_BY_NAME: dict[str, type[_Quant]] = {q.name: q for q in QUANT_TYPES.values()}

# The types webinfer can dequantize (a superset of QUANT_TYPES), by ggml type id.
DEQUANT_TYPES: dict[int, type[_Quant]] = dict(QUANT_TYPES)


def supported_names(types: dict[int, type[_Quant]] = QUANT_TYPES) -> str:
    """'F32, F16, Q4_0, Q4_1, Q8_0, BF16' (or the names in ``types``) -- for error messages."""
    return ", ".join(q.name for q in types.values())
