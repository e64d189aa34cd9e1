"""A GPU that fails mid-generation: the generation finishes on NumPy with the same tokens.

The fault is injected with the WebGPU device's test hook (``gpu.fail_at_submit``: every submit
from the Nth on raises DeviceError, as a lost device does), at the prefill, at the first token
and in the middle of the decode loop; on a tiny synthetic model (fast) and on the real model
on llvmpipe (short prompt, few tokens). The Completion names the fallback and its reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer
from webinfer.errors import DeviceError

TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 128}


def _gpu():
    return open_webgpu()


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_synthetic_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf", seed=3, shapes=TINY)


PROMPT = [5, 17, 200, 42, 42, 9]


@pytest.mark.parametrize("fail_after", [0, 1, 3, 6])
def test_tiny_model_finishes_on_numpy_with_the_same_tokens(tiny_path, fail_after):
    want = webinfer.load(tiny_path, device="numpy").complete(PROMPT, max_tokens=10, temperature=0)
    m = webinfer.load(tiny_path, device=_gpu())
    m.complete(PROMPT[:2], max_tokens=2, temperature=0)      # warm: pipelines, a recorded decode step
    m.reset()
    m.device.gpu.fail_at_submit = m.device.gpu.submits + 1 + fail_after
    got = m.complete(PROMPT, max_tokens=10, temperature=0)
    assert got.token_ids == want.token_ids
    assert got.fallback.startswith("webgpu failed mid-generation (injected fault at submit")
    assert got.device == "numpy: " + got.fallback
    assert m.device.name == "numpy"
    # the model stays usable on NumPy afterwards, cache and all
    again = m.complete(PROMPT, max_tokens=10, temperature=0)
    assert again.token_ids == want.token_ids and again.fallback is None and again.cached_tokens > 0


def test_tiny_model_sampling_on_the_gpu_then_numpy(tiny_path):
    """Seeded device sampling survives a fault too: the draw continues with the twin on NumPy."""
    m = webinfer.load(tiny_path, device=_gpu())
    kw = dict(max_tokens=12, temperature=0.9, top_k=20, top_p=0.9, min_p=0.0, seed=11)
    clean = m.complete(PROMPT, **kw)
    assert clean.fallback is None and len(clean.token_ids) == 12
    m.reset()
    m.device.gpu.fail_at_submit = m.device.gpu.submits + 5
    got = m.complete(PROMPT, **kw)
    assert got.fallback is not None and got.device.startswith("numpy: webgpu failed")
    assert len(got.token_ids) == 12 and all(0 <= t < TINY["n_vocab"] for t in got.token_ids)
    assert got.token_ids[:2] == clean.token_ids[:2]          # before the fault: the same draws


def test_numpy_device_errors_are_not_swallowed(tiny_path):
    m = webinfer.load(tiny_path, device="numpy")

    def boom(*a, **k):
        raise DeviceError("numpy cannot fall back to itself")
    m.device.argmax = boom
    with pytest.raises(DeviceError, match="itself"):
        m.complete(PROMPT, max_tokens=3, temperature=0)


def test_real_model_falls_back_mid_generation(model_path, numpy_model):
    numpy_model.reset()
    want = numpy_model.complete("The capital of France is", max_tokens=8, temperature=0)
    m = webinfer.load(model_path, device=_gpu(), n_ctx=128)
    m.device.gpu.fail_at_submit = m.device.gpu.submits + 4   # prefill and a few decode steps on the GPU
    got = m.complete("The capital of France is", max_tokens=8, temperature=0)
    assert got.token_ids == want.token_ids, (got.token_ids, want.token_ids)
    assert got.device.startswith("numpy: webgpu failed mid-generation (injected fault")
    assert np.isfinite(got.decode_tok_s)
