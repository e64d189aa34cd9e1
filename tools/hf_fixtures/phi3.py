"""phi3: Phi3Config with GQA (4 query heads, 2 kv heads, as Phi-4-mini has; head_dim is
d_model / n_heads in this family), q/k/v fused in qkv_proj and gate/up in gate_up_proj, stored
fused as llama.cpp does (attn_qkv; ffn_up holding gate rows then up rows), a separate output head,
NeoX RoPE, and Phi-3-mini's sliding window of 2047 (webinfer caps the context to it, where full
attention is exact). No LongRoPE (the 128k models' rope_factors_long / _short): refused."""

from __future__ import annotations

from .common import Map, end_maps

NAME = ARCH = "phi3"
SEED = 1
TOKENIZER_PRE = "default"


def config(**kw):
    from transformers import Phi3Config
    return Phi3Config(**{**dict(vocab_size=272, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                                original_max_position_embeddings=4096, rms_norm_eps=1e-5,
                                rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                                sliding_window=2047, tie_word_embeddings=False,
                                bos_token_id=None, eos_token_id=None, pad_token_id=None), **kw})


def metadata(cfg) -> dict:
    """The keys Phi3MiniModel.set_gguf_parameters writes (no vocab_size: the token list gives it)."""
    r = cfg.rope_parameters
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    return {
        f"{ARCH}.context_length": cfg.max_position_embeddings,
        f"{ARCH}.rope.scaling.original_context_length": r.get("original_max_position_embeddings",
                                                               cfg.original_max_position_embeddings),
        f"{ARCH}.embedding_length": cfg.hidden_size,
        f"{ARCH}.feed_forward_length": cfg.intermediate_size,
        f"{ARCH}.block_count": cfg.num_hidden_layers,
        f"{ARCH}.attention.head_count": cfg.num_attention_heads,
        f"{ARCH}.attention.head_count_kv": cfg.num_key_value_heads,
        f"{ARCH}.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps),
        f"{ARCH}.rope.dimension_count": int(r.get("partial_rotary_factor", 1.0) * head_dim),
        f"{ARCH}.rope.freq_base": float(r["rope_theta"]),
        f"{ARCH}.attention.sliding_window": cfg.sliding_window or 0,
    }


def maps(cfg) -> list:
    m = end_maps(cfg)
    for i in range(cfg.num_hidden_layers):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        m += [Map(p + "attn_norm.weight", [h + "input_layernorm.weight"]),
              Map(p + "attn_qkv.weight", [h + "self_attn.qkv_proj.weight"]),
              Map(p + "attn_output.weight", [h + "self_attn.o_proj.weight"]),
              Map(p + "ffn_norm.weight", [h + "post_attention_layernorm.weight"]),
              Map(p + "ffn_up.weight", [h + "mlp.gate_up_proj.weight"]),
              Map(p + "ffn_down.weight", [h + "mlp.down_proj.weight"])]
    return m
