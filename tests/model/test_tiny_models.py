"""Small synthetic models (written with gguf_write) through the real loader and forward pass,
checked against a naive reference written here from the papers' equations, one token and one
head at a time: llama (adjacent RoPE pairs, tied head) and qwen2 (NeoX pairs, q/k/v biases,
separate head), several weight types, GQA ratios, prefill vs token-by-token decode.
Also the config errors: unsupported architecture, missing keys, wrong shapes."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.config import ModelConfig
from webinfer.device.numpy_device import NumpyDevice
from webinfer.errors import GGUFError, UnsupportedModelError
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import RawTensor, write_gguf
from webinfer.formats.quants import DEQUANT_TYPES
from webinfer.models.llama import Llama

V, D, FF, L = 97, 64, 96, 2


def make_model(path, arch="llama", heads=4, kv=2, wtype="Q8_0", tied=True, bias=False, seed=0):
    rng = np.random.default_rng(seed)
    hd = D // heads

    def r(*shape, s=0.3):
        return (rng.standard_normal(shape) * s).astype(np.float32)
    meta = {"general.architecture": arch, f"{arch}.block_count": L, f"{arch}.embedding_length": D,
            f"{arch}.feed_forward_length": FF, f"{arch}.attention.head_count": heads,
            f"{arch}.attention.head_count_kv": kv, f"{arch}.context_length": 64,
            f"{arch}.attention.layer_norm_rms_epsilon": 1e-5, f"{arch}.rope.freq_base": 10000.0,
            f"{arch}.vocab_size": V}
    t = {"token_embd.weight": (r(V, D), wtype), "output_norm.weight": 1 + r(D, s=0.1)}
    if not tied:
        t["output.weight"] = (r(V, D), wtype)
    for i in range(L):
        p = f"blk.{i}."
        t.update({p + "attn_norm.weight": 1 + r(D, s=0.1), p + "ffn_norm.weight": 1 + r(D, s=0.1),
                  p + "attn_q.weight": (r(heads * hd, D), wtype), p + "attn_k.weight": (r(kv * hd, D), wtype),
                  p + "attn_v.weight": (r(kv * hd, D), wtype), p + "attn_output.weight": (r(D, heads * hd), wtype),
                  p + "ffn_gate.weight": (r(FF, D), wtype), p + "ffn_up.weight": (r(FF, D), wtype),
                  p + "ffn_down.weight": (r(D, FF), wtype)})
        if bias:
            t.update({p + "attn_q.bias": r(heads * hd), p + "attn_k.bias": r(kv * hd), p + "attn_v.bias": r(kv * hd)})
    write_gguf(path, meta, t)
    return path


def reference_logits(gf, cfg, tokens):
    """Naive float64 transformer: loops over tokens and heads, straight from the equations."""
    W = lambda n: gf.dequantize(n).astype(np.float64)  # noqa: E731
    hd, H, KV = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads

    def norm(x, w):
        return x / np.sqrt(np.mean(x * x) + cfg.rms_eps) * w

    def rope(v, pos):
        out = v.copy()
        for i in range(hd // 2):
            ang = pos * cfg.rope_theta ** (-2 * i / hd)
            a, b = (i, i + hd // 2) if cfg.rope_neox else (2 * i, 2 * i + 1)
            out[a] = v[a] * np.cos(ang) - v[b] * np.sin(ang)
            out[b] = v[a] * np.sin(ang) + v[b] * np.cos(ang)
        return out
    n = len(tokens)
    xs = [W("token_embd.weight")[t] for t in tokens]
    for li in range(cfg.n_layers):
        p = f"blk.{li}."
        b = {k: (W(p + f"attn_{k}.bias") if cfg.qkv_bias else 0.0) for k in "qkv"}
        K, Vv, Q = [], [], []
        for pos, x in enumerate(xs):
            h = norm(x, W(p + "attn_norm.weight"))
            q, k, v = (W(p + f"attn_{c}.weight") @ h + b[c] for c in "qkv")
            Q.append([rope(q[j * hd:(j + 1) * hd], pos) for j in range(H)])
            K.append([rope(k[j * hd:(j + 1) * hd], pos) for j in range(KV)])
            Vv.append([v[j * hd:(j + 1) * hd] for j in range(KV)])
        new = []
        for i in range(n):
            heads = []
            for j in range(H):
                g = j // (H // KV)
                s = np.array([Q[i][j] @ K[t][g] / np.sqrt(hd) for t in range(i + 1)])
                w = np.exp(s - s.max())
                w /= w.sum()
                heads.append(sum(w[t] * Vv[t][g] for t in range(i + 1)))
            x = xs[i] + W(p + "attn_output.weight") @ np.concatenate(heads)
            h = norm(x, W(p + "ffn_norm.weight"))
            gt, up = W(p + "ffn_gate.weight") @ h, W(p + "ffn_up.weight") @ h
            new.append(x + W(p + "ffn_down.weight") @ (gt / (1 + np.exp(-gt)) * up))
        xs = new
    head = W("token_embd.weight" if cfg.tied_embeddings else "output.weight")
    return np.stack([head @ norm(x, W("output_norm.weight")) for x in xs])


@pytest.mark.parametrize("arch, heads, kv, wtype, tied, bias", [
    ("llama", 4, 2, "Q8_0", True, False),
    ("llama", 4, 4, "Q4_0", False, False),
    ("llama", 4, 1, "F16", True, False),
    ("qwen2", 4, 2, "Q4_1", False, True),
    ("mistral", 2, 1, "F32", True, False),
])
def test_forward_matches_the_naive_reference(tmp_path, arch, heads, kv, wtype, tied, bias):
    gf = read_gguf(make_model(tmp_path / "m.gguf", arch, heads, kv, wtype, tied, bias))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert cfg.rope_neox == (arch == "qwen2") and cfg.qkv_bias == bias and cfg.tied_embeddings == tied
    dev = NumpyDevice()
    model = Llama.load(gf, cfg, dev)
    tokens = [3, 96, 0, 41, 41, 7, 12]
    ref = reference_logits(gf, cfg, tokens)
    # prefill all at once, every row
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 16)
    got = model.forward(tokens, 0, cache, all_logits=True)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # prefill 3, then decode one at a time: same last rows
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 16)
    model.forward(tokens[:3], 0, cache)
    for i in range(3, len(tokens)):
        row = model.forward([tokens[i]], i, cache)
        np.testing.assert_allclose(row[0], ref[i], rtol=1e-4, atol=1e-4)


# Byte offsets of the f16 scales (d, and dmin or m) of the types that have no quantizer.
F16_FIELDS = {"Q5_0": (0,), "Q5_1": (0, 2), "Q2_K": (80, 82), "Q3_K": (108,), "Q4_K": (0, 2),
              "Q5_K": (0, 2), "Q6_K": (208,), "IQ4_NL": (0,), "IQ4_XS": (0,)}


def random_blocks(rng, type_name, shape, amax=0.5):
    """A RawTensor of random codes and sub-block scales, its f16 scales set so max |x| ~ amax
    (x is linear in d and dmin together, so one factor on both scales every value)."""
    q = next(t for t in DEQUANT_TYPES.values() if t.name == type_name)
    raw = rng.integers(0, 256, size=(int(np.prod(shape)) // q.block_size, q.type_size), dtype=np.uint8)

    def set_scales(x):
        for off in F16_FIELDS[type_name]:
            raw[:, off:off + 2] = np.frombuffer(np.float16(x).tobytes(), np.uint8)
    set_scales(1.0)
    set_scales(amax / float(np.abs(q.dequantize(raw)).max()))
    return RawTensor(tuple(shape), q.ggml_type, raw.tobytes())


def test_k_quant_iq4_and_q5_weights_load_and_run_on_numpy(tmp_path):
    # One tensor of each dequantize-only type (Q4_K and Q6_K as in a Q4_K_M file); rows of 256
    # for the K-quants. Mixed q/k/v and gate/up types take QWeight.stack's float32 path.
    rng = np.random.default_rng(7)
    d, ff, heads, kv, vocab = 256, 256, 4, 2, 97
    hd = d // heads
    mix = {"attn_q": ("Q4_K", (heads * hd, d)), "attn_k": ("Q3_K", (kv * hd, d)),
           "attn_v": ("Q5_K", (kv * hd, d)), "attn_output": ("IQ4_XS", (d, heads * hd)),
           "ffn_gate": ("Q2_K", (ff, d)), "ffn_up": ("Q5_0", (ff, d)), "ffn_down": ("Q6_K", (d, ff))}
    meta = {"general.architecture": "llama", "llama.block_count": 1, "llama.embedding_length": d,
            "llama.feed_forward_length": ff, "llama.attention.head_count": heads,
            "llama.attention.head_count_kv": kv, "llama.context_length": 64,
            "llama.attention.layer_norm_rms_epsilon": 1e-5, "llama.rope.freq_base": 10000.0,
            "llama.vocab_size": vocab}
    norm = lambda: (1 + rng.standard_normal(d) * 0.1).astype(np.float32)  # noqa: E731
    t = {"token_embd.weight": random_blocks(rng, "Q6_K", (vocab, d)),
         "output.weight": random_blocks(rng, "Q5_1", (vocab, d)), "output_norm.weight": norm(),
         "blk.0.attn_norm.weight": norm(), "blk.0.ffn_norm.weight": norm()}
    t.update({f"blk.0.{k}.weight": random_blocks(rng, ty, shape) for k, (ty, shape) in mix.items()})
    write_gguf(tmp_path / "k.gguf", meta, t)
    gf = read_gguf(tmp_path / "k.gguf")
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    dev = NumpyDevice()
    model = Llama.load(gf, cfg, dev)
    assert gf.summary()["unsupported_types"] == []
    tokens = [3, 96, 0, 41, 7]
    ref = reference_logits(gf, cfg, tokens)
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 16)
    got = model.forward(tokens[:4], 0, cache, all_logits=True)
    np.testing.assert_allclose(got, ref[:4], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.forward(tokens[4:], 4, cache)[0], ref[4], rtol=1e-4, atol=1e-4)


def test_unsupported_architecture_is_named(tmp_path):
    gf = read_gguf(make_model(tmp_path / "m.gguf"))
    meta = dict(gf.metadata, **{"general.architecture": "mamba"})
    with pytest.raises(UnsupportedModelError, match="'mamba' is not supported"):
        ModelConfig.from_gguf(meta, gf.tensors.keys())


@pytest.mark.parametrize("key", ["llama.block_count", "llama.embedding_length", "general.architecture"])
def test_missing_required_metadata_is_named(tmp_path, key):
    gf = read_gguf(make_model(tmp_path / "m.gguf"))
    meta = {k: v for k, v in gf.metadata.items() if k != key}
    with pytest.raises(GGUFError, match=f"missing required metadata key '{key}'"):
        ModelConfig.from_gguf(meta, gf.tensors.keys())


def test_bad_head_counts_and_absurd_values(tmp_path):
    gf = read_gguf(make_model(tmp_path / "m.gguf"))
    with pytest.raises(GGUFError, match="not a multiple"):
        ModelConfig.from_gguf(dict(gf.metadata, **{"llama.attention.head_count_kv": 3}), gf.tensors.keys())
    with pytest.raises(GGUFError, match="out of range"):
        ModelConfig.from_gguf(dict(gf.metadata, **{"llama.block_count": 10**9}), gf.tensors.keys())


def test_wrong_tensor_shape_and_missing_tensor_are_named(tmp_path):
    gf = read_gguf(make_model(tmp_path / "m.gguf"))
    meta = dict(gf.metadata, **{"llama.feed_forward_length": FF + 32})
    cfg = ModelConfig.from_gguf(meta, gf.tensors.keys())
    with pytest.raises(GGUFError, match="blk.0.ffn_gate.weight.*expected"):
        Llama.load(gf, cfg, NumpyDevice())
    cfg = ModelConfig.from_gguf(dict(gf.metadata, **{"llama.block_count": L + 1}), gf.tensors.keys())
    with pytest.raises(GGUFError, match="missing required tensor 'blk.2.attn_norm.weight'"):
        Llama.load(gf, cfg, NumpyDevice())
