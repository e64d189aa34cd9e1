"""PyScript and its MicroPython for the site, offline, from pinned npm tarballs checked by sha256.

    python3 tools/pyscript_dist.py --out build/site

What it makes: out/pyscript/ (the `dist/` of npm `@pyscript/core@0.6.66`: core.js, the chunks it
imports on demand, core.css, its LICENSE; no source maps) and out/micropython/ (npm
`@micropython/micropython-webassembly-pyscript@1.26.0-preview-293`: micropython.mjs + .wasm,
the main-thread interpreter of the chat page). `npm pack` fetches each tarball once into
~/.cache/webinfer/ (npm checks the registry's sha512; this module checks the sha256 too).

Why these versions: PyScript 0.6.66 is the last release whose default Pyodide is 0.27.7, the
Pyodide the site ships (0.6.72 and every 0.7.x fail on it with `cannot import name 'jsnull'`);
1.26.0-preview-293 is the MicroPython that PyScript 0.6.66 names as its default.
What it is not: a bundler, or PyScript's configuration (site/*.toml).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("WEBINFER_CACHE", Path.home() / ".cache" / "webinfer")) / "pyscript-src"


@dataclass(frozen=True)
class NpmFiles:
    package: str          # npm name@version
    tarball: str          # the file `npm pack` writes
    sha256: str
    folder: str           # where the files go in the site
    files: dict           # path in the tarball -> name in the folder; "*.js" etc. copy a folder's files


PYSCRIPT = NpmFiles(
    "@pyscript/core@0.6.66", "pyscript-core-0.6.66.tgz",
    "973182bd45a4d615c436a45a442a6fffc3a6acb170ea755ff30071b16ef5fe82", "pyscript",
    {"package/LICENSE": "LICENSE", "package/dist/": ""})
MICROPYTHON = NpmFiles(
    "@micropython/micropython-webassembly-pyscript@1.26.0-preview-293",
    "micropython-micropython-webassembly-pyscript-1.26.0-preview-293.tgz",
    "8c8131d7d2d07d8717cba0d8f43ccbe3348831f496f152a7885f8fcbdcea799d", "micropython",
    {"package/micropython.mjs": "micropython.mjs", "package/micropython.wasm": "micropython.wasm"})


class PyScriptDistError(RuntimeError):
    """A pinned npm file cannot be had (npm missing or failing, hash mismatch, file missing)."""


def tarball(spec: NpmFiles) -> Path:
    """The pinned npm tarball in the cache, fetched with `npm pack` the first time, verified."""
    path = CACHE_DIR / spec.tarball
    if not path.is_file():
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "pack", spec.package, "--pack-destination", str(CACHE_DIR)], cwd=CACHE_DIR,
                           check=True, stdout=sys.stderr)
        except FileNotFoundError:
            raise PyScriptDistError(f"npm is not installed (needed once to fetch {spec.package})") from None
        except subprocess.CalledProcessError as e:
            raise PyScriptDistError(f"`npm pack {spec.package}` failed with exit code {e.returncode}") from None
    got = hashlib.sha256(path.read_bytes()).hexdigest()
    if got != spec.sha256:
        raise PyScriptDistError(f"{path} has sha256 {got}, expected {spec.sha256}")
    return path


def _target(spec: NpmFiles, member: str) -> str | None:
    """The file name in the site for a tarball member, or None to skip it. A key ending in "/"
    takes the files directly in that folder, except source maps (debugging PyScript itself)."""
    for src, dest in spec.files.items():
        if src.endswith("/"):
            rest = member[len(src):]
            if member.startswith(src) and "/" not in rest and not rest.endswith(".map"):
                return rest
        elif member == src:
            return dest
    return None


def unpack(spec: NpmFiles, out_dir) -> list[str]:
    """Copy the package's files into out_dir/<folder> (replacing it); returns the names."""
    out = Path(out_dir) / spec.folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    names = []
    with tarfile.open(tarball(spec)) as tar:
        for m in tar.getmembers():
            name = _target(spec, m.name) if m.isfile() else None
            if name:
                (out / name).write_bytes(tar.extractfile(m).read())
                names.append(name)
    missing = [d for d in spec.files.values() if d and d not in names]
    if missing or not names:
        raise PyScriptDistError(f"{spec.tarball} lacks {missing or 'every expected file'}")
    return sorted(names)


def build_pyscript(out_dir) -> dict[str, list[str]]:
    """PyScript and MicroPython into out_dir/pyscript and out_dir/micropython."""
    return {spec.folder: unpack(spec, out_dir) for spec in (PYSCRIPT, MICROPYTHON)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/site", help="the site folder (pyscript/ and micropython/ go inside)")
    args = ap.parse_args(argv)
    try:
        done = build_pyscript(args.out)
    except PyScriptDistError as e:
        print(f"pyscript_dist: error: {e}", file=sys.stderr)
        return 1
    for folder, names in done.items():
        print(f"{args.out}/{folder}: {len(names)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
