"""gemma3: Gemma3TextConfig (Gemma3ForCausalLM) with GQA (4 query heads, 2 kv heads), head_dim 24
!= 64 / 4, query_pre_attn_scalar 32 (!= head_dim), layers sliding / sliding / full / sliding with a
window of 8 (shorter than the prompt: the window matters from the first token on), the local
layers' RoPE base 10000 and the global layer's 1e6 with linear scaling (factor 8, as the 4B-27B
models have), tied embeddings.

Written as llama.cpp's convert_hf_to_gguf.py (Gemma3Model) writes it: every ``*norm.weight`` with
the 1 of Gemma's (1 + w) RMSNorm added, q/k not permuted (NeoX RoPE), pre_feedforward_layernorm ->
ffn_norm, post_feedforward_layernorm -> post_ffw_norm, q_norm / k_norm -> attn_q_norm / attn_k_norm;
rope.freq_base (the global layers'), attention.sliding_window, rope.scaling.type / .factor. What
llama.cpp hard-codes for Gemma 3 (the period-6 local/global pattern, the local RoPE base 10000, the
query scaling 1/sqrt(head_dim)) the file states here, since this config departs from all three:
attention.sliding_window_pattern (a bool a layer, as llama.cpp's gemma3n writes it),
rope.freq_base_swa, attention.scale (query_pre_attn_scalar ** -0.5)."""

from __future__ import annotations

from .common import Map

NAME = ARCH = "gemma3"
SEED = 1


def config(**kw):
    from transformers import Gemma3TextConfig
    return Gemma3TextConfig(**{**dict(
        vocab_size=272, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=24, query_pre_attn_scalar=32,
        max_position_embeddings=256, rms_norm_eps=1e-6, sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={"full_attention": {"rope_type": "linear", "rope_theta": 1e6, "factor": 8.0},
                         "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}},
        tie_word_embeddings=True), **kw})


def gemma_keys(arch: str, cfg) -> dict:
    """The keys Gemma2Model / Gemma3Model.set_gguf_parameters write, and the three that state what
    llama.cpp hard-codes (see the module's doc)."""
    rope = cfg.rope_parameters
    full, local = (rope.get("full_attention", rope), rope.get("sliding_attention", rope))
    m = {
        f"{arch}.context_length": cfg.max_position_embeddings,
        f"{arch}.embedding_length": cfg.hidden_size,
        f"{arch}.block_count": cfg.num_hidden_layers,
        f"{arch}.feed_forward_length": cfg.intermediate_size,
        f"{arch}.attention.head_count": cfg.num_attention_heads,
        f"{arch}.attention.head_count_kv": cfg.num_key_value_heads,
        f"{arch}.attention.layer_norm_rms_epsilon": float(cfg.rms_norm_eps),
        f"{arch}.attention.key_length": cfg.head_dim,
        f"{arch}.attention.value_length": cfg.head_dim,
        f"{arch}.rope.freq_base": float(full["rope_theta"]),
        f"{arch}.attention.sliding_window": cfg.sliding_window,
        f"{arch}.vocab_size": cfg.vocab_size,
        f"{arch}.attention.sliding_window_pattern": [t == "sliding_attention" for t in cfg.layer_types],
        f"{arch}.attention.scale": float(cfg.query_pre_attn_scalar) ** -0.5,
    }
    if arch == "gemma3":
        m[f"{arch}.rope.freq_base_swa"] = float(local["rope_theta"])
    if full.get("rope_type", "default") == "linear":
        m[f"{arch}.rope.scaling.type"] = "linear"
        m[f"{arch}.rope.scaling.factor"] = float(full["factor"])
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if getattr(cfg, key, None) is not None:
            m[f"{arch}.{key}"] = float(getattr(cfg, key))
    return m


def metadata(cfg) -> dict:
    return gemma_keys(ARCH, cfg)


def _plus_one(w):
    return w + 1


def _minus_one(w):
    return w - 1


def gemma_maps(cfg, qk_norm: bool) -> list:
    """HF Gemma2/3 tensors -> llama.cpp's names; every norm weight with +1 (and -1 back)."""
    def norm(gguf, hf):
        return Map(gguf, [hf], _plus_one, _minus_one)
    m = [Map("token_embd.weight", ["model.embed_tokens.weight"]), norm("output_norm.weight", "model.norm.weight")]
    if not cfg.tie_word_embeddings:
        m.append(Map("output.weight", ["lm_head.weight"]))
    for i in range(cfg.num_hidden_layers):
        p, h = f"blk.{i}.", f"model.layers.{i}."
        m += [norm(p + "attn_norm.weight", h + "input_layernorm.weight"),
              Map(p + "attn_q.weight", [h + "self_attn.q_proj.weight"]),
              Map(p + "attn_k.weight", [h + "self_attn.k_proj.weight"]),
              Map(p + "attn_v.weight", [h + "self_attn.v_proj.weight"]),
              Map(p + "attn_output.weight", [h + "self_attn.o_proj.weight"]),
              norm(p + "post_attention_norm.weight", h + "post_attention_layernorm.weight"),
              norm(p + "ffn_norm.weight", h + "pre_feedforward_layernorm.weight"),
              Map(p + "ffn_gate.weight", [h + "mlp.gate_proj.weight"]),
              Map(p + "ffn_up.weight", [h + "mlp.up_proj.weight"]),
              Map(p + "ffn_down.weight", [h + "mlp.down_proj.weight"]),
              norm(p + "post_ffw_norm.weight", h + "post_feedforward_layernorm.weight")]
        if qk_norm:
            m += [norm(p + "attn_q_norm.weight", h + "self_attn.q_norm.weight"),
                  norm(p + "attn_k_norm.weight", h + "self_attn.k_norm.weight")]
    return m


def maps(cfg) -> list:
    return gemma_maps(cfg, qk_norm=True)
