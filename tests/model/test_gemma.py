"""Small synthetic Gemma 2 / Gemma 3 models (written with gguf_write) through the real loader and
forward pass, against a naive float64 reference written here from HF transformers' modeling_gemma2 /
modeling_gemma3, one token and one head at a time: (1 + w) norms (stored with the 1 added, as
llama.cpp's converter writes them), post-norms, GELU(tanh) MLP, sqrt(d) embedding scale, per-head
q/k norms, sliding-window local layers with their own RoPE base, linear RoPE scaling of the global
layers, query_pre_attn_scalar, soft-caps. Then the WebGPU device (llvmpipe on CI) against the NumPy
device: greedy tokens past the window, logits, and the fused decode step refused with its reason.
Also the config: keys, defaults and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from webinfer.config import ModelConfig
from webinfer.device.numpy_device import NumpyDevice
from webinfer.errors import GGUFError
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf
from webinfer.models import network
from webinfer.models.gemma import Gemma

V, D, FF = 97, 64, 96


def make_gemma(path, arch="gemma3", n_layers=4, heads=4, kv=2, hd=24, window=6, wtype="F32", tied=True,
               pattern=None, extra=None, seed=0, drop=()):
    """A random Gemma GGUF; head_dim != d_model / heads. pattern: the sliding_window_pattern key
    (None: none written, llama.cpp's default period applies)."""
    rng = np.random.default_rng(seed)

    def r(*shape, s=0.3):
        return (rng.standard_normal(shape) * s).astype(np.float32)
    meta = {"general.architecture": arch, f"{arch}.block_count": n_layers, f"{arch}.embedding_length": D,
            f"{arch}.feed_forward_length": FF, f"{arch}.attention.head_count": heads,
            f"{arch}.attention.head_count_kv": kv, f"{arch}.attention.key_length": hd,
            f"{arch}.attention.value_length": hd, f"{arch}.context_length": 512,
            f"{arch}.attention.layer_norm_rms_epsilon": 1e-6, f"{arch}.rope.freq_base": 1e6 if arch == "gemma3" else 1e4,
            f"{arch}.attention.sliding_window": window, f"{arch}.vocab_size": V,
            "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "smollm",
            "tokenizer.ggml.tokens": [f"<t{i}>" for i in range(V)], "tokenizer.ggml.token_type": [1] * V,
            "tokenizer.ggml.merges": []}
    if arch == "gemma2":
        meta.update({"gemma2.attn_logit_softcapping": 5.0, "gemma2.final_logit_softcapping": 3.0})
    if pattern is not None:
        meta[f"{arch}.attention.sliding_window_pattern"] = pattern
    meta.update(extra or {})
    norm = lambda n: 1 + r(n, s=0.2)  # noqa: E731  (the file stores 1 + w)
    t = {"token_embd.weight": (r(V, D), wtype), "output_norm.weight": norm(D)}
    if not tied:
        t["output.weight"] = (r(V, D), wtype)
    for i in range(n_layers):
        p = f"blk.{i}."
        t.update({p + "attn_norm.weight": norm(D), p + "ffn_norm.weight": norm(D),
                  p + "post_attention_norm.weight": norm(D), p + "post_ffw_norm.weight": norm(D),
                  p + "attn_q.weight": (r(heads * hd, D), wtype), p + "attn_k.weight": (r(kv * hd, D), wtype),
                  p + "attn_v.weight": (r(kv * hd, D), wtype), p + "attn_output.weight": (r(D, heads * hd), wtype),
                  p + "ffn_gate.weight": (r(FF, D), wtype), p + "ffn_up.weight": (r(FF, D), wtype),
                  p + "ffn_down.weight": (r(D, FF), wtype)})
        if arch == "gemma3":
            t.update({p + "attn_q_norm.weight": norm(hd), p + "attn_k_norm.weight": norm(hd)})
    for name in drop:
        del t[name]
    write_gguf(path, meta, t)
    return path


def reference_logits(gf, cfg, tokens):
    """Naive float64 Gemma (HF's modeling_gemma3 / gemma2 order of operations), every position."""
    W = lambda n: gf.dequantize(n).astype(np.float64)  # noqa: E731
    hd, H, KV = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads

    def norm(x, w):            # w as stored: 1 + HF's weight
        return x / np.sqrt(np.mean(x * x) + cfg.rms_eps) * w

    def rope(v, pos, theta, factor):
        out = v.copy()
        for i in range(hd // 2):
            ang = pos * theta ** (-2 * i / hd) / factor
            a, b = i, i + hd // 2                      # rotate_half pairs
            out[a] = v[a] * np.cos(ang) - v[b] * np.sin(ang)
            out[b] = v[a] * np.sin(ang) + v[b] * np.cos(ang)
        return out

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    def cap(s, c):
        return np.tanh(s / c) * c if c else s

    def post(x, name):         # Gemma 2 / 3's post-norms; Gemma 1 has none
        return norm(x, W(name)) if name in gf.tensors else x
    n = len(tokens)
    xs = [W("token_embd.weight")[t] * math.sqrt(cfg.d_model) for t in tokens]
    for li in range(cfg.n_layers):
        p = f"blk.{li}."
        local = cfg.local_layers[li]
        theta = (cfg.rope_theta_local or cfg.rope_theta) if local else cfg.rope_theta
        factor = 1.0 if local else cfg.rope_freq_factor
        qk_norm = p + "attn_q_norm.weight" in gf.tensors
        K, Vv, Q = [], [], []
        for pos, x in enumerate(xs):
            h = norm(x, W(p + "attn_norm.weight"))
            q, k, v = (W(p + f"attn_{c}.weight") @ h for c in "qkv")
            qs, ks = [q[j * hd:(j + 1) * hd] for j in range(H)], [k[j * hd:(j + 1) * hd] for j in range(KV)]
            if qk_norm:
                qs = [norm(a, W(p + "attn_q_norm.weight")) for a in qs]
                ks = [norm(a, W(p + "attn_k_norm.weight")) for a in ks]
            Q.append([rope(a, pos, theta, factor) for a in qs])
            K.append([rope(a, pos, theta, factor) for a in ks])
            Vv.append([v[j * hd:(j + 1) * hd] for j in range(KV)])
        new = []
        for i in range(n):
            seen = [t for t in range(i + 1) if not local or i - t < cfg.sliding_window]
            heads = []
            for j in range(H):
                g = j // (H // KV)
                s = cap(np.array([Q[i][j] @ K[t][g] * cfg.attn_scale for t in seen]), cfg.attn_softcap)
                w = np.exp(s - s.max())
                w /= w.sum()
                heads.append(sum(w[m] * Vv[t][g] for m, t in enumerate(seen)))
            x = xs[i] + post(W(p + "attn_output.weight") @ np.concatenate(heads), p + "post_attention_norm.weight")
            h = norm(x, W(p + "ffn_norm.weight"))
            gt, up = W(p + "ffn_gate.weight") @ h, W(p + "ffn_up.weight") @ h
            new.append(x + post(W(p + "ffn_down.weight") @ (gelu(gt) * up), p + "post_ffw_norm.weight"))
        xs = new
    head = W("token_embd.weight" if cfg.tied_embeddings else "output.weight")
    return np.stack([cap(head @ norm(x, W("output_norm.weight")), cfg.final_softcap) for x in xs])


TOKENS = [3, 96, 0, 41, 41, 7, 12, 55, 8, 8, 90, 1, 33, 70]      # longer than the windows below


@pytest.mark.parametrize("arch, kw", [
    ("gemma3", dict(pattern=[True, True, False, True], extra={"gemma3.attention.scale": 0.17,
                                                              "gemma3.rope.scaling.type": "linear",
                                                              "gemma3.rope.scaling.factor": 8.0})),
    ("gemma3", dict(n_layers=6, heads=2, kv=1, hd=32, window=4, wtype="Q8_0", tied=False)),   # period 6
    ("gemma2", dict(n_layers=3, heads=4, kv=4, hd=16, window=5)),                               # period 2
    ("gemma", dict(n_layers=2, heads=4, kv=1, hd=16, window=0, wtype="Q4_0",                  # Gemma 1
                   drop=[f"blk.{i}.post_{n}.weight" for i in range(2) for n in ("attention_norm", "ffw_norm")])),
])
def test_forward_matches_the_naive_reference(tmp_path, arch, kw, monkeypatch):
    gf = read_gguf(make_gemma(tmp_path / "m.gguf", arch, **kw))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert network(cfg) is Gemma and cfg.rope_neox and not all(cfg.local_layers)
    assert any(cfg.local_layers) == (arch != "gemma") and bool(cfg.sliding_window) == (arch != "gemma")
    dev = NumpyDevice()
    model = Gemma.load(gf, cfg, dev)
    ref = reference_logits(gf, cfg, TOKENS)
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 32)
    got = model.forward(TOKENS, 0, cache, all_logits=True)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    # prefill 3, then decode one at a time: same last rows (the window slides past the prompt)
    cache = dev.kv_cache(cfg.n_layers, cfg.n_kv_heads, cfg.head_dim, 32)
    model.forward(TOKENS[:3], 0, cache)
    for i in range(3, len(TOKENS)):
        row = model.forward([TOKENS[i]], i, cache)
        np.testing.assert_allclose(row[0], ref[i], rtol=1e-4, atol=1e-4)


def test_window_matters(tmp_path):
    """The same weights with no window give other logits past the window (the mask is not a no-op)."""
    gf = read_gguf(make_gemma(tmp_path / "m.gguf", "gemma2", n_layers=2, window=3))
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    ref = reference_logits(gf, cfg, TOKENS)
    wide = reference_logits(gf, ModelConfig(**{**cfg.__dict__, "sliding_window": 100}), TOKENS)
    assert np.allclose(ref[:3], wide[:3]) and not np.allclose(ref[-1], wide[-1], atol=1e-3)


def test_config_keys_and_defaults(tmp_path):
    gf = read_gguf(make_gemma(tmp_path / "a.gguf", "gemma3", n_layers=7, hd=24, window=6))
    c = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert c.local_layers == (True,) * 5 + (False, True)          # llama.cpp's period 6
    assert c.sliding_window == 6 and c.rope_theta_local == 10000.0 and c.rope_theta == 1e6
    assert c.attn_scale == pytest.approx(24 ** -0.5) and c.rope_freq_factor == 1.0
    assert c.attn_softcap == 0 and c.final_softcap == 0 and c.head_dim == 24 and c.rope_neox
    gf = read_gguf(make_gemma(tmp_path / "b.gguf", "gemma2", n_layers=3, hd=16, window=5))
    c = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert c.local_layers == (True, False, True) and c.rope_theta_local == 0.0
    assert (c.attn_softcap, c.final_softcap) == (5.0, 3.0)
    gf = read_gguf(make_gemma(tmp_path / "c.gguf", "gemma3", extra={"gemma3.rope.freq_base_swa": 5000.0,
                                                                     "gemma3.attention.sliding_window_pattern": 2}))
    c = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert c.rope_theta_local == 5000.0 and c.local_layers == (True, False, True, False)


@pytest.mark.parametrize("kw, match", [
    (dict(pattern=[True, False]), "sliding_window_pattern has 2 entries"),
    (dict(extra={"gemma3.rope.scaling.type": "yarn"}), "RoPE scaling type"),
    (dict(drop=("blk.1.attn_k_norm.weight",)), "blk.1.attn_k_norm.weight"),
    (dict(drop=[f"blk.{i}.attn_q_norm.weight" for i in range(4)] + [f"blk.{i}.attn_k_norm.weight" for i in range(4)]),
     "attn_q_norm"),
    (dict(drop=("blk.2.post_ffw_norm.weight",)), "post_ffw_norm"),
    (dict(extra={"gemma3.attention.sliding_window": 1000}), "sliding window 1000 is longer"),
])
def test_contradictions_are_gguf_errors(tmp_path, kw, match):
    from webinfer.errors import UnsupportedModelError
    path = make_gemma(tmp_path / "m.gguf", "gemma3", **kw)
    gf = read_gguf(path)
    with pytest.raises((GGUFError, UnsupportedModelError), match=match):
        cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
        Gemma.load(gf, cfg, NumpyDevice())


# -- WebGPU ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gdev():
    from gpu_available import open_webgpu
    return open_webgpu()


@pytest.mark.parametrize("arch, kw", [
    ("gemma3", dict(n_layers=6, heads=4, kv=2, hd=32, window=9, wtype="Q8_0")),
    ("gemma2", dict(n_layers=2, heads=4, kv=1, hd=64, window=12)),      # head_dim 64: the tiled prefill
])
def test_webgpu_greedy_equals_numpy(tmp_path, gdev, arch, kw):
    """Greedy 32 tokens after a prompt, well past the window, over a 300-position cache (decode
    attention in flash-decoding splits, the first ones wholly outside the window later on): the
    same tokens on both devices, the prompt's logits within 1e-4; the fused decode step refused
    (fused forced on), with its reason in the notes and decode_path."""
    import webinfer
    path = make_gemma(tmp_path / "m.gguf", arch, **kw)
    prompt = TOKENS + TOKENS[::-1]
    ref = webinfer.load(str(path), device="numpy", n_ctx=300)
    want = ref.complete(prompt, max_tokens=32, temperature=0)
    gdev.fused = "on"
    gdev.notes.clear()
    gdev._programs.clear()
    try:
        m = webinfer.load(str(path), device=gdev, n_ctx=300)
        got = m.complete(prompt, max_tokens=32, temperature=0)
        assert got.token_ids == want.token_ids
        ref.reset()
        m.reset()
        a = np.asarray(ref.prefill(prompt)[0]).reshape(-1)
        b = gdev.read_sync(m.prefill(prompt)[0]).reshape(-1)
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4)
        path_says = gdev.decode_path()
        assert path_says.startswith("replayed (decode step not fused: decode_fused.wgsl has no commands for "), path_says
        for what in ("embedding scaling", "post-norms", "a GELU-tanh MLP", "sliding-window attention"):
            assert what in path_says
        assert ("soft-capped attention" in path_says) == (arch == "gemma2")
    finally:
        gdev.fused = "auto"


