"""Sampling in generate on a device with a `sample` op (WebGPU): the draw happens on the GPU and
only 4-byte token ids come back; a seed gives the same tokens as the NumPy device's CPU sampler
(the same PCG64 stream of uniforms, the same filters); penalties / logit_bias stay on the CPU."""

from __future__ import annotations

import pytest
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer

TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 128}
PROMPT = [5, 17, 200, 42, 42, 9]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    dev = open_webgpu()
    path = build_synthetic_model(tmp_path_factory.mktemp("s") / "tiny.gguf", seed=9, shapes=TINY)
    return webinfer.load(path, device=dev), webinfer.load(path, device="numpy")


def _reads(model, monkeypatch):
    """Record the byte size of every device read (a pending projection is launched first)."""
    sizes, real, dev = [], model.device.read, model.device

    def read(t):
        t = dev._t(t)
        sizes.append(t.nbytes)
        return real(t)
    monkeypatch.setattr(dev, "read", read)
    return sizes


@pytest.mark.parametrize("kw", [dict(temperature=1.5, top_k=0, top_p=1.0, min_p=0.0),
                                dict(temperature=0.8, top_k=30, top_p=0.9, min_p=0.02),
                                dict(temperature=1.2, top_k=0, top_p=0.7, min_p=0.0)])
def test_gpu_sampling_is_seeded_and_matches_the_cpu_sampler(models, monkeypatch, kw):
    gpu, ref = models
    sizes = _reads(gpu, monkeypatch)
    a = gpu.complete(PROMPT, max_tokens=20, seed=4, **kw)
    assert sizes and set(sizes) == {4}, sizes          # token ids only, never the logits
    b = gpu.complete(PROMPT, max_tokens=20, seed=4, **kw)
    want = ref.complete(PROMPT, max_tokens=20, seed=4, **kw)
    assert a.token_ids == b.token_ids == want.token_ids
    assert gpu.complete(PROMPT, max_tokens=20, seed=5, **kw).token_ids != a.token_ids


def test_penalties_and_bias_use_the_cpu_sampler(models, monkeypatch):
    gpu, ref = models
    sizes = _reads(gpu, monkeypatch)
    kw = dict(temperature=0.9, seed=1, repetition_penalty=1.3, logit_bias={7: 2.0})
    got = gpu.complete(PROMPT, max_tokens=6, **kw)
    assert set(sizes) == {4 * TINY["n_vocab"]}, sizes   # the whole logits row, sampled on the CPU
    assert got.token_ids == ref.complete(PROMPT, max_tokens=6, **kw).token_ids
