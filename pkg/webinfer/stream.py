"""Loading a GGUF as its bytes arrive: on WebGPU the weights go to the GPU a run of rows at a time.

    model = await webinfer.load_async(open("model.gguf", "rb"), device="webgpu")
    model = await webinfer.load_async(webinfer.ByteStream(chunks, size), device="webgpu")

``load_stream`` reads the file once, front to back, and never holds it whole: first the header
(the metadata with the vocabulary, and the tensor table: a few MB), then each tensor as it
passes. A tensor the network reads on the host (norms, biases: ``dequantize``) is kept; a weight
goes straight to its GPU buffer, a run of whole rows per chunk (device/webgpu/streamed.py), so
besides the header and those small tensors, memory holds the chunk in hand and, for a weight
that a chunk boundary cuts, less than one of its rows.

The network's load() does not know: it runs twice. First over placeholders (``_Streamed`` while
planning: a weight is its shape, a host tensor ones) with a device that only makes each
weight's buffers (``_Planner``): that says which tensor goes where. Then the file streams past.
Then load() runs for real, the host tensors read, and the device hands each weight the buffers
made for it in the first run.

On NumPy the weights are computed from the file's bytes in memory: the stream is read into one
buffer and loaded as ``webinfer.load`` loads bytes.

A stream that ends early (or runs past its size) is a GGUFError naming where; that, or any
other failure (a GPU's is a DeviceError), frees every buffer made for the load, and no model is
returned. A streamed model keeps no copy of its file (``Model.gguf`` is None): a GPU that fails
later cannot rebuild it on NumPy from memory, so the caller reads the file again (the chat
page: from Cache Storage or the File, site/py/worker.py).

Not here: parsing (formats.gguf), the buffers (device/webgpu/streamed.py).
"""

from __future__ import annotations

import numpy as np

from .config import ModelConfig
from .errors import DeviceError, GGUFError, UnsupportedModelError
from .formats.gguf import _check_scales, read_gguf_header
from .formats.quants import DEQUANT_TYPES, GGML_BLOCK_SIZES, supported_names, type_label
from .models import network
from .tokenizer import Tokenizer

HEAD_FIRST = 1 << 20     # the header is parsed once this much has arrived, again at every doubling
READ_CHUNK = 1 << 20     # bytes a file object is read in (file_stream)


class ByteStream:
    """A model file as it arrives: `chunks`, an async iterable of bytes-like pieces in file order
    (each is used before the next is asked for, so a reader may reuse its buffer), and `size`,
    the whole file's bytes (Content-Length, File.size), needed up front to check the header."""

    def __init__(self, chunks, size: int):
        self.chunks, self.size = chunks, int(size)

    def __aiter__(self):
        return self.chunks.__aiter__()


def file_stream(f, size: int | None = None, chunk: int = READ_CHUNK) -> ByteStream:
    """A binary file object (open(path, "rb"), io.BytesIO) from where it stands, read `chunk` bytes
    at a time into one buffer."""
    if size is None:                       # what is left of a seekable file (a real one, io.BytesIO)
        here = f.tell()
        size = f.seek(0, 2) - here
        f.seek(here)

    async def chunks():
        buf = bytearray(chunk)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                return
            yield view[:n]
    return ByteStream(chunks(), size)


def as_stream(source) -> ByteStream | None:
    """source as a ByteStream: one already, or a binary file object; None for anything else (a
    path, bytes, a URL: webinfer.load's sources)."""
    if isinstance(source, ByteStream):
        return source
    if hasattr(source, "readinto"):
        return file_stream(source)
    return None


