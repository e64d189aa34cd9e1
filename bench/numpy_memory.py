"""Memory and speed of the NumPy device in CPython: float32 weights against weights kept quantized.

Each configuration runs in a fresh process (peak RSS is the process's own, ru_maxrss), loads a
model on NumpyDevice(f32_budget=...), prefills a random prompt and decodes greedily, and prints
one JSON line: the file's size, the weight bytes held as float32 and as blocks, peak RSS after
load and after decoding, prefill and decode tok/s.

    python3 bench/numpy_memory.py [--model PATH | --shape smollm2|qwen25-05b|llama32-1b --mix Q4_K_M]
                                  [--budget-mb MB ...] [--prompt 64] [--decode 16]

--model defaults to the shipped model; --shape builds a random-block synthetic model of those shapes; --budget-mb takes several values (default: the device's
default budget, then 0: every weight quantized).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import _common  # noqa: F401 - this checkout's webinfer first on sys.path

SHAPES = {"smollm2": "SMOLLM2_135M", "qwen25-05b": "QWEN25_05B", "llama32-1b": "LLAMA32_1B"}


def peak_mb() -> float:
    """This process's peak resident memory: /proc's VmHWM (ru_maxrss keeps the parent's peak
    across exec on Linux), else ru_maxrss."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def one(model: str, budget_mb: float | None, prompt: int, decode: int) -> dict:
    import numpy as np
    import webinfer
    from webinfer.device.numpy_device import NumpyDevice
    dev = NumpyDevice("bench", None if budget_mb is None else int(budget_mb * 2**20))
    res = {"model": os.path.basename(model) if model else "the shipped model", "budget_mb": budget_mb,
           "rss_before_load_mb": peak_mb()}
    t = time.perf_counter()
    if model is None:
        from webinfer.sources import default_model_path
        model = str(default_model_path())       # (read as a path: mapped, as a user's file is)
    m = webinfer.load(model, device=dev, n_ctx=prompt + decode + 8)
    res["load_s"] = round(time.perf_counter() - t, 2)
    res["file_mb"] = round(os.path.getsize(model) / 2**20, 1) if model else None
    res["f32_weights_mb"] = round(dev.f32_bytes / 2**20, 1)
    res["quantized_weights_mb"] = round(dev.quantized_bytes / 2**20, 1)
    res["peak_rss_loaded_mb"] = peak_mb()
    ids = [int(i) for i in np.random.default_rng(0).integers(0, m.config.n_vocab, prompt)]
    t = time.perf_counter()
    logits, _ = m.prefill(ids)
    tok = int(np.argmax(m.device.read_sync(logits)))
    res["prefill_tok_s"] = round(prompt / (time.perf_counter() - t), 1)
    t = time.perf_counter()
    for _ in range(decode):
        m.confirm(tok)
        tok = int(np.argmax(m.device.read_sync(m.step(tok))))
    res["decode_tok_s"] = round(decode / (time.perf_counter() - t), 2)
    res["peak_rss_decoded_mb"] = peak_mb()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--shape", choices=sorted(SHAPES))
    ap.add_argument("--mix", default="Q4_K_M")
    ap.add_argument("--budget-mb", type=float, nargs="*")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--decode", type=int, default=16)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.model, a.budget_mb[0] if a.budget_mb else None, a.prompt, a.decode)))
        return
    model = a.model
    if a.shape:
        import synthetic_model as sm
        model = os.path.join(tempfile.mkdtemp(), f"{a.shape}-{a.mix}.gguf")
        t = time.perf_counter()
        sm.build_synthetic_model(model, shapes=getattr(sm, SHAPES[a.shape]), mix=a.mix, random_blocks=True)
        print(f"# wrote {model} ({os.path.getsize(model) / 2**20:.0f} MiB) in {time.perf_counter() - t:.0f} s",
              flush=True)
    for b in (a.budget_mb if a.budget_mb is not None else [None, 0]):
        cmd = [sys.executable, __file__, "--one", "--prompt", str(a.prompt), "--decode", str(a.decode)]
        cmd += (["--model", model] if model else []) + ([] if b is None else ["--budget-mb", str(b)])
        out = subprocess.run(cmd, capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr.strip()[-2000:], flush=True)


if __name__ == "__main__":
    main()
