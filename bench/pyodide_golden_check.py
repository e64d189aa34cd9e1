"""The HF goldens (tests/goldens) on the numpy device inside Pyodide: greedy tokens and top-10 logits.

tests/model/test_golden_numpy.py holds CPython's numpy device to HF transformers' outputs; this runs
the same cases inside Pyodide (Node or Chromium, where blas's wasm kernels do the work, fused with
relaxed SIMD in Chromium), so a kernel change can be checked against the goldens before the page
ships it. Prints, per case, whether the greedy continuation equals HF's, and the worst relative
error of the top-10 logits at the last prompt position; then, for two long chat prompts (just past 150
and past 500 tokens: the goldens' questions as one conversation), whether Pyodide's 32 greedy tokens equal
CPython's (this process, same --pkg); exits 1 on any mismatch.

    python3 bench/pyodide_golden_check.py [--runtime node|chromium] [--no-fma] [--pkg DIR]

Not a test (tests/pyodide/test_pyodide_generate.py compares Pyodide with CPython on one prompt);
needs build/pyodide and the default model.
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from node_pyodide import model_path, run  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--runtime", choices=("node", "chromium"), default="node")
ap.add_argument("--no-fma", action="store_true", help="the plain kernels even where relaxed SIMD's fused ones load")
ap.add_argument("--pkg", type=Path, default=REPO / "pkg", help="the package tree to import webinfer from")
a = ap.parse_args()

CODE = f'''
import sys, json
import pyodide_js
await pyodide_js.loadPackage(["numpy"])
sys.path.insert(0, "/host/pkg")
import numpy as np
import webinfer
from webinfer.device import blas
if {a.no_fma}:
    blas.RELAXED = False
goldens = json.load(open("/host/goldens.json"))
m = webinfer.load(open("/host/models/{model_path().name}", "rb").read(), device="numpy")
kern = blas._simd()
out = {{"backend": blas.BACKEND, "fused": bool(getattr(kern, "fused", False)), "cases": {{}}}}
for case in goldens["cases"]:
    m.reset()
    logits, _ = m.prefill(case["prompt_ids"])
    logits = np.asarray(logits).reshape(-1)
    ref = case["last_position"]
    rel = np.abs(logits[ref["top_ids"]] - np.array(ref["top_logits"])) / np.abs(np.array(ref["top_logits"]))
    want = case["generated_ids"][:case["eos_index"]] if case["stopped_on_eos"] else case["generated_ids"]
    m.reset()
    res = await m.acomplete(case["prompt_ids"], max_tokens=len(case["generated_ids"]), temperature=0)
    got = list(res.token_ids)
    first = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y),
                 None if got == want else min(len(got), len(want)))
    out["cases"][case["name"]] = {{"prompt": len(case["prompt_ids"]), "equal": got == want,
                                   "first_difference": first, "top10_rel_err": float(rel.max())}}
out["long"] = {{}}
for name, ids in LONG.items():
    m.reset()
    res = await m.acomplete(ids, max_tokens=32, temperature=0)
    out["long"][name] = list(res.token_ids)
json.dumps(out)
'''



def long_prompts() -> dict[str, list[int]]:
    """Two chat prompts just past 150 and 500 tokens (the second one past the 512-token prefill
    chunk): the goldens' chat questions as one conversation, each answered with the HF golden's text."""
    sys.path.insert(0, str(a.pkg.resolve()))
    import webinfer
    goldens = json.loads((REPO / "tests" / "goldens" / "smollm2_q4_1.json").read_text())
    m = webinfer.load(str(model_path()), device="numpy")
    turns = [(c["messages"][-1]["content"], c["generated_text"]) for c in goldens["cases"] if c["kind"] == "chat"]
    out = {}
    for name, want in (("long_150", 150), ("long_500", 500)):
        msgs = []
        for q, ans in turns * 4:
            ids = m.encode_chat(msgs + [{"role": "user", "content": q}])
            if len(ids) >= want:
                break
            msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": ans}]
        out[name] = ids
    return out, m


LONG, host_model = long_prompts()
CODE = CODE.replace("LONG.items()", repr(LONG) + ".items()")
host = {}
for name, ids in LONG.items():
    host_model.reset()
    host[name] = list(host_model.complete(ids, max_tokens=32, temperature=0).token_ids)
if a.runtime == "chromium":
    from chromium_pyodide import run  # noqa: F811
mounts = {"/host/pkg": a.pkg.resolve(), f"/host/models/{model_path().name}": model_path(),
          "/host/goldens.json": REPO / "tests" / "goldens" / "smollm2_q4_1.json"}
out = json.loads(run(CODE, mounts))
for name, c in out["cases"].items():
    print(f"{name:28s} prompt {c['prompt']:3d}  {'equal' if c['equal'] else 'DIFFERS at ' + str(c['first_difference'])}"
          f"  top-10 rel err {c['top10_rel_err']:.1e}")
for name, ids in LONG.items():
    same = out["long"][name] == host[name]
    print(f"{name:28s} prompt {len(ids):3d}  32 greedy tokens {'equal to' if same else 'DIFFER from'} CPython's")
bad = [n for n, c in out["cases"].items() if not c["equal"]] + [n for n in LONG if out["long"][n] != host[n]]
print(f"{a.runtime} ({out['backend']}, fused={out['fused']}): {len(out['cases']) - len(bad)}/{len(out['cases'])} "
      f"greedy continuations equal HF's; worst top-10 rel err "
      f"{max(c['top10_rel_err'] for c in out['cases'].values()):.1e}")
sys.exit(1 if bad else 0)
