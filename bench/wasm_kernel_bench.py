"""The NumPy device's wasm SIMD kernels (device/blas.py) against einsum, inside Pyodide under Node.

Boots Pyodide (bench/node_pyodide.py) with pkg/ mounted, makes --mats distinct random float32
matrices of each of the default model's linear shapes (40 x 7 MB: they don't fit in cache, as in
a real decode, which streams ~540 MB of weights a token), and times x @ W^T over all of them:
one token (einsum "ij,j->i" vs the mv kernel: GB/s of weights read) and --tokens tokens (einsum
"nj,ij->ni" vs the mm kernel: ms a matrix). Best and median of --reps passes.

    python3 bench/wasm_kernel_bench.py [--mats 40] [--tokens 40] [--reps 5]

Not a test: it asserts only that the kernels agree with einsum; needs build/pyodide.
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from node_pyodide import run  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--mats", type=int, default=40, help="distinct 3072x576 matrices (fewer of larger shapes)")
ap.add_argument("--tokens", type=int, default=40, help="tokens of the prefill products")
ap.add_argument("--reps", type=int, default=5)
a = ap.parse_args()

CODE = f'''
import sys, time
import pyodide_js
await pyodide_js.loadPackage(["numpy"])
sys.path.insert(0, "/host/pkg")
import numpy as np
from webinfer.device import blas

kern = blas._simd()
mv, ptr = kern.mv, kern.ptr
rng = np.random.default_rng(0)

def timed(fn, items):
    fn(items[0])
    ts = []
    for _ in range({a.reps}):
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        ts.append((time.perf_counter() - t0) / len(items))
    ts.sort()
    return ts[0], ts[len(ts) // 2]

out = {{}}
for rows, cols in ((3072, 576), (576, 1536), (960, 576), (576, 576), (49152, 576)):
    k = max(2, {a.mats} * 3072 * 576 // (rows * cols))
    mats = [rng.standard_normal((rows, cols), dtype=np.float32) for _ in range(k)]
    x1 = rng.standard_normal((1, cols), dtype=np.float32)
    xn = rng.standard_normal(({a.tokens}, cols), dtype=np.float32)
    y1 = np.empty((1, rows), np.float32)
    mv(ptr(mats[0]), ptr(x1), ptr(y1), rows, cols)
    assert np.allclose(y1[0], np.einsum("ij,j->i", mats[0], x1[0]), rtol=1e-4, atol=1e-3)
    assert np.allclose(blas.matmul_t(xn, mats[0]), np.einsum("nj,ij->ni", xn, mats[0]), rtol=1e-4, atol=1e-3)
    gb = rows * cols * 4 / 1e9
    res = {{"matrices": k}}
    px, py = ptr(x1), ptr(y1)
    for name, fn, items in (("einsum 1", lambda w: np.einsum("ij,j->i", w, x1[0]), mats),
                            ("mv", lambda pw: mv(pw, px, py, rows, cols), [ptr(w) for w in mats])):
        best, med = timed(fn, items)
        res[name + " GB/s best/median"] = [round(gb / best, 1), round(gb / med, 1)]
    for name, fn in (("einsum {a.tokens}", lambda w: np.einsum("nj,ij->ni", xn, w)),
                     ("matmul_t {a.tokens} (mm)", lambda w: blas.matmul_t(xn, w))):
        best, med = timed(fn, mats[:4])
        res[name + " ms best/median"] = [round(1000 * best, 3), round(1000 * med, 3)]
    out[f"{{rows}}x{{cols}}"] = res
    del mats
out
'''

for shape, res in run(CODE, {"/host/pkg": REPO / "pkg"}, timeout=900).items():
    print(shape, json.dumps(res))
