"""blas.matmul_t inside Pyodide: the hand-assembled wasm SIMD kernels against float64 NumPy.

What this covers: the kernels load (BACKEND "wasm-simd"), mv (one row: decode) and mm (pairs of
rows: prefill, an odd count padded) give x @ W^T on awkward and on the real model's shapes, the
shapes they take run on them (calls counted) and the ones they don't fall back to einsum.
Needs no model: random weights.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.pyodide]

CODE = """
import numpy as np
from webinfer.device import blas

assert blas._simd() is not None, "the wasm kernels did not load"
mm, mv, ptr = blas._SIMD
calls = {"mm": 0, "mv": 0}
def counted(name, fn):
    def call(*args):
        calls[name] += 1
        return fn(*args)
    return call
blas._SIMD = (counted("mm", mm), counted("mv", mv), ptr)
rng = np.random.default_rng(0)
errors, used = [], {}
try:
    for n, rows, cols in CASES:
        w = rng.standard_normal((rows, cols), dtype=np.float32)
        x = rng.standard_normal((n, cols), dtype=np.float32)
        before = dict(calls)
        y = blas.matmul_t(x, w)
        ref = x.astype(np.float64) @ w.T.astype(np.float64)
        err = float(np.abs(y - ref).max() / (1 + np.abs(ref).max()))
        used[f"{n}x{rows}x{cols}"] = [k for k in calls if calls[k] > before[k]] or ["einsum"]
        if y.shape != (n, rows) or y.dtype != np.float32 or not err < 1e-5:
            errors.append((n, rows, cols, y.shape, str(y.dtype), err))
    # a weight that is not C-contiguous, and a strided x, still give the right answer
    w = rng.standard_normal((64, 96), dtype=np.float32)
    x = rng.standard_normal((3, 192), dtype=np.float32)[:, ::2]
    for ww in (w, np.asfortranarray(w)):
        if not np.allclose(blas.matmul_t(x, ww), x @ ww.T, rtol=1e-4, atol=1e-4):
            errors.append(("layout", ww.flags.c_contiguous))
finally:
    blas._SIMD = (mm, mv, ptr)
{"backend": blas.BACKEND, "errors": errors, "used": used}
"""

# (n tokens, rows, cols): the real model's (SmolLM2-135M) products, then awkward ones.
REAL = [(n, r, c) for n in (1, 2, 7, 40) for r, c in ((3072, 576), (576, 1536), (960, 576), (576, 576))]
REAL += [(1, 49152, 576), (3, 49152, 576)]
AWKWARD = [(1, 1, 16), (1, 3, 32), (1, 5, 48), (1, 4, 20), (1, 7, 8), (1, 2, 3),
           (2, 4, 4), (3, 4, 4), (5, 8, 12), (4, 12, 36), (9, 20, 100), (2, 6, 16), (3, 4, 18), (2, 1, 1)]


def _fits(n, rows, cols):
    return ("mv" if cols % 16 == 0 else None) if n == 1 else ("mm" if rows % 4 == 0 and cols % 4 == 0 else None)


def test_kernels_match_numpy(node_pyodide, webinfer_in_pyodide):
    out = node_pyodide.run(f"CASES = {REAL + AWKWARD!r}\n" + CODE, what="checking blas.matmul_t")
    assert out["backend"] == "wasm-simd"
    assert out["errors"] == []
    for n, rows, cols in REAL + AWKWARD:
        assert out["used"][f"{n}x{rows}x{cols}"] == [_fits(n, rows, cols) or "einsum"], (n, rows, cols)
