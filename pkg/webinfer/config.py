"""ModelConfig: the shapes and constants of a model, read from GGUF metadata.

This is the only code that knows GGUF metadata key names for the model (the tokenizer reads
its own ``tokenizer.ggml.*`` keys). It is not a registry of architectures (models.NETWORKS is):
one dataclass covers the LLaMA block and its switches -- llama (with Llama 3's RoPE scaling),
mistral, qwen2, qwen3 (per-head q/k norms), phi3 (fused qkv and gate/up) -- GPT-2 (whose
switches say LayerNorm, learned positions and a GELU MLP) and the Gemma family (gemma, gemma2,
gemma3: its extra fields, with defaults that are the LLaMA block's), and anything else is
refused here, as are the variants of those that are not implemented (LongRoPE, partial RoPE,
other RoPE scaling types).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import GGUFError, UnsupportedModelError

# Architectures that are the LLaMA block with small switches (see from_gguf), GPT-2, and the Gemma
# family (models/gemma.py: its extra keys are read by _gemma_fields).
GEMMA_ARCHS = ("gemma", "gemma2", "gemma3")
SUPPORTED_ARCHS = ("llama", "mistral", "qwen2", "qwen3", "phi3", "gpt2") + GEMMA_ARCHS
NEOX_ARCHS = ("qwen2", "qwen3", "phi3") + GEMMA_ARCHS   # llama.cpp's LLAMA_ROPE_TYPE_NEOX: rotate (i, i + d/2) pairs
QK_NORM_ARCHS = ("qwen3",)                  # attn_q_norm / attn_k_norm (head_dim,) before RoPE (and a Gemma
                                            # file that has them: Gemma 3; qk_norm says so, models/gemma.py reads them)
FUSED_ARCHS = ("phi3",)                     # attn_qkv (q, k, v rows) and ffn_up (gate rows, then up rows)

# What llama.cpp assumes for Gemma files whose converter writes no key for it (llama-model.cpp):
# every n-th layer global, the rest sliding-window; the local layers' RoPE base.
GEMMA_SWA_PERIOD = {"gemma2": 2, "gemma3": 6}
GEMMA_ROPE_LOCAL_BASE = 10000.0


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
    qk_norm: bool = False     # per-head RMSNorm of q and k before RoPE (qwen3, gemma3: attn_q_norm / attn_k_norm)
    fused: bool = False       # q/k/v in one attn_qkv tensor, gate/up in one ffn_up tensor (phi3)
    rope_freqs: bool = False  # Llama 3 RoPE scaling from the rope_freqs tensor (per-pair frequency divisors)
    rope_llama3: tuple | None = None   # ... or from the keys: (factor, low_freq_factor, high_freq_factor,
                                       # original_context_length), where the file has no rope_freqs tensor
    sliding_window: int = 0   # attention window. phi3 (every layer): n_ctx_train is capped to it, where full
                              # attention is exact (no sliding-window kernels for it). Gemma: keys a local
                              # layer's query sees (itself included), on the local_layers only; 0: no local layers
    # GPT-2's switches; the defaults are the LLaMA block's
    norm: str = "rms"         # "rms": RMSNorm (weight); "layer": LayerNorm (weight and bias)
    positions: str = "rope"   # "rope": rotary; "learned": position_embd.weight rows added to the embedding
    mlp: str = "swiglu"       # "swiglu": silu(gate) * up; "gelu": gelu_tanh(up) (HF's gelu_new)
    # -- the Gemma family's switches (models/gemma.py); the defaults are the LLaMA block's ---------
    attn_scale: float = 0.0   # query scaling; 0: 1/sqrt(head_dim) (Gemma: query_pre_attn_scalar ** -0.5)
    local_layers: tuple = ()  # per layer: True where it attends over the window only (sliding_window)
    rope_theta_local: float = 0.0   # the local layers' RoPE base (Gemma 3); 0: rope_theta
    rope_freq_factor: float = 1.0   # linear RoPE scaling of the global layers: inverse frequencies / factor
    attn_softcap: float = 0.0       # attention logits -> tanh(s / c) * c (Gemma 2); 0: none
    final_softcap: float = 0.0      # output logits, likewise (Gemma 2)

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
        if arch == "bert":
            raise UnsupportedModelError("architecture 'bert' is a sentence-embedding model, not a text generator: "
                                        "load it with webinfer.load_embedder (or `webinfer embed --model FILE`)")
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
        for t in ("rope_factors_long.weight", "rope_factors_short.weight"):
            if t in names:   # Phi-3 128k / Phi-3.5 / Phi-4-mini long context: LongRoPE (su), two factor sets
                raise UnsupportedModelError(
                    f"LongRoPE ('su' / 'longrope' RoPE scaling: the {t!r} tensor, rope.scaling.attn_factor) "
                    f"is not supported; the short-context ({arch}) variants without it are")
        rope_freqs = "rope_freqs.weight" in names
        rope_llama3 = None
        scaling = opt("rope.scaling.type", "none")
        gemma = arch in GEMMA_ARCHS
        if scaling == "llama3" and not rope_freqs:
            rope_llama3 = tuple(float(opt(f"rope.scaling.{k}", d)) for k, d in (
                ("factor", 8.0), ("low_freq_factor", 1.0), ("high_freq_factor", 4.0),
                ("original_context_length", 8192)))
            if rope_llama3[2] <= rope_llama3[1] or min(rope_llama3) <= 0:
                raise GGUFError(f"Llama 3 RoPE scaling keys out of range (factor, low, high, original context "
                                f"= {rope_llama3}): high_freq_factor must exceed low_freq_factor")
        elif (scaling not in ("none", None, "") and not (scaling == "llama3" and rope_freqs)
              and not (gemma and scaling == "linear")):
            raise UnsupportedModelError(f"RoPE scaling type {scaling!r} is not supported "
                                        f"(supported: none, Llama 3's: the rope_freqs tensor or type 'llama3', "
                                        f"and linear for the Gemma family)")
        if rope_llama3 is not None and gemma:
            raise UnsupportedModelError(f"RoPE scaling type 'llama3' in a {arch!r} file (the Gemma family's is "
                                        f"linear)")
        if rope_freqs and arch not in ("llama", "mistral"):
            raise UnsupportedModelError(f"a rope_freqs tensor in a {arch!r} file (Llama 3 RoPE scaling is "
                                        f"supported for llama)")
        qk_norm = arch in QK_NORM_ARCHS or (gemma and "blk.0.attn_q_norm.weight" in names)   # Gemma 3's
        if qk_norm:
            for t in ("attn_q_norm", "attn_k_norm"):
                if f"blk.0.{t}.weight" not in names:
                    raise GGUFError(f"{arch} needs per-head q/k norms, but the file has no 'blk.0.{t}.weight'")
        fused = arch in FUSED_ARCHS
        if fused and "blk.0.attn_qkv.weight" not in names:
            raise GGUFError(f"{arch} stores q, k and v in one tensor, but the file has no 'blk.0.attn_qkv.weight'")
        n_layers = _positive_int(req("block_count"), f"{arch}.block_count")
        n_ctx_train = _positive_int(opt("context_length", 2048), f"{arch}.context_length")
        if gemma:   # the window is per layer (local layers only): the context is not capped to it
            extra = _gemma_fields(arch, opt, n_layers, d_model, n_heads, head_dim)
        else:
            window = int(opt("attention.sliding_window", 0) or 0)
            if window < 0:
                raise GGUFError(f"{arch}.attention.sliding_window = {window} is negative")
            if window:
                n_ctx_train = min(n_ctx_train, window)   # every key inside the window: full attention is exact
            extra = dict(sliding_window=window)
        return cls(
            arch=arch,
            name=str(meta.get("general.name", arch)),
            n_layers=n_layers,
            d_model=d_model,
            d_ff=_positive_int(req("feed_forward_length"), f"{arch}.feed_forward_length"),
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim=head_dim,
            n_vocab=_positive_int(n_vocab, "vocab_size"),
            n_ctx_train=n_ctx_train,
            rms_eps=float(opt("attention.layer_norm_epsilon" if gpt2 else "attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=float(opt("rope.freq_base", 10000.0)),
            rope_dim=rope_dim,
            rope_neox=arch in NEOX_ARCHS,
            tied_embeddings="output.weight" not in names,
            qkv_bias="blk.0.attn_q.bias" in names or "blk.0.attn_qkv.bias" in names,
            qk_norm=qk_norm,
            fused=fused,
            rope_freqs=rope_freqs,
            rope_llama3=rope_llama3,
            norm="layer" if gpt2 else "rms",
            positions="learned" if gpt2 else "rope",
            mlp="gelu" if gpt2 else "swiglu",
            **extra,
        )


def _gemma_fields(arch: str, opt, n_layers: int, d_model: int, n_heads: int, head_dim: int) -> dict:
    """The Gemma family's keys. llama.cpp's converter writes sliding_window, the soft-caps (Gemma 2)
    and rope.scaling.* (Gemma 3, global layers only); the rest it hard-codes, and so do we where
    the file is silent: the local/global pattern (GEMMA_SWA_PERIOD), the local RoPE base
    (GEMMA_ROPE_LOCAL_BASE) and the query scaling (1/sqrt(head_dim); 1/sqrt(d_model / n_heads) for
    the 27B models, whose query_pre_attn_scalar is that). A file may set them:
    attention.sliding_window_pattern (a bool per layer, True = local, as llama.cpp's gemma3n
    writes it), rope.freq_base_swa, attention.scale (the multiplier itself)."""
    window = int(opt("attention.sliding_window", 0) or 0)
    if window < 0:
        raise GGUFError(f"{arch}.attention.sliding_window = {window} is negative")
    pattern = opt("attention.sliding_window_pattern", None)
    if arch == "gemma" or not window:
        local = (False,) * n_layers
    elif pattern is None:
        period = GEMMA_SWA_PERIOD[arch]
        local = tuple(bool((i + 1) % period) for i in range(n_layers))
    elif hasattr(pattern, "__len__") and not isinstance(pattern, (str, bytes)):   # a list, or an array read back
        if len(pattern) != n_layers:
            raise GGUFError(f"{arch}.attention.sliding_window_pattern has {len(pattern)} entries for "
                            f"{n_layers} layers")
        local = tuple(bool(v) for v in pattern)
    else:                                   # a period, as some converters write it
        period = _positive_int(pattern, f"{arch}.attention.sliding_window_pattern")
        local = tuple(bool((i + 1) % period) for i in range(n_layers))
    scale = opt("attention.scale", None)
    if scale is None:
        big = n_layers in (46, 62)          # Gemma 2 / Gemma 3 27B (llama.cpp's LLM_TYPE_27B)
        scale = 1.0 / (d_model / n_heads) ** 0.5 if big else 1.0 / head_dim ** 0.5
    caps = [float(opt(k, 0.0) or 0.0) for k in ("attn_logit_softcapping", "final_logit_softcapping")]
    if min(caps) < 0 or not float(scale) > 0:
        raise GGUFError(f"{arch}: soft-caps {caps} and attention scale {scale} must be positive")
    factor = float(opt("rope.scaling.factor", 1.0) or 1.0) if opt("rope.scaling.type", "none") == "linear" else 1.0
    if not factor > 0:
        raise GGUFError(f"{arch}.rope.scaling.factor = {factor} must be positive")
    return dict(
        attn_scale=float(scale),
        sliding_window=window if any(local) else 0,
        local_layers=local,
        rope_theta_local=float(opt("rope.freq_base_swa", GEMMA_ROPE_LOCAL_BASE if arch == "gemma3" else 0.0)),
        rope_freq_factor=factor,
        attn_softcap=caps[0],
        final_softcap=caps[1],
    )


def _positive_int(value, key: str) -> int:
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise GGUFError(f"metadata {key!r} must be an integer, got {value!r}") from None
    if v <= 0 or v > 1 << 24:
        raise GGUFError(f"metadata {key!r} = {v} is out of range")
    return v
