"""A constraint on the WebGPU device (wgpu-py; llvmpipe on CI): the logits row is read back and
masked on the host, so a greedy constrained answer has the NumPy device's tokens and parses."""

from __future__ import annotations

import json

import pytest
from gpu_available import open_webgpu


@pytest.fixture(scope="module")
def gpu_model(model_path):
    import webinfer
    return webinfer.load(model_path, device=open_webgpu(), n_ctx=256)


def test_json_object_on_webgpu_equals_numpy(gpu_model, numpy_model):
    kw = dict(max_tokens=12, temperature=0, response_format={"type": "json_object"})
    numpy_model.reset()
    want = numpy_model.complete("A cat as JSON:", **kw)
    got = gpu_model.complete("A cat as JSON:", **kw)
    assert got.token_ids == want.token_ids
    assert isinstance(json.loads(got.text), dict)
