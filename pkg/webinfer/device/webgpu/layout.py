"""Weights in their on-GPU layout: ggml blocks, each padded to whole u32 words.

See shaders/quant.wgsl for the layout and why: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K and IQ4_XS go up
exactly as in the file, Q4_0, Q5_0, Q8_0 and IQ4_NL get 2 zero bytes after their f16 scale
(18 -> 20, 22 -> 24, 34 -> 36, 18 -> 20 bytes), Q3_K and Q6_K 2 zero bytes after each block
(110 -> 112, 210 -> 212: the next block then starts on a word, and its fields, the trailing
f16 d included, already do; 216 would add nothing for Q6_K, as the shaders load single words),
F16/F32 rows are zero-padded to a multiple of 32 values. Types without a WGSL decoder (BF16,
...) are dequantized to F32 here, and the reason is returned so the device can report it.

Not here: the quant formats themselves (formats.quants) or any GPU call.
"""

from __future__ import annotations

import numpy as np

from ...weights import QWeight

# The weight types the shaders decode, one row each: (name, ggml type id, u32 words of a block as
# uploaded, weights a block: 32, or 256 for a K-quant super-block). A new type: its row here, its
# upload in gpu_blocks if its blocks are not word-aligned, quant.wgsl's dq8_<type> with its
# BLOCK_WORDS and GROUPS_PER_BLOCK (weights a block / 8), and its path in the fused step
# (fused_layout.py's docstring: until then tests/unit/test_fused_layout.py fails).
GPU_QUANTS = (("Q4_0", 2, 5, 32), ("Q4_1", 3, 5, 32), ("Q8_0", 8, 9, 32), ("F16", 1, 16, 32), ("F32", 0, 32, 32),
              ("Q5_0", 6, 6, 32), ("Q5_1", 7, 6, 32), ("Q4_K", 12, 36, 256), ("Q5_K", 13, 44, 256),
              ("Q6_K", 14, 53, 256), ("IQ4_NL", 20, 5, 32), ("IQ4_XS", 23, 34, 256), ("Q2_K", 10, 21, 256),
              ("Q3_K", 11, 28, 256))
GPU_TYPES = {ggml: name for name, ggml, _, _ in GPU_QUANTS}        # ggml type id -> name
BLOCK_WORDS = {name: words for name, _, words, _ in GPU_QUANTS}    # name -> words a block
BLOCK_WEIGHTS = {name: n for name, _, _, n in GPU_QUANTS}          # name -> weights a block
# The types the fused decode step (decode_fused.wgsl) decodes, in its numbering
# (fused_layout.QTYPES): every type above (a weight of a type without a decoder is uploaded as
# F32). The 32-weight types but F32 take its batched path (fused_matvec.wgsl's raw_group and
# rd_<type>); F32 and the 256-weight types are decoded a group of 8 at a time (dq8_<type>).
FUSED_QUANTS = tuple(name for name, _, _, _ in GPU_QUANTS)


def gpu_blocks(w: QWeight) -> tuple[str, np.ndarray, int, str | None]:
    """(type define, uint8 (rows, row_words * 4) array, row_words, fallback note or None)."""
    name = GPU_TYPES.get(w.ggml_type)
    note = None
    if name is None:
        note = f"{w.name}: {w.type_name} has no WGSL decoder, uploaded as F32"
        name, data = "F32", _pad_rows(w.dequantize().astype(np.float32), 32)
    elif name in ("F32", "F16"):
        dt = np.float32 if name == "F32" else np.float16
        data = _pad_rows(np.ascontiguousarray(w.raw).view(dt).reshape(w.rows, w.cols), 32)
    elif name in ("Q4_1", "Q5_1", "Q2_K", "Q4_K", "Q5_K", "IQ4_XS"):
        data = np.ascontiguousarray(w.raw)
    elif name in ("Q3_K", "Q6_K"):    # 2 zero bytes after each block
        tsize = 110 if name == "Q3_K" else 210
        blocks = w.raw.reshape(w.rows, -1, tsize)
        data = np.zeros((w.rows, blocks.shape[1], tsize + 2), np.uint8)
        data[:, :, :tsize] = blocks
    else:   # Q4_0 / Q5_0 / Q8_0 / IQ4_NL: widen the 2-byte scale to a word
        tsize = {"Q4_0": 18, "Q5_0": 22, "Q8_0": 34, "IQ4_NL": 18}[name]
        blocks = w.raw.reshape(w.rows, -1, tsize)
        out = np.zeros((w.rows, blocks.shape[1], tsize + 2), np.uint8)
        out[:, :, :2] = blocks[:, :, :2]
        out[:, :, 4:] = blocks[:, :, 2:]
        data = out
    data = data.reshape(w.rows, -1).view(np.uint8)
    row_words = data.shape[1] // 4
    assert row_words % BLOCK_WORDS[name] == 0, (name, row_words)
    return name, data, row_words, note


def _pad_rows(a: np.ndarray, multiple: int) -> np.ndarray:
    pad = -a.shape[1] % multiple
    if pad:
        a = np.concatenate([a, np.zeros((a.shape[0], pad), a.dtype)], axis=1)
    return np.ascontiguousarray(a)
