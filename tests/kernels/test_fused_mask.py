"""The fused decode step's greedy pick under a grammar constraint (decode_fused.wgsl MASK,
fused_argmax.wgsl's masked_best): a constrained generation on the fused step gives the NumPy
device's tokens (masked on the host there), one dispatch and one mask write a token once checked,
with the unconstrained program left as it was. On llvmpipe with one workgroup (test_fused.py says
why); several workgroups' slots under a mask: test_fused_several_workgroups.py (SwiftShader)."""

from __future__ import annotations

import numpy as np
import pytest
from gpu_available import open_webgpu
from synthetic_model import build_synthetic_model

import webinfer
from webinfer.device.gpu_sample import argmax_reference
from webinfer.device.webgpu import fused
from webinfer.grammar.mask import mask_words, pack_ids

SHAPES = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 512}
PROMPT = [1, 5, 9, 33, 7, 120, 250, 3]
# The placeholder vocabulary's tokens are "<t0>" ... "<t299>": a different allowed set each token
GRAMMAR = 'root ::= "<t1" [0-9] [0-9] ">" "<t2" [0-4] [0-9] ">" ("<t" [1-2] [0-9] [0-9] ">"){0,20}'


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return build_synthetic_model(tmp_path_factory.mktemp("fused_mask") / "tiny.gguf", seed=3, shapes=SHAPES)


@pytest.fixture(scope="module")
def fused_model(model_path):
    """The model on the fused step (one workgroup), compiled once for the module's tests."""
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1
    return webinfer.load(model_path, device=dev, n_ctx=256), dev


def test_constrained_greedy_tokens_are_picked_inside_the_fused_step(model_path, fused_model):
    ref = webinfer.load(model_path, device="numpy", n_ctx=256)
    want = ref.complete(PROMPT, max_tokens=14, temperature=0, grammar=GRAMMAR)
    free = ref.complete(PROMPT, max_tokens=14, temperature=0)
    assert want.token_ids[:2] != free.token_ids[:2] and len(want.token_ids) == 14             # the mask changes the answer
    m, dev = fused_model
    m.reset()
    assert m.complete(PROMPT, max_tokens=14, temperature=0, grammar=GRAMMAR).token_ids == want.token_ids
    assert dev.decode_path().startswith("fused"), dev.notes
    f = next(p.fused for p in dev._programs.values() if p.fused is not None)
    assert f._masked, "the MASK variant never ran"
    # once checked, a constrained greedy token is one dispatch (the step picks it: no argmax) and
    # one write of the mask's words; the step's own sync words are written at the first step only
    counts, writes, real = [], [], dev.adapter.write_buffer

    def write_buffer(buf, offset, data):
        writes.append("mask" if buf is dev._mask_buf else "sync" if buf is f.sync else "other")
        return real(buf, offset, data)
    dev.adapter.write_buffer = write_buffer
    for n in (12, 15):
        m.reset()
        writes.clear()
        d0 = dev.dispatch_count()
        assert m.complete(PROMPT, max_tokens=n, temperature=0, grammar=GRAMMAR).token_ids[:12] == want.token_ids[:12]
        counts.append(dev.dispatch_count() - d0)
        assert writes.count("mask") == n and writes.count("sync") == 1, writes
    dev.adapter.write_buffer = real
    assert counts[1] - counts[0] == 3, counts
    # the mask is gone after a constrained generation: the next one picks among every token
    assert dev._mask is None
    assert m.complete(PROMPT, max_tokens=14, temperature=0).token_ids == free.token_ids


def test_constrained_sampling_with_a_seed_draws_the_numpy_devices_tokens(model_path, fused_model):
    ref = webinfer.load(model_path, device="numpy", n_ctx=256)
    m, dev = fused_model
    m.reset()
    for kw in (dict(temperature=1.0, seed=3), dict(temperature=0.8, top_k=30, top_p=0.9, seed=4)):
        want = ref.complete(PROMPT, max_tokens=14, grammar=GRAMMAR, **kw).token_ids
        assert m.complete(PROMPT, max_tokens=14, grammar=GRAMMAR, **kw).token_ids == want, kw


def test_the_first_step_check_holds_a_masked_pick_to_the_masked_argmax():
    x = np.array([0.0, 5.0, 1.0, 3.0, 3.0], np.float32)
    words = pack_ids(np.array([0, 3, 4]), mask_words(5))
    assert argmax_reference(x, words).tolist() == [3]           # the first of the allowed largest
    assert fused.check(x, x, 0, 3, words) is None
    assert "not its logits' argmax 3" in fused.check(x, x, 0, 1, words)
    assert "not its logits' argmax 1" in fused.check(x, x, 0, 3)
