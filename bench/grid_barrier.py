"""Does this WebGPU adapter run a spinning grid barrier of G workgroups correctly?

    python bench/grid_barrier.py [G] [ROUNDS] [--fence]

G workgroups of 256 threads, ROUNDS rounds: each round every workgroup writes its slot, thread 0
arrives at an atomic counter and polls until all G have, then every thread reads every slot of the
round and counts the wrong values (and the polls that gave up after 10^8). Prints the adapter, the
wrong reads, the give-ups and the final counter (G * ROUNDS when every round completed). With
--fence, storageBarrier() after the writes and after the wait. Run it with VK_ICD_FILENAMES to pick
a Vulkan driver (Mesa's llvmpipe; SwiftShader's vk_swiftshader_icd.json). Results in
bench/RESULTS.md (runs: bench/log/runs.md); why it matters: decode_fused.wgsl and tests/kernels/test_fused_several_workgroups.py.
"""

import sys

import numpy as np
import wgpu

args = [a for a in sys.argv[1:] if not a.startswith("--")]
G = int(args[0]) if args else 2
R = int(args[1]) if len(args) > 1 else 50
fence = "storageBarrier();" if "--fence" in sys.argv else ""
src = f"""
@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@group(0) @binding(1) var<storage, read_write> sync: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> bad: array<atomic<u32>>;
var<workgroup> flag: u32;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
  for (var r = 0u; r < {R}u; r++) {{
    data[(r * {G}u + wid.x) * 256u + lid] = r * 1000u + wid.x + 1u;
    {fence}
    workgroupBarrier();
    if (lid == 0u) {{
      atomicAdd(&sync[0], 1u);
      var n = 0u;
      loop {{
        if (atomicLoad(&sync[0]) >= (r + 1u) * {G}u) {{ break; }}
        n++;
        if (n > 100000000u) {{ atomicAdd(&bad[1], 1u); break; }}
      }}
    }}
    _ = workgroupUniformLoad(&flag);
    {fence}
    for (var g = 0u; g < {G}u; g++) {{
      if (data[(r * {G}u + g) * 256u + (lid * 7u) % 256u] != r * 1000u + g + 1u) {{ atomicAdd(&bad[0], 1u); }}
    }}
  }}
}}"""
adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
dev = adapter.request_device_sync()
S, C = wgpu.BufferUsage.STORAGE, wgpu.BufferUsage.COPY_SRC
bufs = [dev.create_buffer(size=4 * 256 * G * R, usage=S), dev.create_buffer(size=16, usage=S | C),
        dev.create_buffer(size=16, usage=S | C)]
pipe = dev.create_compute_pipeline(layout="auto", compute={"module": dev.create_shader_module(code=src), "entry_point": "main"})
bg = dev.create_bind_group(layout=pipe.get_bind_group_layout(0),
                           entries=[{"binding": i, "resource": {"buffer": b}} for i, b in enumerate(bufs)])
enc = dev.create_command_encoder()
cp = enc.begin_compute_pass()
cp.set_pipeline(pipe)
cp.set_bind_group(0, bg)
cp.dispatch_workgroups(G)
cp.end()
dev.queue.submit([enc.finish()])
bad = np.frombuffer(dev.queue.read_buffer(bufs[2]), np.uint32)
counter = int(np.frombuffer(dev.queue.read_buffer(bufs[1]), np.uint32)[0])
info = adapter.info
print(f"{info.get('device', '')} {info.get('description', '')} | G={G} rounds={R} fence={bool(fence)} | "
      f"wrong reads {bad[0]}, give-ups {bad[1]}, counter {counter} (complete: {G * R})")
