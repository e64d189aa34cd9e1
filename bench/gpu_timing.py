"""GPU time of recorded WebGPU commands (wgpu-py), for the profiling scripts in bench/.

Commands are the device's own ("dispatch", pipeline, bind group, grid) / ("copy", ...) tuples.
They are encoded before the clock starts, so only submit + execution is timed; `sync` must wait
for the GPU (a small readback).
"""

import collections
import time


def gpu_time(adapter, cmds, reps, sync) -> float:
    """Seconds per repetition of cmds."""
    cb = adapter._encode(list(cmds) * reps)      # the adapter's own encoding, one command buffer
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


def request_timestamps():
    """Make wgpu-py devices ask for timestamp queries inside passes (call before webinfer.load)."""
    from wgpu.backends.wgpu_native import _api
    orig = _api.GPUAdapter.request_device_sync

    def patched(self, **kw):
        want = {"timestamp-query", "timestamp-query-inside-passes"}
        if want <= set(self.features):
            kw["required_features"] = sorted(want | set(kw.get("required_features", ())))
        return orig(self, **kw)
    _api.GPUAdapter.request_device_sync = patched


def kernel_times(adapter, cmds, sync, reps=5) -> list[tuple[str, float]] | None:
    """GPU time of each dispatch of cmds, in their real order inside one compute pass, from
    timestamps written between dispatches (best of reps). None without the feature."""
    import wgpu
    dev = adapter.device
    if "timestamp-query-inside-passes" not in dev.features:
        return None
    disp = [c for c in cmds if c[0] == "dispatch"]
    n = len(disp) + 1
    qs = dev.create_query_set(type="timestamp", count=n)
    res = dev.create_buffer(size=8 * n, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
    out = dev.create_buffer(size=8 * n, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)
    best = None
    for _ in range(reps):
        enc = dev.create_command_encoder()
        cp = enc.begin_compute_pass()
        for i, (_, pipe, bg, (x, y, z)) in enumerate(disp):
            cp._write_timestamp(qs, i)
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, bg)
            cp.dispatch_workgroups(x, y, z)
        cp._write_timestamp(qs, n - 1)
        cp.end()
        enc.resolve_query_set(qs, 0, n, res, 0)
        enc.copy_buffer_to_buffer(res, 0, out, 0, 8 * n)
        dev.queue.submit([enc.finish()])
        sync()
        out.map_sync(wgpu.MapMode.READ)
        import numpy as np
        t = np.frombuffer(out.read_mapped(copy=True), dtype=np.uint64).astype(np.float64) * 1e-9
        out.unmap()
        dt = np.diff(t)
        if best is None or dt.sum() < best.sum():
            best = dt
    return [(getattr(c[1], "label", "?") or "?", float(d)) for c, d in zip(disp, best)]


def print_kernel_times(rows) -> None:
    """Per kernel variant: count, mean and total us, in the order of total time."""
    per, count = collections.defaultdict(float), collections.Counter()
    for label, dt in rows:
        per[label] += dt
        count[label] += 1
    total = sum(per.values())
    print(f"timestamped step: {1e3 * total:.3f} ms GPU ({len(rows)} dispatches, timestamps between them)")
    for k in sorted(per, key=lambda k: -per[k]):
        print(f"  {k:40s} x{count[k]:3d}  {1e6 * per[k] / count[k]:8.2f} us each  {1e3 * per[k]:7.3f} ms/step")
