"""Where a WebGPU prefill spends its GPU time (GPU machine): the dispatches of one 512-token
prefill, each timed alone (pre-encoded, repeated), summed per kernel variant.

    python3 bench/profile_prefill.py [--tokens 512] [--reps 5]
"""

import argparse
import asyncio
import os
import sys

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402  (this checkout's pkg/ first)

import numpy as np  # noqa: E402

import webinfer  # noqa: E402
from webinfer.device.webgpu import gpu as gpu_mod  # noqa: E402
from gpu_timing import gpu_time, kernel_times, per_kernel, print_kernel_times, request_timestamps  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--tokens", type=int, default=512)
ap.add_argument("--reps", type=int, default=5)
a = ap.parse_args()

request_timestamps()
path = _common.synthetic_model()
m = webinfer.load(path, device="webgpu", n_ctx=a.tokens + 64)
dev, ad = m.device, m.device.adapter
ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, a.tokens)]
for _ in range(2):                      # warm-up: pipelines compiled
    m.reset()
    logits, _ = m.prefill(ids)
    dev.read_sync(dev.argmax(logits))
m.reset()
gpu_mod.FLUSH_EVERY = 1 << 30          # keep the whole prefill queued, unsubmitted
logits, _ = m.prefill(ids)
logits = dev._t(logits)                 # materialise the deferred logits projection
cmds = list(dev.gpu.pending)            # the whole prefill, not yet submitted
dev.read_sync(dev.argmax(logits))


def sync():
    st = dev.gpu.start_read(logits)
    asyncio.run(dev.gpu.finish_read(st))


total = gpu_time(ad, cmds, max(1, a.reps), sync)
print(f"{a.tokens}-token prefill: GPU-only {1e3 * total:.2f} ms ({a.tokens / total:.0f} tok/s), "
      f"{sum(c[0] == 'dispatch' for c in cmds)} dispatches")
ts = kernel_times(ad, cmds, sync)
if ts:
    print_kernel_times(ts)
if a.reps <= 0:
    sys.exit(0)
for label, n, dt in per_kernel(ad, cmds, a.reps, sync):
    print(f"  {label:40s} x{n:3d}  {1e6 * dt / n:9.1f} us each  {1e3 * dt:8.3f} ms")
