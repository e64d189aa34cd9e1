"""GGUF reader: header, metadata, tensor table, and zero-copy views of tensor data.

What this is: ``read_gguf(source)`` parses a GGUF v2/v3 file from a path (memory-mapped,
read-only) or from bytes-like memory (the browser case: ``fetch(...).arrayBuffer()``),
validates everything a hostile file could get wrong, and hands back a ``GGUFFile`` whose
``raw(name)`` is a view of the tensor's ggml blocks and ``dequantize(name)`` a float32
array in NumPy order. What this is not: model configuration (``ModelConfig.from_gguf``
knows the key names), the tokenizer, or a writer (``gguf_write.py``).

File layout (little-endian; GGUF v2 and v3 are identical, v3 only adds big-endian files,
which we refuse):

    "GGUF" | u32 version | u64 tensor_count | u64 kv_count
    kv_count x  (string key | u32 value_type | value)
    tensor_count x (string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset)
    padding to general.alignment (default 32)
    tensor data; each tensor at data_offset + offset, offset a multiple of the alignment

    string = u64 length | UTF-8 bytes (no terminator)
    array  = u32 item_type | u64 count | items

Validation happens once, here, at the boundary: every count is checked against the bytes
left before anything is allocated, so a hostile file fails fast with a GGUFError naming the
offending value. Past ``read_gguf`` the table is trusted.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

try:
    import mmap
except ImportError:         # a Python built without mmap: paths are read into memory instead
    mmap = None

from ..errors import GGUFError, UnsupportedModelError
from .quants import DEQUANT_TYPES, GGML_BLOCK_SIZES, GGML_TYPE_NAMES, supported_names, type_label

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4            # GGML_MAX_DIMS
MAX_ARRAY_NESTING = 8   # real files nest at most once; this bounds recursion on hostile ones

# value type id -> (short name, struct format or None, item size in bytes or None)
VALUE_TYPES: dict[int, tuple[str, str | None, int | None]] = {
    0: ("u8", "<B", 1), 1: ("i8", "<b", 1), 2: ("u16", "<H", 2), 3: ("i16", "<h", 2),
    4: ("u32", "<I", 4), 5: ("i32", "<i", 4), 6: ("f32", "<f", 4), 7: ("bool", "<B", 1),
    8: ("str", None, None), 9: ("arr", None, None), 10: ("u64", "<Q", 8), 11: ("i64", "<q", 8),
    12: ("f64", "<d", 8),
}
STRING, ARRAY, BOOL = 8, 9, 7
_MIN_ITEM_BYTES = {STRING: 8, ARRAY: 12}   # an empty string / empty array still costs these
_MIN_KV_BYTES = 8 + 4 + 1                  # empty key, type, one-byte value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8     # empty name, n_dims=0, type, offset
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class TensorInfo:
    """One row of the tensor table, validated."""

    name: str
    shape: tuple[int, ...]   # NumPy order: GGML ne reversed, e.g. ne=[576, 1536] -> (1536, 576)
    ggml_type: int
    type_name: str           # "Q4_1"; "unknown" never appears: unknown ids are rejected
    offset: int              # absolute byte offset of the first block in the file
    nbytes: int
    n_elements: int

    @property
    def block_shape(self) -> tuple[int, int]:
        """(n_blocks, type_size) of the raw data."""
        block_size, type_size = GGML_BLOCK_SIZES[self.ggml_type]
        return self.n_elements // block_size, type_size


class _ShortError(GGUFError):
    """The buffer ended before what was being read: a truncated file, or only its first bytes
    (read_gguf_header asks for more when it sees this)."""


class _Cursor:
    """Bounds-checked little-endian reads over a buffer; every failure is a GGUFError."""

    def __init__(self, buf, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def left(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise _ShortError(f"file truncated at byte {self.pos}: {what} needs {n} bytes, "
                            f"only {self.size - self.pos} left")

    def unpack(self, st: struct.Struct, what: str):
        self.need(st.size, what)
        value = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return value[0] if len(value) == 1 else value

    def u32(self, what: str) -> int:
        return self.unpack(_U32, what)

    def u64(self, what: str) -> int:
        return self.unpack(_U64, what)

    def raw_string(self, what: str):
        n = self.u64(f"length of {what}")
        if n > self.size - self.pos:
            raise _ShortError(f"{what} claims {n} bytes but only {self.size - self.pos} are left "
                            f"(at byte {self.pos}): truncated or corrupt")
        start = self.pos
        self.pos += n
        return self.buf[start:self.pos]

    def string(self, what: str) -> str:
        raw = self.raw_string(what)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as e:
            raise GGUFError(f"{what} is not valid UTF-8 ({e.reason} at byte {e.start}): {bytes(raw)[:40]!r}") from None

    def string_array(self, count: int, what: str) -> list[str]:
        # The hot path for 49k tokens + 49k merges. Pass 1 walks the length prefixes with
        # plain integer compares; pass 2 decodes slices of ONE bytes copy of the region
        # (slicing a memoryview per item is ~5x slower than slicing bytes).
        buf, size, pos, unpack = self.buf, self.size, self.pos, _U64.unpack_from
        start = pos
        bounds = [0] * (2 * count)
        for i in range(count):
            if pos + 8 > size:
                raise _ShortError(f"file truncated in item {i} of {what}: needs 8 bytes at byte {pos}")
            n = unpack(buf, pos)[0]
            pos += 8
            if n > size - pos:
                raise _ShortError(f"item {i} of {what} claims {n} bytes but only {size - pos} are left")
            bounds[2 * i] = pos - start
            pos += n
            bounds[2 * i + 1] = pos - start
        self.pos = pos
        blob = bytes(buf[start:pos])
        try:
            return [blob[a:b].decode("utf-8") for a, b in zip(bounds[0::2], bounds[1::2])]
        except UnicodeDecodeError:
            bad = next(i for i in range(count) if not _is_utf8(blob[bounds[2 * i]:bounds[2 * i + 1]]))
            raise GGUFError(f"item {bad} of {what} is not valid UTF-8: "
                            f"{blob[bounds[2 * bad]:bounds[2 * bad + 1]][:40]!r}") from None


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _check_count(cur: _Cursor, count: int, min_bytes: int, what: str) -> None:
    """Refuse a count that the rest of the file could not possibly hold (before allocating)."""
    if count * min_bytes > cur.left():
        raise _ShortError(f"{what} is {count}, but {cur.left()} bytes left can hold at most "
                        f"{cur.left() // min_bytes}: corrupt or truncated file")


def _read_value(cur: _Cursor, vtype: int, key: str, depth: int = 0):
    """One metadata value of type ``vtype``; returns (value, short type name)."""
    if vtype not in VALUE_TYPES:
        raise GGUFError(f"metadata key {key!r} has unknown value type {vtype} (known: 0..12)")
    name, fmt, size = VALUE_TYPES[vtype]
    if vtype == STRING:
        return cur.string(f"value of {key!r}"), name
    if vtype == ARRAY:
        return _read_array(cur, key, depth)
    cur.need(size, f"value of {key!r}")
    value = struct.unpack_from(fmt, cur.buf, cur.pos)[0]
    cur.pos += size
    return (bool(value) if vtype == BOOL else value), name


def _read_array(cur: _Cursor, key: str, depth: int):
    if depth >= MAX_ARRAY_NESTING:
        raise GGUFError(f"metadata key {key!r} nests arrays more than {MAX_ARRAY_NESTING} deep")
    itype = cur.u32(f"item type of array {key!r}")
    count = cur.u64(f"length of array {key!r}")
    if itype not in VALUE_TYPES:
        raise GGUFError(f"array {key!r} has unknown item type {itype} (known: 0..12)")
    iname, fmt, size = VALUE_TYPES[itype]
    _check_count(cur, count, size or _MIN_ITEM_BYTES[itype], f"length of array {key!r}")
    if itype == STRING:
        return cur.string_array(count, f"array {key!r}"), "arr[str]"
    if itype == ARRAY:
        items = [_read_value(cur, ARRAY, f"{key}[{i}]", depth + 1)[0] for i in range(count)]
        return items, "arr[arr]"
    # Numeric: one frombuffer, copied so metadata outlives close().
    arr = np.frombuffer(cur.buf, dtype=np.dtype(fmt), count=count, offset=cur.pos).copy()
    cur.pos += count * size
    return (arr != 0 if itype == BOOL else arr), f"arr[{iname}]"


def _read_header(cur: _Cursor) -> tuple[int, int, int]:
    cur.need(4, "magic")
    magic = bytes(cur.buf[0:4])
    if magic != GGUF_MAGIC:
        raise GGUFError(f"not a GGUF file: magic is {magic!r}, expected {GGUF_MAGIC!r}")
    cur.pos = 4
    version = cur.u32("version")
    if version == 1:
        raise GGUFError("GGUF version 1 is not supported (only 2 and 3): re-convert the model")
    if version not in (2, 3):
        if int.from_bytes(version.to_bytes(4, "little"), "big") in (2, 3):
            raise GGUFError("big-endian GGUF files are not supported (version bytes are byte-swapped)")
        raise GGUFError(f"unsupported GGUF version {version} (supported: 2, 3)")
    tensor_count = cur.u64("tensor_count")
    kv_count = cur.u64("kv_count")
    return version, tensor_count, kv_count


def _read_metadata(cur: _Cursor, kv_count: int) -> tuple[dict, dict]:
    _check_count(cur, kv_count, _MIN_KV_BYTES, "kv_count")
    metadata: dict = {}
    types: dict[str, str] = {}
    for i in range(kv_count):
        key = cur.string(f"metadata key #{i}")
        if key in metadata:
            raise GGUFError(f"duplicate metadata key {key!r} (key #{i})")
        vtype = cur.u32(f"value type of {key!r}")
        metadata[key], types[key] = _read_value(cur, vtype, key)
    return metadata, types


def _alignment(metadata: dict) -> int:
    align = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(align, bool) or not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise GGUFError(f"general.alignment must be a positive power of two, got {align!r}")
    return align


def _read_tensor_info(cur: _Cursor, i: int, file_size: int) -> tuple[str, tuple, int, int, int, int]:
    name = cur.string(f"name of tensor #{i}")
    n_dims = cur.u32(f"n_dims of tensor {name!r}")
    if n_dims > MAX_DIMS:
        raise GGUFError(f"tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
    cur.need(8 * n_dims, f"dims of tensor {name!r}")
    ne = struct.unpack_from(f"<{n_dims}Q", cur.buf, cur.pos)
    cur.pos += 8 * n_dims
    ggml_type = cur.u32(f"type of tensor {name!r}")
    offset = cur.u64(f"offset of tensor {name!r}")
    if 0 in ne:
        raise GGUFError(f"tensor {name!r} has a zero dimension: ne={list(ne)}")
    if ggml_type not in GGML_BLOCK_SIZES:
        why = "was removed from ggml" if ggml_type in GGML_TYPE_NAMES else "is not a ggml type"
        raise GGUFError(f"tensor {name!r} has type {type_label(ggml_type)}, which {why}")
    block_size, type_size = GGML_BLOCK_SIZES[ggml_type]
    n_elements = 1
    for d in ne:                      # Python ints: no overflow, so compare with the file size
        n_elements *= d
    row = ne[0] if ne else 1
    if row % block_size:
        raise GGUFError(f"tensor {name!r} ({type_label(ggml_type)}) has row length {row}, "
                        f"not a multiple of its block size {block_size}")
    nbytes = n_elements // block_size * type_size
    if nbytes > file_size:
        raise GGUFError(f"tensor {name!r} with ne={list(ne)} ({type_label(ggml_type)}) needs "
                        f"{nbytes} bytes, more than the whole file ({file_size})")
    return name, tuple(reversed(ne)), ggml_type, offset, nbytes, n_elements


def _read_tensor_table(cur: _Cursor, tensor_count: int, alignment: int,
                       file_size: int | None = None) -> tuple[dict[str, TensorInfo], int]:
    """The tensor table, checked against the file's size (file_size: when cur holds only its first bytes)."""
    file_size = cur.size if file_size is None else file_size
    _check_count(cur, tensor_count, _MIN_TENSOR_INFO_BYTES, "tensor_count")
    rows = []
    seen: set[str] = set()
    for i in range(tensor_count):
        row = _read_tensor_info(cur, i, file_size)
        if row[0] in seen:
            raise GGUFError(f"duplicate tensor name {row[0]!r} (tensor #{i})")
        seen.add(row[0])
        rows.append(row)
    data_offset = -(-cur.pos // alignment) * alignment
    tensors: dict[str, TensorInfo] = {}
    for name, shape, ggml_type, rel, nbytes, n_elements in rows:
        if rel % alignment:
            raise GGUFError(f"tensor {name!r} offset {rel} is not a multiple of the alignment {alignment}")
        if data_offset + rel + nbytes > file_size:
            raise GGUFError(f"tensor {name!r} ({nbytes} bytes at byte {data_offset + rel}) runs past "
                            f"the end of the file ({file_size} bytes): truncated or corrupt")
        tensors[name] = TensorInfo(name, shape, ggml_type, GGML_TYPE_NAMES[ggml_type],
                                   data_offset + rel, nbytes, n_elements)
    _check_overlaps(tensors)
    return tensors, data_offset


def _check_overlaps(tensors: dict[str, TensorInfo]) -> None:
    spans = sorted(tensors.values(), key=lambda t: t.offset)
    for a, b in zip(spans, spans[1:]):
        if b.offset < a.offset + a.nbytes:
            raise GGUFError(f"tensors {a.name!r} and {b.name!r} overlap in the file "
                            f"(bytes {a.offset}+{a.nbytes} and {b.offset})")


# Byte offsets of the f16 scales (d, and dmin / m where the type has one) in each block of the
# quantized types (ggml's block_* structs): raw() refuses a tensor where one is NaN or Inf. Every
# computable type with blocks of more than one value has its row (tests/unit/test_gguf_damaged_blocks.py).
SCALE_FIELDS = {"Q4_0": (0,), "Q4_1": (0, 2), "Q8_0": (0,), "Q5_0": (0,), "Q5_1": (0, 2),
                "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,),
                "IQ4_NL": (0,), "IQ4_XS": (0,)}


def _check_scales(name: str, type_name: str, blocks: np.ndarray, first: int = 0, total: int | None = None) -> None:
    """blocks: (n, type_size) uint8, blocks first .. first + n of the tensor's `total` (all by default)."""
    total = len(blocks) if total is None else total
    for off in SCALE_FIELDS.get(type_name, ()):
        bits = blocks[:, off:off + 2].view("<u2")[:, 0]
        damaged = (bits & 0x7C00) == 0x7C00                   # exponent all ones: Inf or NaN
        if damaged.any():
            bad = np.flatnonzero(damaged)
            i = int(bad[0])
            what = "Inf" if bits[i] & 0x3FF == 0 else "NaN"
            raise GGUFError(f"tensor {name!r} ({type_name}): block {first + i} of {total} has a scale that is "
                            f"{what} (f16 0x{int(bits[i]):04x} at byte {off} of the block; {bad.size} such "
                            f"block(s)): the file is damaged")


class GGUFFile:
    """A parsed, validated GGUF file. Tensor data stays in the file's memory until asked for."""

    def __init__(self, data: np.ndarray, mm, version: int, metadata: dict, metadata_types: dict,
                 tensors: dict[str, TensorInfo], alignment: int, data_offset: int):
        self._data = data              # (file_size,) uint8, read-only, over the mmap or the bytes
        self._mm = mm                  # the mmap to close, or None for in-memory sources
        self.version = version
        self.metadata = metadata
        self.metadata_types = metadata_types   # key -> "u32", "str", "arr[i32]", ...
        self.tensors = tensors
        self.alignment = alignment
        self.data_offset = data_offset
        self.file_size = int(data.shape[0])

    @property
    def data(self) -> np.ndarray | None:
        """The whole file: (file_size,) uint8, read-only, over the mmap or the memory given; None once closed."""
        return self._data

    def tensor(self, name: str) -> TensorInfo:
        try:
            return self.tensors[name]
        except KeyError:
            raise GGUFError(f"no tensor named {name!r} in this file ({len(self.tensors)} tensors)") from None

    def raw(self, name: str) -> np.ndarray:
        """(n_blocks, type_size) uint8 view of a tensor's ggml blocks (no copy, read-only).
        Raises GGUFError where a block's f16 scale is NaN or Inf (a damaged file: ggml's
        quantizers never write one, and one would turn a whole row of logits into NaN)."""
        info = self.tensor(name)
        if info.ggml_type not in DEQUANT_TYPES:
            raise UnsupportedModelError(
                f"tensor {name} has type {type_label(info.ggml_type)}, which webinfer does not "
                f"support (supported: {supported_names(DEQUANT_TYPES)})")
        if self._data is None:
            raise GGUFError("this GGUFFile is closed")
        flat = self._data[info.offset:info.offset + info.nbytes]
        blocks = flat.reshape(info.block_shape)
        _check_scales(name, info.type_name, blocks)
        return blocks

    def dequantize(self, name: str) -> np.ndarray:
        """float32 array in NumPy shape (F32 tensors come back as read-only views)."""
        blocks = self.raw(name)    # raises first for types we cannot compute
        info = self.tensors[name]
        return DEQUANT_TYPES[info.ggml_type].dequantize(blocks).reshape(info.shape)

    def summary(self) -> dict:
        """What ``webinfer info`` prints: architecture, counts per type, sizes."""
        per_type: dict[str, int] = {}
        for t in self.tensors.values():
            per_type[t.type_name] = per_type.get(t.type_name, 0) + 1
        return {
            "architecture": self.metadata.get("general.architecture"),
            "name": self.metadata.get("general.name"),
            "version": self.version,
            "kv_count": len(self.metadata),
            "tensor_count": len(self.tensors),
            "types": per_type,
            "unsupported_types": sorted({t.type_name for t in self.tensors.values()
                                         if t.ggml_type not in DEQUANT_TYPES}),
            "n_elements": sum(t.n_elements for t in self.tensors.values()),
            "total_bytes": sum(t.nbytes for t in self.tensors.values()),
            "file_size": self.file_size,
            "alignment": self.alignment,
        }

    def close(self) -> None:
        """Drop the file mapping. Views handed out earlier keep the mapping alive until freed."""
        self._data = None
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:
                pass   # someone still holds a raw() view; the mapping goes with its last view
            self._mm = None

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"GGUFFile(v{self.version}, {len(self.metadata)} keys, {len(self.tensors)} tensors, "
                f"{self.file_size} bytes)")


