"""The vector store (webinfer.rag) at 10k and 100k chunks: indexing, file size, query latency,
and the IVF index's recall@10 against exact search.

    PYTHONPATH=pkg python3 bench/rag_store_bench.py [--sizes 10000 100000] [--dim 384] [--queries 200]
                                                    [--spread 1 2] [--pyodide]

What it measures, per size n:
- index: Store.add of documents of DOC_CHUNKS chunks each (128-token chunks, overlap 16, text
  of random words: ~600 bytes a chunk), with embed() handing out precomputed vectors, so the
  time is checking + chunking + SQLite writes, not embedding (that is the model's bench);
- the file's size; reopening it (with its integrity check); the first search (loads the
  vectors into memory);
- exact search: p50/p95 over the queries (matrix-vector product + partial sort + fetching hits);
- IVF: build time, then p50/p95 and recall@10 against exact at several nprobe.
Vectors are random but clustered: n/100 centres of norm ~1, plus noise of norm ~`spread`:
at spread 1 two vectors of one cluster have cosine ~0.5 (a topic's sentences), at spread 2
~0.2 and the clusters blur into each other (the hard case for IVF); queries are new draws
from the same distribution.

What it is not: a test (numbers only; bench/RESULTS.md records them) or an embedding benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pkg"))
from webinfer.rag import Store  # noqa: E402
from webinfer.rag import ivf  # noqa: E402

DOC_CHUNKS = 100
CHUNK_TOKENS, OVERLAP = 128, 16
WORDS = ("the of and to in is that for it as with was on be by this are from at or an have not which "
         "lighthouse keeper harbour winter letters sister city ships night stones lamp vector store "
         "query index cluster recall embedding document chunk browser python numpy").split()


def clustered(n: int, dim: int, rng, centres: np.ndarray, spread: float) -> np.ndarray:
    noise = rng.standard_normal((n, dim)).astype(np.float32) * (spread / np.sqrt(dim))
    x = centres[rng.integers(0, centres.shape[0], n)] + noise
    return ivf.normalize(x)


def doc_text(rng, n_chunks: int) -> str:
    # each chunk after the first brings CHUNK_TOKENS - OVERLAP new words (one token each)
    n_words = CHUNK_TOKENS + (n_chunks - 1) * (CHUNK_TOKENS - OVERLAP)
    return " ".join(rng.choice(WORDS, n_words).tolist())


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def bench(n: int, dim: int, n_queries: int, folder: Path, spread: float) -> dict:
    rng = np.random.default_rng(n)
    centres = rng.standard_normal((max(1, n // 100), dim)).astype(np.float32) / np.sqrt(dim)
    vectors = clustered(n, dim, rng, centres, spread)
    queries = clustered(n_queries, dim, rng, centres, spread)
    texts = [doc_text(rng, DOC_CHUNKS) for _ in range(n // DOC_CHUNKS)]
    path = folder / f"store-{n}.sqlite"
    pos = 0

    def embed(batch):
        nonlocal pos
        pos += len(batch)
        return vectors[pos - len(batch):pos]

    out = {"n": n, "dim": dim, "spread": spread}
    t0 = time.perf_counter()
    with Store.open(path, dim=dim) as s:
        for i, text in enumerate(texts):
            s.add(f"doc{i}", text, embed=embed, chunk_tokens=CHUNK_TOKENS, overlap=OVERLAP)
        out["chunks"] = s.count()
    out["index_s"] = time.perf_counter() - t0
    assert out["chunks"] == n == pos, (out["chunks"], n, pos)
    out["file_mb"] = os.path.getsize(path) / 2**20

    t0 = time.perf_counter()
    s = Store.open(path)
    out["open_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    s.search(queries[0], 10)
    out["first_search_s"] = time.perf_counter() - t0
    times, exact = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = s.search(q, 10)
        times.append(time.perf_counter() - t0)
        exact.append({h.chunk.id for h in hits})
    out["exact_p50_ms"], out["exact_p95_ms"] = pct(times, 50), pct(times, 95)

    t0 = time.perf_counter()
    out["n_lists"] = s.build_index()
    out["ivf_build_s"] = time.perf_counter() - t0
    s.search(queries[0], 10, exact=False)          # loads the lists
    out["ivf"] = []
    for nprobe in sorted({8, ivf.default_nprobe(out["n_lists"]), 32}):
        times, recall = [], []
        for q, want in zip(queries, exact):
            t0 = time.perf_counter()
            hits = s.search(q, 10, exact=False, nprobe=nprobe)
            times.append(time.perf_counter() - t0)
            recall.append(len({h.chunk.id for h in hits} & want) / 10)
        out["ivf"].append({"nprobe": nprobe, "p50_ms": pct(times, 50), "p95_ms": pct(times, 95),
                           "recall10": float(np.mean(recall))})
    out["file_mb_with_index"] = os.path.getsize(path) / 2**20
    s.close()
    return out


def report(r: dict) -> None:
    print(f"n={r['n']:,} dim={r['dim']} spread={r['spread']}: index {r['index_s']:.1f} s "
          f"({r['n'] / r['index_s']:,.0f} chunks/s), file {r['file_mb']:.1f} MiB ({r['file_mb_with_index']:.1f} "
          f"with IVF), reopen {r['open_s']:.2f} s, first search {r['first_search_s']:.2f} s")
    print(f"  exact top-10: p50 {r['exact_p50_ms']:.2f} ms, p95 {r['exact_p95_ms']:.2f} ms")
    print(f"  IVF: {r['n_lists']} lists, built in {r['ivf_build_s']:.1f} s")
    for v in r["ivf"]:
        print(f"    nprobe {v['nprobe']:3d}: p50 {v['p50_ms']:.2f} ms, p95 {v['p95_ms']:.2f} ms, "
              f"recall@10 {v['recall10']:.3f}")
    sys.stdout.flush()


# The same bench inside Pyodide under Node (bench/node_pyodide.py): the store in Pyodide's
# in-memory file system, NumPy without BLAS, as in the page.
IN_PYODIDE = """
import pyodide_js
await pyodide_js.loadPackage(["numpy", "sqlite3"])
import sys
from pathlib import Path
sys.path.insert(0, "/host/bench")
import rag_store_bench as b
b.bench({n}, {dim}, {queries}, Path("/tmp"), {spread})
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--spread", type=float, nargs="+", default=[1.0, 2.0], help="cluster noise (see the doc)")
    ap.add_argument("--dir", type=Path, default=None, help="where the store files go (default: a temp folder)")
    ap.add_argument("--pyodide", action="store_true", help="run inside Pyodide under Node (build/pyodide)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        for n, spread in [(n, sp) for n in args.sizes for sp in args.spread]:
            if args.pyodide:
                from node_pyodide import run
                here = Path(__file__).resolve().parent
                code = IN_PYODIDE.format(n=n, dim=args.dim, queries=args.queries, spread=spread)
                report(run(code, {"/host/bench": here, "/host/pkg": here.parent / "pkg"}))
                continue
            report(bench(n, args.dim, args.queries, folder, spread))
            (folder / f"store-{n}.sqlite").unlink()


if __name__ == "__main__":
    main()
