"""Pyodide 0.27.7 in Node, offline: the dist boots, numpy loads, the webinfer wheel installs.

What this covers: the runtime half of DESIGN.md's "Offline, self-hosted runtime" — the
trimmed lock resolves numpy locally, micropip installs our wheel from the mounted file
system with every fetch blocked, and the wheel carries the WGSL shaders as package data.
What it does not cover: model correctness (test_generate.py) or WebGPU (tests/browser/).
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pyodide_node import REPO, TIMINGS, NodePyodide, wheel_shader_names

pytestmark = pytest.mark.pyodide


def test_boot_and_numpy_offline(pyodide_runtime):
    # A fresh process, so the numbers are boot + numpy alone (the session one is shared).
    t0 = time.perf_counter()
    py = NodePyodide(pyodide_runtime, mounts={})
    try:
        boot_s = time.perf_counter() - t0
        out = py.run(
            """
import time, sys
import pyodide_js
t0 = time.perf_counter()
await pyodide_js.loadPackage("numpy")
import numpy as np
t_numpy = time.perf_counter() - t0
a = np.arange(12, dtype=np.float32).reshape(3, 4)
{"numpy": np.__version__, "python": sys.version.split()[0], "platform": sys.platform,
 "load_numpy_s": t_numpy, "sum": float((a @ a.T).sum())}
""",
            what="loading numpy from the local dist",
        )
    finally:
        py.close()
    TIMINGS["boot (fresh node process) (s)"] = boot_s
    TIMINGS["loadPackage('numpy') (s)"] = out["load_numpy_s"]
    assert py.boot["version"] == "0.27.7"
    assert (out["numpy"], out["python"][:4], out["platform"]) == ("2.0.2", "3.12", "emscripten")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert out["sum"] == float((a @ a.T).sum())  # same float32 matmul as CPython's numpy


def test_micropip_installs_wheel_offline(webinfer_in_pyodide, webinfer_wheel):
    info = webinfer_in_pyodide
    # imported from Pyodide's site-packages, i.e. from the wheel, not some mounted source tree
    assert info["file"].startswith("/lib/python3.12/site-packages/webinfer/"), info["file"]
    assert info["version"] == webinfer_wheel.name.split("-")[1]
    assert info["numpy"] == "2.0.2"  # the dependency came from the local lock, not PyPI
    assert {"webinfer", "numpy"} <= set(info["installed"])


def test_micropip_installs_wheel_from_local_url(pyodide_runtime, webinfer_wheel):
    # The browser case: the wheel is a URL on the page's own server (here 127.0.0.1; the
    # driver lets only local hosts through). A fresh Pyodide, so nothing is installed yet.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(webinfer_wheel.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    py = NodePyodide(pyodide_runtime, mounts={})
    try:
        url = f"http://127.0.0.1:{server.server_port}/{webinfer_wheel.name}"
        out = py.run(
            f"""
import pyodide_js
await pyodide_js.loadPackage("micropip")
import micropip
await micropip.install({url!r})
import webinfer
[webinfer.__file__, sorted(micropip.list())]
""",
            what=f"micropip-installing {url}",
        )
    finally:
        py.close()
        server.shutdown()
        server.server_close()
    assert out[0].startswith("/lib/python3.12/site-packages/webinfer/"), out[0]
    assert {"webinfer", "numpy"} <= set(out[1])


def test_wheel_ships_shaders_as_package_data(node_pyodide, webinfer_in_pyodide, webinfer_wheel):
    repo_shaders = sorted(p.name for p in (REPO / "shaders").glob("*.wgsl"))
    listed = node_pyodide.run(
        """
from importlib.resources import files
d = files("webinfer") / "shaders"
{"is_dir": d.is_dir(),
 "wgsl": sorted(p.name for p in d.iterdir() if p.name.endswith(".wgsl")) if d.is_dir() else []}
""",
        what="listing webinfer/shaders through importlib.resources",
    )
    hint = (f"wheel has {wheel_shader_names(webinfer_wheel)}; if empty, pyproject's packages must "
            "include 'webinfer.shaders' (packages.find under pkg/ cannot see the mapped shaders/ dir)")
    assert listed["wgsl"] == repo_shaders, hint
    if repo_shaders:
        assert listed["is_dir"], hint


def test_shipped_lock_lists_only_shipped_files(pyodide_dist_dir):
    # The trimmed lock is what keeps Pyodide from reaching for the CDN: every entry must be here.
    import json

    lock = json.loads((pyodide_dist_dir / "pyodide-lock.json").read_text())
    assert lock["info"]["version"] == "0.27.7"
    missing = [e["file_name"] for e in lock["packages"].values() if not (pyodide_dist_dir / e["file_name"]).is_file()]
    assert missing == []
    assert {"numpy", "micropip", "packaging"} <= set(lock["packages"])
    assert len(lock["packages"]) < 351  # the official lock lists 351 packages


def test_dist_tool_rejects_a_tampered_file(pyodide_dist_dir, tmp_path):
    # Build from a copy of our dist with one byte of numpy flipped: the CLI must fail loudly
    # and leave no output. (Our copy's lock is trimmed, so the tool takes the reference lock
    # from its npm cache, which building the dist filled.)
    src = tmp_path / "src"
    src.mkdir()
    for p in pyodide_dist_dir.iterdir():
        (src / p.name).write_bytes(p.read_bytes())
    numpy = next(src.glob("numpy-*.whl"))
    data = bytearray(numpy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    numpy.write_bytes(bytes(data))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "pyodide_dist.py"), "--out", str(out), "--source", str(src)],
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"numpy-2\.0\.2-\S+\.whl from .*: sha256 [0-9a-f]{64}, expected ", proc.stderr), proc.stderr
    assert not out.exists()
