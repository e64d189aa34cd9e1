"""The NumPy device's quantized weights (device/qmat.py): products, embedding rows and stacks equal
the float32 path's, for every type, across tile and part boundaries; the float32 budget decides
which weights stay quantized."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device import qmat
from webinfer.device.numpy_device import NumpyDevice
from webinfer.device.qmat import QMat
from webinfer.formats.quants import QUANT_TYPES
from webinfer.weights import QWeight

TYPES = [q for q in QUANT_TYPES.values() if q.name != "F32"]


def _weight(q, rows, cols, seed=0, name="w"):
    x = np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)
    raw = q.quantize(x.reshape(-1)).reshape(rows, -1)
    return QWeight(name, q.ggml_type, raw, rows, cols)


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(qmat, "TILE_BYTES", 4 * 256 * 5)     # 5 rows of 256 values: tiles end mid-part


@pytest.mark.parametrize("q", TYPES, ids=lambda q: q.name)
def test_products_and_rows_equal_the_float32_path(q, small_tiles):
    cols = 512 if q.block_size == 256 else 256
    w = _weight(q, 37, cols)
    dense, _ = NumpyDevice(f32_budget=1 << 40).weight(w)
    quant, _ = NumpyDevice(f32_budget=0).weight(w)
    assert isinstance(quant, QMat) and isinstance(dense, np.ndarray)
    assert quant.nbytes == w.raw.nbytes                        # the blocks, not a float32 copy
    np.testing.assert_array_equal(quant.dequantize(), dense)
    for n in (1, 3, 8):
        x = np.random.default_rng(n).standard_normal((n, cols)).astype(np.float32)
        np.testing.assert_allclose(quant.matmul_t(x), x @ dense.T, rtol=2e-5, atol=1e-4)
    ids = [36, 0, 5, 5, 17]
    np.testing.assert_array_equal(quant.take(ids), dense[ids])


def test_a_stack_keeps_its_parts_uncopied_and_reads_across_them(small_tiles):
    q = QUANT_TYPES[8]                                          # Q8_0
    parts = [_weight(q, r, 256, seed=r, name=f"p{r}") for r in (9, 3, 3)]
    st = QWeight.stack("qkv", parts)
    assert all(a is b.row_parts[0] for a, b in zip(st.row_parts, parts))
    assert st.type_name == "Q8_0" and np.array_equal(st.raw, np.concatenate([p.raw for p in parts]))
    dev = NumpyDevice(f32_budget=0)
    mat, _ = dev.weight(st)
    dense = np.concatenate([p.dequantize() for p in parts])
    x = np.random.default_rng(1).standard_normal((2, 256)).astype(np.float32)
    np.testing.assert_allclose(dev.linear(x, (mat, None)), x @ dense.T, rtol=2e-5, atol=1e-4)
    np.testing.assert_array_equal(dev.embed((mat, None), [14, 8, 9, 0, 12]), dense[[14, 8, 9, 0, 12]])
    with pytest.raises(IndexError, match="outside 0..14"):
        mat.take([15])


def test_the_budget_expands_weights_until_it_is_spent():
    q = QUANT_TYPES[3]                                          # Q4_1
    w = _weight(q, 8, 64)                                       # 2 KiB as float32
    dev = NumpyDevice(f32_budget=5 * 1024)
    kinds = [type(dev.weight(w)[0]) for _ in range(4)]
    assert kinds == [np.ndarray, np.ndarray, QMat, QMat]
    assert dev.f32_bytes == 4096 and dev.quantized_bytes == 2 * w.raw.nbytes
    f32 = QWeight("f", 0, np.ones((8, 64), np.float32).view(np.uint8), 8, 64)
    assert isinstance(dev.weight(f32)[0], np.ndarray)          # float32 in the file: kept as it is


def test_a_stack_of_mixed_types_stays_mixed_on_numpy_and_is_float32_as_one_matrix(small_tiles):
    # Q4_K_M's attn_v is Q6_K in some layers, beside Q4_K attn_q and attn_k
    parts = [_weight(QUANT_TYPES[12], 6, 256, 1), _weight(QUANT_TYPES[12], 2, 256, 2), _weight(QUANT_TYPES[14], 2, 256, 3)]
    st = QWeight.stack("qkv", parts)
    dense = np.concatenate([p.dequantize() for p in parts])
    assert st.type_name == "F32" and np.array_equal(st.raw.view(np.float32), dense)   # what a GPU uploads
    mat, _ = NumpyDevice(f32_budget=0).weight(st)
    assert [q.name for q, _ in mat.parts] == ["Q4_K", "Q4_K", "Q6_K"] and mat.nbytes == sum(p.raw.nbytes for p in parts)
    x = np.random.default_rng(4).standard_normal((1, 256)).astype(np.float32)
    np.testing.assert_allclose(mat.matmul_t(x), x @ dense.T, rtol=2e-5, atol=1e-4)
    np.testing.assert_array_equal(mat.take([9, 0, 7]), dense[[9, 0, 7]])


def test_a_model_is_float32_whole_or_quantized_whole(tmp_path):
    import webinfer
    from synthetic_model import build_synthetic_model
    path = build_synthetic_model(tmp_path / "m.gguf", shapes=dict(n_layers=2, d_model=64, d_ff=128, n_heads=2,
                                                                  n_kv_heads=1, n_vocab=300))
    f32 = 4 * (300 * 64 + 2 * (64 * (64 + 2 * 32) + 64 * 64 + 3 * 64 * 128))
    whole = webinfer.load(path, device=NumpyDevice(f32_budget=f32))
    assert whole.device.f32_bytes == f32 and whole.device.quantized_bytes == 0
    over = webinfer.load(path, device=NumpyDevice(f32_budget=f32 - 1))   # the first weights would fit
    assert over.device.f32_bytes == 0 and over.device.quantized_bytes > 0
    ids = [5, 17, 3, 250]
    assert over.complete(ids, max_tokens=8, temperature=0).token_ids == whole.complete(ids, max_tokens=8, temperature=0).token_ids
