"""qwen3: Qwen3Config with GQA (4 query heads, 1 kv head), head_dim 32 != 64 / 4, per-head q/k
RMSNorm before RoPE (attn_q_norm / attn_k_norm), no q/k/v biases, tied embeddings (as Qwen3-0.6B).
llama.cpp writes Qwen's q and k as they are (NeoX RoPE: no permutation)."""

from __future__ import annotations

from .common import Map, end_maps, text_keys

NAME = ARCH = "qwen3"
SEED = 1
TOKENIZER_PRE = "qwen2"


def config(**kw):
    from transformers import Qwen3Config
    return Qwen3Config(**{**dict(vocab_size=272, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                                 max_position_embeddings=512, rms_norm_eps=1e-6,
                                 rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                                 tie_word_embeddings=True, attention_bias=False), **kw})


def metadata(cfg) -> dict:
    return text_keys(ARCH, cfg, cfg.vocab_size)


def maps(cfg) -> list:
    m = end_maps(cfg)
    for i in range(cfg.num_hidden_layers):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        m += [Map(p + "attn_norm.weight", [h + "input_layernorm.weight"]),
              Map(p + "attn_q.weight", [h + "self_attn.q_proj.weight"]),
              Map(p + "attn_q_norm.weight", [h + "self_attn.q_norm.weight"]),
              Map(p + "attn_k.weight", [h + "self_attn.k_proj.weight"]),
              Map(p + "attn_k_norm.weight", [h + "self_attn.k_norm.weight"]),
              Map(p + "attn_v.weight", [h + "self_attn.v_proj.weight"]),
              Map(p + "attn_output.weight", [h + "self_attn.o_proj.weight"]),
              Map(p + "ffn_norm.weight", [h + "post_attention_layernorm.weight"]),
              Map(p + "ffn_gate.weight", [h + "mlp.gate_proj.weight"]),
              Map(p + "ffn_up.weight", [h + "mlp.up_proj.weight"]),
              Map(p + "ffn_down.weight", [h + "mlp.down_proj.weight"])]
    return m
