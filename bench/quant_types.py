#!/usr/bin/env python3
"""SmolLM2-135M re-quantized by webinfer to other weight types, against the shipped Q4_1: speed and greedy answers.

    python3 bench/quant_types.py [--types Q4_K_M,Q5_K_M,Q6_K,Q8_0] [--paths numpy,numpy-q,llvmpipe,page]
                                 [--prompt 64] [--decode 32] [--gpu-prompt 16] [--gpu-decode 4] [--rounds 2]
                                 [--golden 16] [--blas-threads 1] [--cache DIR] [--site DIR] [--record]

The shipped model (webinfer.sources.default_model_path) is re-quantized with
webinfer.quantize.quantize_gguf (`webinfer quantize IN OUT --type T`) into --cache (default
build/quant_types/, reused while the quantizer's sources and the model are unchanged). Then, for
each round, each path and each type in turn (Q4_1 among them, the order rotated every round so that
a busy machine's drift hits the types alike), one measurement:
  numpy     `webinfer bench --device numpy`'s timing (webinfer.bench.run_bench, a fresh process, OpenBLAS
            on --blas-threads threads): the NumPy device expands a model this small to float32;
  numpy-q   the same on NumpyDevice(f32_budget=0): every weight kept quantized, dequantized inside
            each matvec (qmat.QMat), as for models past the float32 budget (bench/numpy_memory.py);
  llvmpipe  the same timing on WebGPU through wgpu-py on whatever adapter wgpu picks (Mesa's llvmpipe
            here, as the tests run; the table names it), with --gpu-prompt / --gpu-decode (slow);
  page      the chat page (build/site, rebuilt incrementally from this checkout unless --site is
            given) in headless Chromium, booted with the type's file as its model (bench/site_memory.py's
            overlay) and answering one prompt of about --prompt tokens with --decode greedy tokens
            after a 2-token warm-up answer (bench/site_bench.py's helpers); the page's own tok/s.
Each type's ratio to Q4_1 is taken round by round (the pair measured in the same round), and the
table gives the range over the rounds. Greedy agreement (--golden N, 0 to skip; after the rounds,
kept in --cache): per golden prompt of tests/goldens/smollm2_q4_1.json (HF transformers on the Q4_1
file's float32 weights), how many of the first N greedy tokens on NumPy (float32) equal the
golden's before the first that differs.

--record appends the table to bench/log/runs.md; every result (JSON) is kept in --cache.
Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import _common  # noqa: F401 - this checkout's webinfer first on sys.path

REPO = _common.REPO
BASE = "Q4_1"
PATHS = ("numpy", "numpy-q", "llvmpipe", "page")
GOLDENS = REPO / "tests" / "goldens" / "smollm2_q4_1.json"
ENV = dict(os.environ)        # the measurements' processes (main() sets --blas-threads here)
QUANTIZER_SOURCES = ("pkg/webinfer/quantize.py", "pkg/webinfer/formats/quants.py", "pkg/webinfer/formats/kquants.py",
                     "pkg/webinfer/formats/gguf_write.py")


# ---- the files -------------------------------------------------------------------------------

def quantized_models(types: list[str], cache: Path) -> dict[str, Path]:
    """{type: GGUF path}: the shipped model for BASE, else its re-quantized copy in `cache` (named by
    a hash of the quantizer's sources and the model, so a changed quantizer writes new files)."""
    from webinfer.quantize import quantize_gguf
    from webinfer.sources import default_model_path
    src = default_model_path()
    h = hashlib.sha256(f"{src.name} {src.stat().st_size}".encode())
    for f in QUANTIZER_SOURCES:
        if (REPO / f).exists():
            h.update((REPO / f).read_bytes())
    key = h.hexdigest()[:10]
    out = {BASE: src}
    cache.mkdir(parents=True, exist_ok=True)
    for t in types:
        if t == BASE:
            continue
        dest = cache / f"{src.stem.rsplit('.', 1)[0]}.{t}.{key}.gguf"
        if not dest.exists():
            t0 = time.perf_counter()
            part = dest.with_suffix(".part")
            chosen = quantize_gguf(src, part, t)
            part.replace(dest)
            print(f"# wrote {dest} ({dest.stat().st_size / 2**20:.1f} MiB, {mix_text(chosen)}) in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        out[t] = dest
    return out


def mix_text(types_by_tensor: dict[str, str]) -> str:
    return ", ".join(f"{n} {t}" for t, n in sorted(Counter(types_by_tensor.values()).items(), key=lambda kv: -kv[1]))


def file_mix(path: Path) -> str:
    from webinfer.formats.gguf import read_gguf
    with read_gguf(path) as g:
        return mix_text({n: t.type_name for n, t in g.tensors.items()})


# ---- one measurement, in a fresh process -------------------------------------------------------

def one(path: str, model: str, prompt: int, decode: int, golden: int) -> dict:
    if path == "golden":
        return greedy_agreement(model, golden)
    from webinfer.bench import run_bench
    from webinfer.device.numpy_device import NumpyDevice
    device = {"numpy": "numpy", "numpy-q": NumpyDevice("bench, weights quantized", 0), "llvmpipe": "webgpu"}[path]
    r = run_bench(model, device=device, prompt_len=prompt, n_decode=decode, hf_baseline=False,
                  print_fn=lambda *a: None)
    if path == "llvmpipe" and "webgpu" not in r["device"]:
        raise RuntimeError(f"not on WebGPU: {r['device']}")
    if path == "numpy-q":
        r["f32_weights_mb"], r["quantized_weights_mb"] = (round(device.f32_bytes / 2**20, 1),
                                                          round(device.quantized_bytes / 2**20, 1))
    return r


def greedy_agreement(model: str, n: int) -> dict:
    """Per golden case, the length of the common prefix of our first n greedy tokens (NumPy,
    float32) and the golden's."""
    import webinfer
    m = webinfer.load(model, device="numpy")
    cases = json.loads(GOLDENS.read_text())["cases"]
    agree = {}
    for case in cases:
        want = case["generated_ids"][:n]
        got = m.complete(case["prompt_ids"], max_tokens=len(want), temperature=0, add_special=False).token_ids
        agree[case["name"]] = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return {"agree": agree, "of": n, "cases": len(cases)}


def cached_agreement(model: Path, n: int, cache: Path) -> dict:
    """greedy_agreement (in a fresh process), kept in `cache` beside the files: it depends only on
    the file (its name carries the quantizer's hash), the goldens and NumPy's arithmetic."""
    key = hashlib.sha256(GOLDENS.read_bytes()).hexdigest()[:8]
    saved = cache / f"{model.name}.golden{n}.{key}.json"
    if saved.exists():
        return json.loads(saved.read_text())
    r = in_subprocess("golden", model, 0, 0, n)
    if "agree" in r:
        saved.write_text(json.dumps(r))
    return r


def in_subprocess(path: str, model: Path, prompt: int, decode: int, golden: int = 0) -> dict:
    cmd = [sys.executable, __file__, "--one", path, str(model), "--prompt", str(prompt), "--decode", str(decode),
           "--golden", str(golden)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        return {"error": (out.stderr.strip() or out.stdout.strip())[-1500:]}
    return json.loads(lines[-1])


# ---- the page ----------------------------------------------------------------------------------

class Page:
    """The chat page in headless Chromium, booted with a given model (one fresh profile a visit)."""

    def __init__(self, site: Path | None, models: dict[str, Path], prompt: int):
        sys.path.insert(0, str(REPO / "tools"))
        from playwright.sync_api import sync_playwright

        from site_bench import prompts
        if site is None:
            from build_site import build_site
            site = REPO / "build" / "site"
            build_site(site)                    # incremental: this checkout's wheel and page files
        self.site, self.models = site, list(models.values())
        self.prompt = prompt
        self.text = prompts(models[BASE], (prompt,))[prompt]
        self.pw = sync_playwright().start()

    def measure(self, model: Path, decode: int, timeout_s: float = 900) -> dict:
        from serve import make_server
        from site_bench import BASE_FLAGS, CHROMIUM, answer, wait_ready
        from site_memory import overlay
        root = overlay(self.site, self.models, model)
        server = make_server(root, 0, quiet=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with tempfile.TemporaryDirectory() as profile:
                ctx = self.pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=BASE_FLAGS)
                try:
                    page = ctx.pages[0]
                    page.goto(f"http://127.0.0.1:{server.server_port}/")
                    wait_ready(page, int(timeout_s * 1000))
                    device = page.evaluate("() => window.webinferPage.device")
                    answer(page, 0, self.text, 2, int(timeout_s * 1000))      # warm-up: kernels, the recorded step
                    r = answer(page, self.prompt, self.text, decode, int(timeout_s * 1000))
                finally:
                    ctx.close()
        finally:
            server.shutdown()
            server.server_close()
        return {"device": device, "prompt_len": r["prompt_tokens"] - r["cached_tokens"],
                "n_decode": r["completion_tokens"], "prefill_tok_s": r["prefill_tok_s"],
                "decode_tok_s": r["decode_tok_s"]}

    def close(self):
        self.pw.stop()


# ---- the table ---------------------------------------------------------------------------------

def span(xs: list[float], fmt: str = "{:.1f}") -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def speed(r: dict, key: str) -> float:
    """tok/s from the unrounded seconds where the result has them (run_bench rounds tok/s to 0.1,
    too coarse for llvmpipe's ~0.4), else the rounded figure (the page's own)."""
    secs = {"decode_tok_s": ("n_decode", "decode_s"), "prefill_tok_s": ("prompt_len", "prefill_s")}[key]
    return r[secs[0]] / r[secs[1]] if r.get(secs[1]) else r[key]


def table(types: list[str], paths: list[str], runs: dict, files: dict[str, Path], golden: dict) -> str:
    """runs[(path, type)] = [result per round] (None where that round failed)."""
    out = ["| path | type | decode tok/s | x Q4_1 (decode) | prefill tok/s | x Q4_1 (prefill) | device, lengths |",
           "|---|---|---|---|---|---|---|"]
    for path in paths:
        for t in types:
            rows = runs.get((path, t), [])
            base = runs.get((path, BASE), [])
            ok = [r for r in rows if r and "error" not in r]
            if not ok:
                err = next((r["error"] for r in rows if r and "error" in r), "not run")
                out.append(f"| {path} | {t} | failed: {err.splitlines()[-1][:120]} | | | | |")
                continue
            ratio = {k: [speed(r, k) / speed(b, k) for r, b in zip(rows, base)
                         if r and b and "error" not in r and "error" not in b] for k in ("decode_tok_s", "prefill_tok_s")}
            r0 = ok[0]
            info = f"{r0['device'].split(' (')[0]}, {r0['prompt_len']} + {r0['n_decode']}"
            if "quantized_weights_mb" in r0:
                info += f", {r0['quantized_weights_mb']:.0f} MiB quantized / {r0['f32_weights_mb']:.0f} float32"
            out.append(f"| {path} | {t} | {span([speed(r, 'decode_tok_s') for r in ok], '{:.3g}')} | "
                       f"{'1' if t == BASE else span(ratio['decode_tok_s'], '{:.2f}')} | "
                       f"{span([speed(r, 'prefill_tok_s') for r in ok], '{:.3g}')} | "
                       f"{'1' if t == BASE else span(ratio['prefill_tok_s'], '{:.2f}')} | {info} |")
    out += ["", "| type | file MiB | tensors | greedy tokens equal to HF's (first N, before the first "
            "difference), all prompts | prompts with all N |", "|---|---|---|---|---|"]
    for t in types:
        g = golden.get(t)
        if g and "agree" in g:
            vals = list(g["agree"].values())
            agree = f"{sum(vals)} / {g['of'] * g['cases']} (N={g['of']}; per prompt {' '.join(map(str, vals))})"
            full = f"{sum(v == g['of'] for v in vals)} / {g['cases']}"
        else:
            agree, full = (g["error"].splitlines()[-1][:120] if g else "not run"), ""
        out.append(f"| {t} | {files[t].stat().st_size / 2**20:.1f} | {file_mix(files[t])} | {agree} | {full} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--types", default="Q4_K_M,Q5_K_M,Q6_K,Q8_0", help="comma-separated; Q4_1 is always added")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    ap.add_argument("--prompt", type=int, default=64, help="prompt tokens (numpy, numpy-q, page)")
    ap.add_argument("--decode", type=int, default=32, help="decode tokens (numpy, numpy-q, page)")
    ap.add_argument("--gpu-prompt", type=int, default=16, help="prompt tokens on llvmpipe")
    ap.add_argument("--gpu-decode", type=int, default=4, help="decode tokens on llvmpipe")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--golden", type=int, default=16, help="greedy tokens compared per golden prompt (0: skip)")
    ap.add_argument("--blas-threads", type=int, default=1,
                    help="OpenBLAS threads of the NumPy paths (0: OpenBLAS's default, one per core); 1 by "
                         "default: on a busy 2-core box two BLAS threads made decode 3-5x slower and erratic")
    ap.add_argument("--cache", type=Path, default=REPO / "build" / "quant_types")
    ap.add_argument("--site", type=Path, help="a built site (default: build/site, rebuilt incrementally)")
    ap.add_argument("--record", action="store_true", help="append the table to bench/log/runs.md")
    ap.add_argument("--one", nargs=2, metavar=("PATH", "MODEL"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(one(a.one[0], a.one[1], a.prompt, a.decode, a.golden)))
        return 0
    if a.blas_threads:
        ENV.update(OPENBLAS_NUM_THREADS=str(a.blas_threads), OMP_NUM_THREADS=str(a.blas_threads))
    types = [BASE] + [t for t in a.types.split(",") if t and t != BASE]
    paths = [p for p in a.paths.split(",") if p]
    if set(paths) - set(PATHS):
        ap.error(f"unknown paths {sorted(set(paths) - set(PATHS))}")
    files = quantized_models(types, a.cache)
    page = Page(a.site, files, a.prompt) if "page" in paths else None
    runs: dict = {}
    golden: dict = {}
    loads: list[float] = []
    t_start = time.perf_counter()
    try:
        for rnd in range(a.rounds):
            order = types[rnd % len(types):] + types[:rnd % len(types)]
            for path in paths:
                for t in order:
                    gpu = path == "llvmpipe"
                    prompt, decode = (a.gpu_prompt, a.gpu_decode) if gpu else (a.prompt, a.decode)
                    if path == "page":
                        try:
                            r = page.measure(files[t], decode)
                        except Exception as e:      # noqa: BLE001 - reported in the table
                            r = {"error": f"{type(e).__name__}: {e}"}
                    else:
                        r = in_subprocess(path, files[t], prompt, decode)
                    runs.setdefault((path, t), [None] * a.rounds)[rnd] = r
                    print(f"round {rnd + 1} {path} {t} (load {os.getloadavg()[0]:.1f})",
                          json.dumps({k: r.get(k) for k in ("prefill_tok_s", "decode_tok_s", "error")}), flush=True)
                    loads.append(os.getloadavg()[0])
            if rnd + 1 < a.rounds:
                print(f"# after round {rnd + 1}:\n" + table(types, paths, runs, files, golden), flush=True)
    finally:
        if page:
            page.close()
    for t in types if a.golden else ():
        golden[t] = cached_agreement(files[t], a.golden, a.cache)
        print("golden", t, json.dumps(golden[t]), flush=True)
    text = table(types, paths, runs, files, golden)
    print(text)
    raw = a.cache / f"runs-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.write_text(json.dumps({"argv": argv or sys.argv[1:], "golden": golden,
                               "runs": [[p, t, rs] for (p, t), rs in runs.items()]}))
    print(f"# every result: {raw}")
    if a.record:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        head = (f"\n### Weight types against Q4_1 (bench/quant_types.py), {when}\n\n{os.cpu_count()} cores "
                f"{platform.machine()}, build {rev}, {a.rounds} rounds (min-max; ratios paired per round), "
                f"{(time.perf_counter() - t_start) / 60:.0f} min, 1-minute load average {span(loads)} "
                f"(other jobs on the box). "
                f"`python3 bench/quant_types.py {' '.join(argv or sys.argv[1:])}`\n\n")
        with open(REPO / "bench" / "log" / "runs.md", "a") as f:
            f.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
