"""Fixtures for the tests that run inside Pyodide (tests/pyodide, tests/browser), on pytest-pyodide.

What this is: a pytest plugin that both folders' conftests register once, so its session
fixtures (the wheel, the server, the booted runtimes) are shared by the two folders. It gives
`@run_in_pyodide` tests their `selenium*` argument:
- `selenium_webinfer`: a booted Pyodide with webinfer installed, once per session per runtime,
  parametrized over RUNTIMES: `node` (pytest-pyodide's Node runner) and `chrome` (the system
  Chromium without WebGPU flags, which is also the no-GPU case);
- `selenium_nogpu`: that same Chromium; `selenium_webgpu`: Chromium with WebGPU on
  SwiftShader and webinfer installed (once per session);
- `selenium_bare`: a fresh Pyodide per test module and runtime, nothing installed.
webinfer gets in the way a page gets it: `micropip.install(<wheel URL>)` from the local server,
which serves the dist at /, the wheel built from this checkout at /wheels/ and the model
folder at /models/. That is the documented library path (docs/library.md) and keeps the dist
exactly what tools/pyodide_dist.py verified (a lock entry for a wheel rebuilt every session
would be the one file in it without a pin).
Every runtime refuses and reports any non-local request (pyodide_runners.py).

What it is not: the runners (pyodide_runners.py) or tests. The dist is pytest-pyodide's
`--dist-dir` (pyproject's addopts: build/pyodide, built by `python3 tools/pyodide_dist.py
--out build/pyodide`, with pytest and tblib inside); tests skip with that command when it is
missing, and when `node` or Chromium is.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from pytest_pyodide import parse_driver_timeout, set_webdriver_script_timeout, spawn_web_server

import pyodide_runners as runners

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = ["node", "chrome"]
BOOT_FILES = ("pyodide.mjs", "pyodide.js", "pyodide.asm.wasm", "pyodide-lock.json")

# Boot and install times gathered during the session, printed by pytest_terminal_summary.
TIMINGS: dict[str, list[float]] = {}


def record_timing(name: str, seconds: float) -> None:
    TIMINGS.setdefault(name, []).append(seconds)


def _timed(name: str, t0: float) -> None:
    record_timing(name, time.perf_counter() - t0)


def pytest_configure(config):
    runners.configure_node()


@pytest.fixture(scope="session")
def pyodide_dist_dir(request) -> Path:
    """pytest-pyodide's --dist-dir; skips when it holds no Pyodide."""
    dist = Path(request.config.option.dist_dir).resolve()
    missing = [f for f in BOOT_FILES if not (dist / f).is_file()]
    if missing:
        pytest.skip(f"no Pyodide dist at {dist} (missing {', '.join(missing)}): "
                    "run `python3 tools/pyodide_dist.py --out build/pyodide`")
    return dist


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
    _timed("wheel build (s)", t0)
    return wheel


@pytest.fixture(scope="session")
def pyodide_server(pyodide_dist_dir, webinfer_wheel):
    """(host, port, log) of pytest-pyodide's static server: the dist at /, /wheels/, /models/."""
    from webinfer.sources import default_model_path
    roots = {"/wheels/": webinfer_wheel.parent, "/models/": default_model_path().parent}
    with spawn_web_server(pyodide_dist_dir, handler_cls=runners.handler_with(roots)) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(pyodide_server) -> str:
    host, port, _ = pyodide_server
    return f"http://{host}:{port}"


@pytest.fixture(scope="session")
def webinfer_url(base_url, webinfer_wheel) -> str:
    return f"{base_url}/wheels/{webinfer_wheel.name}"


@pytest.fixture(scope="session")
def model_url(base_url, model_path) -> str:
    """The real model on the local server (model_path, from tests/conftest.py, skips without it)."""
    return f"{base_url}/models/{model_path.name}"


