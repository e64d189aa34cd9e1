#!/usr/bin/env python3
"""Benchmark chat pages in headless Chromium: time to ready, prefill and decode tok/s, NumPy and WebGPU.

    python3 bench/site_bench.py [--site DIR[=LABEL] ...] [--device numpy webgpu] [--rounds 2] [--record]

Each site (default: build/site, built here if missing) is served with tools/serve.py's CSP and
opened in a fresh Chromium profile on disk, once per device and round, the sites taking turns so
that a busy machine slows them alike. Measured per visit: navigation start to the page's "ready"
on the first visit (runtime and model downloaded) and after a reload (the model from Cache
Storage); then, each in a new chat with a system message of its own, greedy answers to prompts
of about 40, 146 and 512 tokens (chat template included) with the page's own prefill/decode tok/s (webinfer's Completion, in
window.webinferPage.lastResult). "webgpu" runs Chromium with WebGPU on SwiftShader (CPU
emulation) and picks WebGPU in the page's Settings where it has a device selector (auto prefers
NumPy there); it answers the 40-token prompt only, 4 tokens, as SwiftShader is slow.
--record appends the table to bench/log/runs.md (the log; bench/RESULTS.md reports the current numbers).

Not a test: it asserts nothing about speed (tests/site checks behaviour).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "pkg"))
from serve import make_server  # noqa: E402
from runlog import append_run  # noqa: E402

CHROMIUM = os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium")
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]
TARGETS = (40, 146, 512)
FILLER = ("Rivers carry water from mountains to the sea, shaping valleys, feeding farms and cities, and "
          "moving sand and stone along the way. People have built towns beside them for thousands of years, "
          "used them for travel and trade, and learned to fear their floods. ")


def system_prompt(target: int) -> str:
    """Each prompt's own system message, so that a new chat shares almost no prefix with the last
    one (webinfer reuses cached keys/values of a common prefix) and prefill computes ~all of it."""
    return f"Answer in one short paragraph. Request {target}."


def prompts(model_path: Path, targets=TARGETS) -> dict[int, str]:
    """A user message per target whose chat-templated prompt (with system_prompt(target)) is the
    target's length, give or take a token."""
    import webinfer
    model = webinfer.load(str(model_path), device="numpy", n_ctx=1024)
    words = (FILLER * 40).split()
    out = {}
    for target in targets:
        def length(n_words):
            return len(model.encode_chat([{"role": "system", "content": system_prompt(target)},
                                          {"role": "user", "content": "Summarize: " + " ".join(words[:n_words])}]))
        lo, hi = 1, len(words)
        while lo < hi:                     # the fewest words whose prompt reaches the target
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if length(mid) < target else (lo, mid)
        out[target] = "Summarize: " + " ".join(words[:lo])
    return out


