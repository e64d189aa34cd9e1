"""The Gemma family (gemma, gemma2, gemma3), written against the Device ops vocabulary.

What differs from models/llama.py, all of it in ``forward``'s one straight line:
* embeddings scaled by sqrt(d_model) (float32, as HF's Gemma*ScaledWordEmbedding);
* RMSNorm with (1 + w): llama.cpp's converter stores every ``*norm.weight`` with the 1 already
  added (convert_hf_to_gguf.py, Gemma*Model.modify_tensors), so the file's weight is used as it is;
* norms after attention and after the MLP too (post_attention_norm, post_ffw_norm; Gemma 2 and 3),
  their output added to the residual;
* GELU(tanh)-gated MLP (``linear_geglu``);
* per-head RMSNorm of q and k before RoPE (attn_q_norm / attn_k_norm; Gemma 3), the ``head_norm`` op;
* local layers (cfg.local_layers) attend over the last cfg.sliding_window positions only, with
  their own RoPE base (cfg.rope_theta_local, Gemma 3); the global layers' RoPE may be linearly
  scaled (cfg.rope_freq_factor: rope_kv gets freqs, the inverse frequencies divided by it); queries
  scaled by cfg.attn_scale (query_pre_attn_scalar ** -0.5);
* soft-capping of the attention scores and of the output logits where the file sets it (Gemma 2).
RoPE pairs are NeoX's (i, i + d/2): the converter does not permute Gemma's q/k rows.

The KV cache of a local layer keeps every position like a global layer's (simplest; attention
reads only the window of it).

Not here: tokens in, text out (webinfer.generate), reading files (formats.gguf), the metadata keys
(config._gemma_fields).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..config import ModelConfig
from ..device.numpy_device import rope_inv_freq
from ..errors import GGUFError
from ..weights import QWeight
from .checks import require_tensors


@dataclass
class Layer:
    attn_norm: Any        # (d_model,), with the +1 the file stores
    wqkv: Any             # (q_dim + 2 * kv_dim, d_model), q/k/v stacked
    q_norm: Any           # (head_dim,) or None: per-head RMSNorm of q and of k (Gemma 3)
    k_norm: Any
    wo: Any               # (d_model, q_dim)
    post_attn_norm: Any   # (d_model,) or None (Gemma 1)
    ffn_norm: Any         # (d_model,): pre_feedforward_layernorm
    w_gate_up: Any        # (2 * d_ff, d_model), gate rows then up rows
    w_down: Any           # (d_model, d_ff)
    post_ffw_norm: Any    # (d_model,) or None (Gemma 1)


class Gemma:
    def __init__(self, cfg: ModelConfig, device, layers: list[Layer], tok_embd, out_norm, output):
        self.cfg, self.dev = cfg, device
        self.layers, self.tok_embd, self.out_norm, self.output = layers, tok_embd, out_norm, output
        self.embed_scale = float(np.float32(math.sqrt(cfg.d_model)))   # HF: torch.tensor(d_model ** 0.5), f32
        # the global layers' linearly scaled RoPE (HF's "linear" rope_type): inverse frequencies / factor
        self.global_freqs = (None if cfg.rope_freq_factor == 1.0 else
                             (rope_inv_freq(cfg.rope_theta, cfg.head_dim) / np.float32(cfg.rope_freq_factor))
                             .astype(np.float32))

    @classmethod
    def load(cls, gf, cfg: ModelConfig, device, progress: Callable[[int, int], None] | None = None) -> "Gemma":
        """Hand every weight to the device, fusing q/k/v and gate/up on the way."""
        qk_norm, post = _check_shapes(gf, cfg)
        total = cfg.n_layers + 2
        note = progress or (lambda done, total: None)
        device.plan_weights(4 * sum(t.n_elements for n, t in gf.tensors.items()
                                    if n.endswith(".weight") and len(t.shape) >= 2))
        tok_embd = device.weight(QWeight.from_gguf(gf, "token_embd.weight"))
        output = tok_embd if cfg.tied_embeddings else device.weight(QWeight.from_gguf(gf, "output.weight"))
        out_norm = device.vector(gf.dequantize("output_norm.weight"))
        note(1, total)

        def vec(name, present=True):
            return device.vector(gf.dequantize(name)) if present else None

        layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            q, k, v = (QWeight.from_gguf(gf, p + f"attn_{x}.weight") for x in "qkv")
            gate, up = QWeight.from_gguf(gf, p + "ffn_gate.weight"), QWeight.from_gguf(gf, p + "ffn_up.weight")
            layers.append(Layer(
                attn_norm=vec(p + "attn_norm.weight"),
                wqkv=device.weight(QWeight.stack(p + "attn_qkv", [q, k, v])),
                q_norm=vec(p + "attn_q_norm.weight", qk_norm),
                k_norm=vec(p + "attn_k_norm.weight", qk_norm),
                wo=device.weight(QWeight.from_gguf(gf, p + "attn_output.weight")),
                post_attn_norm=vec(p + "post_attention_norm.weight", post),
                ffn_norm=vec(p + "ffn_norm.weight"),
                w_gate_up=device.weight(QWeight.stack(p + "ffn_gate_up", [gate, up])),
                w_down=device.weight(QWeight.from_gguf(gf, p + "ffn_down.weight")),
                post_ffw_norm=vec(p + "post_ffw_norm.weight", post),
            ))
            note(i + 2, total)
        note(total, total)
        return cls(cfg, device, layers, tok_embd, out_norm, output)

    def forward(self, tokens: Sequence[int], pos: int, cache, all_logits: bool = False, tap=None):
        """As Llama.forward: logits of the last token (1, n_vocab), or of every token with all_logits;
        tap sees the same named activations."""
        c, dev = self.cfg, self.dev
        t = tap or _untapped
        x = t("embed", dev.scale(dev.embed(self.tok_embd, tokens), self.embed_scale))   # (n, d_model)
        for i, L in enumerate(self.layers):
            p = f"blk.{i}."
            local = c.local_layers[i] if c.local_layers else False
            h = dev.rms_norm(x, L.attn_norm, c.rms_eps)                          # (n, d_model)
            qkv = dev.linear(h, L.wqkv)                                          # (n, q_dim + 2 * kv_dim)
            if L.q_norm is not None:                                             # per head, q and k
                qkv = dev.head_norm(qkv, L.q_norm, L.k_norm, c.n_heads, c.n_kv_heads, c.head_dim, c.rms_eps)
            q = t(p + "attn_q", dev.rope_kv(                                     # (n, q_dim); k, v -> cache
                qkv, cache, i, pos, c.n_heads, c.n_kv_heads, c.head_dim,
                c.rope_theta_local or c.rope_theta if local else c.rope_theta, c.rope_neox,
                None if local else self.global_freqs))
            a = t(p + "attn_heads", dev.attention(                               # (n, q_dim), heads side by side
                q, cache, i, pos, c.n_heads, c.n_kv_heads, c.head_dim,
                c.attn_scale, c.sliding_window if local else 0, c.attn_softcap))
            o = dev.linear(a, L.wo)                                              # (n, d_model)
            if L.post_attn_norm is not None:
                o = dev.rms_norm(o, L.post_attn_norm, c.rms_eps)
            x = t(p + "resid_attn", dev.add(x, o))                               # (n, d_model)
            h = dev.rms_norm(x, L.ffn_norm, c.rms_eps)                           # (n, d_model)
            f = t(p + "mlp", dev.linear_geglu(h, L.w_gate_up))                    # (n, d_ff)
            o = dev.linear(f, L.w_down)                                          # (n, d_model)
            if L.post_ffw_norm is not None:
                o = dev.rms_norm(o, L.post_ffw_norm, c.rms_eps)
            x = t(p + "resid_mlp", dev.add(x, o))                                # (n, d_model)
        if not all_logits:
            x = dev.last_row(x)                                                  # (1, d_model)
        x = dev.rms_norm(x, self.out_norm, c.rms_eps)
        logits = dev.linear(x, self.output)                                      # (1 or n, n_vocab)
        return dev.softcap(logits, c.final_softcap) if c.final_softcap else logits


def _untapped(name: str, x):
    return x


def _check_shapes(gf, cfg: ModelConfig) -> tuple[bool, bool]:
    """Every tensor the forward pass reads exists with the shape the config implies; returns whether
    the layers have q/k norms and post-norms (all layers alike: a file that has them for some layers
    only is refused)."""
    d, ff, qd, kvd, hd = cfg.d_model, cfg.d_ff, cfg.q_dim, cfg.kv_dim, cfg.head_dim
    names = gf.tensors
    qk_norm = "blk.0.attn_q_norm.weight" in names
    post = "blk.0.post_attention_norm.weight" in names
    if cfg.arch == "gemma3" and not qk_norm:
        raise GGUFError("gemma3 file without blk.0.attn_q_norm.weight (Gemma 3 normalises q and k per head)")
    if cfg.arch in ("gemma2", "gemma3") and not post:
        raise GGUFError(f"{cfg.arch} file without blk.0.post_attention_norm.weight (its post-attention norm)")
    want = {"token_embd.weight": (cfg.n_vocab, d), "output_norm.weight": (d,)}
    if not cfg.tied_embeddings:
        want["output.weight"] = (cfg.n_vocab, d)
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        want.update({
            p + "attn_norm.weight": (d,), p + "ffn_norm.weight": (d,),
            p + "attn_q.weight": (qd, d), p + "attn_k.weight": (kvd, d), p + "attn_v.weight": (kvd, d),
            p + "attn_output.weight": (d, qd),
            p + "ffn_gate.weight": (ff, d), p + "ffn_up.weight": (ff, d), p + "ffn_down.weight": (d, ff),
        })
        if qk_norm:
            want.update({p + "attn_q_norm.weight": (hd,), p + "attn_k_norm.weight": (hd,)})
        if post:
            want.update({p + "post_attention_norm.weight": (d,), p + "post_ffw_norm.weight": (d,)})
    require_tensors(names, want)
    if cfg.sliding_window and cfg.sliding_window > cfg.n_ctx_train:
        raise GGUFError(f"sliding window {cfg.sliding_window} is longer than the context "
                        f"{cfg.n_ctx_train} the model was trained for")
    return qk_norm, post
