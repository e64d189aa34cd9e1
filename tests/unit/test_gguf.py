"""formats/gguf.py + gguf_write.py: synthetic round trips, and the real model against gguf-py."""

import io
import time
from pathlib import Path

import gguf
import gguf.quants
import numpy as np
import pytest

from webinfer.errors import GGUFError, UnsupportedModelError
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import RawTensor, write_gguf
from webinfer.formats.quants import QUANT_BY_NAME
from webinfer.sources import default_model_path

MODEL = default_model_path()
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason=f"model file {MODEL} not downloaded")

RNG = np.random.default_rng(0)
WEIGHTS = {
    "token_embd.weight": (RNG.standard_normal((10, 64)).astype(np.float32), "Q8_0"),
    "blk.0.attn_q.weight": (RNG.standard_normal((32, 64)).astype(np.float32), "Q4_1"),
    "blk.0.attn_k.weight": (RNG.standard_normal((16, 64)).astype(np.float32), "Q4_0"),
    "blk.0.ffn_up.weight": (RNG.standard_normal((3, 2, 32)).astype(np.float32), "F16"),
    "blk.0.ffn_down.weight": (RNG.standard_normal((4, 32)).astype(np.float32), "BF16"),
    "output_norm.weight": RNG.standard_normal(64).astype(np.float32),
}
META = {
    "general.architecture": "llama",
    "llama.block_count": 1,
    "llama.rope.freq_base": 10000.0,
    "tokenizer.ggml.add_bos_token": True,
    "tokenizer.ggml.tokens": ["<s>", "héllo", "日本", "🙂", ""],
    "tokenizer.ggml.scores": [0.0, -1.5, -2.0, -3.0, -4.0],
    "tokenizer.ggml.token_type": np.array([3, 1, 1, 1, 1], dtype=np.int32),
    "test.i8": ("i8", -5), "test.u16": ("u16", 65535), "test.i64": -2**40, "test.u64": 2**63,
    "test.f64": np.float64(0.1), "test.u8s": ("arr[u8]", [0, 255]), "test.bools": [True, False],
    "test.nested": [[1, 2, 3], ["a", "b"]],
}


def synthetic(tmp_path, **kw) -> Path:
    path = tmp_path / "tiny.gguf"
    write_gguf(path, kw.pop("metadata", META), kw.pop("tensors", WEIGHTS), **kw)
    return path


def expected(name) -> np.ndarray:
    spec = WEIGHTS[name]
    x, type_name = (spec, "F32") if isinstance(spec, np.ndarray) else spec
    q = QUANT_BY_NAME[type_name]
    return q.dequantize(q.quantize(x.reshape(-1))).reshape(x.shape)


def test_write_then_read(tmp_path):
    with read_gguf(synthetic(tmp_path)) as g:
        assert g.version == 3 and g.alignment == 32 and list(g.tensors) == list(WEIGHTS)
        m = g.metadata
        assert m["general.architecture"] == "llama" and m["llama.block_count"] == 1
        assert m["tokenizer.ggml.tokens"] == ["<s>", "héllo", "日本", "🙂", ""]
        assert m["tokenizer.ggml.scores"].dtype == np.float32 and m["tokenizer.ggml.scores"][1] == -1.5
        assert m["tokenizer.ggml.token_type"].tolist() == [3, 1, 1, 1, 1]
        assert (m["test.i8"], m["test.u16"], m["test.i64"], m["test.u64"]) == (-5, 65535, -2**40, 2**63)
        assert m["test.f64"] == 0.1 and m["test.u8s"].dtype == np.uint8 and m["tokenizer.ggml.add_bos_token"] is True
        assert m["test.bools"].tolist() == [True, False]
        assert m["test.nested"][0].tolist() == [1, 2, 3] and m["test.nested"][1] == ["a", "b"]
        types = g.metadata_types
        assert (types["llama.block_count"], types["llama.rope.freq_base"], types["test.i64"]) == ("u32", "f32", "i64")
        assert types["tokenizer.ggml.tokens"] == "arr[str]" and types["test.nested"] == "arr[arr]"
        for name in WEIGHTS:
            info = g.tensors[name]
            assert info.offset % 32 == 0 and info.offset >= g.data_offset
            out = g.dequantize(name)
            assert out.dtype == np.float32 and out.shape == info.shape
            np.testing.assert_array_equal(out, expected(name))


