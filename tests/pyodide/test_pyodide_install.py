"""Pyodide 0.27.7 offline, on Node and in Chromium: the dist boots, numpy loads, webinfer installs.

What this covers: the offline, self-hosted runtime (tools/pyodide_dist.py): the trimmed
lock resolves numpy locally; micropip installs our wheel from a local URL and from the file
system; the wheel carries the WGSL shaders as package data; every request stays on 127.0.0.1
(the runners fail a test that tries another host, pyodide_runners.py); and the dist tool
ships only verified files (a flipped byte fails the build; a site's dist has no test wheels).
What it does not cover: model correctness (test_pyodide_generate.py) or WebGPU (tests/browser/).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from pytest_pyodide import run_in_pyodide

from pyodide_fixtures import REPO

sys.path.insert(0, str(REPO / "tools"))
import pyodide_dist  # noqa: E402

pytestmark = pytest.mark.pyodide


@run_in_pyodide(packages=["numpy"])
def numpy_facts(selenium):
    import sys

    import numpy as np
    import pyodide

    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    return {"pyodide": pyodide.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
            "platform": sys.platform, "sum": float((a @ a.T).sum())}


def test_boot_and_numpy_offline(selenium_bare):
    # selenium_bare booted for this module (its boot is offline-checked like every call)
    facts = numpy_facts(selenium_bare)
    assert facts["pyodide"] == "0.27.7"
    assert (facts["numpy"], facts["python"][:5], facts["platform"]) == ("2.0.2", "3.12.", "emscripten")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert facts["sum"] == float((a @ a.T).sum())  # same float32 matmul as CPython's numpy


@run_in_pyodide(packages=["micropip"])
async def test_micropip_installs_wheel_from_the_fs(selenium_bare, webinfer_url):
    # The wheel reaches the file system through the local server (Chromium has no host
    # folders to mount); micropip then installs it from there, "emfs:", with no network.
    from pathlib import Path

    import micropip
    from pyodide.http import pyfetch

    path = Path("/tmp/wheels") / webinfer_url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(await (await pyfetch(webinfer_url)).bytes())
    await micropip.install(f"emfs:{path}")

    import numpy
    import webinfer

    # imported from Pyodide's site-packages, i.e. from the wheel, not some mounted source tree
    assert webinfer.__file__.startswith("/lib/python3.12/site-packages/webinfer/"), webinfer.__file__
    assert webinfer.__version__ == path.name.split("-")[1]
    assert numpy.__version__ == "2.0.2"   # the dependency came from the local lock, not PyPI
    assert {"webinfer", "numpy"} <= set(micropip.list())


def test_micropip_installs_wheel_from_local_url(selenium_webinfer, webinfer_wheel):
    # The browser case: `micropip.install(<URL on the page's own server>)`, which the shared
    # runtime did when it started (pyodide_fixtures.INSTALL_WEBINFER); this reads what it found.
    info = selenium_webinfer.webinfer_install
    assert info["file"].startswith("/lib/python3.12/site-packages/webinfer/"), info["file"]
    assert info["version"] == webinfer_wheel.name.split("-")[1]
    assert info["numpy"] == "2.0.2"
    assert {"webinfer", "numpy"} <= set(info["installed"])


@pytest.fixture(scope="module")
def repo_shaders() -> list[str]:
    return sorted(p.name for p in (REPO / "shaders").glob("*.wgsl"))


@run_in_pyodide
def test_wheel_ships_shaders_as_package_data(selenium_webinfer, repo_shaders):
    from importlib.resources import files

    d = files("webinfer") / "shaders"
    hint = ("if empty, pyproject's packages must include 'webinfer.shaders' (packages.find "
            "under pkg/ cannot see the mapped shaders/ dir)")
    assert repo_shaders and d.is_dir(), hint
    assert sorted(p.name for p in d.iterdir() if p.name.endswith(".wgsl")) == repo_shaders, hint


def test_offline_guard_fails_a_caught_request(selenium_webinfer):
    # The guard itself: a fetch of a non-local URL fails inside Pyodide, and the runner fails
    # the call after it even though the code caught the error.
    from pyodide_runners import OfflineError

    code = """
from pyodide.http import pyfetch
try:
    await pyfetch("https://pypi.org/simple/webinfer/")
    reached = True
except Exception:
    reached = False    # caught: the runner must still fail the call
reached
"""
    with pytest.raises(OfflineError, match=r"https://pypi\.org/simple/webinfer/"):
        selenium_webinfer.run_async(code)


def test_shipped_lock_lists_only_shipped_files(pyodide_dist_dir):
    # The trimmed lock is what keeps Pyodide from reaching for the CDN: every entry must be here.
    lock = json.loads((pyodide_dist_dir / "pyodide-lock.json").read_text())
    assert lock["info"]["version"] == "0.27.7"
    missing = [e["file_name"] for e in lock["packages"].values() if not (pyodide_dist_dir / e["file_name"]).is_file()]
    assert missing == []
    assert set(pyodide_dist.DEFAULT_PACKAGES) <= set(lock["packages"])
    assert len(lock["packages"]) < 351  # the official lock lists 351 packages
    # the test dist's pytest-pyodide wheels: our pinned entries, files matching their pins
    for name in pyodide_dist.TEST_WHEELS:
        entry = lock["packages"].get(name)
        assert entry == pyodide_dist.pinned_wheel_entry(name), (
            f"{name}: {entry} (the test dist: python3 tools/pyodide_dist.py --out build/pyodide)")
        assert pyodide_dist.sha256_file(pyodide_dist_dir / entry["file_name"]) == entry["sha256"], name
        assert set(entry["depends"]) <= set(lock["packages"]), (name, entry["depends"])


def test_site_dist_ships_no_test_wheels(pyodide_dist_dir, tmp_path):
    # What tools/build_site.py and tools/build_lite.py call: build_dist without test_packages.
    stamp = pyodide_dist.build_dist(tmp_path / "site-dist", source=str(pyodide_dist_dir))
    lock = json.loads((tmp_path / "site-dist" / "pyodide-lock.json").read_text())
    assert stamp["test_packages"] == {}
    assert set(lock["packages"]) == {"numpy", "micropip", "packaging", "sqlite3"}
    assert not list((tmp_path / "site-dist").glob("pytest-*.whl"))


@pytest.mark.parametrize("pattern", ["numpy-*.whl", "pytest-*.whl"])
def test_dist_tool_rejects_a_tampered_file(pyodide_dist_dir, tmp_path, pattern):
    # Build from a copy of our dist with one byte of one wheel flipped: the CLI must fail
    # loudly and leave no output. (Our copy's lock is trimmed, so the tool takes the reference
    # lock from its npm cache, which building the dist filled.)
    src = tmp_path / "src"
    src.mkdir()
    for p in pyodide_dist_dir.iterdir():
        (src / p.name).write_bytes(p.read_bytes())
    victim = next(src.glob(pattern))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "pyodide_dist.py"), "--out", str(out),
                           "--source", str(src)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(re.escape(victim.name) + r" from .*: sha256 [0-9a-f]{64}, expected ", proc.stderr), proc.stderr
    assert not out.exists()
