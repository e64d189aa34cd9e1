"""The one FFI shim: the only module in webinfer that imports `js` / `pyodide` (STYLE.md #14).

What this is: the few things Python needs from the JavaScript side of Pyodide, each of which
crosses the Python->JS boundary a counted number of times:

* ``make_kit(source, names)`` turns a JS factory ``(Module) => ({name: function, ...})`` into a
  ``Kit`` whose attributes call those functions. Every call, every awaited promise and every
  ``to_js`` conversion made through a Kit adds one to ``kit.calls``: that counter is how tests
  check that a decoded token costs O(1) Python->JS calls, not O(dispatches).
* ``pointer(array)`` the wasm address of a numpy array, so JS can read or fill Python memory
  through ``Module.HEAPU8`` with no copy into a JS ArrayBuffer (several times faster for a
  model's bytes).
* ``fetch_bytes(url)`` the browser's fetch, for model bytes.

Where a kit's factory comes from (the kit hook): a page whose Content-Security-Policy forbids
``eval`` (no 'unsafe-eval') cannot evaluate the factory text. So make_kit first looks the
factory up in ``globalThis.webinferKits``, a JS object mapping ``kit_key(source)`` (the sha256
hex of the exact source string) to the factory function; only if it is not there does it
evaluate ``source`` (Pyodide's run_js). ``kits_module()`` writes the ES module that provides
that object: serve it from the page's origin and import it where webinfer runs (a
``<script type="module">`` on a page, PyScript's ``[js_modules.worker]`` in a worker, or
``install_kits(module)`` from Python); importing it sets ``globalThis.webinferKits``.
A kit that is neither provided nor evaluable raises KitUnavailableError saying which and how.

What it is not: the browser code itself. In CPython only ``kit_key`` and ``kits_module`` work
(the build runs them); everything else needs Pyodide, and callers import this module lazily.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np

from .errors import KitUnavailableError

try:
    import js  # the browser / worker global scope
    import pyodide_js
    from pyodide.code import run_js
    from pyodide.ffi import to_js as _to_js
except ImportError:   # CPython: kit_key / kits_module only
    js = pyodide_js = run_js = _to_js = None

KITS_GLOBAL = "webinferKits"   # globalThis.<this>: {kit_key(source): factory}


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


def make_kit(source: str, names) -> Kit:
    """The kit of JS factory `source` (called with Pyodide's Module, for HEAPU8), wrapping
    `names`: from globalThis.webinferKits if the page provides it, else by evaluating `source`.
    Raises KitUnavailableError when neither works (a CSP without 'unsafe-eval')."""
    return Kit(_factory(source, names)(pyodide_js._module), names)


def _factory(source: str, names):
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
            f"{key[:12]} ({', '.join(list(names)[:3])}, ...) cannot be built. Fix: serve webinfer's kits "
            f"module (webinfer.ffi.kits_module()) from your origin and import it before webinfer runs "
            f"(it sets globalThis.webinferKits), or allow 'unsafe-eval' in script-src") from None


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


def kit_sources(package: Path | None = None) -> dict[str, tuple[str, str]]:
    """Every kit source in the package: {kit_key: (module path, source)}. A kit is a module-level
    string constant whose name ends in ``_JS`` (what make_kit is given: tests/unit/test_ffi_kits.py
    checks that every make_kit call passes one). Read with `ast`: nothing is imported."""
    root = Path(package) if package is not None else Path(__file__).resolve().parent
    out: dict[str, tuple[str, str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str) \
                    and any(isinstance(t, ast.Name) and t.id.endswith("_JS") for t in node.targets):
                out[kit_key(node.value.value)] = (path.relative_to(root).as_posix(), node.value.value)
    return out


def kits_module(package: Path | None = None) -> str:
    """The text of an ES module holding every kit of the package as static code, keyed by
    kit_key; importing it sets globalThis.webinferKits (merged with any earlier table) and its
    default export is the table. Serve it from the page's own origin (script-src 'self')."""
    lines = ["// Generated by webinfer.ffi.kits_module() from webinfer's sources: do not edit.",
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
