"""tests/browser: webinfer in headless Chromium (WebGPU on SwiftShader, and without WebGPU).

The runtimes and fixtures are tests/pyodide's (pyodide_fixtures.py, on pytest-pyodide),
registered once for both folders so the browsers and the server are shared. Here besides:
`selenium_webgpu_synthetic`, the WebGPU runtime with tests/synthetic_model.py importable in it.
"""

import json
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS / "pyodide"))

HELPERS = "/home/pyodide/test_helpers"         # in Pyodide's file system


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pyodide_fixtures"):
        config.pluginmanager.import_plugin("pyodide_fixtures")


@pytest.fixture
def selenium_webgpu_synthetic(selenium_webgpu):
    """selenium_webgpu where `from synthetic_model import build_synthetic_model` works as in the
    CPython tests: the helper is no part of the wheel, so its source is written into Pyodide's
    file system, in a folder put on sys.path (again for each test: a few kB, idempotent)."""
    put_on_path = (f"import importlib, sys\nif {HELPERS!r} not in sys.path: sys.path.insert(0, {HELPERS!r})\n"
                   "importlib.invalidate_caches()")
    selenium_webgpu.run_js(f"""
        pyodide.FS.mkdirTree({json.dumps(HELPERS)});
        pyodide.FS.writeFile({json.dumps(HELPERS + "/synthetic_model.py")},
                             {json.dumps((TESTS / "synthetic_model.py").read_text())});
        pyodide.runPython({json.dumps(put_on_path)});
    """)
    return selenium_webgpu
