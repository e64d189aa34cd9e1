"""Fixtures that run Python inside Pyodide in headless Chromium, with and without WebGPU, offline.

What this is: a local HTTP server on 127.0.0.1 (the Pyodide dist at /pyodide/, the webinfer
wheel at /wheels/, the model folder at /models/, page.html at /), and the system Chromium
(Debian `chromium`, /usr/bin/chromium) driven by Playwright for Python. ``BrowserPyodide.run``
sends Python source to the page and returns the JSON value of its last expression (top-level
await works), like tests/pyodide's NodePyodide. Every request the browser makes must go to
127.0.0.1: anything else is aborted and fails the test (``context.route``).

What it is not: pytest-pyodide's `chrome` runtime, which the issue names. As tests/pyodide's
conftest explains for Node, that plugin wants pytest and tblib wheels inside the dist (the only
verified Pyodide 0.27.7 wheel source here has neither) and it launches its own browser; this
fixture needs nothing but the dist, gives real Python tracebacks, sets the WebGPU flags itself
and uses the system browser (Playwright cannot download browsers here: never `playwright install`).

Reused from tests/pyodide: the dist location and skips (``pyodide_dist_dir``), the wheel built
from this checkout (``webinfer_wheel``), ``model_path`` and ``PyodideError``.
Skips (with the reason) when the dist, Playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pyodide"))
from pyodide_node import TIMINGS, PyodideError, model_path  # noqa: E402

_spec = importlib.util.spec_from_file_location("pyodide_conftest", HERE.parent / "pyodide" / "conftest.py")
_pyodide_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pyodide_conftest)
pyodide_dist_dir = _pyodide_conftest.pyodide_dist_dir   # fixtures, re-exported for this folder
webinfer_wheel = _pyodide_conftest.webinfer_wheel

CHROMIUM = Path(os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium"))
BASE_FLAGS = ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
              "--disable-sync"]
# WebGPU on the CPU (SwiftShader): DESIGN.md, "Offline, self-hosted runtime". Without these the
# same browser is the no-GPU case (navigator.gpu exists, requestAdapter() gives null).
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]
BOOT_TIMEOUT_S = 120


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files from a few roots by URL prefix; quiet; correct types for .mjs/.wasm."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                      ".whl": "application/zip", ".gguf": "application/octet-stream"}

    def __init__(self, *args, roots: dict[str, Path], **kw):
        self.roots = roots
        super().__init__(*args, **kw)

    def translate_path(self, path: str) -> str:
        path = urlsplit(path).path
        for prefix, root in self.roots.items():
            if path.startswith(prefix):
                rel = path[len(prefix):].lstrip("/")
                if ".." in Path(rel).parts:
                    return str(root / "__forbidden__")
                return str(root / rel)
        return str(HERE / "__missing__")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def http_root(pyodide_dist_dir, webinfer_wheel):
    """http://127.0.0.1:PORT serving /pyodide/, /wheels/, /models/ and / (this folder)."""
    roots = {"/pyodide/": pyodide_dist_dir, "/wheels/": webinfer_wheel.parent, "/models/": model_path().parent,
             "/": HERE}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, roots=roots))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread until it is
# stopped, which breaks every later asyncio.run() (and any other Playwright) in the session.
@pytest.fixture(scope="module")
def playwright_driver():
    """Playwright's sync API; skips when Playwright or the system Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (`pip install playwright`; the browser is the system Chromium)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (`apt-get install -y chromium`, or set WEBINFER_CHROMIUM)")
    pw = sync_playwright().start()
    yield pw
    pw.stop()


class BrowserPyodide:
    """One Chromium page running Pyodide from http_root; `run` sends code, returns its JSON value."""

    def __init__(self, pw, base_url: str, flags: list[str]):
        self.blocked: list[str] = []
        self.console: list[str] = []
        self.browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BASE_FLAGS + flags)
        self.context = self.browser.new_context()
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.console.append(f"[{m.type}] {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"[pageerror] {e}"))
        self.page.goto(f"{base_url}/page.html")
        self.boot = self._call("() => window.pyodideReady", None, BOOT_TIMEOUT_S, "booting Pyodide")

    def _route(self, route):
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _call(self, fn: str, arg, timeout: float, what: str):
        wrapped = ("([arg, ms]) => Promise.race([(" + fn + ")(arg), new Promise((_, reject) => "
                   "setTimeout(() => reject(new Error(`no answer after ${ms} ms`)), ms))])")
        try:
            return self.page.evaluate(wrapped, [arg, int(timeout * 1000)])
        except Exception as e:  # a JS error, the timeout, or a crashed page
            tail = "\n".join(self.console[-20:])
            raise PyodideError(f"in Chromium, while {what}: {e}\nlast console lines:\n{tail}") from None

    def run(self, code: str, timeout: float = 300, what: str = "running test code"):
        """Run `code` in a fresh namespace in the page's Pyodide; its last expression, JSON-converted.
        Any request to a host other than 127.0.0.1 during the call fails, even if the code caught it."""
        before = len(self.blocked)
        out = json.loads(self._call("(code) => window.runPy(code)", code, timeout, what))
        if self.blocked[before:]:
            raise PyodideError(f"network access attempted while {what}: {self.blocked[before:]}")
        if not out["ok"]:
            raise PyodideError(f"inside Pyodide in Chromium, while {what}:\n{out['error']}")
        return out["value"]

    def close(self) -> None:
        self.browser.close()


def _install_webinfer(py: BrowserPyodide, base_url: str, wheel: Path) -> dict:
    return py.run(
        f"""
import pyodide_js
await pyodide_js.loadPackage("micropip")          # from the local dist
import micropip
await micropip.install("{base_url}/wheels/{wheel.name}")
import webinfer
{{"file": webinfer.__file__, "installed": sorted(micropip.list())}}
""", what=f"micropip-installing {wheel.name}")


def _browser(pw, base_url, wheel, flags, name):
    t0 = time.perf_counter()
    py = BrowserPyodide(pw, base_url, flags)
    TIMINGS[f"Chromium ({name}): launch + Pyodide boot (s)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    py.install = _install_webinfer(py, base_url, wheel)
    TIMINGS[f"Chromium ({name}): micropip install webinfer (s)"] = time.perf_counter() - t0
    return py


@pytest.fixture(scope="module")
def webgpu_browser(playwright_driver, http_root, webinfer_wheel):
    """Chromium with WebGPU on SwiftShader, Pyodide booted, webinfer installed."""
    py = _browser(playwright_driver, http_root, webinfer_wheel, WEBGPU_FLAGS, "WebGPU")
    yield py
    py.close()


@pytest.fixture(scope="module")
def nogpu_browser(playwright_driver, http_root, webinfer_wheel):
    """The same Chromium without the WebGPU flags: the no-GPU case."""
    py = _browser(playwright_driver, http_root, webinfer_wheel, [], "no GPU")
    yield py
    py.close()


def pytest_terminal_summary(terminalreporter):
    mine = {k: v for k, v in TIMINGS.items() if k.startswith("Chromium")}   # tests/pyodide prints the rest
    if mine:
        terminalreporter.section("Browser timings")
        for name, seconds in mine.items():
            terminalreporter.write_line(f"{name:<50} {seconds:8.2f}")
