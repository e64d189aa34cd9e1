"""QMat: a weight the NumPy device keeps as the file's blocks, dequantized a tile at a time.

A float32 copy of every weight is the fastest layout on a CPU (one sgemm/sgemv a product), but it
is 3.6-7x the size of a 4-bit file: a 1B-parameter model needs ~5 GB, past Pyodide's 4 GB wasm32
heap. The NumPy device therefore expands weights to float32 only up to a memory budget
(numpy_device.F32_BUDGET) and keeps the others quantized here. A product then walks the rows in
tiles of about TILE_BYTES of float32: dequantize the tile (blas.dequantize: the wasm SIMD kernel
in Pyodide where it has one for the type, else the type's vectorised NumPy dequantizer), multiply
(blas.matmul_t), write its columns of the output. The tile stays in the CPU cache between the two,
so memory holds the blocks (the file's own bytes, no copy) plus one tile.

Rows of stacked weights (q/k/v, gate/up) stay in their parts, each of its own type (Q4_K_M gives
attn_v Q6_K beside attn_q's Q4_K): stacking them would copy the blocks, or expand a mixed stack.
A recorded decode step (numpy_step) runs the same tile loop from JS: per tile, the dq kernel into a
scratch tile, then mv into the tile's columns of the output, so it gives matmul_t's bits.

Not here: the choice of which weights stay quantized (numpy_device), the block formats
(formats/quants.py, formats/kquants.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..formats.quants import DEQUANT_TYPES
from ..weights import QWeight
from . import blas

TILE_BYTES = 256 * 1024   # float32 bytes of one dequantized tile: well inside a core's L2


@dataclass(eq=False)
class QMat:
    parts: list               # (formats.quants class, uint8 (rows_i, row_bytes_i) blocks): consecutive row ranges
    rows: int
    cols: int

    @classmethod
    def of(cls, w: QWeight) -> "QMat":
        return cls([(DEQUANT_TYPES[t], np.ascontiguousarray(r)) for t, r in zip(w.part_types, w.row_parts)],
                   w.rows, w.cols)

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for _, r in self.parts)

    @property
    def tile_rows(self) -> int:
        return max(1, TILE_BYTES // (4 * self.cols))

    def tiles(self):
        """(first row, type, uint8 blocks of the tile's rows) for every tile, in row order."""
        start, step = 0, self.tile_rows
        for qtype, part in self.parts:
            for a in range(0, part.shape[0], step):
                yield start + a, qtype, part[a:a + step]
            start += part.shape[0]

    def dequantize_rows(self, qtype, raw: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """float32 (len(raw), cols) of uint8 block rows `raw` of `qtype`: into `out` (where given)
        by the wasm kernel, else the NumPy dequantizer's own new array (copying that into `out`
        would add a tenth to the tile's time)."""
        target = np.empty((raw.shape[0], self.cols), np.float32) if out is None else out
        if blas.dequantize(qtype.name, raw, target):
            return target
        return qtype.dequantize(raw.reshape(-1, qtype.type_size)).reshape(raw.shape[0], self.cols)

    def matmul_t(self, x: np.ndarray) -> np.ndarray:
        """x (n, cols) @ W^T -> (n, rows) float32, a tile of W at a time."""
        y = np.empty((x.shape[0], self.rows), np.float32)
        scratch = np.empty((self.tile_rows, self.cols), np.float32)
        for r, qtype, raw in self.tiles():
            tile = self.dequantize_rows(qtype, raw, scratch[:raw.shape[0]])
            y[:, r:r + raw.shape[0]] = blas.matmul_t(x, tile)
        return y

    def take(self, ids) -> np.ndarray:
        """float32 rows `ids` of W (the embedding lookup): only those rows are dequantized."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.rows):
            raise IndexError(f"row {int(ids.max() if ids.max() >= self.rows else ids.min())} is outside 0..{self.rows - 1}")
        out = np.empty((ids.size, self.cols), np.float32)
        start = 0
        for qtype, part in self.parts:
            sel = np.flatnonzero((ids >= start) & (ids < start + part.shape[0]))
            if sel.size:
                out[sel] = self.dequantize_rows(qtype, part[ids[sel] - start])
            start += part.shape[0]
        return out

    def dequantize(self) -> np.ndarray:
        """The whole matrix as float32 (rows, cols): for inspection, not for the ops."""
        return np.concatenate([self.dequantize_rows(q, r) for q, r in self.parts])
