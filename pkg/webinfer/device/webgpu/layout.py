"""Weights in their on-GPU layout: ggml blocks, each padded to whole u32 words.

See shaders/quant.wgsl for the layout and why: Q4_1 goes up exactly as in the file, Q4_0 and
Q8_0 get 2 zero bytes after their f16 scale (18 -> 20, 34 -> 36 bytes), F16/F32 rows are
zero-padded to a multiple of 32 values. Types without a WGSL decoder (BF16, K-quants, ...)
are dequantized to F32 here, and the reason is returned so the device can report it.

Not here: the quant formats themselves (formats.quants) or any GPU call.
"""

from __future__ import annotations

import numpy as np

from ...weights import QWeight

# The weight types the shaders decode, one row each: (name, ggml type id, u32 words of a block of
# 32 weights as uploaded). The fused step numbers them in this order (fused_layout.QTYPES).
# A new type: its row here, its upload in gpu_blocks if its blocks are not word-aligned, and its
# WGSL decoders (quant.wgsl's dq8_<type>; fused_matvec.wgsl's rd_<type>).
GPU_QUANTS = (("Q4_0", 2, 5), ("Q4_1", 3, 5), ("Q8_0", 8, 9), ("F16", 1, 16), ("F32", 0, 32))
GPU_TYPES = {ggml: name for name, ggml, _ in GPU_QUANTS}           # ggml type id -> name
BLOCK_WORDS = {name: words for name, _, words in GPU_QUANTS}       # name -> words a block


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
    elif name == "Q4_1":
        data = np.ascontiguousarray(w.raw)
    else:   # Q4_0 / Q8_0: widen the 2-byte scale to a word
        tsize = 18 if name == "Q4_0" else 34
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
