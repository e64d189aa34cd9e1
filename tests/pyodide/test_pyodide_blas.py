"""blas.matmul_t inside Pyodide (Node and Chromium): the wasm SIMD kernels against float64 NumPy.

What this covers: the kernels load (BACKEND "wasm-simd"), mv (one row: decode) and mm (pairs of
rows: prefill, an odd count padded) give x @ W^T on awkward and on the real model's shapes, the
shapes they take run on them (calls counted) and the ones they don't fall back to einsum.
Needs no model: random weights.
"""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

# (n tokens, rows, cols): the real model's (SmolLM2-135M) products, then awkward ones.
REAL = [(n, r, c) for n in (1, 2, 7, 40) for r, c in ((3072, 576), (576, 1536), (960, 576), (576, 576))]
REAL += [(1, 49152, 576), (3, 49152, 576)]
AWKWARD = [(1, 1, 16), (1, 3, 32), (1, 5, 48), (1, 4, 20), (1, 7, 8), (1, 2, 3),
           (2, 4, 4), (3, 4, 4), (5, 8, 12), (4, 12, 36), (9, 20, 100), (2, 6, 16), (3, 4, 18), (2, 1, 1)]


def _fits(n, rows, cols):
    return ("mv" if cols % 16 == 0 else None) if n == 1 else ("mm" if rows % 4 == 0 and cols % 4 == 0 else None)


@pytest.fixture(scope="module")
def cases() -> list[tuple[int, int, int, str]]:
    """(n, rows, cols, the kernel that must run it: "mv", "mm" or "einsum")."""
    return [(n, r, c, _fits(n, r, c) or "einsum") for n, r, c in REAL + AWKWARD]


@run_in_pyodide
def test_kernels_match_numpy(selenium_webinfer, cases):
    import numpy as np
    from webinfer.device import blas

    kern = blas._simd()
    assert kern is not None, "the wasm kernels did not load"
    assert blas.BACKEND == "wasm-simd"
    # count the calls of each product kernel; mm_b is mm over whole blocks of tokens
    originals = {name: getattr(kern, name) for name in ("mv", "mm", "mm_b") if hasattr(kern, name)}
    assert {"mv", "mm"} <= set(originals), f"blas.Kernels has {sorted(vars(kern))}"
    calls = dict.fromkeys(originals, 0)

    def counted(name, fn):
        def call(*args):
            calls[name] += 1
            return fn(*args)
        return call

    for name, fn in originals.items():
        setattr(kern, name, counted(name, fn))
    rng = np.random.default_rng(0)
    errors, wrong_kernel = [], []
    try:
        for n, rows, cols, kernel in cases:
            w = rng.standard_normal((rows, cols), dtype=np.float32)
            x = rng.standard_normal((n, cols), dtype=np.float32)
            before = dict(calls)
            y = blas.matmul_t(x, w)
            ref = x.astype(np.float64) @ w.T.astype(np.float64)
            err = float(np.abs(y - ref).max() / (1 + np.abs(ref).max()))
            used = sorted({k[:2] for k in calls if calls[k] > before[k]}) or ["einsum"]   # mm_b -> mm
            if used != [kernel]:
                wrong_kernel.append((n, rows, cols, used, kernel))
            if y.shape != (n, rows) or y.dtype != np.float32 or not err < 1e-5:
                errors.append((n, rows, cols, y.shape, str(y.dtype), err))
        # a weight that is not C-contiguous, and a strided x, still give the right answer
        w = rng.standard_normal((64, 96), dtype=np.float32)
        x = rng.standard_normal((3, 192), dtype=np.float32)[:, ::2]
        for ww in (w, np.asfortranarray(w)):
            if not np.allclose(blas.matmul_t(x, ww), x @ ww.T, rtol=1e-4, atol=1e-4):
                errors.append(("layout", ww.flags.c_contiguous))
    finally:
        for name, fn in originals.items():
            setattr(kern, name, fn)
    assert errors == []
    assert wrong_kernel == []   # (n, rows, cols, kernels used, kernel expected)


# (n query tokens, pos, kv heads, g query heads per kv head, head_dim, n_ctx): SmolLM2's attention
# (3 kv heads x 3, hd 64) at a decode step, a chat prompt and past a block of ATTN_TOKENS = 64;
# GQA ratios 1, 3, 4; n_ctx not a multiple of 4; a context filled to its last row; head_dim 8 (no kernel).
ATTENTION = [(1, 0, 3, 3, 64, 64), (1, 39, 3, 3, 64, 4096), (39, 0, 3, 3, 64, 4096), (146, 0, 3, 3, 64, 4096),
             (2, 0, 1, 1, 16, 5), (3, 1, 2, 4, 32, 9), (31, 2, 3, 3, 64, 37), (32, 1, 1, 4, 128, 33),
             (33, 0, 2, 1, 16, 33), (63, 1, 3, 3, 64, 67), (64, 0, 3, 3, 64, 64), (65, 61, 3, 3, 64, 130),
             (130, 3, 1, 3, 16, 133), (1, 132, 3, 3, 64, 133), (5, 0, 2, 2, 8, 7)]
