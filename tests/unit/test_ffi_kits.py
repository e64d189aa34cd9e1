"""webinfer's JS kits without eval: ffi.kits_module() and make_kit's globalThis.webinferKits hook.

A page whose Content-Security-Policy has no 'unsafe-eval' makes eval throw EvalError. Node's
--disallow-code-generation-from-strings does the same to eval and Function, so the last test runs
the real ffi in real Pyodide (the local dist) under that flag: with no kit table make_kit raises
KitUnavailableError and "auto" falls back to NumPy with that reason; with the table that
kits_module() writes, the kits load. (Hand-made Node driver: pytest-pyodide cannot pass that flag.)
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from webinfer import ffi
from webinfer.device.webgpu import adapter_js

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "pkg" / "webinfer"
DIST = ROOT / "build" / "pyodide"


def _need(what: str, ok: bool):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {what}", pytrace=False)
        pytest.skip(f"{what} is not here")


def test_every_make_kit_call_passes_a_module_level_js_constant():
    """kit_sources() finds kits by name (module-level str constants ending in _JS): a kit passed
    any other way would be missing from the kits module, and a CSP page could not load it."""
    calls = 0
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        consts = {t.id for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                  and isinstance(n.value.value, str) for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "make_kit":
                calls += 1
                arg = node.args[0]
                where = f"{path.relative_to(PKG)}:{node.lineno}"
                assert isinstance(arg, ast.Name) and arg.id.endswith("_JS") and arg.id in consts, where
    assert calls >= 2     # adapter_js and blas at least


def test_kit_sources_are_keyed_by_the_sha256_of_the_exact_source():
    kits = ffi.kit_sources()
    assert kits[ffi.kit_key(adapter_js._KIT_JS)] == ("device/webgpu/adapter_js.py", adapter_js._KIT_JS)
    assert ffi.kit_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    text = ffi.kits_module()
    assert all(f'"{key}":' in text for key in kits)
    assert "globalThis.webinferKits = Object.assign(globalThis.webinferKits ?? {}, kits);" in text


def test_the_kits_module_is_valid_js_that_registers_every_kit(tmp_path):
    node = shutil.which("node")
    _need("node", node is not None)
    mod = tmp_path / "kits.mjs"
    mod.write_text(ffi.kits_module())
    script = (f"const m = await import({json.dumps(mod.as_uri())});\n"
              "const t = globalThis.webinferKits;\n"
              "console.log(JSON.stringify({same: m.default === undefined ? false : Object.keys(m.default).every((k) => t[k] === m.default[k]),"
              " kinds: Object.fromEntries(Object.entries(t).map(([k, f]) => [k, typeof f]))}));\n")
    p = subprocess.run([node, "--disallow-code-generation-from-strings", "--input-type=module", "-e", script],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["same"] and got["kinds"] == {key: "function" for key in ffi.kit_sources()}


DRIVER = r"""
import { loadPyodide } from "%(dist)s/pyodide.mjs";
const py = await loadPyodide({indexURL: "%(dist)s/"});
await py.loadPackage("numpy");
py.FS.mkdirTree("/pkg");
py.FS.mount(py.FS.filesystems.NODEFS, {root: "%(pkg)s"}, "/pkg");
const run = async (code) => JSON.parse(await py.runPythonAsync(code));
const out = {};
out.without = await run(`
import json, sys
sys.path.insert(0, "/pkg")
import webinfer
from webinfer import ffi
from webinfer.device import select_device
from webinfer.device.webgpu import adapter_js
from webinfer.errors import KitUnavailableError
r = {}
try:
    ffi.make_kit(adapter_js._KIT_JS, adapter_js._KIT_NAMES)
except KitUnavailableError as e:
    r["error"] = str(e)
r["init"] = await webinfer.init_gpu()
r["auto"] = select_device("auto").description
try:
    select_device("webgpu")
except Exception as e:
    r["forced"] = [type(e).__name__, str(e)]
json.dumps(r)
`);
const kits = await import("%(kits)s");
out.imported = await run(`
kit = ffi.make_kit(adapter_js._KIT_JS, adapter_js._KIT_NAMES)
json.dumps({"kit": type(kit).__name__, "init": await webinfer.init_gpu()})
`);
delete globalThis.webinferKits;
py.globals.set("kits_module", kits);
out.installed = await run(`
ffi.install_kits(kits_module)
json.dumps({"kit": type(ffi.make_kit(adapter_js._KIT_JS, adapter_js._KIT_NAMES)).__name__})
`);
console.log("RESULT " + JSON.stringify(out));
"""


def test_make_kit_in_pyodide_when_eval_is_forbidden(tmp_path):
    node = shutil.which("node")
    _need("node", node is not None)
    _need(f"a Pyodide dist in {DIST} (python3 tools/pyodide_dist.py --out build/pyodide)",
          (DIST / "pyodide.mjs").is_file())
    kits = tmp_path / "kits.mjs"
    kits.write_text(ffi.kits_module())
    driver = tmp_path / "driver.mjs"
    driver.write_text(DRIVER % {"dist": DIST.as_posix(), "pkg": (ROOT / "pkg").as_posix(), "kits": kits.as_uri()})
    p = subprocess.run([node, "--disallow-code-generation-from-strings", str(driver)],
                       capture_output=True, text=True, timeout=600)
    line = next((s for s in p.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert p.returncode == 0 and line, p.stdout[-3000:] + p.stderr[-3000:]
    out = json.loads(line[len("RESULT "):])

    without = out["without"]
    why = without["error"]
    assert "Content-Security-Policy forbids eval" in why and "globalThis.webinferKits is not set" in why
    assert "webinfer.ffi.kits_module()" in why and "'unsafe-eval'" in why
    assert without["init"] == f"numpy: {why}"            # "auto" falls back, saying why
    assert without["auto"] == f"numpy: {why}"
    assert without["forced"] == ["KitUnavailableError", why]   # "webgpu" raises it

    # with the kits module imported, the kit loads without eval; Node has no navigator.gpu
    assert out["imported"]["kit"] == "Kit"
    assert out["imported"]["init"].startswith("numpy: no navigator.gpu")
    assert out["installed"] == {"kit": "Kit"}
