"""Weights whose bytes are still on their way (webinfer.stream): buffers first, rows as they pass.

A streamed load runs a network's ``load()`` twice. In the planning run ``Uploads.allocate``
gives each weight the buffers ``WebGPUDevice.weight`` would give it (the same layout, split the
same way past the binding limit: layout.py, split.py) and notes, per file tensor, which of its
rows land where (``Slot``). While the file streams past, ``write_rows`` puts each run of whole
rows into place with queue.writeBuffer at its offset, in the layout ``gpu_blocks`` gives those
rows (a part of a stack of mixed types as float32 rows, as ``QWeight.raw`` makes the whole
stack). In the real run, once the file has passed, the device's ``weight()`` hands the same
buffers back (``take``), with the biases, which only that run knows, written into them.

Not here: reading the stream (webinfer.stream), the layout itself (layout.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...weights import QWeight
from . import split
from .layout import BLOCK_WEIGHTS, BLOCK_WORDS, GPU_TYPES, _pad_rows, gpu_blocks


@dataclass(eq=False)
class Slot:
    """Rows first .. first + rows of file tensor `tensor`, at byte `offset` of `buf`."""
    tensor: str
    first: int
    rows: int
    ggml_type: int    # the tensor's type in the file
    cols: int
    qtype: str        # the layout of buf (the weight's: gpu_blocks' type define)
    buf: object
    offset: int
    row_bytes: int    # bytes of one row in buf


class Uploads:
    """The buffers of one streamed load: made (allocate), filled (write_rows), handed over (take)."""

    def __init__(self, dev):
        self.dev = dev
        self.slots: dict[str, list[Slot]] = {}    # file tensor -> where its rows go
        self._made: dict[str, list] = {}           # weight name -> its handles, in the order made
        self._buffers: list = []

    def allocate(self, w: QWeight):
        """GWeight (or GSplitWeight) buffers for w, zero-filled; w's rows need not be in memory
        (only their shapes, types and tensor names are read)."""
        from .device import GWeight
        qtype = GPU_TYPES.get(w.ggml_type)
        if qtype is None:
            self.dev.notes.append(f"{w.name}: {w.type_name} has no WGSL decoder, uploaded as F32")
            qtype = "F32"
        row_words = -(-w.cols // BLOCK_WEIGHTS[qtype]) * BLOCK_WORDS[qtype]
        row_bytes, limit = 4 * row_words, split.binding_limit(self.dev.gpu)
        nbytes = w.rows * row_bytes
        per = split.rows_per_chunk(w.name, row_bytes, limit) if nbytes > limit else w.rows
        parts, chunks = [], [(a, min(a + per, w.rows)) for a in range(0, w.rows, per)]
        for a, b in chunks:
            name = w.name if len(chunks) == 1 else f"{w.name}[{a}:{b}]"
            buf = self._zeros((b - a) * row_bytes, f"{name} ({qtype}, {b - a}x{w.cols})")
            bias = self._zeros(4 * (b - a), name + ".bias") if w.bias is not None else None
            parts.append(GWeight(buf, qtype, b - a, w.cols, row_words, bias))
        start = 0                                  # the first row of each part in the stack
        for tensor, t, rows in zip(w.part_names, w.part_types, (p.shape[0] for p in w.row_parts)):
            for (a, b), g in zip(chunks, parts):
                lo, hi = max(a, start), min(b, start + rows)
                if lo < hi:
                    self.slots.setdefault(tensor, []).append(
                        Slot(tensor, lo - start, hi - lo, t, w.cols, qtype, g.buf, (lo - a) * row_bytes, row_bytes))
            start += rows
        if len(parts) == 1:
            handle = parts[0]
        else:
            self.dev.notes.append(split.split_note(w, nbytes, limit, len(parts)))
            handle = split.GSplitWeight(parts, split.starts_of(parts), qtype, w.rows, w.cols)
        self._made.setdefault(w.name, []).append(handle)
        return handle

    def write_rows(self, tensor: str, first: int, raw: np.ndarray) -> None:
        """raw: uint8 (n, row bytes in the file), rows first .. first + n of `tensor`, to every slot
        that holds some of them."""
        for s in self.slots.get(tensor, ()):
            lo, hi = max(first, s.first), min(first + raw.shape[0], s.first + s.rows)
            if lo >= hi:
                continue
            q = QWeight(tensor, s.ggml_type, raw[lo - first:hi - first], hi - lo, s.cols)
            qtype, data, _, _ = gpu_blocks(q)
            if qtype != s.qtype:             # a part of a mixed-type stack: float32 rows
                data = _pad_rows(q.dequantize().astype(np.float32), 32).view(np.uint8)
            self.dev.adapter.write_buffer(s.buf, s.offset + (lo - s.first) * s.row_bytes, data)

    def take(self, w: QWeight):
        """The handle allocate() made for the weight of w's name (the n-th of that name for the n-th
        call), its bias buffers now given w's bias."""
        made = self._made.get(w.name)
        if not made:
            raise AssertionError(f"{w.name}: the streamed load's second run asks for a weight the first did not")
        handle = made.pop(0)
        if w.bias is not None:
            parts = handle.parts if isinstance(handle, split.GSplitWeight) else [handle]
            starts = handle.starts if isinstance(handle, split.GSplitWeight) else [0]
            for g, a in zip(parts, starts):
                self.dev.adapter.write_buffer(g.bias, 0, np.ascontiguousarray(w.bias[a:a + g.rows], np.float32))
        return handle

    def destroy(self) -> None:
        """Free every buffer made here (a load that failed leaves nothing behind on the GPU)."""
        for buf in self._buffers:
            try:
                self.dev.adapter.destroy_buffer(buf)
            except Exception:  # noqa: BLE001 - a lost device has freed them; the load's own error is what counts
                pass
        self._buffers, self.slots, self._made = [], {}, {}

    def _zeros(self, nbytes: int, what: str):
        buf = self.dev.gpu.zeros(nbytes, what)
        self._buffers.append(buf)
        return buf
