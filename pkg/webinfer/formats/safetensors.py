"""safetensors reader: the JSON header, and zero-copy views of F32 / F16 / BF16 tensors.

What this is: ``read_safetensors(source)`` parses a ``.safetensors`` file (Hugging Face's format)
from a path (memory-mapped) or bytes-like memory, validates its header against the file, and
hands back a ``SafetensorsFile`` that reads like a ``GGUFFile``: ``tensors`` (name -> gguf
TensorInfo, the dtype as its ggml type), ``raw(name)`` (uint8 blocks of one value each) and
``dequantize(name)`` (float32 in the tensor's shape), so ``QWeight.from_gguf`` takes it as it is.
What this is not: a writer, or anything that knows what the tensors mean (models/bert.py does).

File layout (little-endian):

    u64 N | N bytes of UTF-8 JSON (may end in spaces) | the byte buffer
    JSON: {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}

data_offsets are relative to the byte buffer, end - begin = prod(shape) * itemsize, and no two
tensors overlap. Tensors of the format's other dtypes (an I64 ``position_ids`` buffer, say) are
listed in ``other`` and fail only when read; a dtype the format does not have is a bad file.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from ..errors import SafetensorsError, UnsupportedModelError
from .gguf import GGUFFile, TensorInfo, _open_source
from .quants import DEQUANT_TYPES

MAX_HEADER_BYTES = 100 << 20     # as the safetensors library: a larger header is hostile, not a model
MAX_DIMS = 8

# the dtypes webinfer computes with -> (ggml type, bytes a value)
FLOAT_DTYPES = {"F32": (0, 4), "F16": (1, 2), "BF16": (30, 2)}
# every other dtype of the format -> bytes a value (read as a tensor: UnsupportedModelError)
OTHER_DTYPES = {"F64": 8, "I64": 8, "U64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


class SafetensorsFile:
    """A parsed, validated safetensors file; tensor data stays in the file's memory until asked for."""

    def __init__(self, data: np.ndarray, mm, metadata: dict, tensors: dict[str, TensorInfo],
                 other: dict[str, str]):
        self._data = data          # (file_size,) uint8, read-only
        self._mm = mm              # the mmap to close, or None
        self.metadata = metadata   # the header's "__metadata__" (str -> str)
        self.tensors = tensors     # the float tensors
        self.other = other         # name -> dtype of the tensors webinfer cannot compute with
        self.file_size = int(data.shape[0])

    def tensor(self, name: str) -> TensorInfo:
        info = self.tensors.get(name)
        if info is None:
            if name in self.other:
                raise UnsupportedModelError(f"tensor {name!r} has dtype {self.other[name]}, which webinfer does "
                                            f"not compute with (supported: {', '.join(FLOAT_DTYPES)})")
            raise SafetensorsError(f"no tensor named {name!r} in this file ({len(self.tensors)} tensors)")
        return info

    def raw(self, name: str) -> np.ndarray:
        """(n_elements, itemsize) uint8 view of a tensor's values (no copy, read-only)."""
        info = self.tensor(name)
        if self._data is None:
            raise SafetensorsError("this SafetensorsFile is closed")
        return self._data[info.offset:info.offset + info.nbytes].reshape(info.block_shape)

    def dequantize(self, name: str) -> np.ndarray:
        """float32 array in the tensor's shape (F32 tensors come back as read-only views)."""
        blocks = self.raw(name)
        info = self.tensors[name]
        return DEQUANT_TYPES[info.ggml_type].dequantize(blocks).reshape(info.shape)

    close = GGUFFile.close     # the same two attributes: drop the data, close the mapping

    def __repr__(self) -> str:
        return f"SafetensorsFile({len(self.tensors)} tensors, {len(self.other)} others, {self.file_size} bytes)"


def read_safetensors(source) -> SafetensorsFile:
    """Parse and validate a safetensors file from a path or from bytes/bytearray/memoryview."""
    try:
        buf, data, mm = _open_source(source)
    except SafetensorsError:
        raise
    except Exception as e:   # GGUFError from the shared opener names GGUF: say safetensors
        raise SafetensorsError(str(e).replace("GGUF", "safetensors")) from None
    try:
        metadata, tensors, other = _read_header(data)
    except BaseException:
        del data
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass
        raise
    return SafetensorsFile(data, mm, metadata, tensors, other)


def _read_header(data: np.ndarray) -> tuple[dict, dict[str, TensorInfo], dict[str, str]]:
    size = int(data.shape[0])
    if size < 8:
        raise SafetensorsError(f"file truncated: {size} bytes, a safetensors file starts with an 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8].tobytes())
    if n > MAX_HEADER_BYTES:
        raise SafetensorsError(f"header length {n} is over the {MAX_HEADER_BYTES}-byte limit: not a safetensors file")
    if n > size - 8:
        raise SafetensorsError(f"header claims {n} bytes but the file has only {size - 8} after its length: truncated")
    try:
        header = json.loads(data[8:8 + n].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError(f"header is not valid UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError("header's __metadata__ must map strings to strings")
    base, buf_len = 8 + n, size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    other: dict[str, str] = {}
    spans = []
    for name, entry in header.items():
        dtype, shape, begin, end = _check_entry(name, entry, buf_len)
        spans.append((begin, end, name))
        if dtype in FLOAT_DTYPES:
            ggml_type, item = FLOAT_DTYPES[dtype]
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            tensors[name] = TensorInfo(name, shape, ggml_type, dtype, base + begin, end - begin, count)
        else:
            other[name] = dtype
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0 and b1 != e1:   # (an empty tensor overlaps nothing)
            raise SafetensorsError(f"tensors {n0!r} (bytes {b0}..{e0}) and {n1!r} (bytes {b1}..{e1}) overlap")
    return metadata, tensors, other


def _check_entry(name: str, entry, buf_len: int) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of one header entry, every field checked against the file."""
    if not isinstance(entry, dict):
        raise SafetensorsError(f"tensor {name!r}: header entry is a {type(entry).__name__}, not an object")
    dtype, shape, offs = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in FLOAT_DTYPES and dtype not in OTHER_DTYPES:
        raise SafetensorsError(f"tensor {name!r}: unknown dtype {dtype!r} (safetensors dtypes: "
                               f"{', '.join([*FLOAT_DTYPES, *OTHER_DTYPES])})")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 1 << 40 for d in shape)):
        raise SafetensorsError(f"tensor {name!r}: shape {shape!r} must be a list of up to {MAX_DIMS} "
                               "non-negative integers")
    if (not isinstance(offs, list) or len(offs) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)):
        raise SafetensorsError(f"tensor {name!r}: data_offsets {offs!r} must be two integers [begin, end]")
    begin, end = offs
    if not 0 <= begin <= end <= buf_len:
        raise SafetensorsError(f"tensor {name!r}: data_offsets [{begin}, {end}] are outside the "
                               f"{buf_len}-byte buffer (truncated or corrupt file)")
    item = FLOAT_DTYPES[dtype][1] if dtype in FLOAT_DTYPES else OTHER_DTYPES[dtype]
    want = int(np.prod(shape, dtype=object)) * item if shape else item
    if end - begin != want:
        raise SafetensorsError(f"tensor {name!r}: {dtype} {tuple(shape)} needs {want} bytes, "
                               f"data_offsets give {end - begin}")
    return dtype, tuple(shape), begin, end