@pytest.mark.parametrize("name", ["gemma3", "gemma2"])
def test_hf_fixture_exercises_the_window(name):
    """tests/data/arch/NAME (tools/hf_fixtures; test_arch_fidelity.py runs it against HF): local and
    global layers, a window shorter than the prompt + the greedy tokens, and the file's config reads
    them as HF's config says."""
    import json
    from pathlib import Path
    arch = Path(__file__).resolve().parents[1] / "data" / "arch"
    doc = json.loads((arch / f"{name}.json").read_text())
    hf = doc["config"]
    assert "sliding_attention" in hf["layer_types"] and "full_attention" in hf["layer_types"]
    assert hf["sliding_window"] < len(doc["prompt"]) + doc["n_new"]
    gf = read_gguf(arch / f"{name}.f32.gguf")
    cfg = ModelConfig.from_gguf(gf.metadata, gf.tensors.keys())
    assert cfg.local_layers == tuple(t == "sliding_attention" for t in hf["layer_types"])
    assert cfg.sliding_window == hf["sliding_window"]
    assert cfg.attn_scale == pytest.approx(hf["query_pre_attn_scalar"] ** -0.5)
    assert (cfg.attn_softcap, cfg.final_softcap) == (hf["attn_logit_softcapping"] or 0.0,
                                                     hf["final_logit_softcapping"] or 0.0)
    if name == "gemma3":
        rope = hf["rope_parameters"]
        assert cfg.rope_theta == rope["full_attention"]["rope_theta"]
        assert cfg.rope_theta_local == rope["sliding_attention"]["rope_theta"]
        assert cfg.rope_freq_factor == rope["full_attention"]["factor"]
        # llama.cpp's converter adds 1 to every norm weight: HF's (1 + w) with w ~ 1 + N(0, 0.2)
        assert 1.5 < float(np.mean(gf.dequantize("blk.0.attn_q_norm.weight"))) < 2.5


