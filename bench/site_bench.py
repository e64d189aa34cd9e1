#!/usr/bin/env python3
"""Benchmark the chat page in headless Chromium: page-to-ready and tokens/s, WebGPU and NumPy.

    python3 bench/site_bench.py [--device numpy webgpu] [--tokens 32] [--record]

For each device it opens the built site (tools/build_site.py, built here if needed) in a fresh
browser profile and measures: time from navigation start to "ready" on the first visit (the
model downloaded) and after a reload (the model from Cache Storage); then one greedy chat answer
(the golden prompt "What are the main causes of climate change?", --tokens tokens) and the
page's own prefill/decode tokens/s (webinfer's Completion, shown in #status). "webgpu" runs
Chromium with WebGPU on SwiftShader (CPU emulation), "numpy" without WebGPU. --record appends
the table to bench/RESULTS.md under its own heading.

Not a test: it asserts nothing about speed; tests/site checks behaviour.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from build_site import build_site  # noqa: E402
from serve import make_server  # noqa: E402

CHROMIUM = os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium")
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]
PROMPT = "What are the main causes of climate change?"


def ready_ms(page, timeout_ms: int) -> float:
    page.wait_for_function("() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=timeout_ms)
    if page.evaluate("document.body.dataset.state") != "ready":
        raise RuntimeError(f"the page did not get ready: {page.inner_text('#notice')}")
    return page.evaluate("window.webinferPage.timings.ready")


def run_device(p, url: str, device: str, tokens: int, timeout_ms: int) -> dict:
    flags = BASE_FLAGS + (WEBGPU_FLAGS if device == "webgpu" else [])
    browser = p.chromium.launch(executable_path=CHROMIUM, args=flags)
    try:
        page = browser.new_context().new_page()
        page.goto(url)
        first = ready_ms(page, timeout_ms)
        page.reload()
        cached = ready_ms(page, timeout_ms)
        assert page.evaluate("document.body.dataset.modelSource") == "cache"
        page.click("#settings-panel summary")
        page.fill("#temperature", "0")
        page.fill("#max-tokens", str(tokens))
        page.fill("#prompt", PROMPT)
        page.press("#prompt", "Enter")
        page.wait_for_function("() => document.body.dataset.state === 'generating'", timeout=10_000)
        page.wait_for_function("() => document.body.dataset.state !== 'generating'", timeout=timeout_ms)
        r = page.evaluate("window.webinferPage.lastResult")
        return {"device": device, "status_device": r["device"], "first_ready_s": first / 1000,
                "cached_ready_s": cached / 1000, "prompt_tokens": r["prompt_tokens"],
                "completion_tokens": r["completion_tokens"], "prefill_tok_s": r["prefill_tok_s"],
                "decode_tok_s": r["decode_tok_s"]}
    finally:
        browser.close()


def table(rows) -> str:
    lines = ["| path | device (page's words) | ready, first visit (s) | ready, cached (s) | prefill tok/s | decode tok/s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['status_device']} | {r['first_ready_s']:.1f} | {r['cached_ready_s']:.1f} | "
                     f"{r['prefill_tok_s']:.2f} ({r['prompt_tokens']} tok) | {r['decode_tok_s']:.2f} ({r['completion_tokens']} tok) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", nargs="+", default=["numpy", "webgpu"], choices=["numpy", "webgpu"])
    ap.add_argument("--tokens", type=int, default=32, help="greedy tokens to generate (default 32)")
    ap.add_argument("--site", default=str(REPO / "build" / "site"), help="site folder (built if needed)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds to wait for any one step")
    ap.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    build_site(args.site)
    server = make_server(args.site, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    rows = []
    with sync_playwright() as p:
        for device in args.device:
            rows.append(run_device(p, url, device, args.tokens, args.timeout * 1000))
            print(table(rows[-1:]), flush=True)
    server.shutdown()
    text = table(rows)
    print(text)
    if args.record:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = (f"\n## Chat site in headless Chromium (bench/site_bench.py)\n\n{when}, {os.cpu_count()} cores, "
                f"{platform.machine()}, Chromium at {CHROMIUM}; greedy, prompt {PROMPT!r} (chat template), "
                f"{args.tokens} tokens asked. Ready = navigation start to the page's \"ready\" (Pyodide boot, "
                "webinfer install, model bytes, load); cached = after a reload, the model from Cache Storage.\n\n")
        with open(REPO / "bench" / "RESULTS.md", "a") as f:
            f.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
