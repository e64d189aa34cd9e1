// One-shot Pyodide in Node for the bench scripts: boot from a local dist, mount host folders (copy files),
// run one Python file (top-level await allowed), print "@@RESULT <json>" with its last value.
// Why not tests/pyodide's driver: the benches must not break while the tests move to pytest-pyodide.
// usage: node node_pyodide.mjs '{"indexURL": "/abs/dist/", "mounts": {...}, "code": "/abs/code.py"}'
import { readFileSync, statSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const config = JSON.parse(process.argv[2]);
const indexURL = config.indexURL.endsWith("/") ? config.indexURL : config.indexURL + "/";
const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL,
  stdout: (s) => process.stderr.write(`[pyodide] ${s}\n`),
  stderr: (s) => process.stderr.write(`[pyodide] ${s}\n`),
});
for (const [target, source] of Object.entries(config.mounts ?? {})) {
  if (statSync(source).isFile()) {          // a file is copied in; a folder is mounted
    pyodide.FS.mkdirTree(path.posix.dirname(target));
    pyodide.FS.writeFile(target, readFileSync(source));
    continue;
  }
  pyodide.FS.mkdirTree(target);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: source }, target);
}
pyodide.globals.set("_bench_code", readFileSync(config.code, "utf8"));
const out = await pyodide.runPythonAsync(`
import json, traceback
from pyodide.code import eval_code_async
try:
    _v = json.dumps({"ok": True, "value": await eval_code_async(_bench_code, {"__name__": "__main__"})}, default=repr)
except BaseException:
    _v = json.dumps({"ok": False, "error": traceback.format_exc()})
_v
`);
process.stdout.write("@@RESULT " + out + "\n");
process.exit(0);