def test_gguf_py_reads_what_we_write(tmp_path):
    path = synthetic(tmp_path, version=2, alignment=64)
    r = gguf.GGUFReader(path)
    assert r.fields["GGUF.version"].contents() == 2
    assert r.fields["general.alignment"].contents() == 64
    assert r.fields["tokenizer.ggml.tokens"].contents() == META["tokenizer.ggml.tokens"]
    assert r.fields["test.u64"].contents() == 2**63
    ours = read_gguf(path)
    assert ours.alignment == 64 and ours.version == 2
    for t in r.tensors:
        info = ours.tensors[t.name]
        assert tuple(reversed(t.shape.tolist())) == info.shape
        assert int(t.tensor_type) == info.ggml_type and t.data_offset == info.offset
        theirs = gguf.quants.dequantize(t.data, t.tensor_type).reshape(info.shape)
        np.testing.assert_array_equal(ours.dequantize(t.name), theirs)


def test_bytes_and_path_give_the_same_file(tmp_path):
    path = synthetic(tmp_path)
    a = read_gguf(path)
    data = path.read_bytes()
    for src in (data, bytearray(data), memoryview(data), str(path)):
        b = read_gguf(src)
        assert (b.version, b.alignment, b.data_offset, b.file_size) == (a.version, a.alignment, a.data_offset, a.file_size)
        assert b.tensors == a.tensors and b.metadata.keys() == a.metadata.keys()
        for name in a.tensors:
            assert not b.raw(name).flags.writeable
            np.testing.assert_array_equal(a.raw(name), b.raw(name))


