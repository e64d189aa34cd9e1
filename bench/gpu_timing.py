"""GPU time of recorded WebGPU commands (wgpu-py), for the profiling scripts in bench/.

Commands are the device's own ("dispatch", pipeline, bind group, grid) / ("copy", ...) tuples.
They are encoded before the clock starts, so only submit + execution is timed; `sync` must wait
for the GPU (a small readback).
"""

import collections
import time


def gpu_time(adapter, cmds, reps, sync) -> float:
    """Seconds per repetition of cmds."""
    enc = adapter.device.create_command_encoder()
    cp = None
    for _ in range(reps):
        for c in cmds:
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
    adapter.device.queue.submit([cb])
    sync()
    return (time.perf_counter() - t0) / reps


def per_kernel(adapter, cmds, reps, sync) -> list[tuple[str, int, float]]:
    """(pipeline label, count, total seconds) per kernel variant, each dispatch timed alone."""
    per, count = collections.defaultdict(float), collections.Counter()
    for c in cmds:
        if c[0] != "dispatch":
            continue
        label = getattr(c[1], "label", "?") or "?"
        per[label] += gpu_time(adapter, [c], reps, sync)
        count[label] += 1
    return sorted(((k, count[k], v) for k, v in per.items()), key=lambda r: -r[2])
