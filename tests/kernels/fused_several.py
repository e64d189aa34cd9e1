"""Run by test_fused_several_workgroups.py in a process of its own, whose Vulkan loader sees only
SwiftShader (VK_ICD_FILENAMES): the fused decode step with G workgroups that meet at its grid
barrier, against NumPy, step by step. Prints one JSON line per attempt (a fresh device and model):
the steps' largest error relative to NumPy, how many workgroups took part in each fused step, the
decode path and the device's notes. Stops after the first attempt where several took part.
With `mask`, that attempt's device also generates greedily under GRAMMAR (the fused step's MASK
variant: each workgroup's allowed best of its rows, then the best of their slots) and the line
says whether its tokens are NumPy's and how many workgroups took part in each of its steps.

    python fused_several.py MODEL.gguf N_CTX G ATTEMPTS [mask]
"""

import asyncio
import json
import sys

import numpy as np

import webinfer
from webinfer.device.webgpu import fused, open_device

PROMPT = [1, 5, 9, 33, 7, 120, 250, 3]
STEPS = 10
GRAMMAR = 'root ::= "<t1" [0-9] [0-9] ">" "<t2" [0-4] [0-9] ">" ("<t" [1-2] [0-9] [0-9] ">"){0,20}'   # (tokens "<t0>" ...)
fused.SPIN_LIMIT = 1 << 22      # a CPU emulator's workgroups take far longer than a GPU's to arrive
fused.WINDOW = 1 << 14


def steps(path, device, n_ctx):
    m = webinfer.load(path, device=device, n_ctx=n_ctx)
    read = np.asarray if device == "numpy" else (lambda t: asyncio.run(device.read(t)))
    logits, _ = m.prefill(PROMPT)
    out, ran = [], []
    for i in range(STEPS):
        lg = np.asarray(read(logits)).reshape(-1).astype(np.float64)
        out.append(lg)
        if device != "numpy":
            f = next((p.fused for p in device._programs.values() if p.fused is not None and p.fused_ok), None)
            ran.append(f.took if f is not None else 0)      # (the device reads it with the logits)
        logits = m.step(int(np.argmax(lg)) if i % 2 else 7)     # (a tiny model's argmax repeats itself)
    return out, ran, m


async def masked(m, dev):
    """Tokens of a greedy generation under GRAMMAR, and the workgroups that took part in each fused step."""
    gen, took = m.generate(PROMPT, max_tokens=14, temperature=0, grammar=GRAMMAR), []
    async for _ in gen:
        f = next((p.fused for p in dev._programs.values() if p.fused is not None and p.fused_ok), None)
        took.append(f.took if f is not None else 0)
    return gen.result.token_ids, took


def main():
    path, n_ctx, g, attempts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    mask = sys.argv[5:] == ["mask"]
    ref, _, ref_m = steps(path, "numpy", n_ctx)
    want = ref_m.complete(PROMPT, max_tokens=14, temperature=0, grammar=GRAMMAR).token_ids if mask else None
    for _ in range(attempts):
        dev = open_device()
        dev.fused, dev.fused_workgroups = "on", g
        try:
            got, ran, m = steps(path, dev, n_ctx)
        except webinfer.DeviceError as e:
            # The barrier timed out: a workgroup's thread did not start in time (a busy machine). The
            # engine then drops the fused step (the refusal is tested elsewhere); this is a failed attempt.
            if "timed out" not in str(e):
                raise
            print(json.dumps({"adapter": dev.description, "timed_out": str(e)}), flush=True)
            continue
        err = max(float(np.max(np.abs(a - b) / (1 + np.abs(b)))) for a, b in zip(got, ref))
        line = {"adapter": dev.description, "err": err, "took_part": ran, "path": dev.decode_path(), "notes": dev.notes}
        if mask and max(ran) > 1:
            m.reset()
            toks, took = asyncio.run(masked(m, dev))
            line["masked"] = {"same": toks == want, "took_part": took}
        print(json.dumps(line), flush=True)
        if max(ran) > 1:
            break


if __name__ == "__main__":
    main()
