"""x @ W^T for float32, the fastest way this Python's NumPy offers.

CPython's numpy wheels link OpenBLAS, so ``x @ w.T`` is one sgemm/sgemv. Pyodide's numpy has no
BLAS: its matmul is a plain loop. Measured in Pyodide 0.27.7 (Node, one core), one token
(decode): ``np.einsum("ij,j->i", w, x)`` beats ``x @ w.T`` by 1.6-1.8x (960x576: 0.15 vs 0.25 ms;
3072x576: 0.48 vs 0.80; 576x1536: 0.22 vs 0.41; 49152x576: 7.7 vs 13.0), and for a 39-token
prefill ``np.einsum("nj,ij->ni", x, w)`` beats it by 1.3x (3072x576: 57 vs 77 ms; 576x1536: 17.6
vs 23.5). End to end in Pyodide under Node: decode 11.1 -> 20.8 tok/s. Pyodide's scipy links
OpenBLAS, but through it the page decoded slower (3.0 vs 5.3 tok/s) for 19 MB more download, so
scipy is not used. The choice is made once, at import.
"""

from __future__ import annotations

import sys

import numpy as np

BACKEND = "numpy-einsum" if sys.platform == "emscripten" else "numpy-blas"


def matmul_t(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, in) @ w (out, in)^T -> (n, out) float32."""
    if BACKEND == "numpy-einsum":
        if x.shape[0] == 1:
            return np.einsum("ij,j->i", w, x[0])[None, :]
        return np.einsum("nj,ij->ni", x, w)
    return x @ w.T
