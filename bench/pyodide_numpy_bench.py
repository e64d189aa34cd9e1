"""Where the NumPy device spends its time inside Pyodide (under Node or in Chromium, one core, no BLAS).

Boots Pyodide in Node (bench/node_pyodide.py), imports webinfer straight from pkg/ (mounted, so
no wheel rebuild is needed between edits; --pkg mounts another tree, e.g. a checkout of the commit
before a change), loads the real model on the numpy device with the page's context (n_ctx unset, as
site/py/engine.py loads it; --n-ctx sets it) and prints:
prefill and decode tok/s (best of --reps, and every rep's), then, with --profile, ms spent in each NumpyDevice op and
each linear by output shape, and in each wasm kernel ("  wasm mm", inside the ops' times), for one
whole prefill and per decode token (wrappers time every call; they add ~1 us a call). linear_swiglu's
time includes its linear's.

    python3 bench/pyodide_numpy_bench.py [--prompt 40] [--decode 32] [--reps 3] [--profile] [--einsum]
                                         [--n-ctx N] [--f32-budget-mb MB] [--pkg DIR] [--runtime node|chromium] [--no-fma] [--no-replay] [--ab PAIRS]

Not a test: it asserts nothing; it needs build/pyodide (tools/fetch_pyodide or the site build) and
the default model.
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from node_pyodide import model_path, run  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--prompt", type=int, default=40, help="prompt tokens (prefill)")
ap.add_argument("--decode", type=int, default=32, help="decode steps timed")
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--profile", action="store_true", help="ms per op for one prefill and per decode token")
ap.add_argument("--einsum", action="store_true", help="force blas's numpy-einsum path (no wasm kernel)")
ap.add_argument("--no-fma", action="store_true", help="the plain kernels even where relaxed SIMD's fused ones load")
ap.add_argument("--no-replay", action="store_true", help="decode through the plain forward (no recorded step)")
ap.add_argument("--ab", type=int, default=0, metavar="PAIRS",
                help="also time PAIRS decodes replayed and plain in turn, in this one runtime (pairwise ratios)")
ap.add_argument("--f32-budget-mb", type=float, default=None,
                help="NumpyDevice's float32 budget (0: every weight kept quantized, qmat.QMat); default the device's")
ap.add_argument("--n-ctx", type=int, default=None,
                help="context to allocate (default: the model's default, as the page loads it)")
ap.add_argument("--runtime", choices=("node", "chromium"), default="node",
                help="Pyodide under Node, or on the main thread of headless Chromium (what the page runs in)")
ap.add_argument("--pkg", type=Path, default=REPO / "pkg", help="the package tree to import webinfer from")
a = ap.parse_args()

CODE = f'''
import sys, time, json, asyncio, collections
import pyodide_js
await pyodide_js.loadPackage(["numpy"])
sys.path.insert(0, "/host/pkg")
import numpy as np
import webinfer
from webinfer.device import blas, numpy_device
if {a.einsum}:
    blas._tried, blas._SIMD, blas.BACKEND = True, None, "numpy-einsum"
if {a.no_fma} and hasattr(blas, "RELAXED"):
    blas.RELAXED = False
_budget = {a.f32_budget_mb!r}
_dev = "numpy" if _budget is None else numpy_device.NumpyDevice("bench", int(_budget * 2**20))
m = webinfer.load(open("/host/models/{model_path().name}", "rb").read(), device=_dev, n_ctx={a.n_ctx})
dev = m.device
REPLAY = not {a.no_replay} and hasattr(dev, "record_decode")
if hasattr(dev, "record_decode"):
    dev.record_decode = REPLAY
ids = [int(t) for t in np.random.default_rng(0).integers(100, 40000, {a.prompt})]

def prefill():
    m.reset()
    t0 = time.perf_counter()
    logits, _ = m.prefill(ids)
    int(np.asarray(dev.argmax(logits)).reshape(-1)[0])
    return time.perf_counter() - t0

def decode(n):
    logits = m.step(0)
    t0 = time.perf_counter()
    for _ in range(n):
        tok = int(np.asarray(dev.argmax(logits)).reshape(-1)[0])
        logits = m.step(tok)
    return time.perf_counter() - t0

prefill(); decode(2)
steps = [s for s in getattr(dev, "_steps", {{}}).values() if s is not None]
res = {{"backend": blas.BACKEND, "fused": getattr(blas._SIMD, "fused", False), "prompt": {a.prompt}, "n_ctx": m.n_ctx,
        "replay": bool(steps), "step_commands": steps[0].commands if steps else None}}
pres = [prefill() for _ in range({a.reps})]
decs = [(prefill(), decode({a.decode}))[1] for _ in range({a.reps})]
pre, dec = min(pres), min(decs)
res["prefill_tok_s"] = round({a.prompt} / pre, 1)
res["decode_tok_s"] = round({a.decode} / dec, 1)
res["decode_ms_tok"] = round(1000 * dec / {a.decode}, 2)
res["prefill_tok_s_runs"] = [round({a.prompt} / t, 1) for t in pres]
res["decode_tok_s_runs"] = [round({a.decode} / t, 1) for t in decs]

if {a.ab} and steps:
    # replayed (A) and plain (B) decodes in turn on the same model and cache: the machine's drift
    # hits both sides of a pair alike; the ratio is taken pair by pair.
    pairs = []
    for _ in range({a.ab}):
        pair = []
        for replay in (True, False):
            dev.record_decode = replay
            prefill()
            pair.append({a.decode} / decode({a.decode}))
        pairs.append(pair)
    dev.record_decode = REPLAY
    ratios = sorted(x / y for x, y in pairs)
    res["ab_replay_tok_s"] = [round(x, 1) for x, _ in pairs]
    res["ab_plain_tok_s"] = [round(y, 1) for _, y in pairs]
    res["ab_ratio_min_median_max"] = [round(ratios[0], 3), round(ratios[len(ratios) // 2], 3), round(ratios[-1], 3)]

if {a.profile}:
    acc = collections.defaultdict(float)
    def wrap(name, fn):
        def timed(*args, **kw):
            t0 = time.perf_counter()
            r = fn(*args, **kw)
            key = name
            if name == "linear":
                key = f"linear {{args[1][0].shape}}"
            acc[key] += time.perf_counter() - t0
            return r
        return timed
    for name in ("embed", "rms_norm", "linear", "linear_swiglu", "rope_kv", "attention", "add", "last_row"):
        setattr(dev, name, wrap(name, getattr(numpy_device.NumpyDevice, name).__get__(dev)))
    kern = blas._simd()
    for name in ("mm", "mv", "mm_b", "mmn_b", "softmax_b", "swiglu"):   # the wasm kernels inside the ops
        if hasattr(kern, name):
            setattr(kern, name, wrap("  wasm " + name, getattr(kern, name)))
    acc.clear()
    pre = prefill()
    res["prefill_ms_per_op"] = {{k: round(1000 * v, 2) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])}}
    res["prefill_ms_per_op"]["(total, wrapped)"] = round(1000 * pre, 2)
    if steps:
        run0 = steps[0].run
        def run_timed(*args):
            t0 = time.perf_counter()
            r = run0(*args)
            acc["replay run"] += time.perf_counter() - t0
            acc["replay calls"] += 1
            return r
        steps[0].run = run_timed
        acc.clear()
        dec = decode({a.decode})                         # {a.decode} steps timed, one more before them
        steps[0].run = run0
        per_run = acc["replay run"] / acc["replay calls"]
        res["replay_ms_per_token"] = {{"replay run": round(1000 * per_run, 3),
                                      "replay rest": round(1000 * (dec / {a.decode} - per_run), 3)}}
        dev.record_decode = False
    acc.clear()
    dec = decode({a.decode})
    prof = {{k: round(1000 * v / {a.decode}, 3) for k, v in sorted(acc.items(), key=lambda kv: -kv[1])}}
    prof["(total, wrapped)"] = round(1000 * dec / {a.decode}, 3)
    prof["(ops sum)"] = round(1000 * sum(acc.values()) / {a.decode}, 3)
    res["decode_ms_per_op"] = prof
json.dumps(res)
'''

if a.runtime == "chromium":
    from chromium_pyodide import run
mounts = {"/host/pkg": a.pkg.resolve(), f"/host/models/{model_path().name}": model_path()}
out = json.loads(run(CODE, mounts))
out["runtime"] = a.runtime
print(json.dumps(out, indent=1))
