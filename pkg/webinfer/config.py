"""ModelConfig: the shapes and constants of a model, read from GGUF metadata.

This is the only code that knows GGUF metadata key names for the model (the tokenizer reads
its own ``tokenizer.ggml.*`` keys). It is not a registry of networks (models.NETWORKS is): one
dataclass covers the LLaMA family (llama, mistral, qwen2, smollm via llama) and GPT-2 (whose
switches say LayerNorm, learned positions and a GELU MLP), and anything else is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GGUFError, UnsupportedModelError

# Architectures that are the LLaMA block with small switches (see from_gguf), and GPT-2.
SUPPORTED_ARCHS = ("llama", "mistral", "qwen2", "gpt2")


@dataclass(frozen=True)
class ModelConfig:
    arch: str                 # general.architecture, e.g. "llama"
    name: str                 # general.name, for display
    n_layers: int             # transformer blocks
    d_model: int              # residual stream width (embedding_length)
    d_ff: int                 # MLP hidden width (feed_forward_length): SwiGLU's, or GELU's (gpt2)
    n_heads: int              # query heads
    n_kv_heads: int           # key/value heads (GQA when < n_heads)
    head_dim: int             # per-head width; d_model // n_heads unless the file says otherwise
    n_vocab: int              # rows of the embedding table
    n_ctx_train: int          # context length the model was trained for
    rms_eps: float            # the norms' epsilon: RMSNorm's, or LayerNorm's where norm == "layer"
    rope_theta: float         # RoPE base frequency (unused where positions == "learned")
    rope_dim: int             # leading dims of each head that rotate (== head_dim for these models)
    rope_neox: bool           # True: rotate (i, i + d/2) pairs (qwen2); False: adjacent (2i, 2i+1) pairs (llama GGUF)
    tied_embeddings: bool     # no output.weight: logits use token_embd.weight
    qkv_bias: bool            # q/k/v projections have biases (qwen2; gpt2's fused attn_qkv)
    # GPT-2's switches; the defaults are the LLaMA block's
    norm: str = "rms"         # "rms": RMSNorm (weight); "layer": LayerNorm (weight and bias)
    positions: str = "rope"   # "rope": rotary; "learned": position_embd.weight rows added to the embedding
    mlp: str = "swiglu"       # "swiglu": silu(gate) * up; "gelu": gelu_tanh(up) (HF's gelu_new)

    @property
    def q_dim(self) -> int:   # width of the query projection output
        return self.n_heads * self.head_dim

    @property
    def kv_dim(self) -> int:  # width of each of the key / value projection outputs
        return self.n_kv_heads * self.head_dim

    @classmethod
    def from_gguf(cls, meta: dict, tensor_names) -> "ModelConfig":
        """Build the config from GGUF metadata and the set of tensor names, validating as we go."""
        arch = meta.get("general.architecture")
        if arch is None:
            raise GGUFError("missing required metadata key 'general.architecture'")
        if arch not in SUPPORTED_ARCHS:
            raise UnsupportedModelError(
                f"architecture {arch!r} is not supported (supported: {', '.join(SUPPORTED_ARCHS)})")

        def req(key: str):
            full = f"{arch}.{key}"
            if full not in meta:
                raise GGUFError(f"missing required metadata key {full!r}")
            return meta[full]

        def opt(key: str, default):
            return meta.get(f"{arch}.{key}", default)

        d_model = _positive_int(req("embedding_length"), f"{arch}.embedding_length")
        n_heads = _positive_int(req("attention.head_count"), f"{arch}.attention.head_count")
        n_kv = _positive_int(opt("attention.head_count_kv", n_heads), f"{arch}.attention.head_count_kv")
        if n_heads % n_kv:
            raise GGUFError(f"head_count {n_heads} is not a multiple of head_count_kv {n_kv}")
        head_dim = _positive_int(opt("attention.key_length", d_model // n_heads), f"{arch}.attention.key_length")
        gpt2 = arch == "gpt2"
        if head_dim % 2 and not gpt2:
            raise GGUFError(f"head dimension {head_dim} must be even for RoPE")
        names = set(tensor_names)
        if "token_embd.weight" not in names:
            raise GGUFError("missing required tensor 'token_embd.weight'")
        n_vocab = meta.get(f"{arch}.vocab_size")
        if n_vocab is None:
            tokens = meta.get("tokenizer.ggml.tokens")
            n_vocab = len(tokens) if tokens is not None else None
        if n_vocab is None:
            raise GGUFError(f"missing {arch}.vocab_size and tokenizer.ggml.tokens: cannot tell the vocabulary size")
        rope_dim = int(opt("rope.dimension_count", head_dim))
        if gpt2 and "position_embd.weight" not in names:
            raise GGUFError("missing required tensor 'position_embd.weight' (gpt2's learned positions)")
        if rope_dim != head_dim:
            raise UnsupportedModelError(f"partial RoPE (rope.dimension_count {rope_dim} != head dim {head_dim})")
        scaling = opt("rope.scaling.type", "none")
        if scaling not in ("none", None, ""):
            raise UnsupportedModelError(f"RoPE scaling type {scaling!r} is not supported")
        return cls(
            arch=arch,
            name=str(meta.get("general.name", arch)),
            n_layers=_positive_int(req("block_count"), f"{arch}.block_count"),
            d_model=d_model,
            d_ff=_positive_int(req("feed_forward_length"), f"{arch}.feed_forward_length"),
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim=head_dim,
            n_vocab=_positive_int(n_vocab, "vocab_size"),
            n_ctx_train=_positive_int(opt("context_length", 2048), f"{arch}.context_length"),
            rms_eps=float(opt("attention.layer_norm_epsilon" if gpt2 else "attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=float(opt("rope.freq_base", 10000.0)),
            rope_dim=rope_dim,
            rope_neox=arch == "qwen2",
            tied_embeddings="output.weight" not in names,
            qkv_bias="blk.0.attn_q.bias" in names or "blk.0.attn_qkv.bias" in names,
            norm="layer" if gpt2 else "rms",
            positions="learned" if gpt2 else "rope",
            mlp="gelu" if gpt2 else "swiglu",
        )


def _positive_int(value, key: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise GGUFError(f"metadata {key!r} must be an integer, got {value!r}") from None
    if v <= 0 or v > 1 << 24:
        raise GGUFError(f"metadata {key!r} = {v} is out of range")
    return v
