"""BERT, the encoder of sentence-embedding models (all-MiniLM-L6-v2), written once against the Device ops.

What differs from the decoders (models/llama.py, models/gpt2.py): a batch of padded sequences in
one pass (rows b * S + i), no KV cache; the embedding is word + learned position + token type 0
rows, then a LayerNorm; attention is bidirectional, each sequence's queries seeing its own keys
up to its length (``encoder_attention``: padding changes nothing of a real row); residual blocks
are post-LN (LayerNorm of x + block(x)); the MLP's GELU is erf's (HF's "gelu"; "gelu_new" and
friends take the tanh form). ``forward`` returns the last hidden states; pooling (the mean over a
sequence's tokens, or its [CLS] row) and L2 normalisation are the embedder's (webinfer.embed).

Tensors go by llama.cpp's GGUF names (token_embd, position_embd, token_types, token_embd_norm,
blk.N.attn_q/k/v, attn_output, attn_output_norm, ffn_up, ffn_down, layer_output_norm);
``hf_names`` maps a Hugging Face BertModel checkpoint (safetensors) onto them.

Not here: tokenizing (tokenizer/wordpiece.py), files and pooling (webinfer.embed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import GGUFError, UnsupportedModelError
from ..weights import QWeight
from .checks import require_positions, require_tensors

# GELU of the MLP by the config's hidden_act: erf's form, or tanh's (linear_gelu)
GELU_ERF = ("gelu",)
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")
POOLING = {1: "mean", 2: "cls"}   # GGUF {arch}.pooling_type values webinfer runs (llama.cpp's enum)


@dataclass(frozen=True)
class EncoderConfig:
    name: str
    n_vocab: int          # word-piece vocabulary
    d_model: int          # hidden size
    n_layers: int
    n_heads: int
    head_dim: int         # d_model // n_heads
    d_ff: int             # MLP width
    n_pos: int            # learned positions: the longest sequence the model takes
    n_types: int          # token-type rows (only row 0 is used: one sequence, no pairs)
    eps: float            # LayerNorm epsilon
    gelu_erf: bool        # the MLP's GELU: erf's form (HF "gelu"), else tanh's
    pooling: str = "mean"  # "mean" over the tokens, or "cls": the first token's row

    @classmethod
    def from_hf(cls, cfg: dict, name: str = "") -> "EncoderConfig":
        """From a Hugging Face config.json (model_type bert)."""
        if cfg.get("model_type", "bert") != "bert":
            raise UnsupportedModelError(f"config.json model_type {cfg.get('model_type')!r}: only 'bert' encoders")
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise UnsupportedModelError(f"position_embedding_type {cfg['position_embedding_type']!r}: "
                                        "only absolute (learned) positions")
        act = cfg.get("hidden_act", "gelu")
        if act not in GELU_ERF + GELU_TANH:
            raise UnsupportedModelError(f"hidden_act {act!r}: only {', '.join(GELU_ERF + GELU_TANH)}")
        try:
            d, h = int(cfg["hidden_size"]), int(cfg["num_attention_heads"])
            out = cls(name=name or str(cfg.get("_name_or_path", "bert")), n_vocab=int(cfg["vocab_size"]),
                      d_model=d, n_layers=int(cfg["num_hidden_layers"]), n_heads=h, head_dim=d // max(h, 1),
                      d_ff=int(cfg["intermediate_size"]), n_pos=int(cfg.get("max_position_embeddings", 512)),
                      n_types=int(cfg.get("type_vocab_size", 2)), eps=float(cfg.get("layer_norm_eps", 1e-12)),
                      gelu_erf=act in GELU_ERF)
        except (KeyError, TypeError, ValueError) as e:
            raise GGUFError(f"config.json lacks or garbles a BERT size ({type(e).__name__}: {e})") from None
        return out.checked()

    @classmethod
    def from_gguf(cls, meta: dict) -> "EncoderConfig":
        """From a GGUF with general.architecture = bert (llama.cpp's keys)."""
        arch = meta.get("general.architecture")
        if arch != "bert":
            raise UnsupportedModelError(f"general.architecture={arch!r}: an embedding model must be 'bert'")

        def key(k, default=None):
            v = meta.get(f"bert.{k}", default)
            if v is None:
                raise GGUFError(f"missing required key bert.{k}")
            return v
        d, h = int(key("embedding_length")), int(key("attention.head_count"))
        pooling = int(key("pooling_type", 1))
        if pooling not in POOLING:
            raise UnsupportedModelError(f"bert.pooling_type={pooling}: only mean (1) and cls (2) pooling")
        if bool(meta.get("bert.attention.causal", False)):
            raise UnsupportedModelError("bert.attention.causal is true: an encoder's attention is bidirectional")
        n_vocab = len(meta.get("tokenizer.ggml.tokens") or []) or int(key("vocab_size"))
        return cls(name=str(meta.get("general.name", "bert")), n_vocab=n_vocab, d_model=d,
                   n_layers=int(key("block_count")), n_heads=h, head_dim=d // max(h, 1),
                   d_ff=int(key("feed_forward_length")), n_pos=int(key("context_length")),
                   n_types=int(meta.get("tokenizer.ggml.token_type_count", 2)),
                   eps=float(key("attention.layer_norm_epsilon", 1e-12)), gelu_erf=True,
                   pooling=POOLING[pooling]).checked()

    def checked(self) -> "EncoderConfig":
        for f in ("n_vocab", "d_model", "n_layers", "n_heads", "d_ff", "n_pos", "n_types"):
            v = getattr(self, f)
            if not 0 < v < 1 << 24:
                raise GGUFError(f"BERT {f}={v} is out of range")
        if self.d_model % self.n_heads:
            raise GGUFError(f"hidden size {self.d_model} is not a multiple of {self.n_heads} heads")
        if not self.eps > 0:
            raise GGUFError(f"LayerNorm epsilon {self.eps} must be positive")
        return self


_HF = [  # (Hugging Face BertModel name pattern, GGUF name)
    (r"embeddings\.word_embeddings\.(weight)", "token_embd.{}"),
    (r"embeddings\.position_embeddings\.(weight)", "position_embd.{}"),
    (r"embeddings\.token_type_embeddings\.(weight)", "token_types.{}"),
    (r"embeddings\.LayerNorm\.(weight|bias)", "token_embd_norm.{}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.query\.(weight|bias)", "blk.{}.attn_q.{}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.key\.(weight|bias)", "blk.{}.attn_k.{}"),
    (r"encoder\.layer\.(\d+)\.attention\.self\.value\.(weight|bias)", "blk.{}.attn_v.{}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", "blk.{}.attn_output.{}"),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)", "blk.{}.attn_output_norm.{}"),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", "blk.{}.ffn_up.{}"),
    (r"encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", "blk.{}.ffn_down.{}"),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)", "blk.{}.layer_output_norm.{}"),
]
_HF_RX = [(re.compile(p), g) for p, g in _HF]