async def load_stream(stream: ByteStream, device, n_ctx: int | None = None, progress=None, fall_back: bool = False):
    """The model in `stream` on `device` (a Device object). progress(stage, done, total): ("read",
    bytes so far, file size) as the file passes. fall_back (device "auto"): a GPU that cannot hold
    the weights (a row over its binding limit, or no memory for the buffers: found once they are
    made, before any weight has been read) means NumPy, the rest of the stream read into memory; a
    GPU that fails later raises, the stream spent (read the file again)."""
    from .model import Model, load
    size = stream.size
    if size <= 0:
        raise GGUFError("a streamed GGUF needs its size up front (the header's tensor table is checked against it)")
    it = stream.__aiter__()
    head, (metadata, tensors) = await _read_header(it, size)
    if device.name != "webgpu":
        data = await _read_all(it, head, size, progress)
        del head
        return load(data, device=device, n_ctx=n_ctx, progress=progress)
    from .device.webgpu.streamed import Uploads
    cfg = ModelConfig.from_gguf(metadata, tensors.keys())
    tokenizer = Tokenizer.from_metadata(metadata)
    gf, uploads = _Streamed(metadata, tensors), Uploads(device)
    try:
        network(cfg).load(gf, cfg, _Planner(uploads))       # which tensor goes where; the weights' buffers
        await device.check_errors()     # a GPU without the memory for them says so now, before the download
    except BaseException as e:
        uploads.destroy()
        if not (fall_back and isinstance(e, DeviceError)):
            raise
        from .device.numpy_device import NumpyDevice
        data = await _read_all(it, head, size, progress)
        del head
        return load(data, device=NumpyDevice(f"WebGPU cannot hold this model ({e})"), n_ctx=n_ctx, progress=progress)
    try:
        pump = _Pump(gf, uploads, size)
        pump.feed(head)
        del head
        while True:
            chunk = await _next(it)
            if chunk is None:
                break
            pump.feed(chunk)
            if progress:
                progress("read", pump.pos, size)
        pump.finish()
        gf.planning = False
        device.streamed = uploads
        net = network(cfg).load(gf, cfg, device)
        device.streamed = None
        model = Model(cfg, tokenizer, device, net, metadata, n_ctx, gguf=None)
        await device.check_errors()
        return model
    except BaseException:
        device.streamed = None
        uploads.destroy()
        raise


async def _next(it):
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return None


async def _read_header(it, size: int):
    """(the bytes read so far, read_gguf_header's (metadata, tensors)): chunks until the header parses."""
    head, want = bytearray(), min(HEAD_FIRST, size)
    while True:
        chunk = await _next(it)
        if chunk is not None:
            head += chunk
        if chunk is None or len(head) >= want:
            parsed = read_gguf_header(head, size)     # a file that is not a GGUF raises here
            if parsed is not None:
                return head, parsed
            if chunk is None:
                raise GGUFError(f"the file ended after {len(head)} of {size} bytes, inside its header "
                                f"(metadata and tensor table): truncated")
            want *= 2


async def _read_all(it, head: bytearray, size: int, progress) -> bytearray:
    """The whole file in one buffer (the NumPy device reads the weights from it)."""
    buf = bytearray(size)
    pos = min(len(head), size)
    buf[:pos] = head[:pos]
    if len(head) > size:
        raise GGUFError(f"the stream is longer than the file's size ({size} bytes)")
    while pos < size:
        chunk = await _next(it)
        if chunk is None:
            raise GGUFError(f"the file ended after {pos} of {size} bytes: truncated")
        n = len(chunk)
        if pos + n > size:
            raise GGUFError(f"the stream is longer than the file's size ({size} bytes)")
        buf[pos:pos + n] = chunk
        pos += n
        if progress:
            progress("read", pos, size)
    if await _next(it) is not None:
        raise GGUFError(f"the stream is longer than the file's size ({size} bytes)")
    return buf


class _Planner:
    """The device a network's planning load() sees: each weight gets its buffers, nothing else happens."""
    name = "webgpu"

    def __init__(self, uploads):
        self.uploads = uploads

    def plan_weights(self, f32_bytes: int) -> None:
        pass

    def weight(self, w):
        return self.uploads.allocate(w)

    def vector(self, v):
        return None


class _Streamed:
    """What a network's load() reads of a GGUFFile (metadata, tensors, raw, dequantize), for a file
    that streams past. raw() is a placeholder of the tensor's block shape that takes no memory (the
    bytes go to the GPU; the device's weight() reads only shapes). dequantize() gives ones while
    planning, and notes the name (such a tensor is kept when it passes), then its values."""

    def __init__(self, metadata: dict, tensors: dict):
        self.metadata, self.tensors = metadata, tensors
        self.planning = True
        self.host: dict[str, np.ndarray | None] = {}    # host tensors -> their bytes, once they passed

    def tensor(self, name: str):
        info = self.tensors.get(name)
        if info is None:
            raise GGUFError(f"no tensor named {name!r} in this file ({len(self.tensors)} tensors)")
        if info.ggml_type not in DEQUANT_TYPES:
            raise UnsupportedModelError(
                f"tensor {name} has type {type_label(info.ggml_type)}, which webinfer does not "
                f"support (supported: {supported_names(DEQUANT_TYPES)})")
        return info

    def raw(self, name: str) -> np.ndarray:
        return np.broadcast_to(np.zeros(1, np.uint8), self.tensor(name).block_shape)

    def dequantize(self, name: str) -> np.ndarray:
        info = self.tensor(name)
        if self.planning:
            self.host[name] = None
            return np.ones(info.shape, np.float32)
        blocks = self.host[name].reshape(info.block_shape)
        return DEQUANT_TYPES[info.ggml_type].dequantize(blocks).reshape(info.shape)


