"""The cost of one dispatch on this GPU through wgpu-py: dependent (each dispatch writes the
buffer the next one reads) vs independent, trivial vs 256-thread workgroups, and the cost of a
submit + 4-byte readback. Run on the GPU machine: python3 bench/dispatch_floor.py
"""

import os
import time

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
import wgpu  # noqa: E402

adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
dev = adapter.request_device_sync()
print(adapter.info["device"], adapter.info["backend_type"])
SRC = """
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let i = g.x;
    if (i < arrayLength(&b)) { b[i] = a[i] * 1.0001 + 1.0; }
}
"""
mod = dev.create_shader_module(code=SRC)
pipe = dev.create_compute_pipeline(layout="auto", compute={"module": mod, "entry_point": "main"})
U = wgpu.BufferUsage


def buf(n):
    return dev.create_buffer(size=4 * n, usage=U.STORAGE | U.COPY_SRC | U.COPY_DST)


def bg(a, b):
    return dev.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=[
        {"binding": 0, "resource": {"buffer": a, "offset": 0, "size": a.size}},
        {"binding": 1, "resource": {"buffer": b, "offset": 0, "size": b.size}}])


read = dev.create_buffer(size=4, usage=U.MAP_READ | U.COPY_DST)


def run(groups, n_disp, wg):
    enc = dev.create_command_encoder()
    p = enc.begin_compute_pass()
    p.set_pipeline(pipe)
    for i in range(n_disp):
        p.set_bind_group(0, groups[i % len(groups)])
        p.dispatch_workgroups(wg, 1, 1)
    p.end()
    enc.copy_buffer_to_buffer(bufs[-1], 0, read, 0, 4)
    t0 = time.perf_counter()
    dev.queue.submit([enc.finish()])
    read.map_sync(wgpu.MapMode.READ)
    read.unmap()
    return time.perf_counter() - t0


for n_elems, wg in [(256, 1), (576 * 16, 36), (49152, 192)]:
    bufs = [buf(n_elems) for _ in range(65)]
    chain = [bg(bufs[i], bufs[i + 1]) for i in range(64)]        # dependent: i writes what i+1 reads
    indep = [bg(bufs[0], bufs[i + 1]) for i in range(64)]        # independent: all read 0, write their own
    same = [bg(bufs[0], bufs[1])]                                 # the same dispatch again and again
    for name, groups in [("dependent", chain), ("independent", indep), ("same-buffer", same)]:
        run(groups, 256, wg)
        t = min(run(groups, 256, wg) for _ in range(3))
        t1 = min(run(groups, 1, wg) for _ in range(10))
        print(f"{n_elems:6d} floats, {wg:3d} workgroups, {name:12s}: {1e6 * (t - t1) / 255:6.2f} us/dispatch "
              f"(submit + 1 dispatch + 4-byte read: {1e6 * t1:6.1f} us)")
