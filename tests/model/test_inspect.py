"""webinfer.inspect on the real model: a traced pass is the plain forward pass, plus what it saw.

Checks: no hooks -> logits identical to Llama.forward; an identity hook (in place, or returning
a copy) -> identical; ablating a head changes the logits and only from that layer on; attention
rows sum to 1 and are causal; the last layer's logit lens == the final logits; shapes; hook
names are validated; the model's own KV cache is untouched. Needs the default model (skips).
"""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.errors import DeviceError, WebinferError
from webinfer.inspect import HOOK_POINTS, ablate_heads

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def plain(numpy_model):
    """Logits of the untouched forward pass of PROMPT, on a fresh cache."""
    m = numpy_model
    ids = m.tokenize(PROMPT)
    c = m.config
    cache = m.device.kv_cache(c.n_layers, c.n_kv_heads, c.head_dim, len(ids))
    return ids, np.asarray(m.net.forward(ids, 0, cache))[0]


@pytest.fixture(scope="module")
def traced(numpy_model):
    return numpy_model.trace(PROMPT)


def test_no_hooks_gives_the_plain_logits(traced, plain):
    ids, logits = plain
    assert traced.tokens == ids
    np.testing.assert_array_equal(traced.logits, logits)
    assert traced.probs.sum() == pytest.approx(1.0)
    assert int(np.argmax(traced.probs)) == int(np.argmax(logits))


def test_shapes_and_token_strings(traced, numpy_model):
    c, n = numpy_model.config, len(traced.tokens)
    assert traced.embed.shape == (n, c.d_model)
    assert traced.resid_attn.shape == traced.resid_mlp.shape == (c.n_layers, n, c.d_model)
    assert traced.attn.shape == (c.n_layers, c.n_heads, n, n)
    assert traced.attn_heads.shape == (c.n_layers, n, c.n_heads, c.head_dim)
    assert traced.mlp.shape == (c.n_layers, n, c.d_ff)
    assert traced.logits.shape == (c.n_vocab,)
    assert "".join(traced.token_strs) == PROMPT
    top = traced.top_k(5)
    assert len(top) == 5 and [p for _, _, p in top] == sorted((p for _, _, p in top), reverse=True)
    assert top[0][0] == int(np.argmax(traced.logits)) and top[0][1] == numpy_model.detokenize([top[0][0]])


def test_residual_stream_adds_up(traced):
    # resid_attn[i] = resid_mlp[i-1] + attention output: so the attention block of layer 0 read embed.
    assert not np.array_equal(traced.resid_attn[0], traced.embed)
    assert np.all(np.isfinite(traced.resid_mlp))


def test_identity_hooks_change_nothing(numpy_model, traced):
    seen = []

    def in_place(x, name):
        seen.append((name, x.shape))

    def copy(x, name):
        return x.copy()

    res = numpy_model.trace(PROMPT, hooks={"blk.*.attn_heads": in_place, "blk.*.resid_mlp": copy, "embed": copy})
    np.testing.assert_array_equal(res.logits, traced.logits)
    np.testing.assert_array_equal(res.attn, traced.attn)
    c, n = numpy_model.config, len(traced.tokens)
    assert seen[0] == ("blk.0.attn_heads", (n, c.n_heads, c.head_dim)) and len(seen) == c.n_layers


def test_ablating_a_head_changes_logits_from_that_layer_on(numpy_model, traced):
    res = numpy_model.trace(PROMPT, hooks=ablate_heads({3: [5]}))
    assert np.all(res.attn_heads[3, :, 5] == 0) and np.any(traced.attn_heads[3, :, 5] != 0)
    np.testing.assert_array_equal(res.resid_mlp[:3], traced.resid_mlp[:3])   # layers before: untouched
    assert not np.array_equal(res.resid_attn[3], traced.resid_attn[3])
    assert np.max(np.abs(res.logits - traced.logits)) > 1e-3


def test_a_hook_can_replace_the_residual(numpy_model, traced):
    # Zeroing the last layer's output wipes the logits down to the output norm of zeros: all 0.
    res = numpy_model.trace(PROMPT, hooks={f"blk.{numpy_model.config.n_layers - 1}.resid_mlp":
                                           lambda x, name: np.zeros_like(x)})
    assert np.all(res.logits == 0)


