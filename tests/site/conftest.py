"""Fixtures for the chat site's end-to-end tests: the built site, its server, headless Chromium.

What this is: the site assembled by tools/build_site.py into a temp folder (the Pyodide dist,
the webinfer wheel built from this checkout, the default model hard-linked), served by
tools/serve.py's server (with its CSP) on 127.0.0.1, and the system Chromium driven by
Playwright, with or without the WebGPU-on-SwiftShader flags (DESIGN.md). ``open_page`` gives a
page in a fresh browser context (empty Cache Storage) that records every request, aborts and
records any that is not for 127.0.0.1, and collects console errors and page errors.

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
CHROMIUM = Path(os.environ.get("WEBINFER_CHROMIUM", "/usr/bin/chromium"))
BASE_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--use-webgpu-adapter=swiftshader",
                "--enable-features=Vulkan"]


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
        build_site.build_site(out, model=model_file)
    except build_site.SiteError as e:   # a broken build is a failure, never a skip
        pytest.fail(f"the site did not build: {e}", pytrace=False)
    return out


@pytest.fixture(scope="session")
def site_url(site_dir):
    from serve import make_server
    server = make_server(site_dir, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


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
    requests: list = field(default_factory=list)     # every URL the page and its worker asked for
    foreign: list = field(default_factory=list)      # URLs not on 127.0.0.1 (aborted)
    errors: list = field(default_factory=list)       # console errors and uncaught page errors
    dialogs: list = field(default_factory=list)      # alert()/confirm() the page opened


@pytest.fixture
def open_page(playwright_driver, site_url):
    """open_page(webgpu: bool, init_script=None, viewport=None) -> (page, Recorded)."""
    browsers = []

    def _open(webgpu: bool, init_script: str | None = None, viewport: dict | None = None):
        flags = BASE_FLAGS + (WEBGPU_FLAGS if webgpu else [])
        browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=flags)
        browsers.append(browser)
        context = browser.new_context(viewport=viewport or {"width": 1100, "height": 800})
        rec = Recorded()

        def guard(route):
            url = route.request.url
            rec.requests.append(url)
            if urlsplit(url).hostname != "127.0.0.1":
                rec.foreign.append(url)
                return route.abort()
            return route.continue_()
        context.route("**/*", guard)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and rec.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: rec.errors.append(f"pageerror: {e}"))
        page.on("dialog", lambda d: (rec.dialogs.append(d.message), d.dismiss()))
        page.goto(site_url)
        return page, rec

    yield _open
    for b in browsers:
        b.close()


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
