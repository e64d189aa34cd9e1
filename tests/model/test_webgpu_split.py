"""Weights over maxStorageBufferBindingSize: split into row chunks (device/webgpu/split.py).

The device is opened with an artificially small binding limit (open_device's test override),
so a tiny model's embedding table, gate/up and qkv weights are split; the model must still give
NumPy's logits and greedy tokens, through prefill (many rows) and the replayed decode step.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer
from webinfer.device.webgpu.split import GSplitWeight
from webinfer.errors import DeviceError

TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 128}
# bytes: the Q8_0 table (300 rows x 72 B) -> 6 chunks, gate/up (192 x 40 B Q4_1) and qkv (128 x 40 B) -> 2,
# the rest fits. Activations must fit too: prompts of <= 5 tokens ((5, 192) f32), a 32-position cache.
LIMIT = 4096


def _gpu(selftest=True, **limits):
    return open_webgpu(selftest=selftest, limits=limits)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = build_synthetic_model(tmp_path_factory.mktemp("split") / "tiny.gguf", seed=5, shapes=TINY)
    gpu = webinfer.load(path, device=_gpu(max_storage_buffer_binding_size=LIMIT), n_ctx=32)
    return gpu, webinfer.load(path, device="numpy", n_ctx=32)


def test_big_weights_are_split_with_a_stated_reason(models):
    gpu, _ = models
    assert isinstance(gpu.net.tok_embd, GSplitWeight) and len(gpu.net.tok_embd.parts) == 6
    assert isinstance(gpu.net.layers[0].w_gate_up, GSplitWeight) and isinstance(gpu.net.layers[1].wqkv, GSplitWeight)
    assert not isinstance(gpu.net.layers[0].wo, GSplitWeight)
    notes = [n for n in gpu.device.notes if "row chunks" in n]
    assert any(n.startswith("token_embd.weight:") and "split into 6 row chunks" in n for n in notes), notes


def test_split_model_matches_numpy(models):
    gpu, ref = models
    ids = [1, 299, 150, 60, 230]       # ids in 5 of the table's 6 chunks (the decoded ones roam)
    for m in models:
        m.reset()
    want = np.asarray(ref.prefill(ids)[0]).reshape(-1)
    got = gpu.device.read_sync(gpu.prefill(ids)[0]).reshape(-1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for m in models:
        m.reset()
    want_ids = ref.complete(ids, max_tokens=8, temperature=0).token_ids
    assert gpu.complete(ids, max_tokens=8, temperature=0).token_ids == want_ids


def test_a_row_over_the_limit_is_a_clear_error(tmp_path):
    from webinfer.device.webgpu.selftest import random_qweight
    dev = _gpu(selftest=False, max_storage_buffer_binding_size=64)   # its self-test could not fit either
    with pytest.raises(DeviceError, match="one row needs 72 bytes"):
        dev.weight(random_qweight(np.random.default_rng(0), "Q8_0", 4, 64))
