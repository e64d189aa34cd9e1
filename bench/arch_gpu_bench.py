"""Decode and prefill of a new architecture at a real model's shapes on the GPU machine, beside HF
transformers eager on the very same (random) weights, in one command.

    python3 bench/arch_gpu_bench.py --arch qwen3|gemma3 [--prompt 512] [--decode 128] [--type Q8_0] [--json]

The HF model is built from the family's own config class at the shapes in SHAPES (Qwen3-0.6B,
Gemma 3 270M; HF's own random init), written as GGUF through tools/hf_fixtures' tensor maps (the
fidelity fixtures' converter: llama.cpp's names and keys) with its 2-D weights quantized to --type,
and timed by webinfer.bench.run_bench on WebGPU; then HF eager (fp32) decodes the same model
(webinfer.bench.hf_eager_bench). Random weights say nothing of answers, only of speed.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import types

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402  (this checkout's pkg/ and tests/ on sys.path)

sys.path.insert(0, str(_common.REPO / "tools"))

# The published configs' shapes (config.json of Qwen/Qwen3-0.6B and google/gemma-3-270m).
SHAPES = {
    "qwen3": dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                  num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960),
    "gemma3": dict(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                   num_attention_heads=4, num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=256,
                   max_position_embeddings=32768, sliding_window=512,
                   rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                    "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
}


def layer_types(n: int) -> list:
    """Gemma 3's pattern: five sliding-window layers, then one global, repeated."""
    return ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)]

ap = argparse.ArgumentParser()
ap.add_argument("--arch", required=True, choices=sorted(SHAPES))
ap.add_argument("--prompt", type=int, default=512)
ap.add_argument("--decode", type=int, default=128)
ap.add_argument("--type", default="Q8_0", help="the 2-D weights' type in the GGUF webinfer runs")
ap.add_argument("--device", default="webgpu", choices=["numpy", "webgpu"])
ap.add_argument("--json", action="store_true", help="print only the JSON object")
ap.add_argument("--layers", type=int, default=0, help="this many layers instead of the model's (a quick check)")
a = ap.parse_args()
say = (lambda *x: None) if a.json else print

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from hf_fixtures import common  # noqa: E402
from webinfer.bench import hf_eager_bench, run_bench  # noqa: E402
from webinfer.formats.gguf_write import write_gguf  # noqa: E402

mod = importlib.import_module(f"hf_fixtures.{a.arch}")
shape = dict(SHAPES[a.arch], **({"num_hidden_layers": a.layers} if a.layers else {}))
if a.arch == "gemma3":
    shape["layer_types"] = layer_types(shape["num_hidden_layers"])
cfg = mod.config(**shape)
say(f"building HF {type(cfg).__name__} at {a.arch}'s shapes ...")
hf = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", torch_dtype=torch.float32).eval()
sd = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
tensors = {}
for name, arr in common.to_gguf(mod.maps(cfg), sd).items():
    tensors[name] = (lambda x=arr: x, a.type, arr.shape) if arr.ndim == 2 else arr
meta = {"general.architecture": mod.ARCH, "general.name": f"{a.arch} shapes (random weights)",
        **mod.metadata(cfg), **common.byte_bpe(272, getattr(mod, "TOKENIZER_PRE", "default"))}
meta["tokenizer.ggml.tokens"] = meta["tokenizer.ggml.tokens"] + [f"<t{i}>" for i in range(272, cfg.vocab_size)]
meta["tokenizer.ggml.token_type"] = [1] * cfg.vocab_size
with tempfile.TemporaryDirectory(prefix="webinfer-arch-") as tmp:
    path = os.path.join(tmp, f"{a.arch}.gguf")
    t0 = time.perf_counter()
    write_gguf(path, meta, tensors)
    say(f"wrote {os.path.getsize(path) / 2**20:.0f} MiB in {time.perf_counter() - t0:.0f} s")
    del tensors, sd
    res = run_bench(path, a.device, a.prompt, a.decode, hf_baseline=False, print_fn=say)
hfr = hf_eager_bench(types.SimpleNamespace(n_vocab=cfg.vocab_size), a.prompt, a.decode, model=hf)
res.update(arch=a.arch, type=a.type, hf=hfr, transformers=transformers.__version__, date=time.strftime("%Y-%m-%d %H:%M"))
if "decode_tok_s" in hfr:
    res["decode_vs_hf"] = round(res["decode_tok_s"] / hfr["decode_tok_s"], 2)
    res["prefill_vs_hf"] = round(res["prefill_tok_s"] / hfr["prefill_tok_s"], 2)
say(f"HF eager: {hfr}")
print(json.dumps(res, default=str))
