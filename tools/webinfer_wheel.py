"""The webinfer wheel, built from this checkout: what the site (tools/build_site.py), the notebooks
(tools/build_lite.py) and the Pyodide tests install with micropip.

    from webinfer_wheel import build_wheel      # (tools/ on sys.path)
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class WheelError(RuntimeError):
    """The wheel could not be built (pip's output in the message)."""


def _tree_digest(paths) -> str:
    """sha256 over the relative names and bytes of every file under `paths` (the wheel's inputs)."""
    h = hashlib.sha256()
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            if "__pycache__" in p.parts or ".egg-info" in str(p):
                continue
            h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def build_wheel(out: Path) -> Path:
    """The webinfer wheel in out/, rebuilt only when its sources changed.

    Built from a copy in a temp folder (an in-place setuptools build writes build/ and
    *.egg-info into the checkout, which parallel builds race on); --no-build-isolation keeps
    it offline."""
    digest = _tree_digest([REPO / "pkg", REPO / "shaders", REPO / "pyproject.toml"])
    stamp = out / ".source-sha256"
    wheels = sorted(out.glob("webinfer-*.whl"))
    if len(wheels) == 1 and stamp.is_file() and stamp.read_text().strip() == digest:
        return wheels[0]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy2(REPO / name, src / name)
        for name in ("pkg", "shaders"):
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WheelError(f"building the webinfer wheel failed:\n{proc.stdout}\n{proc.stderr}")
    (wheel,) = out.glob("webinfer-*.whl")
    stamp.write_text(digest + "\n")
    return wheel
