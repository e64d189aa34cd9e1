"""The fused decode step (decode_fused.wgsl) against the plain replay on this machine's GPU.

    python bench/fused_check.py [--layers 30] [--tokens 64] [--workgroups 132] [--prompt 200] [--ctx 1024]

Builds the synthetic SmolLM2-135M-shaped model (or a smaller one), decodes greedily with the
fused step off and on, and prints whether the tokens agree, the largest logit difference over
the decoded steps, the decode path the device chose and tokens/s of both. Exits 1 (after
printing) where a G's tokens differ from the replay's, its logits differ by more than the device's
first-step check allows (fused.check), or its program was not used; tokens/s are printed, not
judged. CI holds the kernel to NumPy on emulators (tests/kernels/test_fused*.py); this is the
check for a real GPU.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import _common  # noqa: E402  (this checkout's pkg/ first)

import webinfer  # noqa: E402
from webinfer.device.webgpu import fused, open_device  # noqa: E402


def run(path, mode, workgroups, prompt, n_tokens, n_ctx):
    dev = open_device()
    dev.fused, dev.fused_workgroups = mode, workgroups
    m = webinfer.load(path, device=dev, n_ctx=n_ctx)
    m.complete(prompt[:8], max_tokens=4, temperature=0)           # warm-up: pipelines, the probe
    m.reset()
    t0 = time.perf_counter()
    gen = m.complete(prompt, max_tokens=n_tokens, temperature=0)
    dt = time.perf_counter() - t0
    # logits of a few steps, read one by one (slow path, for the comparison only)
    m.reset()
    lg, _ = m.prefill(prompt)
    logits = []
    for _ in range(8):
        logits.append(dev.read_sync(lg).reshape(-1))
        lg = m.step(int(np.argmax(logits[-1])))
    return gen.token_ids, logits, dev.decode_path(), n_tokens / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--workgroups", type=int, nargs="+", default=[132])
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--prompt", type=int, default=200, help="prompt tokens (positions before the decoded ones)")
    a = ap.parse_args()
    path = _common.synthetic_model(n_layers=a.layers)
    prompt = [int(t) for t in np.random.default_rng(1).integers(0, 49152, a.prompt)]
    ref, ref_logits, ref_path, ref_tps = run(path, "off", 1, prompt, a.tokens, a.ctx)
    print(f"plain replay: {ref_tps:.1f} tok/s (complete(), {a.tokens} tokens, incl. prefill) [{ref_path}]")
    failed = []
    for g in a.workgroups:
        got, logits, p, tps = run(path, "on", g, prompt, a.tokens, a.ctx)
        same = sum(x == y for x, y in zip(got, ref))
        err = max(float(np.max(np.abs(x - y))) for x, y in zip(logits, ref_logits))
        print(f"fused G={g}: {tps:.1f} tok/s, tokens equal {same}/{len(ref)}, max |logit diff| {err:.3g} "
              f"over 8 steps [{p}]")
        why = next(filter(None, (fused.check(x, y, 0) for x, y in zip(logits, ref_logits))), None)
        if got != ref or why or not p.startswith("fused"):
            failed.append(f"G={g}: " + (why or ("tokens differ" if got != ref else f"not fused: {p}")))
    for f in failed:
        print("FAIL", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
