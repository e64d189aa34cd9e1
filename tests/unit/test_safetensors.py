"""safetensors files built in the test (json + struct): values read back exactly for F32, F16 and
BF16, and every hostile header fails with a SafetensorsError (a GGUFError) naming the problem; a
hypothesis fuzz finds nothing else escaping."""

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webinfer.errors import GGUFError, SafetensorsError, UnsupportedModelError
from webinfer.formats.safetensors import read_safetensors
from webinfer.weights import QWeight


def st_bytes(header: dict, buffer: bytes = b"", pad: int = 0) -> bytes:
    h = json.dumps(header).encode() + b" " * pad
    return struct.pack("<Q", len(h)) + h + buffer


def st_file(arrays: dict, metadata=None) -> bytes:
    """A safetensors file of {name: (numpy array, dtype name)}, tensors back to back."""
    header, buf = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (a, dtype) in arrays.items():
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [len(buf), len(buf) + len(raw)]}
        buf += raw
    return st_bytes(header, buf, pad=3)


def test_float_dtypes_read_back(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal(7).astype(np.float16)
    bf = rng.standard_normal((2, 4)).astype(np.float32)
    bf_bits = (bf.view(np.uint32) >> 16).astype(np.uint16)          # truncated to bf16
    ids = np.arange(6, dtype=np.int64).reshape(1, 6)
    data = st_file({"w": (w, "F32"), "h": (h, "F16"), "b": (bf_bits, "BF16"), "ids": (ids, "I64")},
                   metadata={"format": "pt"})
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    for src in (path, data, bytearray(data), memoryview(data)):
        f = read_safetensors(src)
        assert f.metadata == {"format": "pt"}
        assert set(f.tensors) == {"w", "h", "b"} and f.other == {"ids": "I64"}
        np.testing.assert_array_equal(f.dequantize("w"), w)
        np.testing.assert_array_equal(f.dequantize("h"), h.astype(np.float32))
        np.testing.assert_array_equal(f.dequantize("b"), (bf_bits.astype(np.uint32) << 16).view(np.float32))
        assert f.tensors["w"].type_name == "F32" and f.tensors["b"].type_name == "BF16"
        q = QWeight.from_gguf(f, "w")                                 # the loaders' path
        np.testing.assert_array_equal(q.dequantize(), w)
        with pytest.raises(UnsupportedModelError, match="'ids' has dtype I64"):
            f.dequantize("ids")
        with pytest.raises(SafetensorsError, match="no tensor named 'nope'"):
            f.raw("nope")
        f.close()


def test_scalar_and_empty_tensors():
    data = st_file({"s": (np.array(2.5, np.float32), "F32"), "e": (np.zeros((0, 4), np.float32), "F32")})
    f = read_safetensors(data)
    assert f.dequantize("s") == np.float32(2.5)
    assert f.dequantize("e").shape == (0, 4)


def entry(dtype="F32", shape=(2,), offs=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}


@pytest.mark.parametrize("data, message", [
    (b"", "truncated: 0 bytes"),
    (b"\x01\x02\x03", "truncated: 3 bytes"),
    (struct.pack("<Q", 1 << 40) + b"{}", "over the"),
    (struct.pack("<Q", 100) + b"{}", "header claims 100 bytes"),
    (struct.pack("<Q", 3) + b"\xff\xfe{", "not valid UTF-8 JSON"),
    (struct.pack("<Q", 5) + b"{oops", "not valid UTF-8 JSON"),
    (st_bytes([1, 2]), "JSON list, not an object"),
    (st_bytes({"__metadata__": {"a": 1}}), "__metadata__ must map strings"),
    (st_bytes({"t": 5}), "'t': header entry is a int"),
    (st_bytes({"t": entry(dtype="Q4_0")}, bytes(8)), "unknown dtype 'Q4_0'"),
    (st_bytes({"t": entry(dtype=None)}, bytes(8)), "unknown dtype None"),
    (st_bytes({"t": entry(shape=(-1,))}, bytes(8)), "shape"),
    (st_bytes({"t": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, bytes(8)), "shape"),
    (st_bytes({"t": entry(shape=(1,) * 9, offs=(0, 4))}, bytes(4)), "up to 8"),
    (st_bytes({"t": entry(offs=(0,))}, bytes(8)), "data_offsets"),
    (st_bytes({"t": entry(offs=(0, True))}, bytes(8)), "data_offsets"),
    (st_bytes({"t": entry(offs=(0, 8))}, bytes(7)), "outside the 7-byte buffer"),
    (st_bytes({"t": entry(offs=(8, 0))}, bytes(8)), "outside"),
    (st_bytes({"t": entry(offs=(-8, 0))}, bytes(8)), "outside"),
    (st_bytes({"t": entry(offs=(0, 12))}, bytes(12)), "needs 8 bytes, data_offsets give 12"),
    (st_bytes({"t": entry(shape=(1 << 39, 1 << 39))}, bytes(8)), "needs"),
    (st_bytes({"a": entry(offs=(0, 8)), "b": entry(offs=(4, 12))}, bytes(12)), "overlap"),
])
def test_hostile_headers(data, message):
    with pytest.raises(SafetensorsError, match=message) as e:
        read_safetensors(data)
    assert isinstance(e.value, GGUFError)


def test_not_bytes():
    with pytest.raises(SafetensorsError, match="cannot read"):
        read_safetensors(12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.integers(0, 80), st.binary(max_size=40))
def test_fuzz_never_crashes(head, n, tail):
    """Any bytes: a file that reads (and whose tensors all read), or a SafetensorsError; nothing else."""
    for data in (head, struct.pack("<Q", n) + head + tail,
                 st_bytes({"t": {"dtype": "F16", "shape": [n % 5, 2], "data_offsets": [n % 7, n % 7 + 4 * (n % 5)]}},
                          head)):
        try:
            f = read_safetensors(data)
        except SafetensorsError:
            continue
        for name in f.tensors:
            f.dequantize(name)
