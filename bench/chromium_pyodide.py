"""Run one Python snippet in Pyodide inside headless Chromium and return its last value.

What it is: the Chromium twin of bench/node_pyodide.py's `run`, for numbers that stand for the chat
page: a local HTTP server serves the Pyodide dist and the "mounted" files; a page in a fresh
headless Chromium (the system browser, through Playwright, no WebGPU flags: the page's no-GPU case)
boots Pyodide on its main thread, fetches each mounted file into Pyodide's file system at its mount
path, runs the code (top-level await allowed) and hands back its last value as JSON.
What it is not: the chat page (no PyScript, no worker) nor a test; it blocks no requests.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from node_pyodide import dist_dir

CHROMIUM = os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
window.benchRun = async (files, code) => {
  const py = await loadPyodide({ indexURL: "/pyodide/" });
  for (const [target, url] of Object.entries(files)) {
    py.FS.mkdirTree(target.slice(0, target.lastIndexOf("/")) || "/");
    py.FS.writeFile(target, new Uint8Array(await (await fetch(url)).arrayBuffer()));
  }
  py.globals.set("_bench_code", code);
  return await py.runPythonAsync(`
import json, traceback
from pyodide.code import eval_code_async
try:
    _v = json.dumps({"ok": True, "value": await eval_code_async(_bench_code, {"__name__": "__main__"})}, default=repr)
except BaseException:
    _v = json.dumps({"ok": False, "error": traceback.format_exc()})
_v
`);
};
window.benchReady = true;
</script>"""


def _files(mounts: dict[str, Path]) -> dict[str, Path]:
    """Pyodide path -> host file: a mounted file, or every file under a mounted folder (no caches)."""
    out = {}
    for target, source in mounts.items():
        source = Path(source)
        if source.is_file():
            out[target] = source
            continue
        for p in sorted(source.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"):
                out[f"{target}/{p.relative_to(source).as_posix()}"] = p
    return out


class _Handler(SimpleHTTPRequestHandler):
    """/ -> PAGE; /pyodide/<name> -> the dist; /f/<i>/<name> -> a mounted file."""
    routes: dict[str, Path] = {}
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}

    def translate_path(self, path):
        path = path.split("?", 1)[0]
        if path in self.routes:
            return str(self.routes[path])
        if path.startswith("/pyodide/"):
            return str(dist_dir() / path[len("/pyodide/"):])
        return "/nonexistent"

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/":
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def run(code: str, mounts: dict[str, Path], timeout: float = 900):
    """code's last expression, JSON-decoded; raises RuntimeError with the traceback if it raised.
    mounts: Pyodide path -> host file or folder (copied in before the code runs)."""
    from playwright.sync_api import sync_playwright

    urls, routes = {}, {}
    for i, (target, src) in enumerate(_files(mounts).items()):
        urls[target] = f"/f/{i}/{src.name}"
        routes[urls[target]] = src
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"routes": routes}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            try:
                page = browser.new_page()
                page.set_default_timeout(timeout * 1000)
                page.goto(f"http://127.0.0.1:{server.server_port}/")
                page.wait_for_function("() => window.benchReady === true")
                out = json.loads(page.evaluate("([f, c]) => window.benchRun(f, c)", [urls, code]))
            finally:
                browser.close()
    finally:
        server.shutdown()
    if not out["ok"]:
        raise RuntimeError("inside Pyodide (Chromium):\n" + out["error"])
    return out["value"]
