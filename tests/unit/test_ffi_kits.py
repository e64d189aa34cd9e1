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
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from webinfer import ffi
from webinfer.device import numpy_step

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "pkg" / "webinfer"
DIST = ROOT / "build" / "pyodide"


def _need(what: str, ok: bool):
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {what}", pytrace=False)
        pytest.skip(f"{what} is not here")


def _make_kit_calls() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every make_kit call in the package: (where, kit name, function names). The kit name must be
    a string literal, and the names a list/tuple literal or a module-level constant holding one."""
    calls = []
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        consts = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
                  for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "make_kit":
                where = f"{path.relative_to(PKG)}:{node.lineno}"
                name, names = node.args
                assert isinstance(name, ast.Constant) and isinstance(name.value, str), where
                if isinstance(names, ast.Name):
                    names = consts[names.id]
                assert isinstance(names, (ast.List, ast.Tuple)), where
                calls.append((where, name.value, tuple(ast.literal_eval(names))))
    return calls


def test_every_make_kit_call_names_a_kit_file_and_every_kit_file_is_used():
    """make_kit("x", ...) loads js/x.js, the file kits_module() also writes to the kits module; a
    .js file no call names is dead code shipped to every page."""
    calls = _make_kit_calls()
    files = {p.stem for p in (PKG / "js").glob("*.js")}
    for where, name, _ in calls:
        assert name in files, f"{where}: make_kit({name!r}) but there is no js/{name}.js"
    assert files == {name for _, name, _ in calls}, "a js/*.js file that no make_kit call names"
    assert len(calls) >= 3     # adapter_js, blas and numpy_step


def test_kit_sources_are_the_js_files_keyed_by_the_sha256_of_their_exact_text():
    kits = ffi.kit_sources()
    text = (PKG / "js" / "webgpu.js").read_text()
    assert ffi.kit_source("webgpu") == text
    assert kits[ffi.kit_key(text)] == ("js/webgpu.js", text)
    assert sorted(where for where, _ in kits.values()) == sorted(f"js/{p.name}" for p in (PKG / "js").glob("*.js"))
    assert ffi.kit_sources(PKG) == kits
    assert ffi.kit_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    text = ffi.kits_module()
    assert all(f'"{key}":' in text for key in kits)
    assert "globalThis.webinferKits = Object.assign(globalThis.webinferKits ?? {}, kits);" in text
    with pytest.raises(ValueError, match="no JS kit 'nope'"):
        ffi.kit_source("nope")


def test_every_kit_file_is_one_js_expression_making_the_functions_its_callers_wrap(tmp_path):
    """Each js/*.js is evaluated whole (run_js) or pasted into the kits module, so it must be a
    single expression: wrapped as `export default (<text>);` it imports, is a function, and called
    (with a stand-in Module) gives an object with every function a make_kit call wraps."""
    node = shutil.which("node")
    _need("node", node is not None)
    wanted: dict[str, set[str]] = {}
    for _, name, names in _make_kit_calls():
        wanted.setdefault(name, set()).update(names)
    got = {}
    for path in sorted((PKG / "js").glob("*.js")):
        mod = tmp_path / f"{path.stem}.mjs"
        mod.write_text(f"export default ({path.read_text()});\n")
        script = (f"const f = (await import({json.dumps(mod.as_uri())})).default;\n"
                  "const made = typeof f === 'function' ? f({}) : null;\n"
                  "console.log(JSON.stringify({kind: typeof f, names: made ? Object.keys(made) : []}));\n")
        p = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, f"{path.name}: {p.stderr}"
        got[path.stem] = json.loads(p.stdout)
    for name, out in got.items():
        assert out["kind"] == "function", name
        assert wanted.get(name, set()) <= set(out["names"]), f"js/{name}.js lacks {wanted[name] - set(out['names'])}"


def test_numpy_step_op_codes_match_the_js_replay():
    """numpy_step.py's op codes are the `case N: // NAME` labels of js/numpy_step.js."""
    text = (PKG / "js" / "numpy_step.js").read_text()
    cases = {name: int(code) for code, name in re.findall(r"case (\d+): (?:\{ )?// ([A-Z_]+)\b", text)}
    ops = ("EMBED", "RMS_NORM", "MV", "ADD", "SWIGLU", "ROPE", "COPY", "ATTEND", "DQ")
    assert cases == {op: getattr(numpy_step, op) for op in ops}


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
    ffi.make_kit("webgpu", adapter_js._KIT_NAMES)
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
kit = ffi.make_kit("webgpu", adapter_js._KIT_NAMES)
json.dumps({"kit": type(kit).__name__, "init": await webinfer.init_gpu()})
`);
delete globalThis.webinferKits;
py.globals.set("kits_module", kits);
out.installed = await run(`
ffi.install_kits(kits_module)
json.dumps({"kit": type(ffi.make_kit("webgpu", adapter_js._KIT_NAMES)).__name__})
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