def test_raw_is_a_read_only_zero_copy_view(tmp_path):
    data = bytearray(synthetic(tmp_path).read_bytes())
    g = read_gguf(data)
    info = g.tensors["blk.0.attn_q.weight"]
    raw = g.raw(info.name)
    assert raw.shape == (32 * 64 // 32, 20) and not raw.flags.writeable
    data[info.offset] ^= 0xFF                      # the caller's memory shows through: no copy
    assert raw[0, 0] == data[info.offset]
    assert not g.dequantize("output_norm.weight").flags.writeable


def test_write_to_file_object_and_lazy_tensor():
    buf = io.BytesIO()
    made = []
    w = RNG.standard_normal((8, 32)).astype(np.float32)
    write_gguf(buf, {"general.architecture": "llama"},
               {"w": (lambda: made.append(1) or w, "Q8_0", (8, 32))})
    assert made == [1]
    g = read_gguf(buf.getvalue())
    q = QUANT_BY_NAME["Q8_0"]
    np.testing.assert_array_equal(g.dequantize("w"), q.dequantize(q.quantize(w.reshape(-1))).reshape(8, 32))


def test_unsupported_type_reads_but_raw_refuses(tmp_path):
    path = tmp_path / "k.gguf"
    write_gguf(path, {"general.architecture": "llama"},
               {"blk.0.attn_q.weight": RawTensor((2, 256), 16, bytes(2 * 66)), "n": np.ones(4, np.float32)})
    g = read_gguf(path)
    s = g.summary()
    assert s["types"] == {"IQ2_XXS": 1, "F32": 1} and s["unsupported_types"] == ["IQ2_XXS"]
    with pytest.raises(UnsupportedModelError, match=r"blk\.0\.attn_q\.weight has type IQ2_XXS \(16\).*supported: F32"):
        g.dequantize("blk.0.attn_q.weight")
    assert g.dequantize("n").tolist() == [1, 1, 1, 1]


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(GGUFError, match="row length 33"):
        write_gguf(tmp_path / "x", {}, {"w": (np.zeros((2, 33), np.float32), "Q4_0")})
    with pytest.raises(UnsupportedModelError, match="IQ2_XXS"):
        write_gguf(tmp_path / "x", {}, {"w": (np.zeros((2, 256), np.float32), "IQ2_XXS")})
    with pytest.raises(GGUFError, match="does not fit u8"):
        write_gguf(tmp_path / "x", {"k": ("u8", 300)}, {})
    with pytest.raises(GGUFError, match="mixes types"):
        write_gguf(tmp_path / "x", {"k": [1, "a"]}, {})


def test_close_and_missing_tensor(tmp_path):
    g = read_gguf(synthetic(tmp_path))
    with pytest.raises(GGUFError, match="no tensor named 'nope'"):
        g.raw("nope")
    kept = g.raw("output_norm.weight")          # a live view must survive close()
    g.close()
    assert kept.sum() == kept.sum()
    with pytest.raises(GGUFError, match="closed"):
        g.raw("output_norm.weight")


def test_big_string_arrays_read_fast(tmp_path):
    # The real vocabulary: 49k tokens + 49k merges. Parsing must stay well under a second.
    tokens = [f"tok{i}_é" for i in range(49152)]
    merges = [f"Ġ{i} x{i}" for i in range(48900)]
    path = tmp_path / "vocab.gguf"
    write_gguf(path, {"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.merges": merges}, {})
    t0 = time.perf_counter()
    g = read_gguf(path)
    elapsed = time.perf_counter() - t0
    assert g.metadata["tokenizer.ggml.tokens"] == tokens and g.metadata["tokenizer.ggml.merges"] == merges
    assert elapsed < 0.5, f"reading 98k strings took {elapsed:.3f} s"


# ---- the real model --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    return read_gguf(MODEL), gguf.GGUFReader(MODEL)


def gguf_py_value(field):
    if field.types[0] == gguf.GGUFValueType.ARRAY and field.types[-1] != gguf.GGUFValueType.STRING:
        return np.asarray(field.contents())
    return field.contents()


@needs_model
def test_real_model_metadata_matches_gguf_py(real):
    ours, ref = real
    ref_keys = [k for k in ref.fields if not k.startswith("GGUF.")]
    assert list(ours.metadata) == ref_keys
    for key in ref_keys:
        want, got = gguf_py_value(ref.fields[key]), ours.metadata[key]
        if isinstance(want, np.ndarray):
            np.testing.assert_array_equal(got, want, err_msg=key)
        else:
            assert got == want, key
    assert ours.metadata["general.architecture"] == "llama"
    assert len(ours.metadata["tokenizer.ggml.tokens"]) == 49152


@needs_model
def test_real_model_tensor_table_matches_gguf_py(real):
    ours, ref = real
    assert list(ours.tensors) == [t.name for t in ref.tensors]
    for t in ref.tensors:
        info = ours.tensors[t.name]
        assert info.shape == tuple(reversed(t.shape.tolist()))
        assert (info.ggml_type, info.offset, info.nbytes, info.n_elements) == \
            (int(t.tensor_type), t.data_offset, t.n_bytes, t.n_elements)
    assert ours.tensors["blk.0.ffn_down.weight"].shape == (576, 1536)
    assert ours.summary()["types"] == {"Q8_0": 1, "F32": 61, "Q4_1": 210}


@needs_model
@pytest.mark.parametrize("name", ["token_embd.weight", "blk.3.ffn_gate.weight", "blk.0.attn_norm.weight"])
def test_real_model_dequantize_matches_gguf_py(real, name):
    ours, ref = real
    t = next(t for t in ref.tensors if t.name == name)
    theirs = gguf.quants.dequantize(t.data, t.tensor_type).reshape(ours.tensors[name].shape)
    np.testing.assert_array_equal(ours.dequantize(name), theirs)


@needs_model
def test_real_model_from_bytes_matches_path(real):
    ours, _ = real
    other = read_gguf(MODEL.read_bytes())
    assert other.tensors == ours.tensors and other.metadata_types == ours.metadata_types
    assert other.metadata["tokenizer.ggml.merges"] == ours.metadata["tokenizer.ggml.merges"]
    np.testing.assert_array_equal(other.raw("blk.29.attn_v.weight"), ours.raw("blk.29.attn_v.weight"))


def test_path_without_mmap_reads_into_memory(tmp_path, monkeypatch):
    # Pyodide file systems may lack mmap: the reader falls back to reading the file.
    import webinfer.formats.gguf as reader
    monkeypatch.setattr(reader, "mmap", None)
    g = read_gguf(synthetic(tmp_path))
    assert g._mm is None
    np.testing.assert_array_equal(g.dequantize("blk.0.attn_q.weight"), expected("blk.0.attn_q.weight"))
