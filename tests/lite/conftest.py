"""Fixtures for the JupyterLite browser tests: a built lite site, served, and a headless Chromium.

What this is: the site layout the real site has (JupyterLite under /lite/, the default model
under /models/, and the default embedding model's folder, /models/embed/all-MiniLM-L6-v2/), built by
tools/build_lite.py into a temp folder and served by tools/serve.py's handler on 127.0.0.1, with
the Content-Security-Policy JupyterLite needs (tools/serve.py lite_csp: its pages have an inline
script and inline styles, and its bundles call `new Function`); plus the system Chromium driven
by Playwright (never `playwright install`).
Skips, with the reason, when chromium, playwright, jupyterlite-core or the model is missing.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium")
# No WebGPU flags: this is the no-GPU browser (the notebooks must still run, on NumPy).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--headless=new"]


def _model_file() -> Path:
    from webinfer.sources import default_model_path
    return default_model_path()


@pytest.fixture(scope="session")
def lite_site(tmp_path_factory) -> Path:
    """A site root with /lite/ (built now) and /models/<default model> (hard link or copy)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (system Chromium is used)")
    pytest.importorskip("jupyterlite_core", reason="pip install jupyterlite-core==0.6.4 jupyterlite-pyodide-kernel==0.6.1 jupyter-server")
    model = _model_file()
    if not model.is_file():
        pytest.skip(f"default model not at {model}: run `make model`")
    sys.path.insert(0, str(REPO / "tools"))
    from build_lite import build_lite
    root = tmp_path_factory.mktemp("site")
    build_lite(root / "lite")
    (root / "models").mkdir()
    _link(model, root / "models" / model.name)
    embedder = _embedder_dir()      # the retrieval notebook's (its test skips, saying why, without it)
    if (embedder / "model.safetensors").is_file():
        dest = root / "models" / "embed" / embedder.name     # where build_site.py puts it
        for f in embedder.rglob("*"):
            if f.is_file():
                (dest / f.relative_to(embedder)).parent.mkdir(parents=True, exist_ok=True)
                _link(f, dest / f.relative_to(embedder))
    return root


def _embedder_dir() -> Path:
    from webinfer.embed import default_embedder_path
    return default_embedder_path()


def _link(src: Path, dest: Path) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


@pytest.fixture(scope="session")
def lite_url(lite_site):
    from serve import SiteHandler, lite_csp
    handler = type("LiteHandler", (SiteHandler,), {"policy": lite_csp(), "quiet": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(lite_site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread until it is
# stopped, which breaks every later asyncio.run() (and any other Playwright) in the session.
@pytest.fixture(scope="module")
def browser(lite_url):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class NotebookRun:
    """One notebook opened in JupyterLite and run with Run > Run All Cells."""

    def __init__(self, browser, base: str, name: str, timeout_s: float):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.logs: list[str] = []
        self.external: list[str] = []
        self.page.on("console", lambda m: self.logs.append(f"{m.type}: {m.text}"[:400]))
        self.page.on("request", self._check_origin(base))
        self.t0 = time.perf_counter()
        self.page.goto(f"{base}/lite/lab/index.html?path={name}")
        self.page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
        self.kernel_idle = self._wait_kernel_idle(120)
        self._run_all()
        self.finished = self._wait_all_ran(timeout_s)
        self.seconds = time.perf_counter() - self.t0

    def _check_origin(self, base):
        def on_request(req):
            if not req.url.startswith((base, "data:", "blob:")):
                self.external.append(req.url)
        return on_request

    def _run_all(self):
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

    def _wait_kernel_idle(self, timeout_s) -> bool:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count():
                return True
            time.sleep(0.5)
        return False

    def _wait_all_ran(self, timeout_s) -> bool:
        """True once every cell has an execution count. A Run All given while the kernel was
        still starting can be dropped (no cell queued: every prompt still "[ ]:"): then, once the
        kernel is idle, it is given once more (self.reruns says so)."""
        deadline = time.perf_counter() + timeout_s
        self.reruns = 0
        time.sleep(2)
        while time.perf_counter() < deadline:
            prompts = self.prompts()
            if all(any(ch.isdigit() for ch in p) for p in prompts):
                return True
            if (not self.reruns and all(p.strip() == "[ ]:" for p in prompts)
                    and self.page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count()
                    and time.perf_counter() - self.t0 > 60):
                self.reruns += 1
                self._run_all()
            time.sleep(2)
        return False

    def prompts(self) -> list[str]:
        return self.page.eval_on_selector_all(".jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent)")

    def outputs(self) -> list[tuple[str, str]]:
        """(mime type, text) of every output, in order."""
        return [tuple(o) for o in self.page.eval_on_selector_all(
            ".jp-OutputArea-output", "els => els.map(e => [e.getAttribute('data-mime-type') || '', e.innerText])")]

    def images(self) -> int:
        return self.page.locator(".jp-OutputArea-output img").count()

    def close(self):
        self.context.close()


@pytest.fixture
def run_notebook(browser, lite_url):
    runs = []

    def run(name: str, timeout_s: float = 150) -> NotebookRun:
        r = NotebookRun(browser, lite_url, name, timeout_s)
        runs.append(r)
        return r
    yield run
    for r in runs:
        r.close()