def test_attention_rows_sum_to_one_and_are_causal(traced):
    a = traced.attn                                                      # (L, H, n, n)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=0, atol=1e-5)
    n = a.shape[-1]
    assert np.all(a[..., np.triu(np.ones((n, n), bool), 1)] == 0)
    assert np.all(a[..., 0, 0] == pytest.approx(1.0))                    # the first token sees itself only


def test_attention_weights_reproduce_the_head_outputs(numpy_model, traced):
    # weights @ values == what the attention op returned, for every head of one layer.
    m, layer = numpy_model, 7
    c, ids = m.config, traced.tokens
    cache = m.device.kv_cache(c.n_layers, c.n_kv_heads, c.head_dim, len(ids))
    m.net.forward(ids, 0, cache)
    v = np.repeat(cache.v[layer, :, :len(ids)], c.n_heads // c.n_kv_heads, axis=0)   # (H, n, hd)
    out = np.matmul(traced.attn[layer], v).transpose(1, 0, 2)                        # (n, H, hd)
    np.testing.assert_allclose(out, traced.attn_heads[layer], rtol=1e-4, atol=1e-5)


def test_logit_lens_of_last_layer_is_the_final_logits(traced, numpy_model):
    lens = traced.logit_lens()
    assert lens.shape == (numpy_model.config.n_layers, numpy_model.config.n_vocab)
    np.testing.assert_array_equal(lens[-1], traced.logits)
    top = traced.lens_top()
    assert len(top) == numpy_model.config.n_layers and top[-1][0] == traced.top_k(1)[0][1]
    assert traced.logit_lens(after="attn").shape == lens.shape


def test_bad_hook_names_and_shapes_fail_loudly(numpy_model):
    with pytest.raises(WebinferError, match="blk.3.attn_head"):
        numpy_model.trace(PROMPT, hooks={"blk.3.attn_head": lambda x, n: None})
    with pytest.raises(WebinferError, match="matches no tap point"):
        numpy_model.trace(PROMPT, hooks={f"blk.{numpy_model.config.n_layers}.mlp": lambda x, n: None})
    with pytest.raises(WebinferError, match="returned shape"):
        numpy_model.trace(PROMPT, hooks={"blk.0.mlp": lambda x, n: x[:1]})
    with pytest.raises(WebinferError, match="after="):
        numpy_model.trace("Hi").logit_lens(after="norm")
    assert set(HOOK_POINTS) == {"attn_q", "attn_heads", "resid_attn", "mlp", "resid_mlp"}


def test_trace_leaves_the_model_cache_alone_and_atrace_matches(numpy_model, traced):
    import asyncio
    before = list(numpy_model._cache_ids)
    res = asyncio.run(numpy_model.atrace(traced.tokens))
    np.testing.assert_array_equal(res.logits, traced.logits)
    assert numpy_model._cache_ids == before


def test_non_numpy_device_traces_on_a_numpy_twin(numpy_model, model_path):
    # A stand-in for a GPU model: same config/tokenizer, a device that is not numpy.
    from webinfer.device.base import Capabilities

    class FakeGpu:
        name, description, caps = "webgpu", "webgpu: test stand-in", Capabilities()

    import copy
    gpu_model = copy.copy(numpy_model)
    gpu_model.device = FakeGpu()
    gpu_model.gguf = None                  # a model that kept no GGUF needs source=
    with pytest.raises(DeviceError, match="source="):
        gpu_model.trace(PROMPT)
    kept = copy.copy(gpu_model)
    kept.gguf = numpy_model.gguf           # load() keeps the GGUF: no source= needed
    np.testing.assert_array_equal(kept.trace(PROMPT).logits, numpy_model.trace(PROMPT).logits)
    res = gpu_model.trace(PROMPT, source=model_path)
    np.testing.assert_array_equal(res.logits, numpy_model.trace(PROMPT).logits)
    assert gpu_model._numpy_twin is not numpy_model.net
    assert gpu_model.trace(PROMPT).tokens == res.tokens                 # the twin is kept
