"""Where a WebGPU decode step spends its time (GPU machine): per-dispatch GPU time of the
recorded decode program, submit-only throughput, and the full step with its readback.

    python3 bench/profile_decode.py [--ctx 600] [--reps 50]
"""

import argparse
import asyncio
import os
import sys
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import _common  # noqa: E402  (this checkout's pkg/ first)

import numpy as np  # noqa: E402

import webinfer  # noqa: E402
from gpu_timing import gpu_time, kernel_times, per_kernel, print_kernel_times, request_timestamps  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--ctx", type=int, default=512, help="prompt tokens before decoding")
ap.add_argument("--reps", type=int, default=50)
ap.add_argument("--split", type=int, default=0, help="keys per decode-attention workgroup (0: the device's default)")
a = ap.parse_args()
if a.split:
    import webinfer.device.webgpu.device as _wd
    _wd.ATTN_SPLIT_LEN = a.split

request_timestamps()
path = _common.synthetic_model()
m = webinfer.load(path, device="webgpu", n_ctx=a.ctx + 256)
dev = m.device
ids = [int(t) for t in np.random.default_rng(0).integers(0, m.config.n_vocab, a.ctx)]
logits, _ = m.prefill(ids)
tok = int(dev.read_sync(dev.argmax(logits)).reshape(-1)[0])
for _ in range(4):
    logits = m.step(tok)
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
    logits = m.step(tok)
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



async def parts(n):
    """CPU ms per token in each part of a decode loop without decode-ahead."""
    global logits
    acc = np.zeros(3)
    for _ in range(n):
        t0 = time.perf_counter()
        pending = dev.read(dev.argmax(logits))
        t1 = time.perf_counter()
        tok_i = int(np.asarray(await pending).reshape(-1)[0])
        t2 = time.perf_counter()
        logits = m.step(tok_i)
        t3 = time.perf_counter()
        acc += [t1 - t0, t3 - t2, t2 - t1]
    return 1e3 * acc / n


asyncio.run(parts(4))
a_, r_, w_ = asyncio.run(parts(32))
print(f"no-ahead loop, ms/token: argmax + read submit {a_:.3f} | replay (encode + submit) {r_:.3f} | "
      f"wait for the token {w_:.3f}")
# the real decode loop (webinfer.bench._decode, decode-ahead), with the time spent waiting split out
from webinfer import bench as wbench  # noqa: E402
waits = {"submit (incl. waiting for the encoder thread)": 0.0, "token read (waiting for the GPU)": 0.0}
orig_submit, orig_finish = ad.submit, dev.gpu.finish_read


def timed_submit(*args, **kw):
    t0 = time.perf_counter()
    try:
        return orig_submit(*args, **kw)
    finally:
        waits["submit (incl. waiting for the encoder thread)"] += time.perf_counter() - t0


async def timed_finish(started):
    t0 = time.perf_counter()
    try:
        return await orig_finish(started)
    finally:
        waits["token read (waiting for the GPU)"] += time.perf_counter() - t0


ad.submit, dev.gpu.finish_read = timed_submit, timed_finish
nd = 128
dt = wbench.step(m, nd)
ad.submit, dev.gpu.finish_read = orig_submit, orig_finish
print(f"decode loop: {1e3 * dt / nd:.3f} ms/token; of it " +
      ", ".join(f"{k} {1e3 * v / nd:.3f}" for k, v in waits.items()))

raw = ad._raw
t_loop = t_fin = 0.0
for _ in range(32):             # encoding alone, never submitted
    t0 = time.perf_counter()
    e = ad.device.create_command_encoder()
    cp = e.begin_compute_pass()
    h = cp._internal
    for c in prog.commands:
        if c[0] == "dispatch":
            raw.set_pipeline(h, c[1]._internal)
            raw.set_bind_group(h, 0, c[2]._internal, 0, raw.null)
            raw.dispatch(h, *c[3])
    t1 = time.perf_counter()
    cp.end()
    cb = e.finish()
    t_loop, t_fin = t_loop + t1 - t0, t_fin + time.perf_counter() - t1
    del cb
print(f"encoding a step: {1e3 * t_loop / 32:.3f} ms recording + {1e3 * t_fin / 32:.3f} ms end/finish")

dispatches = [c for c in prog.commands if c[0] == "dispatch"]
print(f"GPU-only step (pre-encoded): {1e3 * gpu_time(ad, dispatches, 20, sync):.3f} ms")

ts = kernel_times(ad, prog.commands, sync)
if ts:
    print_kernel_times(ts)
if a.reps <= 0:
    sys.exit(0)
# per dispatch: the same dispatch repeated `reps` times in one submit, pre-encoded
rows = per_kernel(ad, prog.commands, a.reps, sync)
print(f"sum of per-dispatch times: {1e3 * sum(r[2] for r in rows):.3f} ms/step")
for label, n, dt in rows:
    print(f"  {label:40s} x{n:3d}  {1e6 * dt / n:8.1f} us each  {1e3 * dt:7.3f} ms/step")