@pytest.fixture(scope="session")
def new_runtime(pyodide_server, pyodide_dist_dir):
    """new_runtime(kind) -> a booted pytest-pyodide runner; kind: 'node', 'chrome' or 'webgpu'.
    Skips when the runtime's program is missing. The caller quits it."""
    host, port, log = pyodide_server

    def new(kind: str):
        if kind == "node":
            if shutil.which("node") is None:
                pytest.skip("node is not installed (Pyodide's Node runtime)")
            make, name = runners.NodeRunner, "Node"
            extra = {}
        else:
            for program in (runners.CHROMIUM, runners.CHROMEDRIVER):
                if not program.is_file():
                    pytest.skip(f"no {program} (`apt-get install -y chromium chromium-driver`: tools/sysdeps.sh)")
            make, name = runners.ChromeRunner, "Chromium" + (" (WebGPU)" if kind == "webgpu" else "")
            extra = {"flags": runners.WEBGPU_FLAGS if kind == "webgpu" else []}
        t0 = time.perf_counter()
        runner = make(server_port=port, server_hostname=host, server_log=log, dist_dir=pyodide_dist_dir, **extra)
        _timed(f"{name}: launch + Pyodide boot (s)", t0)
        return runner
    return new


INSTALL_WEBINFER = """
import json
import micropip                      # loadPackagesFromImports loads it (and numpy) from the lock
await micropip.install({url!r})
import numpy, webinfer
json.dumps({{"file": webinfer.__file__, "version": webinfer.__version__, "numpy": numpy.__version__,
            "installed": sorted(micropip.list())}})
"""


def _session_runtime(request, kind: str, url: str):
    runner = request.getfixturevalue("new_runtime")(kind)
    request.addfinalizer(runner.quit)
    t0 = time.perf_counter()
    runner.webinfer_install = json.loads(runner.run_async(INSTALL_WEBINFER.format(url=url)))
    _timed(f"{kind}: micropip install webinfer from the local server (s)", t0)
    return runner


@pytest.fixture(scope="session")
def _node_webinfer(request, webinfer_url):
    return _session_runtime(request, "node", webinfer_url)


@pytest.fixture(scope="session")
def _chrome_webinfer(request, webinfer_url):
    return _session_runtime(request, "chrome", webinfer_url)


@pytest.fixture(scope="session")
def _webgpu_webinfer(request, webinfer_url):
    return _session_runtime(request, "webgpu", webinfer_url)


def _for_test(request, runner):
    """What pytest-pyodide's `selenium` fixture does around a shared runner: fresh logs, the
    test's @pytest.mark.driver_timeout, the logs printed (shown when the test fails)."""
    runner.clean_logs()
    with set_webdriver_script_timeout(runner, script_timeout=parse_driver_timeout(request.node)):
        try:
            yield runner
        finally:
            print(runner.logs)


@pytest.fixture(params=RUNTIMES)
def selenium_webinfer(request):
    """Pyodide with webinfer installed, on Node and in Chromium (no WebGPU), shared per session."""
    yield from _for_test(request, request.getfixturevalue(f"_{request.param}_webinfer"))


@pytest.fixture
def selenium_nogpu(request, _chrome_webinfer):
    """Chromium without the WebGPU flags (navigator.gpu gives no adapter), webinfer installed."""
    yield from _for_test(request, _chrome_webinfer)


@pytest.fixture
def selenium_webgpu(request, _webgpu_webinfer):
    """Chromium with WebGPU on SwiftShader, webinfer installed."""
    yield from _for_test(request, _webgpu_webinfer)


@pytest.fixture(scope="module", params=RUNTIMES)
def _bare_runtime(request, new_runtime):
    runner = new_runtime(request.param)
    yield runner
    runner.quit()


@pytest.fixture
def selenium_bare(request, _bare_runtime):
    """A Pyodide booted for this test module (per runtime) with nothing installed."""
    yield from _for_test(request, _bare_runtime)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("Pyodide timings")
        for name, times in TIMINGS.items():
            spread = f"  ({len(times)}x, {min(times):.2f}-{max(times):.2f})" if len(times) > 1 else ""
            terminalreporter.write_line(f"{name:<60} {sum(times) / len(times):8.2f}{spread}")
