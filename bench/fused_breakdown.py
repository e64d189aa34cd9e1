"""Where the fused decode step's GPU time goes: the whole step, barriers only, matvecs only, attention only.

    python bench/fused_breakdown.py [G ...] [--prompt N] [--kinds]

Builds the synthetic SmolLM2-135M-shaped model, records its decode step, builds the fused
program for each workgroup count G and times 200 back-to-back dispatches of its command table
with some commands blanked (op 0: the workgroups only meet at the barriers). Prints ms per step;
--kinds also each kind of command alone (op, rows, flags) in us per command, its barrier not
counted; --prompt sets the positions before the step (199: the attention reads 200 keys).
"""

from __future__ import annotations

import time

import _common  # noqa: E402  (this checkout's pkg/ first)
import numpy as np  # noqa: E402

import webinfer  # noqa: E402
from webinfer.device.webgpu import fused, open_device  # noqa: E402


def timed(dev, fp, table, pos, n=200):
    """ms per step of n back-to-back fused steps at position pos running `table` (not chained: the
    host writes the position each step), and the final status words (fused.STATUS_WORDS)."""
    dev.adapter.write_buffer(fp.cmds, 0, fused.both_tables(table, fp.stride))
    for _ in range(3):
        fp.queue(dev.gpu, pos)
        dev.gpu.flush()
    dev.read_sync(fp.status)
    t = time.perf_counter()
    for _ in range(n):
        fp.queue(dev.gpu, pos)
        dev.gpu.flush()
    status = dev.read_sync(fp.status).reshape(-1)
    return (time.perf_counter() - t) / n * 1e3, status


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("workgroups", type=int, nargs="*", default=[132, 264])
    ap.add_argument("--prompt", type=int, default=199)
    ap.add_argument("--kinds", action="store_true")
    a = ap.parse_args()
    path = _common.synthetic_model()
    for g in a.workgroups:
        dev = open_device()
        dev.fused = "off"
        m = webinfer.load(path, device=dev, n_ctx=max(1024, a.prompt + 64))
        m.complete(list(range(1, a.prompt + 1)), max_tokens=3, temperature=0)     # records the decode step
        p = next(iter(dev._programs.values()))
        fp = fused.build(dev, p.recorded, p.out, p.token, dev._step_buf, g)
        ops = fp.table[1:, 0]
        pos = a.prompt + 3                 # the step after the prompt and 3 decoded tokens

        def only(*keep):                   # the table with every other command blanked (op 0)
            t = fp.table.copy()
            t[1:, 0] = np.where(np.isin(ops, keep), ops, 0)
            return t
        timed(dev, fp, fp.table, pos, n=2000)   # clocks up
        full, status = timed(dev, fp, fp.table, pos)
        bar = timed(dev, fp, only(), pos)[0]
        mv = timed(dev, fp, only(fused.OP_MATVEC), pos)[0]
        attn = timed(dev, fp, only(fused.OP_ATTN), pos)[0]
        print(f"G={g}: full step {full:.3f} ms (abort {status[fused.S_ABORT]}), barriers only "
              f"{bar:.3f} ms, matvec+barriers {mv:.3f}, attn+barriers {attn:.3f} ({len(ops)} commands)")
        if a.kinds:
            kinds = {}
            for i, r in enumerate(fp.table[1:]):
                kinds.setdefault((int(r[fused.C["op"]]), int(r[fused.C["rows"]]), int(r[fused.C["flags"]])), []).append(i)
            for (op, rows, flags), idx in sorted(kinds.items()):
                t = fp.table.copy()
                keep = np.zeros(len(ops), bool)
                keep[idx] = True
                t[1:, 0] = np.where(keep, ops, 0)
                ms = timed(dev, fp, t, pos)[0]
                print(f"  op {op} rows {rows:6d} flags {flags:3d} x{len(idx):3d}: {(ms - bar) / len(idx) * 1e3:7.2f} us each")


if __name__ == "__main__":
    main()
