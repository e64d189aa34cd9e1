"""`webinfer info`: what a GGUF file holds, as a flat dict (architecture, sizes, quant types,
tokenizer, chat template). Reads only the header: works for files we cannot run, too.
"""

from __future__ import annotations

from .chat_template import detect_family
from .config import ModelConfig
from .errors import WebinferError
from .sources import default_model_path, open_source


def describe(source=None) -> dict:
    gf = open_source(source if source is not None else default_model_path())
    meta = gf.metadata
    summary = gf.summary()
    out = {"file": str(source) if source is not None else str(default_model_path()),
           "gguf_version": gf.version, "file_size_MiB": round(summary["file_size"] / 2**20, 1),
           "tensors": summary["tensor_count"], "metadata_keys": summary["kv_count"],
           "tensor_types": summary["types"], "alignment": summary["alignment"]}
    if summary["unsupported_types"]:
        out["unsupported_types"] = ", ".join(summary["unsupported_types"])
    out["arch"] = str(meta.get("general.architecture", "?"))
    cfg = None
    try:
        cfg = ModelConfig.from_gguf(meta, gf.tensors.keys())
        out["runnable"] = "yes"
        out.update({
            "name": cfg.name, "arch": cfg.arch, "variant": _variant(cfg), "layers": cfg.n_layers,
            "d_model": cfg.d_model, "d_ff": cfg.d_ff, "heads": f"{cfg.n_heads} (kv {cfg.n_kv_heads}, dim {cfg.head_dim})",
            "vocab": cfg.n_vocab, "context": cfg.n_ctx_train, "rope_theta": cfg.rope_theta,
            "tied_embeddings": cfg.tied_embeddings,
        })
        if cfg.positions == "learned":       # no RoPE (GPT-2)
            del out["rope_theta"]
        if cfg.local_layers and cfg.sliding_window:   # Gemma: the window is per layer
            n_local = sum(cfg.local_layers)
            out["sliding_window"] = (f"{cfg.sliding_window} on {n_local} of {cfg.n_layers} layers"
                                     + (f" (rope_theta {cfg.rope_theta_local:g})" if cfg.rope_theta_local else ""))
        if cfg.attn_softcap or cfg.final_softcap:
            out["softcaps"] = f"attention {cfg.attn_softcap:g}, logits {cfg.final_softcap:g}"
    except WebinferError as e:
        out["runnable"] = f"no: {e}"
    out["parameters"] = f"{summary['n_elements'] / 1e6:.1f}M"
    out.update(_how_it_runs(gf, cfg))
    tokens = meta.get("tokenizer.ggml.tokens")
    out["tokenizer"] = (f"{meta.get('tokenizer.ggml.model', '?')} (pre {meta.get('tokenizer.ggml.pre', '-')}), "
                        f"{len(tokens) if tokens is not None else '?'} tokens")
    tmpl = meta.get("tokenizer.chat_template")
    out["chat_template"] = (detect_family(tmpl) or "custom (jinja2 needed)") if tmpl else "none"
    gf.close()
    return out



def _variant(cfg) -> str:
    """What of the LLaMA block this file switches on (config.ModelConfig's switches), in words;
    for GPT-2 its own block."""
    if cfg.positions == "learned":
        return ("learned positions (position_embd); LayerNorm (weight, bias); GELU (tanh) MLP; "
                "biases on every projection; fused c_attn (attn_qkv)")
    parts = ["RoPE " + ("NeoX pairs" if cfg.rope_neox else "adjacent pairs")]
    if cfg.rope_freqs or cfg.rope_llama3:
        parts[0] += ", Llama 3 scaled (" + ("rope_freqs tensor" if cfg.rope_freqs else "rope.scaling keys") + ")"
    if cfg.qk_norm:
        parts.append("per-head q/k RMSNorm")
    if cfg.qkv_bias:
        parts.append("q/k/v biases")
    if cfg.fused:
        parts.append("fused qkv and gate/up tensors")
    if cfg.rope_freq_factor != 1.0:
        parts[0] += f", linearly scaled by {cfg.rope_freq_factor:g} on the global layers"
    if cfg.local_layers and cfg.sliding_window:    # Gemma: local layers attend within the window
        parts.append(f"sliding window {cfg.sliding_window} on {sum(cfg.local_layers)} of {cfg.n_layers} layers "
                     f"(every position cached)")
    elif cfg.sliding_window:
        parts.append(f"sliding window {cfg.sliding_window} (the context is capped to it)")
    if cfg.attn_softcap or cfg.final_softcap:
        parts.append("soft-capped " + " and ".join(w for w, c in (("attention", cfg.attn_softcap),
                                                                   ("logits", cfg.final_softcap)) if c))
    return "; ".join(parts)


def _how_it_runs(gf, cfg=None) -> dict:
    """How the weights are held on each device: float32 or blocks on NumPy (its budget), the fused
    decode step or the plain kernels on WebGPU (the types the fused step decodes: since it takes
    every type of layout.GPU_QUANTS, and uploads others as F32, the plain kernels only where a
    type were left out of layout.FUSED_QUANTS; and for GPT-2, Gemma and per-head q/k norms, which
    the fused step has no commands for)."""
    from .device.numpy_device import F32_BUDGET
    from .config import GEMMA_ARCHS
    from .device.webgpu.layout import FUSED_QUANTS, GPU_TYPES
    weights = {n: t for n, t in gf.tensors.items() if n.endswith(".weight") and len(t.shape) >= 2}
    f32 = 4 * sum(t.n_elements for t in weights.values())
    numpy = (f"float32 weights ({f32 / 2**20:.0f} MiB)" if f32 <= F32_BUDGET else
             f"weights kept in their blocks (float32 would take {f32 / 2**30:.1f} GiB, over the "
             f"{F32_BUDGET / 2**30:.2g} GiB budget)")
    names = {GPU_TYPES.get(t.ggml_type, "F32") for t in weights.values()}
    slow = sorted(names - set(FUSED_QUANTS))
    gpu = "the fused decode step" if not slow else f"the plain kernels ({', '.join(slow)}: not in the fused step)"
    arch = gf.metadata.get("general.architecture")
    qk_norm = cfg.qk_norm if cfg is not None else (arch in GEMMA_ARCHS and "blk.0.attn_q_norm.weight" in gf.tensors)
    if cfg is not None and cfg.positions == "learned":
        gpu = f"the plain kernels ({cfg.arch}'s learned positions, LayerNorm and GELU: not in the fused step)"
    elif arch in GEMMA_ARCHS:   # Gemma 3 has per-head q/k norms too: both are said
        gpu = ("the replayed decode step (the fused step has no commands for Gemma's ops"
               + (", nor for its per-head q/k norms: no head_norm command)" if qk_norm else ")"))
    elif qk_norm:
        gpu = "the plain kernels (per-head q/k norms: the fused decode step has no head_norm command)"
    return {"on_numpy": numpy, "on_webgpu": gpu}
