"""Run the WebGPU benchmark on the GPU machine: synthetic SmolLM2-135M shapes, HF eager baseline.

    python3 bench/gpu_bench.py [--prompt 512] [--decode 128] [--model PATH] [--device webgpu] [--no-hf] [--json]
                               [--shape smollm2|qwen25-05b|llama32-1b] [--mix Q4_K_M|Q6_K|...] [--random-blocks]

The model is a GGUF given with --model, else a random-weight one of SmolLM2-135M-Instruct's shapes
and types, or of --shape's shapes, or with --mix's types as `webinfer quantize --type` gives them
(tests/synthetic_model.py, built in a temp folder and removed afterwards); the timing is
webinfer.bench.run_bench's (`webinfer bench` on a model file). Prints the summary and one JSON
line to paste into bench/log/runs.md; with --json only the JSON object (prefill_tok_s,
decode_tok_s, decode_path, ...; with the HF baseline also hf, decode_vs_hf, prefill_vs_hf).

Works from the source tree without installing: the checkout's pkg/ goes first on sys.path, unless
PYTHONPATH names a folder holding a webinfer (bench/_common.py), which is then the one timed (any
version: run_bench's arguments used here have not changed since it was written).
"""

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402,F401  (this checkout's pkg/ and tests/ on sys.path: its side effect)

import synthetic_model  # noqa: E402
from webinfer.bench import run_bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--prompt", type=int, default=512, help="prompt tokens")
ap.add_argument("--decode", type=int, default=128, help="decoded tokens")
ap.add_argument("--model", default=None, help="a GGUF instead of the synthetic model")
ap.add_argument("--device", default="webgpu", choices=["auto", "numpy", "webgpu"])
ap.add_argument("--no-hf", action="store_true", help="skip the HF transformers baseline")
ap.add_argument("--json", action="store_true", help="print only the JSON object")
ap.add_argument("--shape", default="smollm2", choices=["smollm2", "qwen25-05b", "llama32-1b"])
ap.add_argument("--mix", default=None, help="the synthetic model's types as a webinfer quantize --type")
ap.add_argument("--random-blocks", action="store_true",
                help="the synthetic model's quantized tensors as random blocks (seconds to build, not minutes)")
a = ap.parse_args()
say = (lambda *x: None) if a.json else print
with tempfile.TemporaryDirectory(prefix="webinfer-bench-") as tmp:
    model = a.model
    if model is None:
        say("building the synthetic model ...")
        shapes = {"smollm2": None, "qwen25-05b": synthetic_model.QWEN25_05B, "llama32-1b": synthetic_model.LLAMA32_1B}
        model = synthetic_model.build_synthetic_model(os.path.join(tmp, "synthetic.gguf"), shapes=shapes[a.shape],
                                                      mix=a.mix, random_blocks=a.random_blocks)
    res = run_bench(model, a.device, a.prompt, a.decode, hf_baseline=not a.no_hf, print_fn=say)
res["date"] = time.strftime("%Y-%m-%d %H:%M")
res["shape"], res["mix"] = a.shape, a.mix or "Q4_1 layers, Q8_0 embedding"
print(json.dumps(res, default=str))
