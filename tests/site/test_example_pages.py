"""The site's other pages, opened as served (same CSP as the chat page): /pyscript-example/ (webinfer
from any PyScript page) and /library/ (webinfer in a plain Pyodide app). Each installs the site's
wheel with micropip, loads the default model and streams a greedy answer that names Paris.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.slow]

TIMEOUT_MS = 240_000


def assert_clean(page, rec) -> None:
    assert rec.foreign == [], f"requests left 127.0.0.1: {rec.foreign}"
    assert page.evaluate("() => window.__rec.csp") == [], "Content-Security-Policy violations"
    assert rec.errors == [], f"console/page errors: {rec.errors}"


def test_pyscript_example(open_page, model_file):
    page, rec = open_page(webgpu=False, path="pyscript-example/")
    page.wait_for_function("() => !document.getElementById('ask').disabled", timeout=TIMEOUT_MS)
    assert page.inner_text("#answer").startswith("Ready (numpy: ")
    page.click("#ask")
    page.wait_for_function("() => document.getElementById('ask').disabled", timeout=10_000)   # answering
    page.wait_for_function("() => !document.getElementById('ask').disabled", timeout=TIMEOUT_MS)
    assert "Paris" in page.inner_text("#answer"), page.inner_text("#answer")
    assert_clean(page, rec)


def test_library_example(open_page, model_file):
    page, rec = open_page(webgpu=False, path="library/")
    page.wait_for_function("() => ['ready', 'error'].includes(document.body.dataset.state)", timeout=TIMEOUT_MS)
    assert page.evaluate("() => document.body.dataset.state") == "ready", page.inner_text("#out")
    page.click("#go")
    page.wait_for_function("() => document.body.dataset.state === 'ready' && document.getElementById('out').textContent.includes('> ')",
                           timeout=TIMEOUT_MS)
    assert "Paris" in page.inner_text("#out"), page.inner_text("#out")
    assert_clean(page, rec)


def test_lite_opens_clean(open_page):
    """/lite/ (JupyterLite) as a new user opens it: the notebooks listed, nothing blocked by the CSP,
    no console error (its pages also ask for /favicon.ico at the site's root: build_site puts its
    icon there)."""
    page, rec = open_page(webgpu=False, path="lite/")
    page.wait_for_selector("text=quickstart.ipynb", timeout=TIMEOUT_MS)
    page.wait_for_timeout(3000)              # late requests (icons, settings) land in rec
    assert_clean(page, rec)
