"""Top-k by cosine over unit vectors: exact, and an IVF index (inverted lists over k-means cells).

What this is, in NumPy (the same code in CPython and Pyodide; products through device/blas.py):
- `top_k(scores, k)`: the k best (index, score) pairs, best first, ties by lower index.
- `kmeans(x, n_lists, rng)`: spherical k-means (assign by largest dot product, centroid = the
  normalised mean), trained on a sample of at most TRAIN_PER_LIST points a list, so that
  training 100k vectors costs seconds; an empty cell is re-seeded from a random point.
- `assign(x, centroids)`: each row's nearest centroid, in blocks (bounded memory).
- `Lists`: the vectors grouped by cell, one contiguous slice per cell (`offsets`), so a probe
  of `nprobe` cells is `nprobe` slices and one matrix-vector product, not a mask over all rows.

The approximate search scores the query against every centroid, takes the `nprobe` best cells
and runs the exact scorer on their members only: with n_lists ~ sqrt(n) cells it reads about
nprobe / sqrt(n) of the vectors. Its recall@10 against exact is measured by
bench/rag_store_bench.py (numbers in bench/RESULTS.md).

What it is not: storage (store.py keeps centroids and cell members in SQLite).
"""

from __future__ import annotations

import numpy as np

from ..device import blas

TRAIN_PER_LIST = 64       # k-means trains on at most this many points per list
KMEANS_ITERS = 12
ASSIGN_BLOCK = 8192       # rows per block when assigning (block x n_lists scores in memory)


def default_lists(n: int) -> int:
    """Cells for n vectors: ~sqrt(n), at least 1 (about 316 at 100k)."""
    return max(1, int(round(np.sqrt(n))))


def default_nprobe(n_lists: int) -> int:
    """Cells probed per query: 1/16 of them, at least 8 (all when there are fewer)."""
    return min(n_lists, max(8, n_lists // 16))


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1).astype(np.float32)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores, best first (ties: lower index first)."""
    k = min(k, scores.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < scores.shape[0] else np.arange(scores.shape[0])
    order = np.lexsort((part, -scores[part]))
    return part[order]


def scores(vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n,) dot products of the rows of vectors (n, dim) with q (dim,): one sgemv in CPython, the
    wasm SIMD matrix-vector kernel in Pyodide, whose NumPy has no BLAS (device/blas.py)."""
    return blas.matmul_t(q[None, :], vectors)[0]


def assign(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(n,) int32: the centroid with the largest dot product for each row of x (n, dim)."""
    out = np.empty(x.shape[0], dtype=np.int32)
    for a in range(0, x.shape[0], ASSIGN_BLOCK):
        out[a:a + ASSIGN_BLOCK] = np.argmax(blas.matmul_t(x[a:a + ASSIGN_BLOCK], centroids), axis=1)
    return out


def kmeans(x: np.ndarray, n_lists: int, rng: np.random.Generator) -> np.ndarray:
    """(n_lists, dim) unit centroids of the unit rows of x (n, dim); n_lists <= n."""
    n = x.shape[0]
    sample = x[rng.choice(n, size=min(n, n_lists * TRAIN_PER_LIST), replace=False)]
    centroids = sample[rng.choice(sample.shape[0], size=n_lists, replace=False)].copy()
    for _ in range(KMEANS_ITERS):
        cell = assign(sample, centroids)
        sums = np.zeros_like(centroids)
        np.add.at(sums, cell, sample)
        empty = np.flatnonzero(np.bincount(cell, minlength=n_lists) == 0)
        sums[empty] = sample[rng.choice(sample.shape[0], size=empty.size, replace=False)]
        centroids = normalize(sums)
    return centroids


class Lists:
    """Unit vectors grouped by IVF cell: `vectors[offsets[c]:offsets[c+1]]` are cell c's, and
    `rows` maps each back to its row in the caller's order."""

    def __init__(self, vectors: np.ndarray, cells: np.ndarray, centroids: np.ndarray):
        order = np.argsort(cells, kind="stable")
        self.rows = order                                    # (n,) caller's row of each grouped vector
        self.vectors = np.ascontiguousarray(vectors[order])  # (n, dim)
        counts = np.bincount(cells, minlength=centroids.shape[0])
        self.offsets = np.concatenate([[0], np.cumsum(counts)])  # (n_lists + 1,)
        self.centroids = centroids                           # (n_lists, dim)

    def search(self, q: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the best k among the `nprobe` cells nearest the unit query q (dim,)."""
        cells = top_k(scores(self.centroids, q), nprobe)
        spans = [(self.offsets[c], self.offsets[c + 1]) for c in cells if self.offsets[c + 1] > self.offsets[c]]
        if not spans:                     # the probed cells lost their members to deletes
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        s = np.concatenate([scores(self.vectors[a:b], q) for a, b in spans])     # slices: no gather
        idx = np.concatenate([np.arange(a, b) for a, b in spans])
        best = top_k(s, k)
        return self.rows[idx[best]], s[best]
