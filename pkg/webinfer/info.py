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
    try:
        cfg = ModelConfig.from_gguf(meta, gf.tensors.keys())
        out["runnable"] = "yes"
        out.update({
            "name": cfg.name, "arch": cfg.arch, "layers": cfg.n_layers, "d_model": cfg.d_model,
            "d_ff": cfg.d_ff, "heads": f"{cfg.n_heads} (kv {cfg.n_kv_heads}, dim {cfg.head_dim})",
            "vocab": cfg.n_vocab, "context": cfg.n_ctx_train, "rope_theta": cfg.rope_theta,
            "tied_embeddings": cfg.tied_embeddings,
        })
    except WebinferError as e:
        out["runnable"] = f"no: {e}"
    out["parameters"] = f"{summary['n_elements'] / 1e6:.1f}M"
    tokens = meta.get("tokenizer.ggml.tokens")
    out["tokenizer"] = (f"{meta.get('tokenizer.ggml.model', '?')} (pre {meta.get('tokenizer.ggml.pre', '-')}), "
                        f"{len(tokens) if tokens is not None else '?'} tokens")
    tmpl = meta.get("tokenizer.chat_template")
    out["chat_template"] = (detect_family(tmpl) or "custom (jinja2 needed)") if tmpl else "none"
    gf.close()
    return out

