"""Fixtures for the site's end-to-end tests: the built site, its server, headless Chromium.

What this is: the site assembled by tools/build_site.py into a temp folder (Pyodide, PyScript and
MicroPython, the webinfer wheel built from this checkout, the default model and embedding model
hard-linked, the tests' tiny embedding model beside them), served by
tools/serve.py's server with the CSP it sends in production, on 127.0.0.1; and the system Chromium
driven by Playwright, with or without the WebGPU-on-SwiftShader flags (tests/pyodide/pyodide_runners.py). ``open_page``
gives a page in a fresh browser profile on disk (empty caches, an HTTP cache that works as a
user's does: Playwright's request routing and its in-memory incognito contexts would both change
what is cached), where no host but 127.0.0.1 resolves; it records every request of the page and
its workers (any not for 127.0.0.1 fails the test), console errors, page errors, dialogs, the
progress/status lines as they change and the gaps between animation frames (recorder.js). The page itself keeps every CSP
violation, its own and its worker's, in window.webinferPage.cspViolations.

Skips (with the reason) when the model, Playwright, /usr/bin/chromium, or what the site build
needs (npm / the Pyodide sources) is missing.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
ARTIFACTS = REPO / "build" / "test-artifacts"
RECORDER = Path(__file__).with_name("recorder.js")
CHROMIUM = Path(os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium"))
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]
READY_TIMEOUT_MS = 240_000


def model_path() -> Path:
    from webinfer.sources import default_model_path
    return default_model_path()


@pytest.fixture(scope="session")
def model_file() -> Path:
    path = model_path()
    if not path.is_file():
        pytest.skip(f"model not found at {path} (set WEBINFER_MODEL or run tools/fetch_model.py)")
    return path


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory, model_file) -> Path:
    import build_site
    out = tmp_path_factory.mktemp("site")
    try:
        # The tests' tiny BERT rides along for the Documents panel's tests (the page's ?embedder=test).
        build_site.build_site(out, model=model_file, test_embedder=REPO / "tests" / "data" / "embed" / "tiny")
    except build_site.SiteError as e:   # a broken build is a failure, never a skip
        pytest.fail(f"the site did not build: {e}", pytrace=False)
    return out


@dataclass
class Served:
    url: str
    gets: list = field(default_factory=list)       # (path, status) of every GET the server answered
    heads: list = field(default_factory=list)      # (path, status) of every HEAD


@pytest.fixture(scope="session")
def site_server(site_dir):
    from serve import make_server
    server = make_server(site_dir, 0, quiet=True)
    served = Served(f"http://127.0.0.1:{server.server_port}/")
    handler = server.RequestHandlerClass.func       # functools.partial(SiteHandler subclass, directory=...)
    log = handler.log_request

    def log_request(self, code="-", size="-"):
        row = (urlsplit(self.path).path, int(code) if str(code).isdigit() else code)
        (served.heads if self.command == "HEAD" else served.gets).append(row)
        return log(self, code, size)
    handler.log_request = log_request
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def site_url(site_server) -> str:
    return site_server.url


# Module scope: Playwright's sync API keeps an asyncio loop running in this thread until it is
# stopped, which breaks every later asyncio.run() (and any other Playwright) in the session.
@pytest.fixture(scope="module")
def playwright_driver():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        yield p


@dataclass
class Recorded:
    requests: list = field(default_factory=list)     # every URL the page and its workers asked for
    foreign: list = field(default_factory=list)      # URLs not on 127.0.0.1 (they cannot resolve)
    errors: list = field(default_factory=list)       # console errors and uncaught page errors
    dialogs: list = field(default_factory=list)      # alert()/confirm() the page opened
    console: list = field(default_factory=list)      # every console line, for failure messages


def _goto(page, url: str, served) -> None:
    """page.goto, once more after a navigation the test server answered with an HTTP error status
    (seen once in a full run, for "/" of an unchanged site: the statuses it logged are printed)."""
    from playwright.sync_api import Error
    try:
        page.goto(url)
    except Error as e:
        if "ERR_HTTP_RESPONSE_CODE_FAILURE" not in str(e):
            raise
        print(f"navigation to {url} failed ({e.message.splitlines()[0]}); last statuses: {served.gets[-8:]}; again")
        page.wait_for_timeout(1000)
        page.goto(url)


@pytest.fixture
def open_page(playwright_driver, site_url, site_server, tmp_path):
    """open_page(webgpu: bool, path="", init_script=None, viewport=None, quota=None, flags=()) -> (page, Recorded).
    quota: bytes of storage the site gets (the browser's own quota enforcement, via DevTools);
    flags: more Chromium switches (e.g. one that turns a web platform feature off)."""
    contexts = []

    def _open(webgpu: bool, path: str = "", init_script: str | None = None, viewport: dict | None = None,
              quota: int | None = None, flags=()):
        flags = BASE_FLAGS + (WEBGPU_FLAGS if webgpu else []) + list(flags)
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{len(contexts)}"), executable_path=str(CHROMIUM), args=flags,
            viewport=viewport or {"width": 1100, "height": 800})
        contexts.append(context)
        rec = Recorded()

        def on_request(request):
            url = request.url
            rec.requests.append(url)
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != "127.0.0.1":
                rec.foreign.append(url)
        context.on("request", on_request)
        context.add_init_script(path=str(RECORDER))
        if init_script:
            context.add_init_script(init_script)
        page = context.pages[0] if context.pages else context.new_page()

        def on_console(m):
            rec.console.append(f"[{m.type}] {m.text}")
            if m.type == "error":
                rec.errors.append(f"console: {m.text}")
        page.on("console", on_console)
        page.on("pageerror", lambda e: rec.errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (rec.dialogs.append(d.message), d.dismiss()))
        if quota is not None:
            cdp = context.new_cdp_session(page)
            cdp.send("Storage.overrideQuotaForOrigin", {"origin": site_url.rstrip("/"), "quotaSize": quota})
        _goto(page, site_url + path, site_server)
        return page, rec

    yield _open
    for c in contexts:
        c.close()


def _screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot():
    """screenshot(page, name): a full-page PNG kept in build/test-artifacts/ (a fixture, not an
    import: `from conftest import ...` is ambiguous with several conftest.py files)."""
    return _screenshot
