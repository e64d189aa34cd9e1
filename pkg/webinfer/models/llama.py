"""The LLaMA-family transformer, written once against the Device ops vocabulary.

Covers llama / mistral / qwen2 / qwen3 / phi3-style GGUFs: RMSNorm, RoPE (adjacent or NeoX
pairing; Llama 3's scaled frequencies), grouped-query attention with a KV cache, SwiGLU, optional
q/k/v biases, tied or separate output head. The switches: qwen3 normalises each q and k head
before RoPE (cfg.qk_norm); phi3 stores q/k/v and gate/up fused (cfg.fused: read as they are, the
same Layer). ``forward`` is the whole model in one straight line (llama2.c's ``forward``); the
device decides how each op runs.

Not here: tokens in, text out (webinfer.generate), reading files (formats.gguf).
"""

from __future__ import annotations

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
    attn_norm: Any   # (d_model,)
    wqkv: Any        # (q_dim + 2 * kv_dim, d_model), q/k/v stacked, with biases when the model has them
    wo: Any          # (d_model, q_dim)
    ffn_norm: Any    # (d_model,)
    w_gate_up: Any   # (2 * d_ff, d_model), gate rows then up rows
    w_down: Any      # (d_model, d_ff)
    q_norm: Any = None   # (head_dim,) per-head RMSNorm weights of q and k before RoPE (qwen3), else None
    k_norm: Any = None


class Llama:
    def __init__(self, cfg: ModelConfig, device, layers: list[Layer], tok_embd, out_norm, output,
                 rope_freqs: np.ndarray | None = None):
        self.cfg, self.dev = cfg, device
        self.layers, self.tok_embd, self.out_norm, self.output = layers, tok_embd, out_norm, output
        self.rope_freqs = rope_freqs   # (head_dim/2,) inverse frequencies where RoPE is scaled (Llama 3), else None

    @classmethod
    def load(cls, gf, cfg: ModelConfig, device, progress: Callable[[int, int], None] | None = None) -> "Llama":
        """Hand every weight to the device, fusing q/k/v and gate/up on the way."""
        _check_shapes(gf, cfg)
        total = cfg.n_layers + 2
        note = progress or (lambda done, total: None)
        device.plan_weights(4 * sum(t.n_elements for n, t in gf.tensors.items()
                                    if n.endswith(".weight") and len(t.shape) >= 2))
        emb = QWeight.from_gguf(gf, "token_embd.weight")
        tok_embd = device.weight(emb)
        output = tok_embd if cfg.tied_embeddings else device.weight(QWeight.from_gguf(gf, "output.weight"))
        out_norm = device.vector(gf.dequantize("output_norm.weight"))
        note(1, total)
        layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            if cfg.fused:      # phi3: the file's own fused tensors
                wqkv = QWeight.from_gguf(gf, p + "attn_qkv.weight", p + "attn_qkv.bias")
                w_gate_up = QWeight.from_gguf(gf, p + "ffn_up.weight")
            else:
                q, k, v = (QWeight.from_gguf(gf, p + f"attn_{x}.weight", p + f"attn_{x}.bias") for x in "qkv")
                gate, up = QWeight.from_gguf(gf, p + "ffn_gate.weight"), QWeight.from_gguf(gf, p + "ffn_up.weight")
                wqkv = QWeight.stack(p + "attn_qkv", [q, k, v])
                w_gate_up = QWeight.stack(p + "ffn_gate_up", [gate, up])
            qk = [device.vector(gf.dequantize(p + f"attn_{x}_norm.weight")) for x in "qk"] if cfg.qk_norm else [None, None]
            layers.append(Layer(
                attn_norm=device.vector(gf.dequantize(p + "attn_norm.weight")),
                wqkv=device.weight(wqkv),
                wo=device.weight(QWeight.from_gguf(gf, p + "attn_output.weight")),
                ffn_norm=device.vector(gf.dequantize(p + "ffn_norm.weight")),
                w_gate_up=device.weight(w_gate_up),
                w_down=device.weight(QWeight.from_gguf(gf, p + "ffn_down.weight")),
                q_norm=qk[0], k_norm=qk[1],
            ))
            note(i + 2, total)
        note(total, total)
        return cls(cfg, device, layers, tok_embd, out_norm, output, _rope_freqs(gf, cfg))

    def forward(self, tokens: Sequence[int], pos: int, cache, all_logits: bool = False, tap=None):
        """Run tokens at positions pos..pos+n-1 through the model, extending the KV cache.
        Returns logits of the last token (1, n_vocab), or of every token with all_logits.
        tap(name, x) -> x, if given, sees each named activation and may replace it: "embed", then
        per layer "blk.{i}." + attn_q / attn_heads / resid_attn / mlp / resid_mlp (webinfer.inspect)."""
        c, dev = self.cfg, self.dev
        t = tap or _untapped
        x = t("embed", dev.embed(self.tok_embd, tokens))                        # (n, d_model)
        for i, L in enumerate(self.layers):
            p = f"blk.{i}."
            h = dev.rms_norm(x, L.attn_norm, c.rms_eps)                          # (n, d_model)
            qkv = dev.linear(h, L.wqkv)                                          # (n, q_dim + 2 * kv_dim)
            if L.q_norm is not None:                                             # qwen3: each q and k head
                qkv = dev.head_norm(qkv, L.q_norm, L.k_norm, c.n_heads, c.n_kv_heads, c.head_dim, c.rms_eps)
            q = t(p + "attn_q", dev.rope_kv(qkv, cache, i, pos, c.n_heads,      # (n, q_dim); k, v -> cache
                                            c.n_kv_heads, c.head_dim, c.rope_theta, c.rope_neox,
                                            freqs=self.rope_freqs))
            a = t(p + "attn_heads", dev.attention(q, cache, i, pos, c.n_heads,  # (n, q_dim), heads side by side
                                                  c.n_kv_heads, c.head_dim))
            x = t(p + "resid_attn", dev.add(x, dev.linear(a, L.wo)))              # (n, d_model)
            h = dev.rms_norm(x, L.ffn_norm, c.rms_eps)                           # (n, d_model)
            f = t(p + "mlp", dev.linear_swiglu(h, L.w_gate_up))                   # (n, d_ff)
            x = t(p + "resid_mlp", dev.add(x, dev.linear(f, L.w_down)))           # (n, d_model)
        if not all_logits:
            x = dev.last_row(x)                                                  # (1, d_model)
        x = dev.rms_norm(x, self.out_norm, c.rms_eps)
        return dev.linear(x, self.output)                                        # (1 or n, n_vocab)


