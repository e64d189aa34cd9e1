"""tests/browser: webinfer in headless Chromium (WebGPU on SwiftShader, and without WebGPU).

The runtimes and fixtures are tests/pyodide's (pyodide_fixtures.py, on pytest-pyodide),
registered once for both folders so the browsers and the server are shared.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pyodide"))


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pyodide_fixtures"):
        config.pluginmanager.import_plugin("pyodide_fixtures")
