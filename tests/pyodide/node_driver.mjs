// A long-lived Pyodide in Node that runs Python snippets sent by pyodide_node.py, kept only for
// bench/wasm_kernel_bench.py (the tests run on pytest-pyodide; see pyodide_node.py's docstring).
//
// What it is: a small Node-Pyodide runner. It boots Pyodide once from a
// local dist folder, mounts host folders with NODEFS, then answers one request per stdin
// line: {"code": "..."} -> one stdout line "@@RESULT {json}" with {ok, value | error}.
// Python's own print output goes to stderr so it never mixes with the protocol.
// What it is not: a browser. There is no navigator.gpu here; WebGPU is tested elsewhere.
//
// Offline is enforced, not hoped for: globalThis.fetch refuses every URL that is not on
// 127.0.0.1/localhost, and records it, so a CDN or PyPI attempt fails the test loudly.
//
// usage: node node_driver.mjs '{"indexURL": "/abs/dist/", "mounts": {"/host/x": "/abs/x"}}'
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import path from "node:path";

const config = JSON.parse(process.argv[2]);
const blocked = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, ...rest) => {
  const href = String(url instanceof Request ? url.url : url);
  const host = URL.canParse(href) ? new URL(href).hostname : "";
  if (host === "127.0.0.1" || host === "localhost") return realFetch(url, ...rest);
  blocked.push(href);
  throw new Error(`node_driver: network access blocked (offline test): ${href}`);
};

const t0 = performance.now();
const indexURL = config.indexURL.endsWith("/") ? config.indexURL : config.indexURL + "/";
const { loadPyodide } = await import(pathToFileURL(path.join(indexURL, "pyodide.mjs")).href);
const pyodide = await loadPyodide({
  indexURL,
  stdout: (s) => process.stderr.write(`[pyodide] ${s}\n`),
  stderr: (s) => process.stderr.write(`[pyodide] ${s}\n`),
});
const bootMs = performance.now() - t0;

for (const [target, source] of Object.entries(config.mounts ?? {})) {
  pyodide.FS.mkdirTree(target);
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: source }, target);
}

// eval_code_async gives top-level await and returns the value of the last expression.
await pyodide.runPythonAsync(`
import json, traceback
from pyodide.code import eval_code_async

async def _webinfer_run(code):
    try:
        value = await eval_code_async(code, {"__name__": "__main__"})
        return json.dumps({"ok": True, "value": value}, default=repr)
    except BaseException:
        return json.dumps({"ok": False, "error": traceback.format_exc()})
`);
const run = pyodide.globals.get("_webinfer_run");

const reply = (obj) => process.stdout.write("@@RESULT " + JSON.stringify(obj) + "\n");
reply({ ok: true, value: { boot_ms: bootMs, version: pyodide.version } });

// Requests are handled strictly one after another: a test waits for its answer.
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { code } = JSON.parse(line);
  const before = blocked.length;
  let out;
  try {
    out = JSON.parse(await run(code));
  } catch (e) {
    out = { ok: false, error: `JavaScript error: ${e?.stack ?? e}` };
  }
  out.blocked_fetches = blocked.slice(before);
  reply(out);
}
process.exit(0);
