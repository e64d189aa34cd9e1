"""tests/synthetic_model.py, which the benchmarks build their models with: a mix gives each tensor
the type `webinfer quantize` would, and random blocks are valid blocks of those types whose
values stay small (a benchmark's activations must not overflow)."""

from __future__ import annotations

import numpy as np

from synthetic_model import build_synthetic_model
from webinfer.formats.gguf import read_gguf
from webinfer.quantize import tensor_type

SMALL = dict(n_layers=8, d_model=256, d_ff=512, n_heads=4, n_kv_heads=2, n_vocab=300)


def test_random_blocks_have_the_mix_types_and_small_values(tmp_path):
    path = build_synthetic_model(tmp_path / "m.gguf", shapes=SMALL, mix="Q4_K_M", random_blocks=True)
    gf = read_gguf(path)
    names = {n: gf.tensors[n].type_name for n in gf.tensors}
    assert {"Q4_K", "Q6_K", "F32"} == set(names.values())
    for name, info in gf.tensors.items():
        assert names[name] == tensor_type(name, info.shape, "Q4_K_M", 8, False), name
        w = gf.dequantize(name)
        assert np.isfinite(w).all() and np.abs(w).max() <= (1.0 if names[name] == "F32" else 0.06), name
        if names[name] != "F32":
            assert w.std() > 0.005, name                      # codes spread, not a constant


def test_a_random_block_model_runs(tmp_path):
    import webinfer
    path = build_synthetic_model(tmp_path / "m.gguf", shapes=SMALL, mix="Q5_K_M", random_blocks=True)
    m = webinfer.load(path, device="numpy")
    logits = m.device.read_sync(m.prefill([1, 2, 3])[0])
    assert np.isfinite(logits).all() and logits.shape == (1, 300)
