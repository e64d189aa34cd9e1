"""The LLaMA-family transformer, written once against the Device ops vocabulary.

Covers llama / mistral / qwen2-style GGUFs: RMSNorm, RoPE (adjacent or NeoX pairing),
grouped-query attention with a KV cache, SwiGLU, optional q/k/v biases, tied or separate
output head. ``forward`` is the whole model in one straight line (llama2.c's ``forward``);
the device decides how each op runs.

Not here: tokens in, text out (webinfer.generate), reading files (formats.gguf).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..config import ModelConfig
from ..errors import GGUFError
from ..weights import QWeight


@dataclass
class Layer:
    attn_norm: Any   # (d_model,)
    wqkv: Any        # (q_dim + 2 * kv_dim, d_model), q/k/v stacked, with biases when the model has them
    wo: Any          # (d_model, q_dim)
    ffn_norm: Any    # (d_model,)
    w_gate_up: Any   # (2 * d_ff, d_model), gate rows then up rows
    w_down: Any      # (d_model, d_ff)


class Llama:
    def __init__(self, cfg: ModelConfig, device, layers: list[Layer], tok_embd, out_norm, output):
        self.cfg, self.dev = cfg, device
        self.layers, self.tok_embd, self.out_norm, self.output = layers, tok_embd, out_norm, output

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
            q, k, v = (QWeight.from_gguf(gf, p + f"attn_{x}.weight", p + f"attn_{x}.bias") for x in "qkv")
            gate, up = QWeight.from_gguf(gf, p + "ffn_gate.weight"), QWeight.from_gguf(gf, p + "ffn_up.weight")
            layers.append(Layer(
                attn_norm=device.vector(gf.dequantize(p + "attn_norm.weight")),
                wqkv=device.weight(QWeight.stack(p + "attn_qkv", [q, k, v])),
                wo=device.weight(QWeight.from_gguf(gf, p + "attn_output.weight")),
                ffn_norm=device.vector(gf.dequantize(p + "ffn_norm.weight")),
                w_gate_up=device.weight(QWeight.stack(p + "ffn_gate_up", [gate, up])),
                w_down=device.weight(QWeight.from_gguf(gf, p + "ffn_down.weight")),
            ))
            note(i + 2, total)
        note(total, total)
        return cls(cfg, device, layers, tok_embd, out_norm, output)

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
            q = t(p + "attn_q", dev.rope_kv(qkv, cache, i, pos, c.n_heads,      # (n, q_dim); k, v -> cache
                                            c.n_kv_heads, c.head_dim, c.rope_theta, c.rope_neox))
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


def _check_shapes(gf, cfg: ModelConfig) -> None:
    """Every tensor the forward pass reads exists with the shape the config implies."""
    d, ff, qd, kvd = cfg.d_model, cfg.d_ff, cfg.q_dim, cfg.kv_dim
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
        if cfg.qkv_bias:
            want.update({p + "attn_q.bias": (qd,), p + "attn_k.bias": (kvd,), p + "attn_v.bias": (kvd,)})
    for name, shape in want.items():
        info = gf.tensors.get(name)
        if info is None:
            raise GGUFError(f"missing required tensor {name!r}")
        if tuple(info.shape) != shape:
            raise GGUFError(f"tensor {name!r} has shape {tuple(info.shape)}, expected {shape}")
