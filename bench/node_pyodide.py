"""Run one Python snippet in Pyodide under Node and return its last value (the benches' runner).

What it is: a one-shot `node node_pyodide.mjs` (boot, mount host folders, run, exit), so each
bench run starts from a fresh Pyodide. What it is not: the test fixture (tests/pyodide has its own);
it does not block the network or keep a process between calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("node_pyodide.mjs")


def dist_dir() -> Path:
    return Path(os.environ.get("WEBINFER_PYODIDE_DIST", REPO / "build" / "pyodide")).resolve()


def model_path() -> Path:
    import sys
    sys.path.insert(0, str(REPO / "pkg"))
    from webinfer.sources import default_model_path
    return default_model_path()


def run(code: str, mounts: dict[str, Path], timeout: float = 900, node_flags: tuple[str, ...] = ()):
    """code's last expression, JSON-decoded; raises RuntimeError with the traceback if it raised."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        config = {"indexURL": str(dist_dir()) + "/", "mounts": {k: str(v) for k, v in mounts.items()},
                  "code": f.name}
        proc = subprocess.run(["node", *node_flags, str(DRIVER), json.dumps(config)], stdout=subprocess.PIPE,
                              text=True, timeout=timeout)
    finally:
        os.unlink(f.name)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT ")]
    if not lines:
        raise RuntimeError(f"node exited {proc.returncode} without a result")
    out = json.loads(lines[-1][len("@@RESULT "):])
    if not out["ok"]:
        raise RuntimeError("inside Pyodide:\n" + out["error"])
    return out["value"]
