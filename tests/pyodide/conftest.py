"""tests/pyodide: webinfer inside Pyodide on Node and in Chromium, offline, on pytest-pyodide.

The fixtures live in pyodide_fixtures.py, a plugin registered once for this folder and
tests/browser (importing them into each conftest would give each folder its own copies of
the session fixtures: two wheel builds, two servers, two of each browser).
"""


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("pyodide_fixtures"):
        config.pluginmanager.import_plugin("pyodide_fixtures")
