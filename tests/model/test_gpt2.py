"""GPT-2 (models/gpt2.py) on the NumPy and WebGPU devices against the naive float64 reference of
tests/gpt2_model.py: prefill of every row, prefill then token-by-token decode, tied and separate
heads, a quantized type; greedy generation through webinfer.load equal on both devices; the fused
decode step refusing GPT-2's step with its reason; the config's errors and `webinfer info`."""

from __future__ import annotations

import numpy as np
import pytest
from gpt2_model import CTX, make_gpt2, reference_logits
from gpu_available import open_webgpu

import webinfer
from webinfer.config import ModelConfig
from webinfer.device.numpy_device import NumpyDevice
from webinfer.errors import GGUFError
from webinfer.formats.gguf import read_gguf
from webinfer.models import network
from webinfer.models.gpt2 import GPT2

TOKENS = [3, 96, 0, 41, 41, 7, 12, 60, 5]


@pytest.fixture(scope="module")
def gdev():
    return open_webgpu()


def _device(kind, gdev):
    return NumpyDevice() if kind == "numpy" else gdev


def _read(dev, x):
    return np.asarray(x) if dev.name == "numpy" else dev.read_sync(x)


@pytest.mark.parametrize("device", ["numpy", "webgpu"])
@pytest.mark.parametrize("wtype, tied", [("F32", True), ("F16", False), ("Q8_0", True)])
def test_forward_matches_the_naive_reference(tmp_path, request, device, wtype, tied):
    gf = read_gguf(make_gpt2(tmp_path / "g.gguf", wtype, tied))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert (cfg.arch, cfg.norm, cfg.positions, cfg.mlp, cfg.tied_embeddings) == ("gpt2", "layer", "learned", "gelu", tied)
    assert network(cfg) is GPT2 and cfg.qkv_bias and cfg.n_ctx_train == CTX
    dev = _device(device, request.getfixturevalue("gdev") if device == "webgpu" else None)
    model = GPT2.load(gf, cfg, dev)
    ref = reference_logits(gf, cfg, TOKENS)
    tol = 1e-4 if wtype == "F32" else 2e-3      # (f16 / q8_0 weights: the reference dequantizes the same
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 32)       # values, so only f32 rounding)
    got = _read(dev, model.forward(TOKENS, 0, cache, all_logits=True))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
    # prefill 3, then decode one at a time: the same rows
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 32)
    model.forward(TOKENS[:3], 0, cache)
    for i in range(3, len(TOKENS)):
        row = _read(dev, model.forward([TOKENS[i]], i, cache))
        np.testing.assert_allclose(row[0], ref[i], rtol=tol, atol=tol)


def test_greedy_generation_is_the_same_on_both_devices(tmp_path, gdev):
    path = make_gpt2(tmp_path / "g.gguf", "F32", seed=4)
    runs = []
    for dev in ("numpy", gdev):
        m = webinfer.load(path, device=dev, n_ctx=CTX)
        res = m.complete([1, 2, 3, 50], max_tokens=40, temperature=0)
        runs.append(res.token_ids)
        if dev is gdev:
            assert m.device.decode_path().startswith("replayed"), m.device.decode_path()
    assert runs[0] == runs[1] and len(runs[0]) == 40


def test_the_fused_decode_step_refuses_gpt2_with_its_reason(tmp_path):
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1          # "auto" leaves llvmpipe unfused without trying
    m = webinfer.load(make_gpt2(tmp_path / "g.gguf", "Q8_0"), device=dev, n_ctx=CTX)
    ref = webinfer.load(make_gpt2(tmp_path / "g.gguf", "Q8_0"), device="numpy", n_ctx=CTX)
    got = m.complete([5, 6, 7], max_tokens=8, temperature=0).token_ids
    assert got == ref.complete([5, 6, 7], max_tokens=8, temperature=0).token_ids
    path = dev.decode_path()
    assert path.startswith("replayed (decode step not fused: ") and "learned position" in path, path
    assert any("learned position" in n for n in dev.notes), dev.notes


