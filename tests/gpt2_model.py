"""A tiny random-weight GPT-2 GGUF (general.architecture "gpt2", llama.cpp's tensor names and keys)
and a naive float64 reference of its forward pass, for the tests of models/gpt2.py on both devices.

What this is: the tests' own check of the GPT-2 math (one token and one head at a time, straight
from the equations: LayerNorm, learned positions, fused c_attn, GELU tanh, tied head), beside the
HF-transformers fidelity tests (tests/model/test_arch_fidelity.py), which need torch.
What it is not: a model that says anything (placeholder vocabulary `<t0>`, `<t1>`, ...).
"""

from __future__ import annotations

import numpy as np

V, D, FF, L, HEADS, CTX = 97, 64, 256, 2, 4, 64


def make_gpt2(path, wtype="F32", tied=True, seed=0, d=D, heads=HEADS, ff=FF, layers=L, vocab=V, ctx=CTX,
              eps=1e-5):
    """Write the model; returns path. wtype: the matrices' type (norms, biases, positions are F32)."""
    from webinfer.formats.gguf_write import write_gguf
    rng = np.random.default_rng(seed)

    def r(*shape, s=0.3):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    meta = {"general.architecture": "gpt2", "general.name": "tiny random gpt2",
            "gpt2.block_count": layers, "gpt2.context_length": ctx, "gpt2.embedding_length": d,
            "gpt2.feed_forward_length": ff, "gpt2.attention.head_count": heads,
            "gpt2.attention.layer_norm_epsilon": eps,
            "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
            "tokenizer.ggml.tokens": [f"<t{i}>" for i in range(vocab)],
            "tokenizer.ggml.token_type": [1] * vocab, "tokenizer.ggml.merges": ["<t a"][:0]}
    t = {"token_embd.weight": (r(vocab, d), wtype), "position_embd.weight": r(ctx, d, s=0.1),
         "output_norm.weight": 1 + r(d, s=0.1), "output_norm.bias": r(d, s=0.1)}
    if not tied:
        t["output.weight"] = (r(vocab, d), wtype)
    for i in range(layers):
        p = f"blk.{i}."
        t.update({p + "attn_norm.weight": 1 + r(d, s=0.1), p + "attn_norm.bias": r(d, s=0.1),
                  p + "ffn_norm.weight": 1 + r(d, s=0.1), p + "ffn_norm.bias": r(d, s=0.1),
                  p + "attn_qkv.weight": (r(3 * d, d), wtype), p + "attn_qkv.bias": r(3 * d, s=0.1),
                  p + "attn_output.weight": (r(d, d), wtype), p + "attn_output.bias": r(d, s=0.1),
                  p + "ffn_up.weight": (r(ff, d), wtype), p + "ffn_up.bias": r(ff, s=0.1),
                  p + "ffn_down.weight": (r(d, ff, s=0.1), wtype), p + "ffn_down.bias": r(d, s=0.1)})
    write_gguf(path, meta, t)
    return path


def reference_logits(gf, cfg, tokens):
    """Naive float64 GPT-2: loops over tokens and heads, straight from the equations."""
    W = lambda n: gf.dequantize(n).astype(np.float64)  # noqa: E731
    hd, H = cfg.head_dim, cfg.n_heads
    d = cfg.d_model

    def ln(x, p):
        m = x.mean()
        return (x - m) / np.sqrt(((x - m) ** 2).mean() + cfg.rms_eps) * W(p + ".weight") + W(p + ".bias")

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    n = len(tokens)
    xs = [W("token_embd.weight")[t] + W("position_embd.weight")[i] for i, t in enumerate(tokens)]
    for li in range(cfg.n_layers):
        p = f"blk.{li}."
        Q, K, Vv = [], [], []
        for x in xs:
            qkv = W(p + "attn_qkv.weight") @ ln(x, p + "attn_norm") + W(p + "attn_qkv.bias")
            q, k, v = qkv[:d], qkv[d:2 * d], qkv[2 * d:]
            Q.append([q[j * hd:(j + 1) * hd] for j in range(H)])
            K.append([k[j * hd:(j + 1) * hd] for j in range(H)])
            Vv.append([v[j * hd:(j + 1) * hd] for j in range(H)])
        new = []
        for i in range(n):
            heads = []
            for j in range(H):
                s = np.array([Q[i][j] @ K[t][j] / np.sqrt(hd) for t in range(i + 1)])
                w = np.exp(s - s.max())
                w /= w.sum()
                heads.append(sum(w[t] * Vv[t][j] for t in range(i + 1)))
            x = xs[i] + W(p + "attn_output.weight") @ np.concatenate(heads) + W(p + "attn_output.bias")
            f = gelu(W(p + "ffn_up.weight") @ ln(x, p + "ffn_norm") + W(p + "ffn_up.bias"))
            new.append(x + W(p + "ffn_down.weight") @ f + W(p + "ffn_down.bias"))
        xs = new
    head = W("token_embd.weight" if cfg.tied_embeddings else "output.weight")
    return np.stack([head @ ln(x, "output_norm") for x in xs])