def _untapped(name: str, x):
    return x


def _rope_freqs(gf, cfg: ModelConfig) -> np.ndarray | None:
    """Llama 3's scaled RoPE inverse frequencies (head_dim/2,) float32, or None (plain RoPE).
    From the rope_freqs tensor (llama.cpp's converter writes each pair's divisor: 1 for short
    wavelengths, `factor` for long ones, a smooth blend between), or from the llama3 scaling keys,
    computed as HF transformers does (_compute_llama3_parameters)."""
    inv = rope_inv_freq(cfg.rope_theta, cfg.head_dim)
    if cfg.rope_freqs:
        div = np.asarray(gf.dequantize("rope_freqs.weight"), np.float32).reshape(-1)
        if div.shape != inv.shape or not np.all(np.isfinite(div)) or np.any(div <= 0):
            raise GGUFError(f"rope_freqs.weight must hold {inv.size} positive values (head_dim / 2), "
                            f"has shape {tuple(gf.tensors['rope_freqs.weight'].shape)}")
        return (inv / div).astype(np.float32)
    if cfg.rope_llama3 is None:
        return None
    factor, low, high, orig = (np.float32(v) for v in cfg.rope_llama3)
    wavelen = np.float32(2 * np.pi) / inv
    scaled = np.where(wavelen > orig / low, inv / factor, inv).astype(np.float32)
    smooth = ((orig / wavelen - low) / (high - low)).astype(np.float32)
    smoothed = ((1 - smooth) * scaled / factor + smooth * scaled).astype(np.float32)
    medium = ~(wavelen < orig / high) & ~(wavelen > orig / low)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _check_shapes(gf, cfg: ModelConfig) -> None:
    """Every tensor the forward pass reads exists with the shape the config implies; a mismatch
    names the metadata keys that implied it (a file whose keys contradict its tensors)."""
    d, ff, qd, kvd, hd = cfg.d_model, cfg.d_ff, cfg.q_dim, cfg.kv_dim, cfg.head_dim
    hd_key = f"{cfg.arch}.attention.key_length, else embedding_length / head_count"
    heads = (f"{cfg.n_heads} heads of {hd} ({cfg.arch}.attention.head_count; head dim: {hd_key})",
             f"{cfg.n_kv_heads} kv heads of {hd} ({cfg.arch}.attention.head_count_kv; head dim: {hd_key})")
    want = {"token_embd.weight": ((cfg.n_vocab, d), "vocabulary x embedding_length"),
            "output_norm.weight": ((d,), "embedding_length")}
    if not cfg.tied_embeddings:
        want["output.weight"] = ((cfg.n_vocab, d), "vocabulary x embedding_length")
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        w = {p + "attn_norm.weight": ((d,), "embedding_length"), p + "ffn_norm.weight": ((d,), "embedding_length")}
        if cfg.fused:
            w[p + "attn_qkv.weight"] = ((qd + 2 * kvd, d), f"{heads[0]} + 2 x {heads[1]}, x embedding_length")
            if cfg.qkv_bias:
                w[p + "attn_qkv.bias"] = ((qd + 2 * kvd,), f"{heads[0]} + 2 x {heads[1]}")
        else:
            w[p + "attn_q.weight"] = ((qd, d), f"{heads[0]} x embedding_length")
            w[p + "attn_k.weight"] = ((kvd, d), f"{heads[1]} x embedding_length")
            w[p + "attn_v.weight"] = ((kvd, d), f"{heads[1]} x embedding_length")
            if cfg.qkv_bias:
                w.update({p + "attn_q.bias": ((qd,), heads[0]), p + "attn_k.bias": ((kvd,), heads[1]),
                          p + "attn_v.bias": ((kvd,), heads[1])})
        if cfg.qk_norm:
            w[p + "attn_q_norm.weight"] = ((hd,), f"head dim ({hd_key})")
            w[p + "attn_k_norm.weight"] = ((hd,), f"head dim ({hd_key})")
        w[p + "attn_output.weight"] = ((d, qd), f"embedding_length x {heads[0]}")
        if cfg.fused:
            w[p + "ffn_up.weight"] = ((2 * ff, d), "2 x feed_forward_length (gate and up) x embedding_length")
        else:
            w[p + "ffn_gate.weight"] = ((ff, d), "feed_forward_length x embedding_length")
            w[p + "ffn_up.weight"] = ((ff, d), "feed_forward_length x embedding_length")
        w[p + "ffn_down.weight"] = ((d, ff), "embedding_length x feed_forward_length")
        want.update(w)
    require_tensors(gf.tensors, want, f" (a {cfg.arch} file with {cfg.n_layers} blocks has one)")
