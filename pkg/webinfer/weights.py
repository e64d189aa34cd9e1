"""QWeight: one weight matrix as it sits in the GGUF file, still quantized, plus a bias.

The loader builds these; each device decides what to do with them (the numpy device
dequantizes to float32 within a memory budget and keeps the rest quantized, device/qmat.py; the
webgpu device uploads the raw blocks). Fusing the q/k/v
and gate/up projections into one matrix happens here, on the raw blocks, so every device
gets the fewer, larger matmuls.

Not here: reading files (formats.gguf) or the block formats themselves (formats.quants).
"""

from __future__ import annotations

import numpy as np

from .formats.quants import DEQUANT_TYPES


class QWeight:
    """name, ggml type, raw blocks uint8 (rows, row_bytes) (each row is cols / block_size blocks),
    rows (output features), cols (input features), bias float32 (rows,) or None."""

    def __init__(self, name: str, ggml_type: int, raw: np.ndarray | None, rows: int, cols: int,
                 bias: np.ndarray | None = None, parts: list | None = None, part_types: list | None = None,
                 part_names: list | None = None):
        self.name, self.ggml_type, self.rows, self.cols, self.bias = name, ggml_type, rows, cols, bias
        # The rows as consecutive uint8 arrays and their ggml types: one (the tensor's bytes, a view
        # of the file) or, for a stack, each part's own, so stacking copies nothing until a device
        # asks for `raw`. A stack of mixed types (Q4_K_M's Q6_K attn_v beside Q4_K attn_q) has
        # ggml_type F32: as one matrix it is float32.
        self.row_parts: list = [raw] if parts is None else parts
        self.part_types: list = part_types or [ggml_type] * len(self.row_parts)
        # the file tensor each part's rows are (a streamed load writes each tensor's rows where its part went)
        self.part_names: list = part_names or [name] * len(self.row_parts)

    @property
    def raw(self) -> np.ndarray:
        """uint8 (rows, row_bytes) of ggml_type; a stack's parts are joined here (a copy, each time asked)."""
        if any(t != self.ggml_type for t in self.part_types):
            return np.ascontiguousarray(self.dequantize()).view(np.uint8)
        return self.row_parts[0] if len(self.row_parts) == 1 else np.concatenate(self.row_parts, axis=0)

    def __repr__(self) -> str:
        return f"QWeight({self.name!r}, {self.type_name}, {self.rows}x{self.cols})"

    @property
    def qtype(self):
        return DEQUANT_TYPES[self.ggml_type]

    @property
    def type_name(self) -> str:
        return self.qtype.name

    def dequantize(self) -> np.ndarray:
        """float32 (rows, cols)."""
        out = [DEQUANT_TYPES[t].dequantize(r.reshape(-1, DEQUANT_TYPES[t].type_size)).reshape(-1, self.cols)
               for t, r in zip(self.part_types, self.row_parts)]
        return out[0] if len(out) == 1 else np.concatenate(out)

    @classmethod
    def from_gguf(cls, gf, name: str, bias_name: str | None = None) -> "QWeight":
        info = gf.tensors[name]
        if len(info.shape) == 1:
            rows, cols = 1, info.shape[0]
        else:
            rows, cols = info.shape[0], int(np.prod(info.shape[1:]))
        raw = gf.raw(name).reshape(rows, -1)
        bias = None
        if bias_name is not None and bias_name in gf.tensors:
            bias = gf.dequantize(bias_name).astype(np.float32).reshape(-1)
        return cls(name, info.ggml_type, raw, rows, cols, bias)

    @classmethod
    def stack(cls, name: str, parts: list["QWeight"]) -> "QWeight":
        """Rows of several weights (same input width) as one weight. The raw blocks stay where
        they are (``row_parts``, with their types), nothing is re-quantized or copied."""
        cols = parts[0].cols
        assert all(p.cols == cols for p in parts), [p.cols for p in parts]
        types = [t for p in parts for t in p.part_types]
        t = types[0] if all(x == types[0] for x in types) else 0   # mixed: F32 as one matrix
        if any(p.bias is not None for p in parts):
            bias = np.concatenate([p.bias if p.bias is not None else np.zeros(p.rows, np.float32)
                                   for p in parts])
        else:
            bias = None
        return cls(name, t, None, sum(p.rows for p in parts), cols, bias,
                   parts=[r for p in parts for r in p.row_parts], part_types=types,
                   part_names=[n for p in parts for n in p.part_names])
