"""gemma2: Gemma2Config (Gemma2ForCausalLM) with GQA (4 query heads, 2 kv heads), head_dim 24,
query_pre_attn_scalar 32, soft-capping of the attention scores (50 -> 4.0 here, so it bites on
these logits) and of the final logits (30 -> 5.0), layers sliding / full / sliding / full with a
window of 8 (llama.cpp's Gemma 2 pattern: even layers local), one RoPE base for all.

Written as llama.cpp's Gemma2Model writes it (its norms with +1; attn_logit_softcapping,
final_logit_softcapping, attention.sliding_window), plus attention.sliding_window_pattern and
attention.scale (see gemma3.py)."""

from __future__ import annotations

from .gemma3 import gemma_keys, gemma_maps

NAME = ARCH = "gemma2"
SEED = 1


def config(**kw):
    from transformers import Gemma2Config
    return Gemma2Config(**{**dict(
        vocab_size=272, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=24, query_pre_attn_scalar=32,
        max_position_embeddings=256, rms_norm_eps=1e-6, sliding_window=8,
        attn_logit_softcapping=4.0, final_logit_softcapping=5.0,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=True), **kw})


def metadata(cfg) -> dict:
    return gemma_keys(ARCH, cfg)


def maps(cfg) -> list:
    return gemma_maps(cfg, qk_norm=False)
