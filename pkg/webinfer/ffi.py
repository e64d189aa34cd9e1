"""The one FFI shim: the only module in webinfer that imports `js` / `pyodide` (STYLE.md #14).

What this is: the few things Python needs from the JavaScript side of Pyodide, each of which
crosses the Python->JS boundary a counted number of times:

* ``make_kit(source)`` evaluates a JS factory ``(Module) => ({name: function, ...})`` once and
  returns a ``Kit`` whose attributes call those functions. Every call, every awaited promise
  and every ``to_js`` conversion made through a Kit adds one to ``kit.calls``: that counter is
  how tests check that a decoded token costs O(1) Python->JS calls, not O(dispatches).
* ``pointer(array)`` the wasm address of a numpy array, so JS can read or fill Python memory
  through ``Module.HEAPU8`` with no copy into a JS ArrayBuffer (DESIGN.md: ~9 ms instead of
  ~55 ms for 50 MiB).
* ``fetch_bytes(url)`` the browser's fetch, for model bytes.

What it is not: importable in CPython (it imports `js`); callers import it lazily, only under
Pyodide (``sys.platform == "emscripten"``), so every other module still imports anywhere.
"""

from __future__ import annotations

import js  # noqa: F401  (the browser / worker global scope)
import numpy as np
import pyodide_js
from pyodide.code import run_js
from pyodide.ffi import to_js as _to_js


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


def make_kit(source: str, names) -> Kit:
    """Evaluate the JS factory `source` with Pyodide's Module (for HEAPU8) and wrap `names`."""
    factory = run_js(source)
    return Kit(factory(pyodide_js._module), names)


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
