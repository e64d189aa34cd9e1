"""Where a WebGPU decode step spends its time (GPU machine): per-dispatch GPU time of the
recorded decode program, submit-only throughput, and the full step with its readback.

    python3 bench/profile_decode.py [--ctx 600] [--reps 50]
"""

import argparse
import asyncio
import collections
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

def gpu_time(cmds, reps):
    """GPU time of cmds: encoded before the clock starts, so only submit + execution is timed."""
    enc = ad.device.create_command_encoder()
    cp = enc.begin_compute_pass()
    for _ in range(reps):
        for _, pipe, bg, (x, y, z) in cmds:
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, bg)
            cp.dispatch_workgroups(x, y, z)
    cp.end()
    cb = enc.finish()
    sync()
    t0 = time.perf_counter()
    ad.device.queue.submit([cb])
    sync()
    return (time.perf_counter() - t0) / reps


dispatches = [c for c in prog.commands if c[0] == "dispatch"]
t0 = time.perf_counter()
enc_n = 20
for _ in range(enc_n):
    ad.submit(prog.commands)
sync()
print(f"GPU-only step (pre-encoded): {1e3 * gpu_time(dispatches, 20):.3f} ms")

# per dispatch: the same dispatch repeated `reps` times in one submit, pre-encoded
per = collections.defaultdict(float)
count = collections.Counter()
empty = None
for c in prog.commands:
    if c[0] != "dispatch":
        continue
    dt = gpu_time([c], a.reps)
    label = getattr(c[1], "label", "?") or "?"
    per[label] += dt
    count[label] += 1
total = sum(per.values())
print(f"sum of per-dispatch times: {1e3 * total:.3f} ms/step")
for label, dt in sorted(per.items(), key=lambda kv: -kv[1]):
    print(f"  {label:40s} x{count[label]:3d}  {1e6 * dt / count[label]:8.1f} us each  {1e3 * dt:7.3f} ms/step")
