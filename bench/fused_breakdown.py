"""Where the fused decode step's GPU time goes: the whole step, barriers only, matvecs only, attention only.

    python bench/fused_breakdown.py [G ...]

Builds the synthetic SmolLM2-135M-shaped model, records its decode step, builds the fused
program for each workgroup count G and times 200 back-to-back dispatches of its command table
with some commands blanked (op 0: the workgroups only meet at the barriers). Prints ms per step.
"""
import os
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pkg"))
import numpy as np
import webinfer
from webinfer.bench import build_synthetic_model
from webinfer.device.webgpu import open_device, fused as F
from webinfer.device.webgpu.gpu import GTensor
path = build_synthetic_model(os.path.join(tempfile.mkdtemp(), "s.gguf"))
for G in [int(g) for g in sys.argv[1:]] or [132, 264]:
    dev = open_device(); dev.fused = "off"
    m = webinfer.load(path, device=dev, n_ctx=1024)
    m.complete(list(range(1, 200)), max_tokens=3, temperature=0)
    p = list(dev._programs.values())[0]
    fp = F.build(dev, p.recorded, p.out, p.token, dev._step_buf, G)
    cmds = fp.buffers[2]
    table = dev.read_sync(GTensor(dev.gpu, cmds, 1, cmds.size // 4, "u32", pooled=False)).reshape(-1).astype(np.uint32)
    def timed(tab, n=200):
        dev.adapter.write_buffer(cmds, 0, tab)
        for _ in range(3):
            dev.gpu.pending.extend(fp.commands); dev.gpu.flush()
        dev.read_sync(GTensor(dev.gpu, fp.sync, 1, 4, "u32", pooled=False))
        t = time.perf_counter()
        for _ in range(n):
            dev.gpu.pending.extend(fp.commands); dev.gpu.flush()
        s = dev.read_sync(GTensor(dev.gpu, fp.sync, 1, 4, "u32", pooled=False))
        return (time.perf_counter() - t) / n * 1e3, s.reshape(-1)[:2]
    full = timed(table)
    t2 = table.reshape(-1, 32).copy(); t2[1:, 0] = 0      # no ops: barriers only
    bar = timed(t2.reshape(-1))
    res = {}
    for op, name in ((2, "matvec"), (3, "attn")):
        t3 = table.reshape(-1, 32).copy(); t3[1:, 0] = np.where(table.reshape(-1, 32)[1:, 0] == op, op, 0)
        res[name] = timed(t3.reshape(-1))
    print(f"G={G}: full step {full[0]:.3f} ms {full[1]}, barriers only {bar[0]:.3f} ms, matvec+barriers {res['matvec'][0]:.3f}, attn+barriers {res['attn'][0]:.3f}  (cmds {fp.n_cmds})")
