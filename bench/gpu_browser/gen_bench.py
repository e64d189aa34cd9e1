"""Greedy generation bench, the same code in CPython (wgpu-py) and in a browser (Pyodide).

    python3 gen_bench.py MODEL.gguf [--device webgpu] [--prompt 512] [--decode 128] [--repeats 2]

In the browser, bench.html fetches this file and awaits `run(...)` in Pyodide with the model's
URL. Both load the model with webinfer's public loaders, warm up (every pipeline compiled), then
time `Model.acomplete` on the same pseudo-random prompt ids (numpy seed 0), greedy, `repeats`
times with the cache reset in between, and report the best prefill and decode rates of webinfer's
own Completion, its device, decode path and generated ids (which must agree between the two).

What it is not: a test (it asserts nothing); tokens are ids, as the synthetic model's vocabulary
is a placeholder.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import webinfer


async def run(source, device: str = "webgpu", prompt: int = 512, decode: int = 128, repeats: int = 2) -> dict:
    t0 = time.perf_counter()
    if sys.platform == "emscripten":
        m = await webinfer.load_async(source, device=device, n_ctx=prompt + decode + 64)
    else:
        m = webinfer.load(source, device=device, n_ctx=prompt + decode + 64)
    out = {"device": m.device.description, "load_s": round(time.perf_counter() - t0, 2),
           "prompt_tokens": prompt, "decode_tokens": decode, "python": sys.version.split()[0],
           "platform": sys.platform}
    ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, prompt)]
    t0 = time.perf_counter()
    await m.acomplete(ids[:64], max_tokens=4, temperature=0)    # compiles every pipeline
    out["warmup_s"] = round(time.perf_counter() - t0, 2)
    runs = []
    for _ in range(repeats):
        m.reset()
        c = await m.acomplete(ids, max_tokens=decode, temperature=0)
        runs.append(c)
    out["prefill_tok_s"] = [round(c.prefill_tok_s, 1) for c in runs]
    out["decode_tok_s"] = [round(c.decode_tok_s, 1) for c in runs]
    out["completion_tokens"] = runs[-1].completion_tokens
    out["finish_reason"] = runs[-1].finish_reason
    out["token_ids"] = runs[-1].token_ids
    out["same_ids_each_run"] = all(c.token_ids == runs[0].token_ids for c in runs)
    path = getattr(m.device, "decode_path", None)
    if path is not None:
        out["decode_path"] = path()
    return out


def main() -> int:
    import argparse
    import asyncio
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--device", default="webgpu")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(run(a.model, a.device, a.prompt, a.decode, a.repeats))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
