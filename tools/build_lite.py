#!/usr/bin/env python3
"""Build the offline JupyterLite site with the webinfer notebooks: build/lite/ (served as /lite/).

    python3 tools/build_lite.py [--out build/lite] [--pyodide-source pypi|DIR|ARCHIVE]

What it makes, with no network beyond the pinned downloads the helpers cache:
- a JupyterLite 0.6.4 site (PyPI `jupyterlite-core==0.6.4`, `jupyterlite-pyodide-kernel==0.6.1`,
  `jupyter-server` for the contents) whose Python kernel boots the LOCAL Pyodide 0.27.7 from
  static/pyodide/ (tools/pyodide_dist.build_dist: sha256-verified files, trimmed lock) with
  numpy, matplotlib and what the kernel itself installs at start (ssl, sqlite3, ipython, jedi
  and their lock dependencies);
- pypi/ wheels the kernel's piplite finds offline: webinfer (built from this checkout) and
  `comm` (not a Pyodide package; without it the kernel hangs asking PyPI);
- `disablePyPIFallback: true` in jupyter-lite.json, so a missing package fails loudly;
- the notebooks from notebooks/ in the file browser.
The notebooks fetch the model from the SITE ROOT, `/models/<default model>` (build_site.py
puts it there), so build/lite must be served as /lite/ of the site (or next to a /models/).

Kernel 0.7.x does not work with Pyodide 0.27.7: keep the pins. The lite dir (build/_lite-src/)
keeps the Pyodide dist between runs, so a rebuild is a few seconds.
What it is not: the chat site (tools/build_site.py) or a server (tools/serve.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
from webinfer_wheel import WheelError, build_wheel  # noqa: E402
from pyodide_dist import DistError, build_dist, sha256_file  # noqa: E402

# Pyodide packages the notebooks use, plus the ones jupyterlite-pyodide-kernel 0.6.1 installs
# at kernel start (initKernel: ssl, sqlite3, ipython, jedi; ipykernel/pyodide_kernel come with it).
LITE_PACKAGES = ("matplotlib", "ssl", "sqlite3", "ipython", "jedi")
# (file, requirement, sha256 of the PyPI wheel)
COMM = ("comm-0.2.2-py3-none-any.whl", "comm==0.2.2", "e6fb86cb70ff661ee8c9c14e7d36d6de3b4066f1441be4063df9c5009f0a64d3")
CACHE = Path(os.environ.get("WEBINFER_CACHE") or Path.home() / ".cache" / "webinfer") / "lite"
PINS = {"jupyterlite-core": "0.6.4", "jupyterlite-pyodide-kernel": "0.6.1"}


class LiteError(RuntimeError):
    """The JupyterLite site cannot be built (missing tool, wrong pin, failed step)."""


def check_tools() -> None:
    from importlib.metadata import PackageNotFoundError, version
    for name, want in PINS.items():
        try:
            got = version(name)
        except PackageNotFoundError:
            got = None
        if got != want:
            raise LiteError(f"{name}=={want} is needed (found {got}): pip install "
                            f"'jupyterlite-core==0.6.4' 'jupyterlite-pyodide-kernel==0.6.1' jupyter-server")


def comm_wheel() -> Path:
    """The `comm` wheel, downloaded once into the cache with pip and checked against its pin."""
    name, req, sha = COMM
    path = CACHE / name
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", req, "-d", str(CACHE)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not path.is_file():
            raise LiteError(f"could not download {req}: {proc.stderr.strip()[-500:]}")
    got = sha256_file(path)
    if got != sha:
        raise LiteError(f"{path} has sha256 {got}, expected {sha}")
    return path


def prepare_lite_dir(src: Path, pyodide_source: str) -> dict:
    """build/lite-src: static/pyodide (the verified dist), pypi/ (wheels), jupyter-lite.json."""
    src.mkdir(parents=True, exist_ok=True)
    try:
        dist = build_dist(src / "static" / "pyodide", source=pyodide_source, extra_packages=LITE_PACKAGES)
    except DistError as e:
        raise LiteError(f"Pyodide dist: {e}") from e
    try:
        wheel = build_wheel(src / "wheels")
    except WheelError as e:
        raise LiteError(str(e)) from e
    pypi = src / "pypi"
    shutil.rmtree(pypi, ignore_errors=True)
    pypi.mkdir()
    for w in (wheel, comm_wheel()):
        shutil.copy2(w, pypi / w.name)
    kernel = {"disablePyPIFallback": True}
    config = {"jupyter-lite-schema-version": 0,
              "jupyter-config-data": {"appName": "webinfer notebooks",
                                      "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": kernel}}}
    (src / "jupyter-lite.json").write_text(json.dumps(config, indent=1))
    return {"wheel": wheel.name, "pyodide_packages": dist["packages"]}


def build_lite(out_dir="build/lite", pyodide_source: str = "pypi", notebooks: Path | None = None) -> dict:
    """Build the JupyterLite site into out_dir; returns a summary."""
    t0 = time.perf_counter()
    check_tools()
    out = Path(out_dir).resolve()
    # Not "<out>-src": jupyterlite skips lite files whose path merely starts with the output path.
    src = out.parent / ("_" + out.name + "-src")
    info = prepare_lite_dir(src, pyodide_source)
    nb_dir = Path(notebooks or REPO / "notebooks")
    nbs = sorted(nb_dir.glob("*.ipynb"))
    if not nbs:
        raise LiteError(f"no notebooks in {nb_dir}")
    contents = src / "contents"
    shutil.rmtree(contents, ignore_errors=True)
    contents.mkdir()
    for nb in nbs:
        shutil.copy2(nb, contents / nb.name)
    shutil.rmtree(out, ignore_errors=True)
    # doit's state would skip tasks whose inputs did not change, even though out/ was just wiped.
    (src / ".jupyterlite.doit.db").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "jupyter", "lite", "build", "--lite-dir", str(src), "--output-dir", str(out),
           "--contents", str(contents), "--no-sourcemaps", "--no-libarchive"]
    proc = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if proc.returncode != 0:
        raise LiteError(f"jupyter lite build failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    _check_output(out, info["wheel"])
    info.update(out=str(out), notebooks=[nb.name for nb in nbs], build_seconds=round(time.perf_counter() - t0, 2))
    return info


def _check_output(out: Path, wheel: str) -> None:
    """The built site boots the local Pyodide with PyPI fallback off and lists our wheels."""
    cfg = json.loads((out / "jupyter-lite.json").read_text())["jupyter-config-data"]
    kernel = cfg["litePluginSettings"]["@jupyterlite/pyodide-kernel-extension:kernel"]
    problems = []
    if not str(kernel.get("pyodideUrl", "")).endswith("static/pyodide/pyodide.js"):
        problems.append(f"pyodideUrl is {kernel.get('pyodideUrl')!r}, not the local static/pyodide/pyodide.js")
    if kernel.get("disablePyPIFallback") is not True:
        problems.append("disablePyPIFallback is not true")
    index = json.loads((out / "pypi" / "all.json").read_text())
    for name in ("webinfer", "comm"):
        if name not in index:
            problems.append(f"pypi/all.json does not list {name}")
    if not (out / "pypi" / wheel).is_file():
        problems.append(f"pypi/{wheel} is missing")
    if problems:
        raise LiteError("built site is wrong: " + "; ".join(problems))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "build" / "lite"), help="output folder (default build/lite)")
    ap.add_argument("--pyodide-source", default="pypi", help="'pypi', or an official Pyodide 0.27.7 dist folder / archive")
    args = ap.parse_args(argv)
    try:
        info = build_lite(args.out, args.pyodide_source)
    except LiteError as e:
        print(f"build_lite: error: {e}", file=sys.stderr)
        return 1
    print(f"JupyterLite in {info['out']} ({info['build_seconds']} s): notebooks {', '.join(info['notebooks'])}; "
          f"{info['wheel']}; Pyodide packages: {len(info['pyodide_packages'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
