#!/usr/bin/env python3
"""Memory of the chat page on NumPy (or WebGPU): a model loaded and answering in headless Chromium, measured.

    python3 bench/site_memory.py [MODEL.gguf ...] [--via boot url file] [--tokens 4] [--webgpu] [--site build/site] [--record]

Each model (default: the shipped SmolLM2) is served beside the built site (tools/serve.py's CSP)
and loaded in a fresh Chromium profile on disk (no WebGPU flags: "auto" takes NumPy; --webgpu: WebGPU on
SwiftShader, chosen in the page before its first load, so the model streams to the GPU), in one of three ways:
  boot  the page starts with it as its model (site-config.json points at it): nothing else loaded;
  url   the page starts with the shipped model, then loads this one from the Model panel's URL box
        (what a user does: the first model stays in memory until the new one is in);
  file  the same through the file picker.
Then it asks one short question (greedy, --tokens tokens) and reports:
- heap: the worker's WebAssembly memory (Pyodide's heap), which only grows: the page reports its
  size when the load began reading the model (memory.atLoad: 0 on a first load on NumPy), after the
  load and after the answer (memory.heap), i.e. its peak so far;
- rss: the tab's renderer process (Linux /proc: VmHWM, its peak resident memory; VmRSS sampled
  every 0.2 s per phase): both JS heaps, JS ArrayBuffers (the model's bytes while JS holds them),
  the wasm pages touched, the main thread's MicroPython, and Chromium's own share;
- js: V8's used heap of the page and of the worker, and the worker's ArrayBuffer backing stores
  (DevTools Runtime.getHeapUsage; the worker answers only between its Python calls, so these are
  samples, not peaks);
- load seconds, and the answer's prefill and decode tok/s (the page's own numbers).
--record appends the table to bench/log/runs.md. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "pkg"))
from serve import make_server  # noqa: E402
from site_bench import BASE_FLAGS as FLAGS, CHROMIUM, WEBGPU_FLAGS  # noqa: E402  (the same browser, flags as the page bench)
QUESTION = "Hello! Who are you?"
MB = 1 << 20


def chat_ready(model: Path) -> Path:
    """The model itself if it has a chat template; else (a synthetic model: placeholder vocabulary,
    no template, so the page cannot talk to it) a copy with SmolLM2's tokenizer: its byte-level BPE
    vocabulary, merges and ChatML template, the vocabulary padded to the model's size with unused
    tokens. The weights are copied as they are. Kept in the temp folder and reused."""
    from webinfer.formats.gguf import read_gguf
    from webinfer.formats.gguf_write import RawTensor, write_gguf
    from webinfer.sources import default_model_path
    gf = read_gguf(model)
    if gf.metadata.get("tokenizer.chat_template"):
        return model
    out = Path(tempfile.gettempdir()) / "webinfer-site-memory" / model.name
    if out.exists() and out.stat().st_mtime >= model.stat().st_mtime:
        return out
    out.parent.mkdir(exist_ok=True)
    smol = read_gguf(default_model_path()).metadata
    meta = {k: v for k, v in gf.metadata.items() if not k.startswith("tokenizer.") and k != "general.alignment"}
    meta.update({k: v for k, v in smol.items() if k.startswith("tokenizer.")})
    n_vocab, n_smol = len(gf.metadata["tokenizer.ggml.tokens"]), len(smol["tokenizer.ggml.tokens"])
    meta["tokenizer.ggml.tokens"] = list(smol["tokenizer.ggml.tokens"]) + [f"<unused{i}>" for i in range(n_vocab - n_smol)]
    meta["tokenizer.ggml.token_type"] = [int(t) for t in smol["tokenizer.ggml.token_type"]] + [1] * (n_vocab - n_smol)
    tensors = {name: RawTensor(t.shape, t.ggml_type, gf.raw(name)) for name, t in gf.tensors.items()}
    part = out.with_suffix(".part")
    write_gguf(part, meta, tensors)
    part.replace(out)
    return out


def overlay(site: Path, models: list[Path], boot: Path | None) -> Path:
    """A folder that serves the built site as it is (symlinks) plus bench-models/ (the models to
    measure); with `boot`, a site-config.json whose default model is that one."""
    root = Path(tempfile.mkdtemp(prefix="webinfer-site-memory-"))
    for entry in site.iterdir():
        if entry.name != "site-config.json":
            (root / entry.name).symlink_to(entry.resolve())
    (root / "bench-models").mkdir()
    for m in models:
        (root / "bench-models" / m.name).symlink_to(m.resolve())
    config = json.loads((site / "site-config.json").read_text())
    if boot is not None:
        config["default_model"] = {"name": boot.name, "url": f"./bench-models/{boot.name}", "size": boot.stat().st_size}
    (root / "site-config.json").write_text(json.dumps(config, indent=1))
    return root


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out += children.get(p, [])
        todo += children.get(p, [])
    return out


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return out


class Sampler:
    """Samples the renderer processes (/proc) and the JS heaps (DevTools) while the page works."""

    def __init__(self, context, page):
        self.page = page
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("Runtime.enable")
        self.workers: list[str] = []              # DevTools session ids of the page's workers
        self.replies: dict[int, dict] = {}
        self.next_id = 1000
        self.phase = "boot"
        self.peaks: dict[str, dict[str, float]] = {}
        self.renderers: dict[int, int] = {}       # pid -> VmHWM
        self.cdp.on("Target.attachedToTarget", lambda ev: self.workers.append(ev["sessionId"]))
        self.cdp.on("Target.receivedMessageFromTarget", self._reply)
        # flatten=False: the worker's replies come back as events on this session (Playwright's
        # sessions cannot address a flattened child session).
        self.cdp.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": False})

    def _reply(self, ev) -> None:
        msg = json.loads(ev["message"])
        if "id" in msg and "result" in msg and "usedSize" in msg["result"]:
            r = msg["result"]
            self._peak("worker_js_used", r["usedSize"])
            self._peak("worker_array_buffers", r.get("backingStorageSize", 0))

    def _peak(self, key: str, value: float) -> None:
        slot = self.peaks.setdefault(self.phase, {})
        slot[key] = max(slot.get(key, 0), value)

    def tick(self) -> None:
        rss = 0
        for pid in _descendants(os.getpid()):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"--type=renderer" in cmd:
                st = _status(pid)
                rss = max(rss, st.get("VmRSS", 0))
                self.renderers[pid] = max(self.renderers.get(pid, 0), st.get("VmHWM", 0))
        self._peak("rss", rss)
        self._peak("page_js_used", self.cdp.send("Runtime.getHeapUsage")["usedSize"])
        for sid in self.workers:
            self.next_id += 1
            self.cdp.send("Target.sendMessageToTarget", {"sessionId": sid, "message": json.dumps(
                {"id": self.next_id, "method": "Runtime.getHeapUsage"})})

    def wait(self, predicate: str, timeout_s: float, arg=None) -> None:
        t_end = time.monotonic() + timeout_s
        while not self.page.evaluate(predicate, arg):
            if time.monotonic() > t_end:
                raise TimeoutError(f"{predicate} after {timeout_s} s: {self.page.inner_text('#status')!r}, "
                                   f"notice {self.page.inner_text('#notice')!r}")
            self.tick()
            self.page.wait_for_timeout(200)
        self.tick()


READY = "() => ['ready', 'error'].includes(document.body.dataset.state)"


def check_ready(page) -> None:
    if page.evaluate("() => document.body.dataset.state") != "ready":
        raise RuntimeError(f"the page did not get ready: {page.inner_text('#notice')!r} {page.inner_text('#status')!r}")


# (--webgpu) the device selector, set before main.py reads it for the first load
FORCE_WEBGPU = """document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("device").value = "webgpu"; });"""


def measure(p, url: str, model: Path, via: str, tokens: int, timeout_s: float, webgpu: bool = False) -> dict:
    device = "webgpu" if webgpu else "numpy"
    with tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM,
                                                   args=FLAGS + (WEBGPU_FLAGS if webgpu else []))
        if webgpu:
            ctx.add_init_script(FORCE_WEBGPU)
        try:
            page = ctx.pages[0]
            s = Sampler(ctx, page)
            page.goto(url)
            s.wait(READY, timeout_s)
            check_ready(page)
            if not page.evaluate("() => window.webinferPage.device").startswith(device):
                raise RuntimeError(f"the page did not pick {device}: " + page.evaluate("() => window.webinferPage.device"))
            page.click("#settings-panel summary")
            boot_heap = page.evaluate("() => window.webinferPage.memory.heap")
            t0 = time.monotonic()
            if via != "boot":
                s.phase = "load"
                page.click("#model-panel summary")
                if via == "url":
                    page.fill("#model-url", f"/bench-models/{model.name}")
                else:
                    page.set_input_files("#model-file", str(model))
                page.check(f"input[name=model-source][value={via}]")
                page.evaluate("() => { window.webinferPage.timings.ready = 0; }")
                page.click("#load-model")
                s.wait("() => window.webinferPage.timings.ready > 0 || document.body.dataset.state === 'error' "
                       "|| document.getElementById('notice').textContent !== ''", timeout_s)
                check_ready(page)
            load_s = page.evaluate("() => window.webinferPage.timings.loadMs") / 1000
            load_heap = page.evaluate("() => window.webinferPage.memory.heap")
            at_load = page.evaluate("() => window.webinferPage.memory.atLoad")
            row = {"model": model.name, "file_mb": round(model.stat().st_size / MB, 1), "via": via,
                   "device": page.evaluate("() => window.webinferPage.device"),
                   "streamed": page.evaluate("() => window.webinferPage.streamed"),
                   "heap_boot_mb": round(boot_heap / MB), "heap_at_load_mb": round(at_load / MB),
                   "heap_loaded_mb": round(load_heap / MB),
                   "load_s": round(load_s, 1), "wall_load_s": round(time.monotonic() - t0, 1)}
            if tokens == 0:                         # (WebGPU on SwiftShader: a large model's answer takes long)
                return dict(row, heap_answered_mb=row["heap_loaded_mb"], rss_peak_mb=round(max(s.renderers.values()) / MB),
                            phases={ph: {k: round(v / MB) for k, v in d.items()} for ph, d in s.peaks.items()},
                            prompt_tokens=0, completion_tokens=0, prefill_tok_s=0.0, decode_tok_s=0.0)
            s.phase = "answer"
            page.fill("#temperature", "0")
            page.fill("#max-tokens", str(tokens))
            page.evaluate("() => { window.webinferPage.lastResult = null; }")
            page.fill("#prompt", QUESTION)
            page.press("#prompt", "Enter")
            s.wait("() => window.webinferPage.lastResult !== null && document.body.dataset.state === 'ready'", timeout_s)
            r = page.evaluate("() => window.webinferPage.lastResult")
            return dict(row, heap_answered_mb=round(r["heap_bytes"] / MB),
                        rss_peak_mb=round(max(s.renderers.values()) / MB),
                        phases={ph: {k: round(v / MB) for k, v in d.items()} for ph, d in s.peaks.items()},
                        prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                        prefill_tok_s=r["prefill_tok_s"], decode_tok_s=r["decode_tok_s"])
        finally:
            ctx.close()


def table(rows: list[dict]) -> str:
    out = ["| model (file MiB) | loaded | device | wasm heap MiB: boot / at load / loaded / answered | renderer peak RSS MiB | "
           "peak sampled: worker ArrayBuffers / worker JS / page JS MiB | load s | prefill / decode tok/s |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        js = {k: max(d.get(k, 0) for d in r["phases"].values()) for k in ("worker_array_buffers", "worker_js_used",
                                                                          "page_js_used")}
        dev = r["device"].split(":")[0] + (" (streamed)" if r["streamed"] else "")
        out.append(f"| {r['model']} ({r['file_mb']:.0f}) | {r['via']} | {dev} | {r['heap_boot_mb']} / "
                   f"{r['heap_at_load_mb']} / {r['heap_loaded_mb']} / "
                   f"{r['heap_answered_mb']} | {r['rss_peak_mb']} | {js['worker_array_buffers']} / "
                   f"{js['worker_js_used']} / {js['page_js_used']} | {r['load_s']} | "
                   f"{r['prefill_tok_s']:.1f} / {r['decode_tok_s']:.2f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="GGUF files (default: the shipped model)")
    ap.add_argument("--via", nargs="+", default=["boot"], choices=["boot", "url", "file"])
    ap.add_argument("--tokens", type=int, default=4, help="greedy tokens of the answer (default 4; 0: no answer)")
    ap.add_argument("--webgpu", action="store_true", help="WebGPU on SwiftShader, chosen before the first load")
    ap.add_argument("--site", default=str(REPO / "build" / "site"), help="the built site (default build/site)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for any one step")
    ap.add_argument("--record", action="store_true", help="append the results to bench/log/runs.md")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from webinfer.sources import default_model_path
    site = Path(args.site)
    if not (site / "site-config.json").exists():
        sys.exit(f"{site} is not a built site: python3 tools/build_site.py --out {site}")
    models = [chat_ready(Path(m)) for m in args.models] or [default_model_path()]
    rows = []
    with sync_playwright() as p:
        for model in models:
            for via in args.via:
                root = overlay(site, models, model if via == "boot" else None)
                server = make_server(root, 0, quiet=True)
                threading.Thread(target=server.serve_forever, daemon=True).start()
                try:
                    row = measure(p, f"http://127.0.0.1:{server.server_port}/", model, via, args.tokens, args.timeout,
                                  args.webgpu)
                finally:
                    server.shutdown()
                    server.server_close()
                print(json.dumps(row), flush=True)
                rows.append(row)
    text = table(rows)
    print(text)
    if args.record:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = (f"\n### Memory of the chat page on {'WebGPU' if args.webgpu else 'NumPy'} (bench/site_memory.py), {when}\n\n{os.cpu_count()} cores "
                f"{platform.machine()}, Chromium at {CHROMIUM}. `python3 bench/site_memory.py {' '.join(argv or sys.argv[1:])}`\n\n")
        with open(REPO / "bench" / "log" / "runs.md", "a") as f:
            f.write(head + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
