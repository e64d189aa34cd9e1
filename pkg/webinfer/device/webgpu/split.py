"""Weights over the adapter's binding limit: uploaded as row chunks, run as one dispatch per chunk.

WebGPU binds at most ``maxStorageBufferBindingSize`` bytes of a buffer to one shader binding
(128 MiB by default, less on some mobile GPUs). A weight whose on-GPU blocks exceed it is cut
into consecutive row ranges that each fit; ops on it then run chunk by chunk:

    linear         each chunk's projection (the ordinary kernels), copied into its columns
                   of the (n, rows) output: one copy for a single token, one per token otherwise
    linear_swiglu  linear over the stacked gate/up rows, then elementwise.wgsl SWIGLU
    linear_gelu    linear, then elementwise.wgsl GELU
    embed          embed.wgsl per chunk; a chunk writes only the tokens in its row range

The fused epilogues (norm, residual, RoPE) are not used on split weights: correct first; a
split weight is rare (it needs a tensor of more than 128 MiB, or a small-limit adapter) and
says so in ``device.notes``. A single row over the limit cannot be split: DeviceError.

Not here: the kernels (shaders/), the fused fast path (device.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DeviceError
from ...weights import QWeight


@dataclass(eq=False)
class GSplitWeight:
    parts: list       # GWeight per chunk, consecutive row ranges
    starts: list      # first row of each chunk
    qtype: str
    rows: int
    cols: int


def binding_limit(gpu) -> int:
    return min(gpu.limits["max_storage_buffer_binding_size"], gpu.limits["max_buffer_size"])


def rows_per_chunk(name: str, row_bytes: int, limit: int) -> int:
    """Rows of `row_bytes` on the GPU that one chunk of at most `limit` bytes holds (at least 1)."""
    per = limit // row_bytes
    if per < 1:
        raise DeviceError(f"{name}: one row needs {row_bytes} bytes on the GPU, over this adapter's "
                          f"storage binding limit of {limit} bytes (maxStorageBufferBindingSize)")
    return per


def row_chunks(w: QWeight, row_bytes: int, limit: int) -> list[QWeight]:
    """w as consecutive row ranges of at most `limit` bytes on the GPU each."""
    per = rows_per_chunk(w.name, row_bytes, limit)
    return [QWeight(f"{w.name}[{a}:{min(a + per, w.rows)}]", w.ggml_type, w.raw[a:a + per],
                    min(per, w.rows - a), w.cols, None if w.bias is None else w.bias[a:a + per])
            for a in range(0, w.rows, per)]


def linear(gpu, x, sw: GSplitWeight, project):
    """x (n, cols) @ W^T chunk by chunk; project(x, part) runs one chunk's (n, part.rows)."""
    out = gpu.tensor(x.n, sw.rows)
    for part, start in zip(sw.parts, sw.starts):
        y = project(x, part)                                      # (n, part.rows)
        if x.n == 1:
            gpu.copy(y.buf, y.offset, out.buf, out.offset + 4 * start, 4 * part.rows)
        else:
            for t in range(x.n):
                gpu.copy(y.buf, y.offset + 4 * t * part.rows, out.buf, out.offset + 4 * (t * sw.rows + start),
                         4 * part.rows)
    return out


def swiglu(gpu, gu, geglu: bool = False):
    """silu(g) * u (geglu: gelu_tanh(g) * u) of a (n, 2 h) gate|up activation -> (n, h)."""
    h = gu.width // 2
    y = gpu.tensor(gu.n, h)
    n = gu.n * h
    grid = gpu.grid(-(-n // 256))
    gpu.dispatch("elementwise.wgsl", {"SWIGLU", "GEGLU"} if geglu else {"SWIGLU"},
                 {0: gpu.uniform(n, grid[0], h, 0), 3: gu, 4: y}, grid)
    return y


def gelu(gpu, x, erf=False):
    """gelu(x) of a (n, h) activation (a projection that could not take the GELU epilogue); erf's form with erf."""
    y = gpu.tensor(x.n, x.width)
    n = x.n * x.width
    grid = gpu.grid(-(-n // 256))
    gpu.dispatch("elementwise.wgsl", {"GELU", "ERF"} if erf else {"GELU"},
                 {0: gpu.uniform(n, grid[0], 0, 0), 3: x, 4: y}, grid)
    return y


def embed(gpu, sw: GSplitWeight, tok, defines=frozenset(), extra_b=None):
    """Rows of a split table for the u32 ids in tok (n, 1): each chunk fills its own ids (and,
    with POS, adds their positions' rows: extra_b binds the step and the table)."""
    y = gpu.tensor(tok.n, sw.cols)
    for part, start in zip(sw.parts, sw.starts):
        gpu.dispatch("embed.wgsl", {sw.qtype} | set(defines), {
            0: gpu.uniform(part.row_words, part.cols, part.rows, start, 1, 0, 0, 0), 2: part.buf, 3: tok, 4: y,
            **(extra_b or {})}, (tok.n, 1, 1))
    return y


def split_note(w: QWeight, nbytes: int, limit: int, n_parts: int) -> str:
    return (f"{w.name}: {nbytes / 2**20:.2f} MiB on the GPU is over the {limit / 2**20:.2f} MiB storage binding "
            f"limit: split into {n_parts} row chunks (unfused kernels for this weight)")


def starts_of(parts) -> list[int]:
    return [int(s) for s in np.cumsum([0] + [p.rows for p in parts[:-1]])]
