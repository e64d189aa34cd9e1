"""A tiny model whose weights are Q5_0, Q5_1, K-quants (Q2_K .. Q6_K), IQ4_NL and IQ4_XS runs on the
WebGPU device with those weights kept as raw blocks (quant.wgsl's decoders; no F32 upload note)
and gives NumPy's logits, through prefill (tiled matmul), the replayed decode step and the
embedding; the decode steps after the prompt run as the fused step (decode_fused.wgsl: Q5_0, Q5_1
and IQ4_NL in its batched path, the 256-weight types a group at a time, a Q6_K or Q5_0 embedding
included), which gives the plain replay's logits."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from gpu_available import open_webgpu

from webinfer.device.webgpu import fused

from webinfer.config import ModelConfig
from webinfer.device.numpy_device import NumpyDevice
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf
from webinfer.models.llama import Llama

_spec = importlib.util.spec_from_file_location("tiny_models", Path(__file__).with_name("test_tiny_models.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

# (q, k, v), (gate, up) share a type so they stack into one weight of that type (QWeight.stack).
MIXES = {
    "q4_k_m": {"token_embd": "Q6_K", "output": "Q4_K", "qkv": "Q4_K", "attn_output": "Q5_0",
               "gate_up": "Q5_1", "ffn_down": "Q6_K"},
    "q5": {"token_embd": "Q5_0", "output": "Q6_K", "qkv": "Q5_1", "attn_output": "Q5_K",
           "gate_up": "Q6_K", "ffn_down": "Q5_0"},
    # a fused-step type for the embedding: the refusal then comes from the first matvec
    "q8_embed": {"token_embd": "Q8_0", "output": "Q5_0", "qkv": "Q6_K", "attn_output": "Q5_1",
                 "gate_up": "Q4_K", "ffn_down": "Q4_K"},
    "iq4": {"token_embd": "Q8_0", "output": "IQ4_XS", "qkv": "IQ4_NL", "attn_output": "IQ4_XS",
            "gate_up": "IQ4_XS", "ffn_down": "IQ4_NL"},
    "q2_q3": {"token_embd": "Q8_0", "output": "Q3_K", "qkv": "Q2_K", "attn_output": "Q3_K",
              "gate_up": "Q3_K", "ffn_down": "Q2_K"},
}
# each mix's types: the fused step compiles in these and no other of the non-core types
TYPES = {mix: sorted(set(types.values())) for mix, types in MIXES.items()}


def make_model(path, mix, seed=11):
    rng = np.random.default_rng(seed)
    d, ff, heads, kv, vocab, n_layers = 256, 512, 4, 2, 97, 2
    hd = d // heads
    meta = {"general.architecture": "llama", "llama.block_count": n_layers, "llama.embedding_length": d,
            "llama.feed_forward_length": ff, "llama.attention.head_count": heads,
            "llama.attention.head_count_kv": kv, "llama.context_length": 64,
            "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 10000.0,
            "llama.vocab_size": vocab}
    norm = lambda: (1 + rng.standard_normal(d) * 0.1).astype(np.float32)  # noqa: E731
    def weight(type_name, shape):
        if type_name == "Q8_0":       # a type with a quantizer: written from float32
            return (rng.standard_normal(shape) * 0.3).astype(np.float32), type_name
        return tiny.random_blocks(rng, type_name, shape)
    t = {"token_embd.weight": weight(mix["token_embd"], (vocab, d)),
         "output.weight": weight(mix["output"], (vocab, d)), "output_norm.weight": norm()}
    for i in range(n_layers):
        p = f"blk.{i}."
        shapes = {"attn_q": ("qkv", (heads * hd, d)), "attn_k": ("qkv", (kv * hd, d)),
                  "attn_v": ("qkv", (kv * hd, d)), "attn_output": ("attn_output", (d, heads * hd)),
                  "ffn_gate": ("gate_up", (ff, d)), "ffn_up": ("gate_up", (ff, d)), "ffn_down": ("ffn_down", (d, ff))}
        t.update({p + k + ".weight": tiny.random_blocks(rng, mix[m], shape) for k, (m, shape) in shapes.items()})
        t.update({p + "attn_norm.weight": norm(), p + "ffn_norm.weight": norm()})
    write_gguf(path, meta, t)
    return path


@pytest.mark.parametrize("mix", list(MIXES))
def test_new_types_run_on_webgpu_as_blocks_with_numpys_logits(tmp_path, mix):
    gf = read_gguf(make_model(tmp_path / "m.gguf", MIXES[mix]))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    tokens = [3, 96, 0, 41, 7, 12]

    def run(dev, read):
        model = Llama.load(gf, cfg, dev)
        cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 16)
        out = [read(model.forward(tokens[:4], 0, cache, all_logits=True))]        # prefill: tiled matmul
        for pos in range(4, len(tokens)):                     # decode: replayed step (fused: after its first)
            step = dev.replay("step", lambda toks, p: model.forward(toks, p, cache), [tokens[pos]], pos)
            out.append(read(step).reshape(1, -1))
        return np.concatenate(out).astype(np.float64)

    ref = tiny.reference_logits(gf, cfg, tokens)
    want = run(NumpyDevice(), np.asarray)
    np.testing.assert_allclose(want, ref, rtol=1e-4, atol=1e-4)
    plain_dev = open_webgpu()
    plain_dev.fused = "off"
    plain = run(plain_dev, lambda t: asyncio.run(plain_dev.read(t)))
    dev = open_webgpu()
    dev.fused, dev.fused_workgroups = "on", 1
    got = run(dev, lambda t: asyncio.run(dev.read(t)))
    assert not [n for n in dev.notes if "uploaded as F32" in n], dev.notes
    for g in (plain, got):
        err = np.abs(g - want)
        assert np.all(err <= 1e-3 * (1 + np.abs(want))), f"max err {err.max():.3g}"
    path = dev.decode_path()
    assert path.startswith("fused"), path
    np.testing.assert_allclose(got[4:], plain[4:], rtol=1e-4, atol=1e-4 * (1 + np.abs(plain).max()))
    # the step's commands carry the mix's types, and its program has their code only: W_<type> for
    # each, W_256 where one has 256-weight blocks (gpu.pipeline's key: the variant compiled)
    prog = next(p.fused for p in dev._programs.values() if p.fused is not None)
    qt = {v: k for k, v in fused.QTYPES.items()}
    mv = prog.table[1:][np.isin(prog.table[1:, fused.C["op"]], (fused.OP_EMBED, fused.OP_MATVEC))]
    assert sorted({qt[int(q)] for q in mv[:, fused.C["qt"]]}) == TYPES[mix]
    (defines,) = {d for (shader, d, _) in dev.gpu._pipelines if shader == "decode_fused.wgsl"}
    k256 = {"W_256"} if set(TYPES[mix]) & set(fused.GROUPWISE) else set()
    assert {d for d in defines if d.startswith("W_")} == {"W_" + t for t in TYPES[mix]} | k256
