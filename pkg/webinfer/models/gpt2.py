"""GPT-2, written once against the Device ops vocabulary.

What differs from models/llama.py: learned position embeddings (position_embd.weight rows added
to the token's), LayerNorm with a bias before attention, before the MLP and at the end, biases
on every projection, the fused c_attn projection as the file stores it (attn_qkv: q, k, v rows
and their bias), no rotation (the keys go into the cache as projected), and a GELU (tanh form)
MLP of one up and one down projection. The head is the token embedding (tied) unless the file
has output.weight. ``forward`` is the whole model in one straight line; the device decides how
each op runs.

Not here: tokens in, text out (webinfer.generate), reading files (formats.gguf).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..config import ModelConfig
from ..errors import GGUFError
from ..weights import QWeight
from .checks import require_positions, require_tensors


@dataclass
class Layer:
    attn_norm: Any   # (d_model,) weight and bias of the LayerNorm before attention (ln_1)
    attn_norm_b: Any
    wqkv: Any        # (3 * d_model, d_model), q/k/v rows as the file stores them (c_attn), with its bias
    wo: Any          # (d_model, d_model), with its bias (attn.c_proj)
    ffn_norm: Any    # (d_model,) weight and bias of the LayerNorm before the MLP (ln_2)
    ffn_norm_b: Any
    w_up: Any        # (d_ff, d_model), with its bias (mlp.c_fc)
    w_down: Any      # (d_model, d_ff), with its bias (mlp.c_proj)


class GPT2:
    def __init__(self, cfg: ModelConfig, device, layers: list[Layer], tok_embd, pos_embd, out_norm, out_norm_b,
                 output):
        self.cfg, self.dev = cfg, device
        self.layers, self.tok_embd, self.pos_embd = layers, tok_embd, pos_embd
        self.out_norm, self.out_norm_b, self.output = out_norm, out_norm_b, output

    @classmethod
    def load(cls, gf, cfg: ModelConfig, device, progress: Callable[[int, int], None] | None = None) -> "GPT2":
        """Hand every weight to the device (biases ride with their matrices)."""
        _check_shapes(gf, cfg)
        total = cfg.n_layers + 2
        note = progress or (lambda done, total: None)
        device.plan_weights(4 * sum(t.n_elements for n, t in gf.tensors.items()
                                    if n.endswith(".weight") and len(t.shape) >= 2))

        def vec(name):
            return device.vector(gf.dequantize(name))

        def mat(p):
            return device.weight(QWeight.from_gguf(gf, p + ".weight", p + ".bias"))

        tok_embd = device.weight(QWeight.from_gguf(gf, "token_embd.weight"))
        # only the rows a context can reach; float32 whatever the file's type (added, not multiplied)
        pos_embd = device.vector(gf.dequantize("position_embd.weight")[:cfg.n_ctx_train])
        output = tok_embd if cfg.tied_embeddings else device.weight(QWeight.from_gguf(gf, "output.weight"))
        out_norm, out_norm_b = vec("output_norm.weight"), vec("output_norm.bias")
        note(1, total)
        layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            layers.append(Layer(
                attn_norm=vec(p + "attn_norm.weight"), attn_norm_b=vec(p + "attn_norm.bias"),
                wqkv=mat(p + "attn_qkv"), wo=mat(p + "attn_output"),
                ffn_norm=vec(p + "ffn_norm.weight"), ffn_norm_b=vec(p + "ffn_norm.bias"),
                w_up=mat(p + "ffn_up"), w_down=mat(p + "ffn_down"),
            ))
            note(i + 2, total)
        note(total, total)
        return cls(cfg, device, layers, tok_embd, pos_embd, out_norm, out_norm_b, output)

    def forward(self, tokens: Sequence[int], pos: int, cache, all_logits: bool = False, tap=None):
        """Run tokens at positions pos..pos+n-1 through the model, extending the KV cache.
        Returns logits of the last token (1, n_vocab), or of every token with all_logits.
        tap(name, x) -> x: as in models/llama.py (the same names; attn_q is q as projected)."""
        c, dev = self.cfg, self.dev
        t = tap or _untapped
        x = t("embed", dev.embed(self.tok_embd, tokens, self.pos_embd, pos))    # (n, d_model): token + position
        for i, L in enumerate(self.layers):
            p = f"blk.{i}."
            h = dev.layer_norm(x, L.attn_norm, L.attn_norm_b, c.rms_eps)          # (n, d_model)
            qkv = dev.linear(h, L.wqkv)                                          # (n, 3 * d_model), + bias
            q = t(p + "attn_q", dev.store_kv(qkv, cache, i, pos, c.n_heads,     # (n, q_dim); k, v -> cache
                                             c.n_kv_heads, c.head_dim))
            a = t(p + "attn_heads", dev.attention(q, cache, i, pos, c.n_heads,  # (n, q_dim), heads side by side
                                                  c.n_kv_heads, c.head_dim))
            x = t(p + "resid_attn", dev.add(x, dev.linear(a, L.wo)))              # (n, d_model)
            h = dev.layer_norm(x, L.ffn_norm, L.ffn_norm_b, c.rms_eps)           # (n, d_model)
            f = t(p + "mlp", dev.linear_gelu(h, L.w_up))                          # (n, d_ff)
            x = t(p + "resid_mlp", dev.add(x, dev.linear(f, L.w_down)))           # (n, d_model)
        if not all_logits:
            x = dev.last_row(x)                                                  # (1, d_model)
        x = dev.layer_norm(x, self.out_norm, self.out_norm_b, c.rms_eps)
        return dev.linear(x, self.output)                                        # (1 or n, n_vocab)


def _untapped(name: str, x):
    return x


def _check_shapes(gf, cfg: ModelConfig) -> None:
    """Every tensor the forward pass reads exists with the shape the config implies."""
    d, ff, qd, kvd = cfg.d_model, cfg.d_ff, cfg.q_dim, cfg.kv_dim
    if (qd, kvd) != (d, d):
        raise GGUFError(f"gpt2 needs n_heads * head_dim == n_kv_heads * head_dim == d_model ({d}); "
                        f"the keys give q {qd}, kv {kvd}")
    want = {"token_embd.weight": (cfg.n_vocab, d), "output_norm.weight": (d,), "output_norm.bias": (d,)}
    if not cfg.tied_embeddings:
        want["output.weight"] = (cfg.n_vocab, d)
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        want.update({
            p + "attn_norm.weight": (d,), p + "attn_norm.bias": (d,),
            p + "ffn_norm.weight": (d,), p + "ffn_norm.bias": (d,),
            p + "attn_qkv.weight": (qd + 2 * kvd, d), p + "attn_qkv.bias": (qd + 2 * kvd,),
            p + "attn_output.weight": (d, qd), p + "attn_output.bias": (d,),
            p + "ffn_up.weight": (ff, d), p + "ffn_up.bias": (ff,),
            p + "ffn_down.weight": (d, ff), p + "ffn_down.bias": (d,),
        })
    require_tensors(gf.tensors, want)
    require_positions(gf.tensors, d, cfg.n_ctx_train, " (gpt2.context_length rows of d_model)")
