"""Hostile GGUF files, built byte by byte with struct.pack: each must fail fast with a GGUFError
that names the problem. Plus a hypothesis fuzz over the header and tensor table."""

import struct
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webinfer.errors import GGUFError, UnsupportedModelError
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf

U32, STR, ARR = 4, 8, 9


def s(text) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def kv_u32(key, value) -> bytes:
    return s(key) + struct.pack("<II", U32, value)


def kv_str(key, value) -> bytes:
    return s(key) + struct.pack("<I", STR) + s(value)


def tensor_info(name, ne, ggml_type=0, offset=0) -> bytes:
    return s(name) + struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, ggml_type, offset)


def header(n_tensors, n_kv, version=3, magic=b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def gguf_file(kvs=(), tensors=(), data=b"", alignment=32, **kw) -> bytes:
    """A file from raw kv and tensor-info byte strings; data goes at the aligned data offset."""
    head = header(len(tensors), len(kvs), **kw) + b"".join(kvs) + b"".join(tensors)
    return head + bytes(-len(head) % alignment) + data


def expect(data: bytes, *fragments: str, error=GGUFError):
    t0 = time.perf_counter()
    with pytest.raises(error) as info:
        read_gguf(data)
    assert time.perf_counter() - t0 < 1.0, "validation must be fast"
    for frag in fragments:
        assert frag in str(info.value), f"{frag!r} not in {str(info.value)!r}"
    return str(info.value)


GOOD = gguf_file([kv_str("general.architecture", "llama")],
                 [tensor_info("w", [8, 2])], struct.pack("<16f", *range(16)))


def test_the_baseline_is_valid():
    g = read_gguf(GOOD)
    assert g.dequantize("w").shape == (2, 8) and g.dequantize("w")[1, 0] == 8.0


def test_bad_magic_shows_the_bytes():
    expect(b"GGML" + GOOD[4:], "magic", "b'GGML'")
    expect(b"\x00\x01", "truncated", "magic")


@pytest.mark.parametrize("version, fragment", [(1, "version 1 is not supported"),
                                               (4, "unsupported GGUF version 4"),
                                               (0x03000000, "big-endian")])
def test_versions(version, fragment):
    expect(gguf_file(version=version), fragment)


def test_version_2_reads():
    assert read_gguf(gguf_file([kv_u32("a", 1)], version=2)).metadata == {"a": 1}


@pytest.mark.parametrize("cut, fragments", [
    (6, ("truncated", "version")), (12, ("truncated", "tensor_count")), (20, ("truncated", "kv_count")),
    (24 + 3, ("kv_count is 1", "can hold at most 0")),                  # too short for any key
    (24 + 8 + 5, ("metadata key #0 claims 20 bytes", "only 5 are left")),
])
def test_truncated_header_and_keys(cut, fragments):
    expect(GOOD[:cut], *fragments)


def test_truncated_string_value_array_and_table():
    value = kv_str("general.name", "a long-ish name")
    expect(header(0, 1) + value[:-4], "value of 'general.name'", "claims 15 bytes")
    arr = s("a") + struct.pack("<IIQ", ARR, U32, 4) + struct.pack("<3I", 1, 2, 3)
    expect(header(0, 1) + arr, "length of array 'a' is 4", "at most 3")
    strs = s("t") + struct.pack("<IIQ", ARR, STR, 2) + s("ok") + struct.pack("<Q", 50) + b"x"
    expect(header(0, 1) + strs, "item 1 of array 't'", "claims 50 bytes")
    info = tensor_info("w", [8, 2])
    expect(header(1, 0) + info[:-8], "offset of tensor 'w'", "truncated")
    expect(header(1, 0) + info[:14] + bytes(10), "dims of tensor 'w' needs 16 bytes")
    expect(header(1, 0) + info[:14], "tensor_count is 1", "can hold at most 0")


def test_truncated_tensor_data():
    expect(GOOD[:-4], "tensor 'w'", "past the end of the file")


@pytest.mark.parametrize("field, fragment", [("tensors", "tensor_count is 1152921504606846976"),
                                             ("kvs", "kv_count is 1152921504606846976")])
def test_absurd_counts(field, fragment):
    n = 2**60
    data = header(n, 0) if field == "tensors" else header(0, n)
    expect(data + bytes(100), fragment, "can hold at most")


def test_absurd_array_and_string_lengths():
    arr = s("a") + struct.pack("<IIQ", ARR, U32, 2**62)
    expect(header(0, 1) + arr + bytes(64), "length of array 'a' is 4611686018427387904")
    expect(header(0, 1) + struct.pack("<Q", 2**63) + b"key" + bytes(16), "metadata key #0 claims 9223372036854775808 bytes")
    nested = s("n") + struct.pack("<IIQ", ARR, ARR, 2**40)
    expect(header(0, 1) + nested + bytes(64), "length of array 'n'")


def test_deeply_nested_arrays_are_refused():
    deep = s("n") + struct.pack("<I", ARR) + struct.pack("<IQ", ARR, 1) * 20 + struct.pack("<IQ", U32, 0)
    expect(header(0, 1) + deep, "nests arrays more than")


@pytest.mark.parametrize("ne, ggml_type, fragments", [
    ([8, 2, 1, 1, 1], 0, ("'w' has 5 dimensions",)),
    ([8, 0], 0, ("zero dimension", "ne=[8, 0]")),
    ([2**40, 2**40, 2**40], 0, ("needs", "more than the whole file")),
    ([33, 2], 2, ("row length 33", "Q4_0 (2)", "block size 32")),
    ([8, 2], 99, ("unknown type 99", "not a ggml type")),
    ([32, 2], 31, ("Q4_0_4_4 (31)", "removed")),
])
def test_absurd_tensor_shapes_and_types(ne, ggml_type, fragments):
    expect(gguf_file([], [tensor_info("w", ne, ggml_type)], bytes(64)), *fragments)


def test_unsupported_but_known_type_is_accepted_at_read_time():
    g = read_gguf(gguf_file([], [tensor_info("blk.0.attn_q.weight", [256, 1], 16)], bytes(66)))
    assert g.tensors["blk.0.attn_q.weight"].type_name == "IQ2_XXS"
    with pytest.raises(UnsupportedModelError, match=r"IQ2_XXS \(16\), which webinfer does not support"):
        g.raw("blk.0.attn_q.weight")


def test_duplicates():
    expect(gguf_file([kv_u32("a.b", 1), kv_u32("a.b", 2)]), "duplicate metadata key 'a.b'")
    expect(gguf_file([], [tensor_info("w", [8]), tensor_info("w", [8], offset=32)], bytes(64)),
           "duplicate tensor name 'w'")


def test_tensor_placement():
    expect(gguf_file([], [tensor_info("w", [8], offset=4096)], bytes(32)), "'w'", "past the end")
    expect(gguf_file([], [tensor_info("w", [8], offset=4)], bytes(64)), "offset 4", "alignment 32")
    two = [tensor_info("a", [16]), tensor_info("b", [8], offset=32)]
    expect(gguf_file([], two, bytes(128)), "'a' and 'b' overlap")


@pytest.mark.parametrize("align, fragment", [(3, "got 3"), (0, "got 0")])
def test_alignment_must_be_a_power_of_two(align, fragment):
    expect(gguf_file([kv_u32("general.alignment", align)]), "general.alignment", fragment)


def test_custom_alignment_moves_the_data():
    data = gguf_file([kv_u32("general.alignment", 256)], [tensor_info("w", [4])],
                     struct.pack("<4f", 1, 2, 3, 4), alignment=256)
    g = read_gguf(data)
    assert g.data_offset == 256 and g.dequantize("w").tolist() == [1, 2, 3, 4]


def test_invalid_utf8_names_the_place():
    expect(header(0, 1) + s(b"gen\xffkey") + struct.pack("<II", U32, 1), "metadata key #0", "not valid UTF-8")
    expect(header(0, 1) + kv_str("general.name", "x")[:-1] + b"\xc3", "value of 'general.name'", "UTF-8")
    arr = s("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARR, STR, 3) + s("a") + s("b") + s(b"\xe2\x28")
    expect(header(0, 1) + arr, "item 2 of array 'tokenizer.ggml.tokens'", "UTF-8")
    expect(gguf_file([], [tensor_info(b"w\x80", [8])], bytes(32)), "name of tensor #0", "UTF-8")


def test_unknown_value_types():
    expect(header(0, 1) + s("k") + struct.pack("<I", 13), "'k' has unknown value type 13")
    expect(header(0, 1) + s("k") + struct.pack("<IIQ", ARR, 77, 0), "array 'k' has unknown item type 77")


def test_non_files():
    expect(b"", "truncated", "magic")
    with pytest.raises(GGUFError, match="pass a path or bytes-like"):
        read_gguf(12345)


def test_empty_file_on_disk(tmp_path):
    (tmp_path / "e.gguf").write_bytes(b"")
    with pytest.raises(GGUFError, match="is empty"):
        read_gguf(tmp_path / "e.gguf")


# ---- fuzz: mutate the header and tensor table of a small real-looking file -----------------

def _small_file() -> tuple[bytes, int]:
    import io
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    write_gguf(buf, {"general.architecture": "llama", "llama.block_count": 1,
                     "tokenizer.ggml.tokens": ["a", "bb", "ccc"], "x.f": [0.5, 1.5], "x.n": [[1], ["z"]]},
               {"w": (rng.standard_normal((2, 32)).astype(np.float32), "Q4_1"),
                "e": (rng.standard_normal((2, 32)).astype(np.float32), "Q8_0"),
                "n": rng.standard_normal(4).astype(np.float32)})
    data = buf.getvalue()
    return data, read_gguf(data).data_offset


SMALL, HEAD_END = _small_file()
INTERESTING = [0, 1, 2, 3, 4, 8, 9, 12, 13, 31, 32, 33, 255, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1]


def _read_everything(data: bytes) -> None:
    try:
        g = read_gguf(data)
    except (GGUFError, UnsupportedModelError):
        return
    with np.errstate(all="ignore"):            # mutated scales may be inf/NaN: fine
        for name in g.tensors:
            try:
                g.dequantize(name)
            except UnsupportedModelError:
                pass
    g.summary()


@settings(max_examples=1000, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, HEAD_END - 1), st.integers(0, 255)), min_size=1, max_size=6))
def test_fuzz_byte_flips(edits):
    data = bytearray(SMALL)
    for pos, value in edits:
        data[pos] = value
    _read_everything(bytes(data))


@settings(max_examples=1000, deadline=1000)
@given(st.integers(0, HEAD_END - 8), st.sampled_from(INTERESTING), st.sampled_from([4, 8]),
       st.integers(0, len(SMALL)))
def test_fuzz_counts_and_truncation(pos, value, width, cut):
    data = bytearray(SMALL)
    data[pos:pos + width] = (value % 2**(8 * width)).to_bytes(width, "little")
    _read_everything(bytes(data[:cut]))
