"""llama: LlamaConfig with GQA (4 query heads, 2 kv heads), head_dim 24 != 64 / 4 (q_dim 96 >
d_model), tied embeddings (as Llama 3.2 1B and SmolLM2). llama.cpp writes q and k permuted
(HF's rotate-half pairs -> adjacent pairs)."""

from __future__ import annotations

from .common import Map, end_maps, permute_rows, text_keys

NAME = ARCH = "llama"
SEED = 1
TOKENIZER_PRE = "llama-bpe"


def config(**kw):
    from transformers import LlamaConfig
    return LlamaConfig(**{**dict(vocab_size=272, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2, head_dim=24,
                                 max_position_embeddings=256, rms_norm_eps=1e-5,
                                 rope_parameters={"rope_type": "default", "rope_theta": 50000.0},
                                 tie_word_embeddings=True), **kw})


def metadata(cfg) -> dict:
    return {**text_keys(ARCH, cfg, cfg.vocab_size), f"{ARCH}.rope.dimension_count": cfg.head_dim}


def maps(cfg) -> list:
    m = end_maps(cfg)
    q_fwd, q_inv = permute_rows(cfg.num_attention_heads)
    k_fwd, k_inv = permute_rows(cfg.num_key_value_heads)
    for i in range(cfg.num_hidden_layers):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        m += [Map(p + "attn_norm.weight", [h + "input_layernorm.weight"]),
              Map(p + "attn_q.weight", [h + "self_attn.q_proj.weight"], q_fwd, q_inv),
              Map(p + "attn_k.weight", [h + "self_attn.k_proj.weight"], k_fwd, k_inv),
              Map(p + "attn_v.weight", [h + "self_attn.v_proj.weight"]),
              Map(p + "attn_output.weight", [h + "self_attn.o_proj.weight"]),
              Map(p + "ffn_norm.weight", [h + "post_attention_layernorm.weight"]),
              Map(p + "ffn_gate.weight", [h + "mlp.gate_proj.weight"]),
              Map(p + "ffn_up.weight", [h + "mlp.up_proj.weight"]),
              Map(p + "ffn_down.weight", [h + "mlp.down_proj.weight"])]
    return m