def test_info_names_the_window_softcaps_and_decode_path(tmp_path):
    from webinfer.info import describe
    path = make_gemma(tmp_path / "m.gguf", "gemma2", n_layers=3, hd=16, window=5)
    info = describe(path)
    assert info["arch"] == "gemma2" and info["runnable"] == "yes"
    assert info["sliding_window"] == "5 on 2 of 3 layers" and info["softcaps"] == "attention 5, logits 3"
    assert info["on_webgpu"].startswith("the replayed decode step")


def test_models_sharing_a_device_replay_their_own_steps(gdev):
    """Models loaded one after another on one device (as a test module's) each get their own
    recorded decode step: the key is per KV cache made, not id(cache), which a freed model's cache
    can pass on to the next one (the next model then replayed the old one's step: same vocabulary,
    right prefill, wrong tokens from the first decode step on)."""
    import gc
    import json
    from pathlib import Path
    import webinfer
    arch = Path(__file__).resolve().parents[1] / "data" / "arch"
    keys = set()
    for name in ("gemma2", "gemma3", "gemma2"):
        doc = json.loads((arch / f"{name}.json").read_text())
        m = webinfer.load(arch / f"{name}.f32.gguf", device=gdev, n_ctx=64)
        assert m._step_key not in gdev._programs and m._step_key not in keys
        keys.add(m._step_key)
        got = m.complete(doc["prompt"], max_tokens=8, temperature=0).token_ids
        assert got == doc["variants"]["f32"]["tokens"][:8], name
        del m
        gc.collect()