def hf_names(names) -> dict[str, str]:
    """{GGUF name: HF name} for the tensors of a BertModel checkpoint (a 'bert.' prefix, as
    BertForMaskedLM's, is dropped; pooler, heads and buffers are not used)."""
    out = {}
    for hf in names:
        short = hf[5:] if hf.startswith("bert.") else hf
        for rx, g in _HF_RX:
            m = rx.fullmatch(short)
            if m:
                out[g.format(*m.groups())] = hf
                break
    return out


@dataclass
class Layer:
    wqkv: Any        # (3 * d_model, d_model): q, k, v rows stacked, with their biases
    wo: Any          # (d_model, d_model), with its bias (attention.output.dense)
    attn_norm: Any   # (d_model,) weight and bias of the LayerNorm after attention + residual
    attn_norm_b: Any
    w_up: Any        # (d_ff, d_model), with its bias (intermediate.dense)
    w_down: Any      # (d_model, d_ff), with its bias (output.dense)
    out_norm: Any    # (d_model,) weight and bias of the LayerNorm after the MLP + residual
    out_norm_b: Any


class Bert:
    def __init__(self, cfg: EncoderConfig, device, layers, tok_embd, pos_type, emb_norm, emb_norm_b):
        self.cfg, self.dev, self.layers = cfg, device, layers
        self.tok_embd = tok_embd     # (n_vocab, d_model) float32 on the host: rows gathered per batch
        self.pos_type = pos_type     # (n_pos, d_model) float32 on the host: position rows + token type 0
        self.emb_norm, self.emb_norm_b = emb_norm, emb_norm_b

    @classmethod
    def load(cls, f, cfg: EncoderConfig, device, progress: Callable[[int, int], None] | None = None) -> "Bert":
        """Weights from f (a GGUFFile, or a file read by GGUF names: webinfer.embed) to the device.
        The embedding tables stay on the host, float32: a batch's rows are gathered there."""
        _check_shapes(f, cfg)
        note = progress or (lambda done, total: None)
        total = cfg.n_layers + 1
        device.plan_weights(4 * sum(t.n_elements for n, t in f.tensors.items()
                                    if n.endswith(".weight") and len(t.shape) >= 2 and n.startswith("blk.")))

        def vec(name):
            return device.vector(f.dequantize(name))

        def mat(p):
            return QWeight.from_gguf(f, p + ".weight", p + ".bias")

        tok = np.ascontiguousarray(f.dequantize("token_embd.weight"), np.float32)
        pos_type = (f.dequantize("position_embd.weight")[:cfg.n_pos] + f.dequantize("token_types.weight")[0]
                    ).astype(np.float32)
        emb_norm, emb_norm_b = vec("token_embd_norm.weight"), vec("token_embd_norm.bias")
        note(1, total)
        layers = []
        for i in range(cfg.n_layers):
            p = f"blk.{i}."
            qkv = QWeight.stack(p + "attn_qkv", [mat(p + "attn_q"), mat(p + "attn_k"), mat(p + "attn_v")])
            layers.append(Layer(
                wqkv=device.weight(qkv),
                wo=device.weight(mat(p + "attn_output")),
                attn_norm=vec(p + "attn_output_norm.weight"), attn_norm_b=vec(p + "attn_output_norm.bias"),
                w_up=device.weight(mat(p + "ffn_up")), w_down=device.weight(mat(p + "ffn_down")),
                out_norm=vec(p + "layer_output_norm.weight"), out_norm_b=vec(p + "layer_output_norm.bias"),
            ))
            note(i + 2, total)
        return cls(cfg, device, layers, tok, pos_type, emb_norm, emb_norm_b)

    def forward(self, ids: np.ndarray, lengths) -> Any:
        """ids (B, S) int, each row a sequence padded past lengths[b]: the last hidden states,
        (B * S, d_model) on the device (row b * S + i; rows past a length hold values that no
        real row depends on)."""
        c, dev = self.cfg, self.dev
        b, s = ids.shape
        emb = self.tok_embd[ids] + self.pos_type[:s][None]                      # (B, S, d_model) on the host
        x = dev.tensor(emb.reshape(b * s, c.d_model))                            # (B*S, d_model)
        x = dev.layer_norm(x, self.emb_norm, self.emb_norm_b, c.eps)
        for L in self.layers:
            qkv = dev.linear(x, L.wqkv)                                          # (B*S, 3 * d_model), + bias
            a = dev.encoder_attention(qkv, lengths, s, c.n_heads, c.head_dim)    # (B*S, d_model), heads side by side
            x = dev.layer_norm(dev.add(x, dev.linear(a, L.wo)), L.attn_norm, L.attn_norm_b, c.eps)   # post-LN
            h = dev.linear_gelu_erf(x, L.w_up) if c.gelu_erf else dev.linear_gelu(x, L.w_up)   # (B*S, d_ff)
            x = dev.layer_norm(dev.add(x, dev.linear(h, L.w_down)), L.out_norm, L.out_norm_b, c.eps)
        return x                                                                 # (B*S, d_model)


def _check_shapes(f, cfg: EncoderConfig) -> None:
    """Every tensor the forward pass reads exists with the shape the config implies."""
    d, ff = cfg.d_model, cfg.d_ff
    want = {"token_embd.weight": (cfg.n_vocab, d), "token_types.weight": (cfg.n_types, d),
            "token_embd_norm.weight": (d,), "token_embd_norm.bias": (d,)}
    for i in range(cfg.n_layers):
        p = f"blk.{i}."
        for m in ("attn_q", "attn_k", "attn_v", "attn_output"):
            want[p + m + ".weight"], want[p + m + ".bias"] = (d, d), (d,)
        for m in ("attn_output_norm", "layer_output_norm"):
            want[p + m + ".weight"], want[p + m + ".bias"] = (d,), (d,)
        want.update({p + "ffn_up.weight": (ff, d), p + "ffn_up.bias": (ff,),
                     p + "ffn_down.weight": (d, ff), p + "ffn_down.bias": (d,)})
    require_tensors(f.tensors, want)
    require_positions(f.tensors, d, cfg.n_pos)
