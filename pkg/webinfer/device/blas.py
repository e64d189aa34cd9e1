"""x @ W^T for float32, through the fastest BLAS this Python has.

CPython's numpy wheels link OpenBLAS, so ``np.matmul`` is already sgemm. Pyodide's numpy has
no BLAS (its matmul is a plain loop), but Pyodide's scipy links OpenBLAS; where scipy imports
we call ``scipy.linalg.blas.sgemm`` directly. The choice is made once, at import.
"""

from __future__ import annotations

import sys

import numpy as np

_sgemm = None
if sys.platform == "emscripten":  # only there does numpy lack BLAS
    try:
        from scipy.linalg.blas import sgemm as _sgemm  # type: ignore
    except ImportError:  # scipy not installed: numpy's loop is still correct
        _sgemm = None

BACKEND = "scipy-openblas" if _sgemm is not None else "numpy"


def matmul_t(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, in) @ w (out, in)^T -> (n, out) float32."""
    if _sgemm is not None:
        # w (out, in) in C order is w.T (in, out) in Fortran order: sgemm takes it without a
        # copy (passing w with trans_b would copy all of it on every call).
        return _sgemm(1.0, x, w.T)
    return x @ w.T