class _Pump:
    """Hands each chunk's bytes to the tensors they belong to, in file order: a host tensor's into
    its buffer, a weight's as whole rows to the GPU (the part of a row before a chunk's end waits in
    `carry` for the rest)."""

    def __init__(self, gf: _Streamed, uploads, size: int):
        self.gf, self.uploads, self.size = gf, uploads, size
        wanted = set(gf.host) | set(uploads.slots)
        self.order = sorted((gf.tensors[n] for n in wanted), key=lambda t: t.offset)
        self.k = 0              # order[k]: the first tensor not yet complete
        self.pos = 0            # file offset of the next byte
        self.carry, self.carry_n = None, 0

    def feed(self, chunk) -> None:
        data = np.frombuffer(chunk, np.uint8)
        pos, end = self.pos, self.pos + data.shape[0]
        if end > self.size:
            raise GGUFError(f"the stream is longer than the file's size ({self.size} bytes)")
        while self.k < len(self.order):
            t = self.order[self.k]
            if t.offset >= end:
                break
            lo, hi = max(pos, t.offset), min(end, t.offset + t.nbytes)
            if lo < hi:
                self._take(t, data[lo - pos:hi - pos], lo - t.offset)
            if t.offset + t.nbytes > end:
                break
            if t.name in self.gf.host:
                blocks = self.gf.host[t.name].reshape(t.block_shape)
                _check_scales(t.name, t.type_name, blocks)
            self.k += 1
        self.pos = end

    def finish(self) -> None:
        if self.pos < self.size:
            what = ""
            if self.k < len(self.order):
                t = self.order[self.k]
                what = f" (tensor {t.name!r}, bytes {t.offset}..{t.offset + t.nbytes}, is incomplete)"
            raise GGUFError(f"the file ended after {self.pos} of {self.size} bytes{what}: truncated")

    def _take(self, t, piece: np.ndarray, at: int) -> None:
        """piece: bytes at..at + len of tensor t."""
        if t.name in self.gf.host:
            if self.gf.host[t.name] is None:
                self.gf.host[t.name] = np.empty(t.nbytes, np.uint8)
            self.gf.host[t.name][at:at + piece.shape[0]] = piece
        if t.name not in self.uploads.slots:
            return
        rb = t.nbytes // (t.shape[0] if len(t.shape) > 1 else 1)     # bytes of a row (QWeight.from_gguf's rows)
        if self.carry_n:                                           # finish the row the last chunk cut
            row, n = at // rb, min(rb - self.carry_n, piece.shape[0])
            self.carry[self.carry_n:self.carry_n + n] = piece[:n]
            self.carry_n += n
            piece, at = piece[n:], at + n
            if self.carry_n < rb:
                return
            self._rows(t, row, self.carry.reshape(1, rb))
            self.carry_n = 0
        n_rows = piece.shape[0] // rb
        if n_rows:
            self._rows(t, at // rb, piece[:n_rows * rb].reshape(n_rows, rb))
        rest = piece[n_rows * rb:]
        if rest.shape[0]:
            self.carry = np.empty(rb, np.uint8)
            self.carry[:rest.shape[0]] = rest
            self.carry_n = rest.shape[0]

    def _rows(self, t, first: int, raw: np.ndarray) -> None:
        type_size = GGML_BLOCK_SIZES[t.ggml_type][1]
        per_row = raw.shape[1] // type_size
        _check_scales(t.name, t.type_name, raw.reshape(-1, type_size), first * per_row, t.block_shape[0])
        self.uploads.write_rows(t.name, first, raw)
