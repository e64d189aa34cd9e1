"""Run the WebGPU benchmark on the GPU machine: synthetic SmolLM2-135M shapes, HF eager baseline.

    python3 bench/gpu_bench.py [--prompt 512] [--decode 128] [--model PATH] [--no-hf]

Prints the summary and one JSON line to paste into bench/log/runs.md. Works from the source
tree without installing (adds pkg/ to sys.path).
"""

import argparse
import json
import os
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402,F401  (this checkout's pkg/ first: its side effect)

from webinfer.bench import run_bench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--prompt", type=int, default=512)
ap.add_argument("--decode", type=int, default=128)
ap.add_argument("--model", default=None, help="a GGUF instead of the synthetic model")
ap.add_argument("--device", default="webgpu")
ap.add_argument("--no-hf", action="store_true")
a = ap.parse_args()
res = run_bench(a.model, a.device, a.prompt, a.decode, synthetic=a.model is None, hf_baseline=not a.no_hf)
res["date"] = time.strftime("%Y-%m-%d %H:%M")
print(json.dumps(res, default=str))
