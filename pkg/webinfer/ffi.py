"""The one FFI shim: the only module in webinfer that imports `js` / `pyodide` (STYLE.md #14).

What this is: the few things Python needs from the JavaScript side of Pyodide, each of which
crosses the Python->JS boundary a counted number of times:

* ``make_kit(name, names)`` turns the JS factory ``(Module) => ({function name: function, ...})``
  in ``webinfer/js/<name>.js`` (a "kit": the whole file is that one expression) into a ``Kit``
  whose attributes call those functions. Every call, every awaited promise and every
  ``to_js`` conversion made through a Kit adds one to ``kit.calls``: that counter is how tests
  check that a decoded token costs O(1) Python->JS calls, not O(dispatches).
* ``pointer(array)`` the wasm address of a numpy array, so JS can read or fill Python memory
  through ``Module.HEAPU8`` with no copy into a JS ArrayBuffer (several times faster for a
  model's bytes).
* ``fetch_bytes(url)`` the browser's fetch, for model bytes.

Where a kit's factory comes from (the kit hook): a page whose Content-Security-Policy forbids
``eval`` (no 'unsafe-eval') cannot evaluate the factory text. So make_kit first looks the
factory up in ``globalThis.webinferKits``, a JS object mapping ``kit_key(source)`` (the sha256
hex of the file's exact text) to the factory function; only if it is not there does it
evaluate the text (Pyodide's run_js). ``kits_module()`` writes the ES module that provides
that object: serve it from the page's origin and import it where webinfer runs (a
``<script type="module">`` on a page, PyScript's ``[js_modules.worker]`` in a worker, or
``install_kits(module)`` from Python); importing it sets ``globalThis.webinferKits``.
A kit that is neither provided nor evaluable raises KitUnavailableError saying which and how.

What it is not: the browser code itself (that is the js/*.js files). In CPython only
``kit_source``, ``kit_sources``, ``kit_key`` and ``kits_module`` work (the build runs them);
everything else needs Pyodide, and callers import this module lazily.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import KitUnavailableError

try:
    import js  # the browser / worker global scope
    import pyodide_js
    from pyodide.code import run_js
    from pyodide.ffi import to_js as _to_js
except ImportError:   # CPython: the kit texts, kit_key and kits_module only
    js = pyodide_js = run_js = _to_js = None

KITS_GLOBAL = "webinferKits"   # globalThis.<this>: {kit_key(source): factory}
KITS_DIR = "js"                # the kits: webinfer/js/<name>.js, package data


class Kit:
    """Counted handles on the functions of one JS object made by a factory (see module doc)."""

    def __init__(self, obj, names):
        self.calls = 0
        for name in names:
            setattr(self, name, self._counted(getattr(obj, name)))

    def _counted(self, fn):
        def call(*args):
            self.calls += 1
            return fn(*args)
        return call

    async def wait(self, promise):
        """Await a JS promise (the `then` registration is one more crossing)."""
        self.calls += 1
        return await promise

    def to_js(self, value):
        """Python lists/dicts -> JS arrays/plain objects (WebGPU descriptors must be plain
        objects, not Maps: hence Object.fromEntries); JS handles inside pass through."""
        self.calls += 1
        return _to_js(value, dict_converter=js.Object.fromEntries)


def kit_key(source: str) -> str:
    """The name a kit has in globalThis.webinferKits: the sha256 hex of its exact source text."""
    return hashlib.sha256(source.encode()).hexdigest()


def make_kit(name: str, names) -> Kit:
    """The kit js/<name>.js (its factory called with Pyodide's Module, for HEAPU8), wrapping the
    functions `names`: from globalThis.webinferKits if the page provides it, else by evaluating
    the file's text. Raises KitUnavailableError when neither works (a CSP without 'unsafe-eval')."""
    return Kit(_factory(name, names)(pyodide_js._module), names)


def _factory(name: str, names):
    source = kit_source(name)
    key = kit_key(source)
    kits = _js_get(js.globalThis, KITS_GLOBAL)
    factory = _js_get(kits, key) if kits is not None else None
    if factory is not None:
        return factory
    try:
        return run_js(source)
    except Exception as e:  # noqa: BLE001 - a JsException; its JS class name says what it was
        if _js_error_name(e) != "EvalError" and "EvalError" not in str(e):
            raise
        have = ("globalThis.webinferKits is not set" if kits is None else
                "globalThis.webinferKits does not have it (built from another webinfer version?)")
        raise KitUnavailableError(
            f"this page's Content-Security-Policy forbids eval, and {have}: webinfer's JS kit "
            f"{KITS_DIR}/{name}.js {key[:12]} ({', '.join(list(names)[:3])}, ...) cannot be built. Fix: "
            f"serve webinfer's kits module (webinfer.ffi.kits_module()) from your origin and import it "
            f"before webinfer runs (it sets globalThis.webinferKits), or allow 'unsafe-eval' in script-src") from None


def _js_get(obj, key: str):
    """obj[key] for a JS object, or None when it is undefined / null / not an object."""
    try:
        value = js.Reflect.get(obj, key)
    except Exception:  # noqa: BLE001 - Reflect.get on a non-object throws a TypeError
        return None
    return None if value is None or type(value).__name__ == "JsNull" else value   # JsNull: Pyodide >= 0.28


def _js_error_name(e: Exception) -> str:
    try:
        return str(getattr(e, "name", "") or "")
    except Exception:  # noqa: BLE001 - a proxy of an odd thrown value
        return ""


def install_kits(kits) -> None:
    """Set globalThis.webinferKits from Python: `kits` is the imported kits module (its default
    export is used) or the table itself, e.g. ``from pyscript.js_modules import webinfer_kits``."""
    table = getattr(kits, "default", None) or kits
    setattr(js.globalThis, KITS_GLOBAL, table)


@functools.cache
def kit_source(name: str) -> str:
    """The exact text of kit `name` (webinfer/js/<name>.js), read once from the package data."""
    path = resources.files(__package__) / KITS_DIR / f"{name}.js"
    if not path.is_file():
        raise ValueError(f"webinfer has no JS kit {name!r} ({KITS_DIR}/{name}.js is not in the package)")
    return path.read_text(encoding="utf-8")


def kit_sources(package: Path | None = None) -> dict[str, tuple[str, str]]:
    """Every kit in the package: {kit_key: ("js/<name>.js", source)}, in file-name order.
    `package` is the webinfer directory to read (default: this installed package)."""
    root = resources.files(__package__) if package is None else Path(package)
    out: dict[str, tuple[str, str]] = {}
    for path in sorted((root / KITS_DIR).iterdir(), key=lambda p: p.name):
        if path.name.endswith(".js"):
            source = kit_source(path.name[:-3]) if package is None else path.read_text(encoding="utf-8")
            out[kit_key(source)] = (f"{KITS_DIR}/{path.name}", source)
    return out


def kits_module(package: Path | None = None) -> str:
    """The text of an ES module holding every kit of the package as static code, keyed by
    kit_key; importing it sets globalThis.webinferKits (merged with any earlier table) and its
    default export is the table. Serve it from the page's own origin (script-src 'self')."""
    lines = ["// Generated by webinfer.ffi.kits_module() from webinfer's js/*.js: do not edit.",
             "// The JS factories webinfer.ffi.make_kit would otherwise eval (forbidden by a CSP",
             "// without 'unsafe-eval'), keyed by the sha256 of their source text.",
             "const kits = {"]
    for key, (where, src) in kit_sources(package).items():
        lines += [f"  // {where}", f'  "{key}":', f"{src.strip()},"]
    lines += ["};", f"globalThis.{KITS_GLOBAL} = Object.assign(globalThis.{KITS_GLOBAL} ?? {{}}, kits);",
              "export default kits;", ""]
    return "\n".join(lines)


def pointer(array: np.ndarray) -> int:
    """Address of a C-contiguous numpy array inside the wasm heap (Module.HEAPU8 offset)."""
    return int(array.__array_interface__["data"][0])


async def fetch_bytes(url: str) -> bytes:
    """GET url with the browser's fetch; raises OSError on an HTTP error status."""
    resp = await js.fetch(url)
    if not resp.ok:
        raise OSError(f"fetch {url!r} failed: HTTP {resp.status} {resp.statusText}")
    buf = await resp.arrayBuffer()
    return buf.to_bytes()


async def load_package(name: str) -> None:
    """Load a package of the Pyodide distribution (from its lock, next to pyodide.mjs)."""
    await pyodide_js.loadPackage(name)


async def mount_opfs(mount_point: str, folder: str):
    """Mount the folder `folder` of the origin's private file system (OPFS) at `mount_point` in
    Pyodide's file system; returns the mount's `syncfs()` (a JS function giving a Promise) that
    writes Pyodide's copy back to OPFS. The mount reads the folder's files in first."""
    root = await js.navigator.storage.getDirectory()
    handle = await root.getDirectoryHandle(folder, _to_js({"create": True}, dict_converter=js.Object.fromEntries))
    mount = await pyodide_js.mountNativeFS(mount_point, handle)
    return mount.syncfs
