"""gpt2: GPT2Config / GPT2LMHeadModel (4 heads of 16, 2 layers, the MLP 4 x d_model as GPT-2's and
as llama.cpp's converter writes feed_forward_length, tied embeddings, learned positions). HF's
Conv1D stores c_attn / c_proj / c_fc as (in, out): llama.cpp transposes them to (out, in); the
fused c_attn stays one tensor (attn_qkv) with its bias. No GQA and no head_dim != d_model /
n_heads: the family has neither."""

from __future__ import annotations

from .common import Map

NAME = ARCH = "gpt2"
SEED = 30       # the first seed whose greedy runs have >= 5e-4 margins and 8+ distinct tokens (13)
TOKENIZER_PRE = "gpt-2"


def config(**kw):
    from transformers import GPT2Config
    return GPT2Config(**{**dict(vocab_size=272, n_embd=64, n_layer=2, n_head=4, n_positions=256,
                                layer_norm_epsilon=1e-5, activation_function="gelu_new",
                                bos_token_id=None, eos_token_id=None, tie_word_embeddings=True), **kw})


def metadata(cfg) -> dict:
    """The keys convert_hf_to_gguf.py's GPT2Model writes (feed_forward_length is 4 * n_embd there)."""
    return {f"{ARCH}.block_count": cfg.n_layer, f"{ARCH}.context_length": cfg.n_positions,
            f"{ARCH}.embedding_length": cfg.n_embd, f"{ARCH}.feed_forward_length": 4 * cfg.n_embd,
            f"{ARCH}.attention.head_count": cfg.n_head,
            f"{ARCH}.attention.layer_norm_epsilon": float(cfg.layer_norm_epsilon)}


def _t(w):
    return w.T


def maps(cfg) -> list:
    m = [Map("token_embd.weight", ["transformer.wte.weight"]),
         Map("position_embd.weight", ["transformer.wpe.weight"]),
         Map("output_norm.weight", ["transformer.ln_f.weight"]), Map("output_norm.bias", ["transformer.ln_f.bias"])]
    if not cfg.tie_word_embeddings:
        m.append(Map("output.weight", ["lm_head.weight"]))
    for i in range(cfg.n_layer):
        p, h = f"blk.{i}.", f"transformer.h.{i}."
        for gg, hf in (("attn_norm", "ln_1"), ("ffn_norm", "ln_2")):
            m += [Map(p + gg + ".weight", [h + hf + ".weight"]), Map(p + gg + ".bias", [h + hf + ".bias"])]
        for gg, hf in (("attn_qkv", "attn.c_attn"), ("attn_output", "attn.c_proj"), ("ffn_up", "mlp.c_fc"),
                       ("ffn_down", "mlp.c_proj")):
            m += [Map(p + gg + ".weight", [h + hf + ".weight"], _t, _t), Map(p + gg + ".bias", [h + hf + ".bias"])]
    return m
