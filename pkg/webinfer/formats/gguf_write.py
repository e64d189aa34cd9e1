"""GGUF writer: metadata + float32 tensors in, a valid GGUF v2/v3 file out.

What this is: ``write_gguf`` for synthetic models -- the tests' small files and
``tests/synthetic_model.py`` (random weights in a real model's shapes, for the tests and the bench
scripts, in CPython and in Pyodide) -- quantizing with ``quants.py`` so the bytes match ggml's
reference quantizers. It also copies already-encoded blocks (``RawTensor``), which is how a
test writes a tensor of a type we cannot compute.
What this is not: a model converter (no tensor renaming, no tokenizer building) or a reader.

Metadata value types are chosen from the Python value, the way llama.cpp expects its keys:

    bool -> bool      str -> str      float -> f32      int -> u32 if 0 <= v < 2**32,
    i32 if negative and it fits, else i64 / u64      numpy scalar -> its own dtype
    list of str -> arr[str]     list of int -> arr[i32] (arr[i64] if needed)
    list of float -> arr[f32]   1-D numpy array -> arr[its dtype]   list of lists -> arr[arr]

Override any of them with a ``(type, value)`` pair: ``("u64", 5)``, ``("i32", [1, 2])`` or
``("arr[u8]", b_list)``. Type names: u8 i8 u16 i16 u32 i32 u64 i64 f32 f64 bool str.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import GGUFError, UnsupportedModelError
from .gguf import ARRAY, BOOL, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS, STRING, VALUE_TYPES
from .quants import GGML_BLOCK_SIZES, GGML_TYPE_NAMES, QUANT_TYPES, supported_names, type_label

_TYPE_IDS = {name: tid for tid, (name, _, _) in VALUE_TYPES.items() if tid != ARRAY}
_TYPE_BY_NAME = {name: tid for tid, name in GGML_TYPE_NAMES.items()}
_NUMPY_KINDS = {np.dtype(fmt).newbyteorder("="): name for name, fmt, _ in VALUE_TYPES.values()
                if fmt and name != "bool"}


@dataclass(frozen=True)
class RawTensor:
    """Already-encoded ggml blocks, written as they are (any ggml type with a known block size)."""

    shape: tuple[int, ...]   # NumPy order
    ggml_type: int
    data: bytes


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return _u64(len(b)) + b


def _infer_scalar(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, np.generic):
        if value.dtype.newbyteorder("=") in _NUMPY_KINDS:
            return _NUMPY_KINDS[value.dtype.newbyteorder("=")]
    elif isinstance(value, str):
        return "str"
    elif isinstance(value, int):
        if 0 <= value < 2**32:
            return "u32"
        if -2**31 <= value < 0:
            return "i32"
        return "i64" if -2**63 <= value < 2**63 else "u64"
    elif isinstance(value, float):
        return "f32"
    raise GGUFError(f"cannot store a {type(value).__name__} in GGUF metadata: {value!r:.60}")


def _infer_items(items) -> str:
    """Element type for a list/tuple/array value."""
    if isinstance(items, np.ndarray):
        if items.ndim != 1:
            raise GGUFError(f"metadata arrays must be 1-D, got shape {items.shape}")
        return "bool" if items.dtype == np.bool_ else _infer_scalar(items.dtype.type(0))
    if not items:
        return "i32"
    if all(isinstance(v, (list, tuple, np.ndarray)) for v in items):
        return "arr"
    kinds = {_infer_scalar(v) for v in items}
    if len(kinds) == 1:
        kind = kinds.pop()
        return "i32" if kind == "u32" and max(items) < 2**31 else kind
    if kinds <= {"u32", "i32", "i64", "u64"}:
        return "i64" if min(items) >= -2**63 and max(items) < 2**63 else "u64"
    if kinds <= {"u32", "i32", "i64", "u64", "f32"}:
        return "f32"
    raise GGUFError(f"metadata list mixes types {sorted(kinds)}: give an explicit (type, value)")


def _encode_array(items, kind: str, key: str) -> bytes:
    if kind == "arr":
        parts = [_encode_value(v, key) for v in items]
        return struct.pack("<IQ", ARRAY, len(items)) + b"".join(p[1] for p in parts)
    tid = _TYPE_IDS[kind]
    head = struct.pack("<IQ", tid, len(items))
    if tid == STRING:
        return head + b"".join(_string(s) for s in items)
    fmt = VALUE_TYPES[tid][1]
    try:
        arr = np.asarray(items).astype(np.uint8) if tid == BOOL else np.asarray(items, dtype=np.dtype(fmt))
    except (OverflowError, ValueError) as e:
        raise GGUFError(f"metadata {key!r}: values do not fit {kind}: {e}") from None
    return head + arr.tobytes()


def _encode_value(value, key: str) -> tuple[int, bytes]:
    """-> (value type id, encoded value) with types inferred or taken from a (type, value) pair."""
    kind = None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
            and (value[0] in _TYPE_IDS or value[0].startswith("arr")):
        kind, value = value
        if kind.startswith("arr[") and kind.endswith("]"):
            kind = kind[4:-1]                  # "arr[u32]" means the same as "u32" for a list
    if isinstance(value, (list, tuple, np.ndarray)):
        kind = kind or _infer_items(value)
        if kind not in _TYPE_IDS and kind != "arr":
            raise GGUFError(f"metadata {key!r}: unknown value type {kind!r}")
        return ARRAY, _encode_array(value, kind, key)
    kind = kind or _infer_scalar(value)
    if kind not in _TYPE_IDS:
        raise GGUFError(f"metadata {key!r}: unknown value type {kind!r}")
    tid = _TYPE_IDS[kind]
    if tid == STRING:
        return tid, _string(value)
    try:
        return tid, struct.pack(VALUE_TYPES[tid][1], int(value) if tid == BOOL else value)
    except (struct.error, OverflowError) as e:
        raise GGUFError(f"metadata {key!r}: {value!r} does not fit {kind}: {e}") from None


def _resolve_type(type_name, name: str) -> int:
    if isinstance(type_name, (int, np.integer)):
        return int(type_name)
    if type_name not in _TYPE_BY_NAME:
        raise GGUFError(f"tensor {name!r}: unknown tensor type {type_name!r}")
    return _TYPE_BY_NAME[type_name]


def _plan_tensor(name: str, spec) -> tuple[tuple[int, ...], int, Callable[[], bytes]]:
    """-> (NumPy shape, ggml type, function making the encoded bytes)."""
    if isinstance(spec, RawTensor):
        return tuple(spec.shape), spec.ggml_type, lambda: bytes(spec.data)
    if isinstance(spec, np.ndarray):
        spec = (spec, "F32")
    if len(spec) == 3:                       # (make_array, type, shape): built when written
        make, type_name, shape = spec
    else:
        arr, type_name = spec
        make, shape = (lambda: arr), np.shape(arr)
    ggml_type = _resolve_type(type_name, name)
    if ggml_type not in QUANT_TYPES:
        raise UnsupportedModelError(f"cannot quantize tensor {name!r} to {type_label(ggml_type)} "
                                    f"(supported: {supported_names()}); pass a RawTensor")
    quant = QUANT_TYPES[ggml_type]

    def encode() -> bytes:
        x = np.asarray(make(), dtype=np.float32)
        if x.shape != tuple(shape):
            raise GGUFError(f"tensor {name!r}: made shape {x.shape}, declared {tuple(shape)}")
        return quant.quantize(x.reshape(-1)).tobytes()
    return tuple(int(d) for d in shape), ggml_type, encode


def _tensor_nbytes(name: str, shape: tuple[int, ...], ggml_type: int) -> int:
    if ggml_type not in GGML_BLOCK_SIZES:
        raise GGUFError(f"tensor {name!r}: {type_label(ggml_type)} has no known block size")
    if not 1 <= len(shape) <= MAX_DIMS or min(shape) < 1:
        raise GGUFError(f"tensor {name!r}: shape {shape} must have 1..{MAX_DIMS} positive dims")
    block_size, type_size = GGML_BLOCK_SIZES[ggml_type]
    if shape[-1] % block_size:
        raise GGUFError(f"tensor {name!r}: row length {shape[-1]} is not a multiple of the "
                        f"{type_label(ggml_type)} block size {block_size}")
    return int(np.prod(shape, dtype=object)) // block_size * type_size


def _pad(n: int, alignment: int) -> int:
    return -n % alignment


def write_gguf(dest, metadata: dict, tensors: dict, version: int = 3,
               alignment: int = DEFAULT_ALIGNMENT) -> None:
    """Write a GGUF file to a path or a binary file-like object.

    ``tensors`` maps name -> ``(float32 array, type_name)``, a bare float32 array (F32),
    ``(make_array, type_name, shape)`` to build the array only when it is written (keeps a
    large synthetic model out of memory), or a ``RawTensor``. Tensors are written in order.
    """
    if version not in (2, 3):
        raise GGUFError(f"can only write GGUF version 2 or 3, not {version}")
    if alignment < 1 or alignment & (alignment - 1):
        raise GGUFError(f"alignment must be a positive power of two, got {alignment}")
    metadata = dict(metadata)
    if "general.alignment" in metadata or alignment != DEFAULT_ALIGNMENT:
        given = metadata.get("general.alignment", ("u32", alignment))
        given_value = given[1] if isinstance(given, tuple) else given
        if given_value != alignment:
            raise GGUFError(f"general.alignment {given_value} disagrees with alignment={alignment}")
        metadata["general.alignment"] = given

    head = bytearray(GGUF_MAGIC + struct.pack("<IQQ", version, len(tensors), len(metadata)))
    for key, value in metadata.items():
        tid, body = _encode_value(value, key)
        head += _string(key) + struct.pack("<I", tid) + body

    plans, offset = [], 0
    for name, spec in tensors.items():
        shape, ggml_type, encode = _plan_tensor(name, spec)
        nbytes = _tensor_nbytes(name, shape, ggml_type)
        head += _string(name) + struct.pack(f"<I{len(shape)}QIQ", len(shape), *reversed(shape),
                                            ggml_type, offset)
        plans.append((name, nbytes, encode))
        offset += nbytes + _pad(nbytes, alignment)
    head += bytes(_pad(len(head), alignment))

    if isinstance(dest, (str, os.PathLike)):
        with open(dest, "wb") as f:
            _write_body(f, head, plans, alignment)
    else:
        _write_body(dest, head, plans, alignment)


def _write_body(f, head: bytearray, plans, alignment: int) -> None:
    f.write(head)
    for name, nbytes, encode in plans:
        data = encode()
        if len(data) != nbytes:
            raise GGUFError(f"tensor {name!r}: {len(data)} bytes of data, expected {nbytes}")
        f.write(data)
        f.write(bytes(_pad(nbytes, alignment)))
