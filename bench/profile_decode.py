"""Where a WebGPU decode step spends its time (GPU machine): per-dispatch GPU time of the
recorded decode program, submit-only throughput, and the full step with its readback.

    python3 bench/profile_decode.py [--ctx 600] [--reps 50]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pkg"))

import numpy as np  # noqa: E402

import webinfer  # noqa: E402
from webinfer.bench import build_synthetic_model  # noqa: E402
from gpu_timing import gpu_time, per_kernel  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ctx", type=int, default=512, help="prompt tokens before decoding")
ap.add_argument("--reps", type=int, default=50)
a = ap.parse_args()

path = build_synthetic_model(os.path.join(tempfile.mkdtemp(), "s.gguf"))
m = webinfer.load(path, device="webgpu", n_ctx=a.ctx + 256)
dev = m.device
ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, a.ctx)]
logits, _ = m._prefill(ids)
tok = int(dev.read_sync(dev.argmax(logits)).reshape(-1)[0])
for _ in range(4):
    logits = m._decode(tok)
    tok = int(dev.read_sync(dev.argmax(logits)).reshape(-1)[0])
(prog,) = dev._programs.values()
ad = dev.adapter


def sync():
    dev.gpu.flush()
    st = dev.gpu.start_read(prog.out)
    asyncio.run(dev.gpu.finish_read(st))


# full step: replay + argmax + 4-byte read, one token at a time
t0 = time.perf_counter()
n = 64
for _ in range(n):
    logits = m._decode(tok)
    tok = int(dev.read_sync(dev.argmax(logits)).reshape(-1)[0])
full = (time.perf_counter() - t0) / n
# submit-only: n programs back to back, one read at the end
sync()
t0 = time.perf_counter()
for _ in range(n):
    ad.submit(prog.commands)
sync()
submit_only = (time.perf_counter() - t0) / n
# one submit holding n programs (no per-submit cost)
sync()
t0 = time.perf_counter()
ad.submit(prog.commands * 16)
sync()
batched = (time.perf_counter() - t0) / 16
print(f"ctx {a.ctx}: full step {1e3 * full:.3f} ms | submit-only {1e3 * submit_only:.3f} ms | "
      f"16 steps in one submit {1e3 * batched:.3f} ms/step | {prog.dispatches} dispatches")

dispatches = [c for c in prog.commands if c[0] == "dispatch"]
print(f"GPU-only step (pre-encoded): {1e3 * gpu_time(ad, dispatches, 20, sync):.3f} ms")

# per dispatch: the same dispatch repeated `reps` times in one submit, pre-encoded
rows = per_kernel(ad, prog.commands, a.reps, sync)
print(f"sum of per-dispatch times: {1e3 * sum(r[2] for r in rows):.3f} ms/step")
for label, n, dt in rows:
    print(f"  {label:40s} x{n:3d}  {1e6 * dt / n:8.1f} us each  {1e3 * dt:7.3f} ms/step")