def test_config_errors_name_the_tensor_or_key(tmp_path):
    gf = read_gguf(make_gpt2(tmp_path / "g.gguf"))
    names = set(gf.tensors)
    with pytest.raises(GGUFError, match="position_embd"):
        ModelConfig.from_gguf(gf.metadata, names - {"position_embd.weight"})
    cfg = ModelConfig.from_gguf(dict(gf.metadata, **{"gpt2.feed_forward_length": 128}), names)
    with pytest.raises(GGUFError, match="ffn_up.weight' has shape"):
        GPT2.load(gf, cfg, NumpyDevice())
    cfg = ModelConfig.from_gguf(dict(gf.metadata, **{"gpt2.context_length": 2 * CTX}), names)
    with pytest.raises(GGUFError, match="position_embd.weight' has shape"):
        GPT2.load(gf, cfg, NumpyDevice())
    del gf.tensors["blk.1.ffn_norm.bias"]
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    with pytest.raises(GGUFError, match="missing required tensor 'blk.1.ffn_norm.bias'"):
        GPT2.load(gf, cfg, NumpyDevice())


def test_info_names_the_architecture(tmp_path, capsys):
    from webinfer.info import describe
    out = describe(str(make_gpt2(tmp_path / "g.gguf", "Q8_0")))
    assert out["arch"] == "gpt2" and out["runnable"] == "yes", out
    assert "learned positions" in out["variant"] and "LayerNorm" in out["variant"] and "GELU" in out["variant"], out
    assert "rope_theta" not in out
    from webinfer.cli import main
    assert main(["info", str(tmp_path / "g.gguf")]) == 0
    printed = capsys.readouterr().out
    assert "gpt2" in printed and "learned positions" in printed, printed
    assert "not in the fused step" in out["on_webgpu"], out


@pytest.mark.parametrize("device", ["numpy", "webgpu"])
def test_trace_runs_gpt2(tmp_path, request, device):
    """model.trace on GPT-2 (a NumPy twin for the WebGPU model): its logits are the model's, the
    logit lens's last layer (final LayerNorm + head) ends on them, attention rows sum to 1."""
    dev = "numpy" if device == "numpy" else request.getfixturevalue("gdev")
    path = make_gpt2(tmp_path / "g.gguf", "F32", seed=2)
    m = webinfer.load(path, device=dev, n_ctx=CTX)
    ids = [4, 8, 15, 16, 23, 42]
    tr = m.trace(ids)
    gf = read_gguf(path)
    ref = reference_logits(gf, ModelConfig.from_gguf(gf.metadata, gf.tensors.keys()), ids)[-1]
    np.testing.assert_allclose(tr.logits, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tr.logit_lens()[-1], tr.logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tr.attn.sum(-1), 1.0, rtol=1e-5)


def test_quantized_numpy_and_split_webgpu_weights(tmp_path):
    """The NumPy device keeping every weight in its blocks (QMat: embed's take + positions), and
    WebGPU with a binding limit that splits the table and c_fc (embed POS per chunk, the GELU after
    the chunks; the 16 KiB position table just fits): both give the reference's logits, prefill and decode."""
    gf = read_gguf(make_gpt2(tmp_path / "g.gguf", "Q8_0", seed=3, vocab=300))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    ref = reference_logits(gf, cfg, TOKENS)
    split = open_webgpu(limits={"max_storage_buffer_binding_size": 16384})
    blocks = NumpyDevice("every weight quantized", f32_budget=0)
    for dev in (blocks, split):
        model = GPT2.load(gf, cfg, dev)
        cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 32)
        got = _read(dev, model.forward(TOKENS[:5], 0, cache, all_logits=True))
        np.testing.assert_allclose(got, ref[:5], rtol=2e-3, atol=2e-3)
        for i in range(5, len(TOKENS)):
            np.testing.assert_allclose(_read(dev, model.forward([TOKENS[i]], i, cache))[0], ref[i], rtol=2e-3, atol=2e-3)
    assert blocks.quantized_bytes > 0 and blocks.f32_bytes == 0
    chunked = [n.split(":")[0] for n in split.notes if "row chunks" in n]
    assert "token_embd.weight" in chunked and "blk.0.ffn_up.weight" in chunked, split.notes
