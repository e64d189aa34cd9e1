"""Decode tokens/s on WebGPU with and without a grammar constraint, replayed and fused.

    python3 bench/grammar_gpu_bench.py [--decode 128] [--prompt 64] [--repeat 3] [--model PATH | --layers N]
                                       [--paths replayed,fused] [--sample] [--json]

Under a constraint the allowed tokens go to the GPU as a bit mask before each step (6 KB for
49k tokens; WebGPUDevice.token_mask) and the pick stays on the GPU: argmax.wgsl / sample.wgsl
MASK on the replayed step, the fused step's own greedy pick (decode_fused.wgsl MASK). What it
costs beyond that: the host's mask per token (grammar/mask.py, cached per grammar state), the
mask's write, and no decode-ahead (the next step's mask needs this token first).

The model: a GGUF given with --model, else a random-weight one of SmolLM2-135M-Instruct's shapes
and types (tests/synthetic_model.py, random blocks: seconds to build, no model file needed) with
a vocabulary that can write JSON (text_vocabulary: bytes, JSON pieces, numbers, random words),
so the masks cost about what the real vocabulary's do. Random weights make some JSON of their
own; the budget rule closes it before max_tokens.

For each decode path (--paths: the replay of the recorded step, and the fused step, forced on),
each case (free; JSON mode; a product schema) is run once to warm up (pipelines, the grammar's
masks) and then --repeat times from the same prompt (the cache reset): the median decode tok/s,
the tokens made, and the constrained / free ratio. --sample adds the same at temperature 1
(seeded: sample.wgsl). Prints a table and one JSON line for bench/log/runs.md.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402,F401  (this checkout's pkg/ and tests/ on sys.path: its side effect)

import numpy as np  # noqa: E402

import synthetic_model  # noqa: E402
import webinfer  # noqa: E402
from webinfer.device.webgpu import open_device  # noqa: E402

PRODUCT = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 40}, "price": {"type": "number", "minimum": 0},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4}},
    "required": ["name", "price", "tags"]}
CASES = {"free": None, "json_object": {"type": "json_object"},
         "schema product": {"type": "json_schema", "json_schema": {"schema": PRODUCT}}}
PATHS = {"replayed": "off", "fused": "on"}


def run_case(m, prompt, fmt, decode, repeat, sampling):
    """(median decode tok/s, tokens made per run) over `repeat` runs after one warm-up."""
    kw = dict(max_tokens=decode, **sampling)
    if fmt is not None:
        kw["response_format"] = fmt
    rates, made = [], []
    for i in range(repeat + 1):
        m.reset()
        r = m.complete(prompt, **kw)
        if fmt is not None:
            json.loads(r.text)                 # the constraint held (else the run is worthless)
        if i:
            rates.append(r.decode_tok_s)
            made.append(r.completion_tokens)
    return statistics.median(rates), made


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--decode", type=int, default=128, help="max_tokens a run")
    ap.add_argument("--prompt", type=int, default=64, help="prompt tokens")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs a case (the median is reported)")
    ap.add_argument("--model", default=None, help="a GGUF instead of the synthetic model")
    ap.add_argument("--layers", type=int, default=None, help="the synthetic model's layers (a quick check: 2)")
    ap.add_argument("--paths", default="replayed,fused", help="decode paths: replayed, fused")
    ap.add_argument("--sample", action="store_true", help="also at temperature 1 (seeded, sample.wgsl)")
    ap.add_argument("--json", action="store_true", help="print only the JSON object")
    a = ap.parse_args()
    say = (lambda *x: None) if a.json else (lambda *x: print(*x, flush=True))
    modes = [("greedy", dict(temperature=0))] + ([("sampled", dict(temperature=1.0, seed=1))] if a.sample else [])
    res = {"date": time.strftime("%Y-%m-%d %H:%M"), "decode": a.decode, "prompt": a.prompt, "rows": []}
    with tempfile.TemporaryDirectory(prefix="webinfer-grammar-bench-") as tmp:
        path = a.model
        if path is None:
            say("building the synthetic model (SmolLM2-135M shapes, random blocks, a JSON-capable vocabulary) ...")
            n_vocab = synthetic_model.SMOLLM2_135M["n_vocab"]
            shapes = {"n_layers": a.layers} if a.layers else None
            path = synthetic_model.build_synthetic_model(os.path.join(tmp, "synthetic.gguf"), random_blocks=True,
                                                         shapes=shapes, tokens=synthetic_model.text_vocabulary(n_vocab))
        for name in a.paths.split(","):
            dev = open_device()
            dev.fused = PATHS[name]
            m = webinfer.load(path, device=dev, n_ctx=a.prompt + a.decode + 8)
            rng = np.random.default_rng(0)
            prompt = [int(t) for t in rng.integers(32, 127, a.prompt)]   # byte tokens: printable ASCII
            res["device"] = dev.description
            for mode, sampling in modes:
                free = None
                for case, fmt in CASES.items():
                    tok_s, made = run_case(m, prompt, fmt, a.decode, a.repeat, sampling)
                    free = tok_s if fmt is None else free
                    row = {"path": name, "mode": mode, "case": case, "decode_tok_s": round(tok_s, 2),
                           "tokens": made, "vs_free": round(tok_s / free, 3) if free else None,
                           "decode_path": dev.decode_path()}
                    res["rows"].append(row)
                    say(f"{name:8s} {mode:7s} {case:15s} {tok_s:8.1f} tok/s  {row['vs_free'] or 1.0:5.2f}x free  "
                        f"tokens {made}  [{row['decode_path']}]")
            del m, dev
    say(f"device: {res.get('device')}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
