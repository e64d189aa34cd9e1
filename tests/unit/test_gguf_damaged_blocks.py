"""Damaged quantized tensors get a GGUFError that names the tensor, the block and the problem:
a NaN or Inf f16 scale (GGUFFile.raw, so at load time too), and a K-quant tensor whose rows are
not whole 256-weight blocks (read time)."""

from __future__ import annotations

import numpy as np
import pytest

import webinfer
from webinfer.errors import GGUFError
from webinfer.formats.gguf import SCALE_FIELDS, read_gguf
from webinfer.formats.gguf_write import RawTensor, write_gguf
from webinfer.formats.quants import DEQUANT_TYPES, GGML_BLOCK_SIZES

BY_NAME = {q.name: q for q in DEQUANT_TYPES.values()}


def blocks(type_name: str, n: int, seed: int = 0) -> np.ndarray:
    """n well-formed blocks of a type: random codes, every f16 scale 1.0."""
    q = BY_NAME[type_name]
    raw = np.random.default_rng(seed).integers(0, 256, (n, q.type_size), dtype=np.uint8)
    for off in SCALE_FIELDS[type_name]:
        raw[:, off:off + 2] = np.frombuffer(np.float16(1.0).tobytes(), np.uint8)
    return raw


@pytest.mark.parametrize("type_name", sorted(SCALE_FIELDS))
@pytest.mark.parametrize("value, word", [(np.inf, "Inf"), (-np.inf, "Inf"), (np.nan, "NaN")])
def test_a_nan_or_inf_scale_is_refused_naming_tensor_and_block(tmp_path, type_name, value, word):
    q = BY_NAME[type_name]
    raw = blocks(type_name, 6)
    off = SCALE_FIELDS[type_name][-1]
    raw[4, off:off + 2] = np.frombuffer(np.float16(value).tobytes(), np.uint8)
    path = tmp_path / "d.gguf"
    write_gguf(path, {"general.architecture": "llama"},
               {"w": RawTensor((2, 3 * q.block_size), q.ggml_type, raw.tobytes())})
    g = read_gguf(path)                      # the header is fine: reading works
    with pytest.raises(GGUFError, match=rf"tensor 'w' \({type_name}\): block 4 of 6 has a scale that is {word}"):
        g.raw("w")
    with pytest.raises(GGUFError, match="the file is damaged"):
        g.dequantize("w")


def test_every_block_quantized_type_has_its_scales_in_the_table():
    """A new quantized type must name its f16 scale bytes, or raw() would not check them."""
    assert {q.name for q in DEQUANT_TYPES.values() if q.block_size > 1} == set(SCALE_FIELDS)


def test_every_scale_table_entry_is_a_computable_type_and_fits_its_block():
    for name, offsets in SCALE_FIELDS.items():
        q = BY_NAME[name]
        assert all(0 <= off <= q.type_size - 2 for off in offsets), name
        assert GGML_BLOCK_SIZES[q.ggml_type] == (q.block_size, q.type_size)


def test_sound_blocks_pass_the_check(tmp_path):
    path = tmp_path / "ok.gguf"
    write_gguf(path, {"general.architecture": "llama"},
               {"w": RawTensor((2, 256), BY_NAME["Q4_K"].ggml_type, blocks("Q4_K", 2).tobytes())})
    assert read_gguf(path).dequantize("w").shape == (2, 256)


@pytest.mark.parametrize("type_name", ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_XS"])
def test_a_k_quant_row_that_is_not_whole_superblocks_is_refused(tmp_path, type_name):
    q = BY_NAME[type_name]
    path = tmp_path / "k.gguf"
    # 576 weights a row (SmolLM2's width): 2.25 blocks of 256; the data for 2 rows' worth of whole blocks
    write_gguf(path, {"general.architecture": "llama"},
               {"w": RawTensor((2, 512), q.ggml_type, blocks(type_name, 4).tobytes())})
    data = bytearray(path.read_bytes())
    i = data.index((1).to_bytes(8, "little") + b"w") + 9 + 4   # tensor info: name (u64 length, 'w'), n_dims (u32), ne[0]
    assert int.from_bytes(data[i:i + 8], "little") == 512
    data[i:i + 8] = (576).to_bytes(8, "little")
    with pytest.raises(GGUFError, match=rf"has row length 576, not a multiple of its block size 256"):
        read_gguf(bytes(data))


def test_a_model_with_a_damaged_scale_does_not_load(tmp_path):
    from synthetic_model import build_synthetic_model
    path = build_synthetic_model(tmp_path / "tiny.gguf", seed=2, shapes={
        "n_layers": 1, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 64, "n_ctx": 64})
    g = read_gguf(path)
    info = g.tensors["blk.0.ffn_down.weight"]
    assert info.type_name == "Q4_1"
    data = bytearray(open(path, "rb").read())
    start = info.offset + 3 * BY_NAME["Q4_1"].type_size      # block 3's d (offset: from the file's start)
    g.close()
    data[start:start + 2] = np.float16(np.nan).tobytes()
    with pytest.raises(GGUFError, match=r"blk\.0\.ffn_down\.weight' \(Q4_1\): block 3 of .* NaN"):
        webinfer.load(bytes(data), device="numpy")