def wait_ready(page, timeout_ms: int) -> float:
    page.wait_for_function("() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=timeout_ms)
    if page.evaluate("() => document.body.dataset.state") != "ready":
        raise RuntimeError(f"the page did not get ready: {page.inner_text('#notice')}")
    return page.evaluate("() => window.webinferPage.timings.ready") / 1000


def wait_cached(page, timeout_ms: int) -> None:
    """Until the page's model cache holds a model: the worker writes it in the background after the
    load, and a reload before that would download the model again."""
    names = "async () => (await (await caches.open('webinfer-models-v1')).keys()).length"
    for _ in range(timeout_ms // 100):
        if page.evaluate(names):
            return
        page.wait_for_timeout(100)


def answer(page, target: int, text: str, tokens: int, timeout_ms: int) -> dict:
    if not page.evaluate("() => document.getElementById('settings-panel').open"):
        page.click("#settings-panel summary")
    page.fill("#system-prompt", system_prompt(target))
    page.click("#new-chat")
    page.fill("#temperature", "0")
    page.fill("#max-tokens", str(tokens))
    return send(page, text, timeout_ms)


def send(page, text: str, timeout_ms: int) -> dict:
    """Ask `text` as typed into the prompt box; the page's lastResult once the answer is whole."""
    page.evaluate("() => { window.webinferPage.lastResult = null; }")
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function("() => window.webinferPage.lastResult !== null && document.body.dataset.state === 'ready'",
                           timeout=timeout_ms)
    return page.evaluate("() => window.webinferPage.lastResult")


def visit(p, url: str, device: str, texts: dict[int, str], tokens: int, timeout_ms: int) -> dict:
    flags = BASE_FLAGS + (WEBGPU_FLAGS if device == "webgpu" else [])
    with tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=flags)
        try:
            page = ctx.pages[0]
            page.goto(url)
            first = wait_ready(page, timeout_ms)
            wait_cached(page, timeout_ms)
            page.reload()
            cached = wait_ready(page, timeout_ms)
            if device == "webgpu" and page.query_selector("#device"):
                if not page.evaluate("() => document.getElementById('settings-panel').open"):
                    page.click("#settings-panel summary")
                page.select_option("#device", "webgpu")
                page.wait_for_function("() => document.body.dataset.state === 'loading'", timeout=10_000)
                wait_ready(page, timeout_ms)
            row = {"device": page.evaluate("() => window.webinferPage.device"), "first_ready_s": first,
                   "cached_ready_s": cached, "answers": {}}
            for target in (TARGETS[:1] if device == "webgpu" else TARGETS):
                r = answer(page, target, texts[target], 4 if device == "webgpu" else tokens, timeout_ms)
                row["answers"][target] = {k: r[k] for k in ("prompt_tokens", "cached_tokens", "completion_tokens",
                                                            "prefill_tok_s", "decode_tok_s")}
            return row
        finally:
            ctx.close()


def table(results: dict) -> str:
    lines = ["| page | path | ready, first visit (s) | ready, cached (s) | prompt tokens | prefill tok/s | decode tok/s |",
             "|---|---|---|---|---|---|---|"]
    for (label, device), rows in results.items():
        span = lambda xs: f"{min(xs):.1f}-{max(xs):.1f}" if len(xs) > 1 else f"{xs[0]:.1f}"   # noqa: E731
        firsts, cacheds = [r["first_ready_s"] for r in rows], [r["cached_ready_s"] for r in rows]
        for target in rows[0]["answers"]:
            a = [r["answers"][target] for r in rows]
            n = a[0]["prompt_tokens"] - a[0]["cached_tokens"]
            lines.append(f"| {label} | {device} | {span(firsts)} | {span(cacheds)} | {a[0]['prompt_tokens']} ({n} new) | "
                         f"{span([x['prefill_tok_s'] for x in a])} | {span([x['decode_tok_s'] for x in a])} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", nargs="+", default=[str(REPO / "build" / "site")],
                    help="site folders to compare, each DIR or DIR=LABEL (default build/site, built if missing)")
    ap.add_argument("--device", nargs="+", default=["numpy", "webgpu"], choices=["numpy", "webgpu"])
    ap.add_argument("--rounds", type=int, default=2, help="visits per site and device (default 2)")
    ap.add_argument("--tokens", type=int, default=32, help="greedy tokens per NumPy answer (default 32)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds to wait for any one step")
    ap.add_argument("--record", action="store_true", help="append the results to bench/log/runs.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from webinfer.sources import default_model_path
    sites = [(Path(s.split("=")[0]), s.split("=", 1)[1] if "=" in s else Path(s).name) for s in args.site]
    if sites == [(REPO / "build" / "site", "site")] and not (REPO / "build" / "site" / "site-config.json").exists():
        from build_site import build_site
        build_site(REPO / "build" / "site")
    texts = prompts(default_model_path())
    servers = []
    for folder, _ in sites:
        server = make_server(folder, 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    results: dict = {}
    with sync_playwright() as p:
        for _ in range(args.rounds):
            for device in args.device:
                for (folder, label), server in zip(sites, servers):
                    row = visit(p, f"http://127.0.0.1:{server.server_port}/", device, texts, args.tokens,
                                args.timeout * 1000)
                    results.setdefault((label, device), []).append(row)
                    print(label, device, row, flush=True)
    for server in servers:
        server.shutdown()
    text = table(results)
    print(text)
    if args.record:
        append_run("Chat pages in headless Chromium (bench/site_bench.py)",
                   f"Chromium at {CHROMIUM}, {args.rounds} visits per row (min-max), pages taking turns.",
                   f"python3 bench/site_bench.py {' '.join(argv or sys.argv[1:])}", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
