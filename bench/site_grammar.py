#!/usr/bin/env python3
"""The grammar constraint in the chat page: per-token mask time and decode tok/s, NumPy, headless Chromium.

    python3 bench/site_grammar.py [--site DIR] [--max-tokens 64] [--repeats 3] [--rounds 1] [--record]

The page (default: build/site, rebuilt from this checkout first: incremental) is served with
tools/serve.py's CSP and opened in a fresh Chromium profile (no WebGPU: the page runs on NumPy in
its Pyodide worker). For each of bench/grammar_bench.py's constraints (JSON mode and two schemas,
with its prompts), each in a new chat and greedy: the prompt with Settings → JSON off (free), then
on with the schema in the box ("cold": this worker has not compiled that grammar, so its masks
are walked the first time they are needed), then --repeats times JSON on ("warm": the same schema
again, its masks cached, as for a repeated request) and off again, alternating, so that other
load on the machine hits both alike; decode tok/s is the best of each kind's answers (the least
disturbed), mask times the median over the warm answers. From the page's own report (window.webinferPage.lastResult):
decode tok/s, tokens, per-token mask time (mask_ms: the constraint's allowed_ids, timed in the
worker as grammar_bench.py times it in CPython: median, mean, p99, max; the page is not
cross-origin isolated, so its clock ticks in 0.1 ms steps with jitter: the mean resolves finer than
the median), and setup_s, the seconds Model.generate took to build the generation (the grammar
compiled; the visit's first constrained answer also builds the vocabulary's byte trie). A round
is one visit (a new worker, so "cold" is cold). "mask share" is the mean mask time over the mean
time of a free decode step (the median free answer's): other load slows both alike, so it holds
on a busy machine where the tok/s comparison does not.
--record appends the table to bench/log/runs.md (bench/RESULTS.md reports the current numbers).

Not a test: it asserts nothing about speed (tests/site/test_json_mode.py checks behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "pkg"))
sys.path.insert(0, str(REPO / "bench"))
from grammar_bench import CASES  # noqa: E402
from serve import make_server  # noqa: E402
from runlog import append_run  # noqa: E402
from site_bench import BASE_FLAGS, CHROMIUM, wait_ready  # noqa: E402

RUNS = ("free", "cold", "warm")


def schema_text(fmt: dict) -> str:
    """What goes in the page's schema box for a response_format (empty: any JSON object)."""
    return json.dumps(fmt["json_schema"]["schema"]) if fmt["type"] == "json_schema" else ""


def answer(page, text: str, timeout_ms: int) -> dict:
    page.click("#new-chat")
    page.evaluate("() => { window.webinferPage.lastResult = null; }")
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function("() => window.webinferPage.lastResult !== null && document.body.dataset.state === 'ready'",
                           timeout=timeout_ms)
    return page.evaluate("() => window.webinferPage.lastResult")


def visit(p, url: str, max_tokens: int, repeats: int, timeout_ms: int) -> dict:
    """{case: {run: [lastResult's numbers, ...]}} from one visit to the page."""
    with tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=BASE_FLAGS)
        try:
            page = ctx.pages[0]
            page.goto(url)
            wait_ready(page, timeout_ms)
            page.click("#settings-panel summary")
            page.fill("#temperature", "0")
            page.fill("#max-tokens", str(max_tokens))
            out = {"device": page.evaluate("() => window.webinferPage.device")}
            for name, (fmt, ask) in CASES.items():
                rows = {run: [] for run in RUNS}
                page.fill("#json-schema", schema_text(fmt))
                for run in ("free", "cold") + ("warm", "free") * repeats:
                    page.set_checked("#json-mode", run != "free")
                    r = answer(page, ask, timeout_ms)
                    if run != "free":
                        json.loads(r["text"])       # the constraint held (the page shows it indented)
                    rows[run].append({k: r.get(k) for k in ("completion_tokens", "decode_tok_s", "setup_s", "mask_ms",
                                                            "finish_reason")})
                out[name] = rows
            return out
        finally:
            ctx.close()


def table(visits: list[dict]) -> str:
    """Decode tok/s: the best answer of each kind over all visits; the rest: medians."""
    med = statistics.median
    lines = ["| constraint | tokens free / cold / warm | mask median cold / warm | mean cold / warm | p99 cold / warm | "
             "max cold | mask share cold / warm | decode tok/s free / cold / warm (best) | cold, warm vs free | "
             "setup s cold / warm |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in CASES:
        def m(run, key, sub=None, pick=med):
            rows = [r for v in visits for r in v[name][run]]
            return pick([r[key] if sub is None else r[key][sub] for r in rows])
        tok = [m(run, "decode_tok_s", pick=max) for run in RUNS]
        step_ms = 1000 / m("free", "decode_tok_s")

        def both(key, fmt):              # a mask statistic, cold / warm
            return " / ".join(format(m(run, "mask_ms", key), fmt) for run in RUNS[1:])
        share = " / ".join(f"{100 * m(run, 'mask_ms', 'mean') / step_ms:.1f}%" for run in RUNS[1:])
        cells = [name, " / ".join(str(round(m(run, "completion_tokens"))) for run in RUNS),
                 both("median", ".3f") + " ms", both("mean", ".3f") + " ms", both("p99", ".1f") + " ms",
                 f"{m('cold', 'mask_ms', 'max'):.1f} ms", share, " / ".join(f"{t:.2f}" for t in tok),
                 f"{100 * (tok[1] / tok[0] - 1):+.1f}%, {100 * (tok[2] / tok[0] - 1):+.1f}%",
                 f"{m('cold', 'setup_s'):.2f} / {m('warm', 'setup_s'):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", help="a built site folder (default: build/site, rebuilt from this checkout)")
    ap.add_argument("--max-tokens", type=int, default=64, help="greedy tokens per answer at most (default 64)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="warm and free answers after the cold one, alternating (default 3)")
    ap.add_argument("--rounds", type=int, default=1, help="visits, each in a new profile (default 1)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds to wait for any one step")
    ap.add_argument("--record", action="store_true", help="append the results to bench/log/runs.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright
    folder = Path(args.site) if args.site else REPO / "build" / "site"
    if not args.site:
        from build_site import build_site
        build_site(folder)
    server = make_server(folder, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    visits = []
    with sync_playwright() as p:
        for _ in range(args.rounds):
            url = f"http://127.0.0.1:{server.server_port}/"
            v = visit(p, url, args.max_tokens, args.repeats, args.timeout * 1000)
            print(json.dumps(v), flush=True)
            visits.append(v)
    server.shutdown()
    text = table(visits)
    print(text)
    if args.record:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        append_run("The grammar constraint in the chat page (bench/site_grammar.py)",
                   f"load {load:.1f} at the end, Chromium at {CHROMIUM}, NumPy in the page's worker, "
                   f"{args.rounds} visit(s), {args.repeats} warm/free repeats.",
                   "python3 bench/site_grammar.py " + " ".join(argv or sys.argv[1:]), text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
