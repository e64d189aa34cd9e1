"""Where a WebGPU prefill spends its GPU time (GPU machine): the dispatches of one 512-token
prefill, each timed alone (pre-encoded, repeated), summed per kernel variant.

    python3 bench/profile_prefill.py [--tokens 512] [--reps 5]
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
ap.add_argument("--tokens", type=int, default=512)
ap.add_argument("--reps", type=int, default=5)
a = ap.parse_args()

path = build_synthetic_model(os.path.join(tempfile.mkdtemp(), "s.gguf"))
m = webinfer.load(path, device="webgpu", n_ctx=a.tokens + 64)
dev, ad = m.device, m.device.adapter
ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, a.tokens)]
for _ in range(2):                      # warm-up: pipelines compiled
    m.reset()
    logits, _ = m._prefill(ids)
    dev.read_sync(dev.argmax(logits))
m.reset()
logits, _ = m._prefill(ids)
logits = dev._t(logits)                 # materialise the deferred logits projection
cmds = list(dev.gpu.pending)            # the whole prefill, not yet submitted
dev.read_sync(dev.argmax(logits))


def sync():
    st = dev.gpu.start_read(logits)
    asyncio.run(dev.gpu.finish_read(st))


def gpu_time(cs, reps):
    enc = ad.device.create_command_encoder()
    cp = None
    for _ in range(reps):
        for c in cs:
            if c[0] == "dispatch":
                if cp is None:
                    cp = enc.begin_compute_pass()
                _, pipe, bg, (x, y, z) = c
                cp.set_pipeline(pipe)
                cp.set_bind_group(0, bg)
                cp.dispatch_workgroups(x, y, z)
            else:
                if cp is not None:
                    cp.end()
                    cp = None
                _, src, so, dst, do, size = c
                enc.copy_buffer_to_buffer(src, so, dst, do, size)
    if cp is not None:
        cp.end()
    cb = enc.finish()
    sync()
    t0 = time.perf_counter()
    ad.device.queue.submit([cb])
    sync()
    return (time.perf_counter() - t0) / reps


total = gpu_time(cmds, a.reps)
print(f"{a.tokens}-token prefill: GPU-only {1e3 * total:.2f} ms ({a.tokens / total:.0f} tok/s), "
      f"{sum(c[0] == 'dispatch' for c in cmds)} dispatches")
per, count = collections.defaultdict(float), collections.Counter()
for c in cmds:
    if c[0] != "dispatch":
        continue
    label = getattr(c[1], "label", "?") or "?"
    per[label] += gpu_time([c], a.reps)
    count[label] += 1
for label, dt in sorted(per.items(), key=lambda kv: -kv[1]):
    print(f"  {label:40s} x{count[label]:3d}  {1e6 * dt / count[label]:9.1f} us each  {1e3 * dt:8.3f} ms")