def _open_source(source) -> tuple[object, np.ndarray, object]:
    """-> (buffer to parse, read-only uint8 array over the same memory, mmap or None)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise GGUFError(f"{os.fspath(source)!r} is empty, not a GGUF file")
            try:
                mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (AttributeError, OSError, ValueError):   # no mmap here (some Emscripten FSs)
                data = f.read()
                return data, np.frombuffer(data, dtype=np.uint8), None
        return mm, np.frombuffer(mm, dtype=np.uint8), mm
    try:
        view = memoryview(source)
    except TypeError:
        raise GGUFError(f"cannot read a GGUF from {type(source).__name__}: "
                        f"pass a path or bytes-like memory") from None
    if not view.contiguous:
        raise GGUFError("the GGUF memory must be contiguous")
    view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
    arr = np.frombuffer(view, dtype=np.uint8)
    arr.flags.writeable = False     # views we hand out must not write into the caller's memory
    return view, arr, None


def read_gguf(source) -> GGUFFile:
    """Parse and validate a GGUF file from a path or from bytes/bytearray/memoryview."""
    buf, data, mm = _open_source(source)
    try:
        cur = _Cursor(buf, int(data.shape[0]))
        version, tensor_count, kv_count = _read_header(cur)
        metadata, types = _read_metadata(cur, kv_count)
        alignment = _alignment(metadata)
        tensors, data_offset = _read_tensor_table(cur, tensor_count, alignment)
    except BaseException:
        del data
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass   # a traceback frame still holds a view; the GC closes it
        raise
    return GGUFFile(data, mm, version, metadata, types, tensors, alignment, data_offset)


def read_gguf_header(head, file_size: int):
    """(metadata, tensors) of a GGUF from its first bytes `head` (bytes-like) and the whole file's
    size, validated as read_gguf does except for the tensor data and the scale checks; None when
    `head` ends before the tensor table does (read more and ask again). For judging a file before
    it is all in memory (webinfer.fit); raises GGUFError for a file that is not a usable GGUF."""
    view = memoryview(head).cast("B")
    cur = _Cursor(view, len(view))
    try:
        _, tensor_count, kv_count = _read_header(cur)
        metadata, _ = _read_metadata(cur, kv_count)
        tensors, _ = _read_tensor_table(cur, tensor_count, _alignment(metadata), file_size)
    except _ShortError:
        if len(view) >= file_size:
            raise
        return None
    return metadata, tensors
