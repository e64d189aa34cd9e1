"""A constraint on the WebGPU device (wgpu-py; llvmpipe on CI): its allowed tokens go to the GPU
as a bit mask each token (token_mask: argmax.wgsl / sample.wgsl MASK), so a greedy constrained
answer has the NumPy device's tokens (masked on the host there) and validates, and a seeded draw
at temperature 1 validates; no logits row comes back. (llvmpipe replays the step: the fused
step's masked pick is tests/kernels/test_fused_mask.py's.)"""

from __future__ import annotations

import json

import jsonschema
import pytest
from gpu_available import open_webgpu

COLOR = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}}, "required": ["color"]}


def rf(schema):
    return {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}


@pytest.fixture(scope="module")
def gpu_model(model_path):
    import webinfer
    return webinfer.load(model_path, device=open_webgpu(), n_ctx=256)


def _reads(dev):
    """The byte counts of every read the device submits, from now on."""
    sizes, start = [], dev.gpu.start_read

    def start_read(t, submit=True):
        sizes.append(t.nbytes)
        return start(t, submit)
    dev.gpu.start_read = start_read
    return sizes


def test_a_schema_on_webgpu_equals_numpy(gpu_model, numpy_model):
    kw = dict(max_tokens=20, temperature=0, response_format=rf(COLOR))
    numpy_model.reset()
    want = numpy_model.complete("A cat as JSON:", **kw)
    dev = gpu_model.device
    reads = _reads(dev)
    try:
        got = gpu_model.complete("A cat as JSON:", **kw)
    finally:
        del dev.gpu.start_read
    assert got.token_ids == want.token_ids
    jsonschema.validate(json.loads(got.text), COLOR)
    assert reads and max(reads) == 4, reads          # token ids only: the mask went to the GPU
    assert dev._mask is None                         # and is gone again


def test_a_seeded_draw_at_temperature_one_validates(gpu_model):
    schema = {"enum": ["red", "green", "blue", "yellow"]}
    got = gpu_model.complete("A color:", max_tokens=6, temperature=1.0, seed=1, response_format=rf(schema))
    jsonschema.validate(json.loads(got.text), schema)
