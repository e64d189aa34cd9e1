"""Memory and barrier latencies as WGSL sees them on this GPU (wgpu-py): one thread chasing
pointers through a buffer that fits L2 and one that does not, a loop of storageBarrier() and of
workgroupBarrier(), and an atomic round trip; then 256 threads each chasing its own pointers,
with 4 workgroupBarrier() or a storageBarrier() between a load and its use (do barriers wait
for loads in flight?). Each kernel is one workgroup; the time is the wall time of one submit +
readback, less the same kernel with 0 steps, over the steps.

    python3 bench/latency_probe.py
"""

import os
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import numpy as np  # noqa: E402
import wgpu  # noqa: E402

adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
lim = {k: adapter.limits[k.replace("_", "-")] for k in ("max_storage_buffer_binding_size", "max_buffer_size")}
dev = adapter.request_device_sync(required_limits={k.replace("_", "-"): v for k, v in lim.items()})
print(adapter.info["device"], adapter.info["backend_type"])
SRC = """
struct P { steps: u32, mode: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<storage, read_write> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> o: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
    var i = 0u;
    var acc = 0u;
    for (var s = 0u; s < p.steps; s++) {
        if (p.mode == 0u) {                 // dependent loads by thread 0
            if (lid == 0u) { i = a[i]; }
        } else if (p.mode == 1u) {
            storageBarrier();
        } else if (p.mode == 2u) {
            workgroupBarrier();
        } else if (p.mode == 3u) {          // atomic add round trips by thread 0
            if (lid == 0u) { acc += atomicAdd(&o[1], 1u); }
        } else if (p.mode == 4u) {          // atomic load round trips by thread 0
            if (lid == 0u) { acc += atomicLoad(&o[2 + (acc & 1u)]); }
        } else if (p.mode == 5u) {          // every thread: a dependent load
            i = a[(i + p._a * lid) % arrayLength(&a)];
        } else if (p.mode == 6u) {          // ... with 4 workgroup barriers between load and use
            let v = a[(i + p._a * lid) % arrayLength(&a)];
            workgroupBarrier(); workgroupBarrier(); workgroupBarrier(); workgroupBarrier();
            i = v;
        } else {                            // ... with a storageBarrier between load and use
            let v = a[(i + p._a * lid) % arrayLength(&a)];
            storageBarrier();
            i = v;
        }
    }
    if (lid == 0u || p.mode >= 5u) { atomicMax(&o[0], i + acc); }
}
"""
mod = dev.create_shader_module(code=SRC)
pipe = dev.create_compute_pipeline(layout="auto", compute={"module": mod, "entry_point": "main"})
U = wgpu.BufferUsage
out = dev.create_buffer(size=64, usage=U.STORAGE | U.COPY_SRC)
read = dev.create_buffer(size=4, usage=U.MAP_READ | U.COPY_DST)
uni = dev.create_buffer(size=16, usage=U.UNIFORM | U.COPY_DST)


def chase(n_words, stride_words):
    """a[i] = the next index: a random cycle over n_words / stride_words slots, stride apart."""
    slots = n_words // stride_words
    order = np.random.default_rng(0).permutation(slots)
    a = np.zeros(n_words, np.uint32)
    a[order * stride_words] = np.roll(order, -1) * stride_words
    b = dev.create_buffer_with_data(data=a, usage=U.STORAGE)
    return b, int(order[0]) * stride_words


def timed(buf, steps, mode, reps=5, spread=0):
    bg = dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": buf, "offset": 0, "size": buf.size}},
        {"binding": 1, "resource": {"buffer": out, "offset": 0, "size": 64}},
        {"binding": 2, "resource": {"buffer": uni, "offset": 0, "size": 16}}])
    dev.queue.write_buffer(uni, 0, np.array([steps, mode, spread, 0], np.uint32))
    best = 1e9
    for _ in range(reps):
        enc = dev.create_command_encoder()
        p = enc.begin_compute_pass()
        p.set_pipeline(pipe)
        p.set_bind_group(0, bg)
        p.dispatch_workgroups(1, 1, 1)
        p.end()
        enc.copy_buffer_to_buffer(out, 0, read, 0, 4)
        t = time.perf_counter()
        dev.queue.submit([enc.finish()])
        read.map_sync(wgpu.MapMode.READ)
        read.unmap()
        best = min(best, time.perf_counter() - t)
    return best


def per_step(buf, mode, steps=50000, spread=0):
    return (timed(buf, steps, mode, spread=spread) - timed(buf, 0, mode, spread=spread)) / steps * 1e9


small, _ = chase(1 << 20, 32)            # 4 MiB: in L2 after the first lap
n_large = min(1 << 28, lim["max_storage_buffer_binding_size"] // 4)
large, _ = chase(n_large, 256)           # up to 1 GiB, 1 KiB apart: 128 MB of lines, past L2
                                         # (4 KiB apart, session 5's runs, touched 32 MB: mostly L2)
for _ in range(3):
    timed(small, 50000, 0)               # clocks up
print(f"dependent load, 4 MiB buffer (L2):  {per_step(small, 0):7.0f} ns")
print(f"dependent load, big buffer (HBM):    {per_step(large, 0):7.0f} ns")
print(f"storageBarrier():                   {per_step(small, 1):7.0f} ns")
print(f"workgroupBarrier():                 {per_step(small, 2):7.0f} ns")
print(f"atomicAdd round trip:               {per_step(small, 3):7.0f} ns")
print(f"atomicLoad round trip:              {per_step(small, 4):7.0f} ns")
# Do barriers wait for a thread's loads still in flight? Every thread chases its own cycle
# position (a[i + spread * lid] with spread a multiple of the slot stride is another slot):
# load -> use, load -> 4 workgroupBarrier() -> use, load -> storageBarrier() -> use.
sp = 1024 * 7
print(f"256 threads, dependent load (HBM):   {per_step(large, 5, 20000, sp):7.0f} ns")
print(f"  ... 4 workgroupBarrier() in between: {per_step(large, 6, 20000, sp):7.0f} ns")
print(f"  ... storageBarrier() in between:     {per_step(large, 7, 20000, sp):7.0f} ns")
