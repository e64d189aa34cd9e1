#!/usr/bin/env python3
"""Embeddings per second in the chat page: the Documents panel embedding 128-token chunks in
headless Chromium, on NumPy (Pyodide) and on WebGPU (SwiftShader, CPU emulation).

    python3 bench/site_embed.py [--site DIR] [--build] [--device numpy webgpu] [--chunks 48 8]
                                [--rounds 2] [--record]

The site (default build/site; built from this checkout with --build or when missing) is served
with tools/serve.py's CSP and opened in a fresh Chromium profile per device. "webgpu" runs
Chromium with WebGPU on SwiftShader and picks WebGPU in Settings, so the chat model runs there
and the page's embedding model follows it (py/documents.py). Per device: a short warm-up
document (downloads and loads all-MiniLM-L6-v2), then `--rounds` pasted documents that the
store cuts into about `--chunks` chunks of at most 128 tokens (overlap 16, the panel's
defaults). The page times the embedding calls alone (webinferPage.documents.added.embed_s:
Embedder.aembed over the store's batches of 32), so chunking and SQLite are not in the number;
the wall time of the whole add is printed beside it.
--record appends the table to bench/log/runs.md (bench/RESULTS.md reports the current numbers).

Not a test: it asserts nothing about speed (tests/site checks behaviour).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "pkg"))
sys.path.insert(0, str(REPO / "bench"))
from serve import make_server  # noqa: E402
from runlog import append_run  # noqa: E402
from site_bench import BASE_FLAGS, CHROMIUM, WEBGPU_FLAGS, wait_ready  # noqa: E402

WORDS = ("the keeper of the lighthouse wrote letters to his sister in the city every winter night while ships "
         "passed the harbour and stones glowed under the lamp a vector store holds documents chunks and "
         "queries from a browser python numpy model reads text answers questions about rivers mountains "
         "bread comets towns music gardens trains weather history science").split()


def document(n_chunks: int, seed: int) -> tuple[str, float]:
    """A text the store cuts into ~n_chunks chunks of at most 128 tokens (all-MiniLM-L6-v2's
    WordPiece, the page's chunker), and their mean length in tokens (measured here, in CPython)."""
    import numpy as np

    import webinfer
    from webinfer.rag import chunk_text, token_counter
    tok = webinfer.load_embedder(device="numpy").tokenizer
    rng = np.random.default_rng(seed)
    text = " ".join(rng.choice(WORDS, n_chunks * 100).tolist())       # ~1.1 tokens a word, 112 new a chunk
    count = token_counter(tok)
    chunks = chunk_text(text, count, 128)
    while len(chunks) > n_chunks:
        text = text[:chunks[n_chunks].char_start].rstrip()
        chunks = chunk_text(text, count, 128)
    return text, sum(len(tok.encode(c.text, add_special=False)) for c in chunks) / len(chunks)


def add(page, name: str, text: str, timeout_ms: int) -> tuple[dict, float]:
    """Paste one document and wait for it to be listed; (the page's "added" record, wall seconds)."""
    page.fill("#doc-name", name)
    page.fill("#doc-text", text)
    t0 = time.perf_counter()
    page.click("#doc-add")
    page.wait_for_function(
        "(n) => { const d = window.webinferPage.documents; return d && d.added && d.added.name === n; }",
        arg=name, timeout=timeout_ms)
    wall = time.perf_counter() - t0
    page.wait_for_function("() => document.getElementById('doc-busy').hidden", timeout=timeout_ms)
    return page.evaluate("() => window.webinferPage.documents.added"), wall


def visit(p, url: str, device: str, texts: list[str], timeout_ms: int) -> dict:
    flags = BASE_FLAGS + (WEBGPU_FLAGS if device == "webgpu" else [])
    with tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=flags)
        try:
            page = ctx.pages[0]
            page.goto(url)
            wait_ready(page, timeout_ms)
            if device == "webgpu":
                page.click("#settings-panel summary")
                page.select_option("#device", "webgpu")
                page.wait_for_function("() => document.body.dataset.state === 'loading'", timeout=10_000)
                wait_ready(page, timeout_ms)
            page.click("#docs-panel summary")
            page.wait_for_function("() => document.getElementById('doc-busy').hidden", timeout=timeout_ms)
            warm, warm_s = add(page, "warm-up.txt", "A short warm-up document about lighthouses.", timeout_ms)
            row = {"chat": page.evaluate("() => window.webinferPage.device"), "embedder": warm["device"],
                   "first_add_s": round(warm_s, 2), "rounds": []}
            for i, text in enumerate(texts):
                added, wall = add(page, f"bench-{i}.txt", text, timeout_ms)
                row["rounds"].append({"chunks": added["chunks"], "embed_s": added["embed_s"], "wall_s": round(wall, 2),
                                      "emb_s": round(added["chunks"] / added["embed_s"], 2)})
            return row
        finally:
            ctx.close()


def table(rows: dict, tokens: dict) -> str:
    lines = ["| path | embedding model on | chunks (mean tokens) | embeddings/s (embedding only) | whole add (s) | "
             "first add, model download + load (s) |", "|---|---|---|---|---|---|"]
    for device, row in rows.items():
        r = row["rounds"]
        eps = ", ".join(f"{x['emb_s']:.2f}" for x in r)
        walls = ", ".join(f"{x['wall_s']:.1f}" for x in r)
        lines.append(f"| {device} | {row['embedder']} | {r[0]['chunks']} ({tokens[device]:.1f}) | {eps} | {walls} | "
                     f"{row['first_add_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", default=str(REPO / "build" / "site"))
    ap.add_argument("--build", action="store_true", help="build the site from this checkout first")
    ap.add_argument("--device", nargs="+", default=["numpy", "webgpu"], choices=["numpy", "webgpu"])
    ap.add_argument("--chunks", type=int, nargs="+", default=[48, 8],
                    help="chunks per document, one number per --device (default 48 on NumPy, 8 on WebGPU)")
    ap.add_argument("--rounds", type=int, default=2, help="documents per device (default 2)")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds to wait for any one step")
    ap.add_argument("--record", action="store_true", help="append the results to bench/log/runs.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    site = Path(args.site)
    if args.build or not (site / "site-config.json").exists():
        from build_site import build_site
        build_site(site)
    server = make_server(site, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, tokens = {}, {}
    with sync_playwright() as p:
        for device, n in zip(args.device, args.chunks + args.chunks[-1:] * len(args.device)):
            docs = [document(n, seed) for seed in range(args.rounds)]
            tokens[device] = sum(t for _, t in docs) / len(docs)
            rows[device] = visit(p, f"http://127.0.0.1:{server.server_port}/", device, [d for d, _ in docs],
                                 args.timeout * 1000)
            print(device, rows[device], flush=True)
    server.shutdown()
    text = table(rows, tokens)
    print(text)
    if args.record:
        append_run("Embeddings/s in the chat page (bench/site_embed.py)",
                   f"Chromium at {CHROMIUM}, load average {os.getloadavg()[0]:.1f} at the end.",
                   f"python3 bench/site_embed.py {' '.join(argv or sys.argv[1:])}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
