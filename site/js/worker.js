// The Web Worker that runs Python: it boots Pyodide from ../pyodide/, installs the webinfer
// wheel, imports ../py/engine.py, and then answers the page's requests (load a model from bytes,
// send a chat message, stop, new chat). All model work happens here, so the page stays responsive.
//
// What it is not: the UI (app.js) or the model download/cache (store.js, on the page). The page
// transfers the model's ArrayBuffer here (no copy); Python copies it once into its own memory.
//
// Protocol. page -> worker: {op: "boot", config} | {op: "load", buffer, name, device}
//   | {op: "send", text, settings} | {op: "stop"} | {op: "reset", system}
// worker -> page: {ev: "booting", what} | {ev: "booted", ms, gpu} | {ev: "progress", stage, done, total}
//   | {ev: "loaded", device, model, ms} | {ev: "delta", text} | {ev: "done", result}
//   | {ev: "error", during, message}
import { loadPyodide } from "../pyodide/pyodide.mjs";

const post = (msg) => self.postMessage(msg);
let engine = null;          // the Python module py/engine.py, once booted
let queue = Promise.resolve();  // requests that need Python run one after another

async function boot(config) {
  const t0 = performance.now();
  const base = new URL("../", import.meta.url);
  post({ ev: "booting", what: "Python runtime" });
  const pyodide = await loadPyodide({
    indexURL: new URL(config.pyodide, base).href,
    stdout: (s) => console.log(`[python] ${s}`),
    stderr: (s) => console.warn(`[python] ${s}`),
  });
  post({ ev: "booting", what: "numpy" });
  await pyodide.loadPackage([...config.packages, "micropip"], { messageCallback: () => {} });
  post({ ev: "booting", what: "webinfer" });
  const micropip = pyodide.pyimport("micropip");
  // A URL on this origin: micropip fetches it without asking PyPI (its deps are installed).
  await micropip.install(new URL(config.wheel, base).href);
  // webinfer's JS helpers, prebuilt by the site build: the CSP forbids eval (engine.py explains).
  const kits = (await import("./kits.js")).default;
  self.webinferKit = (sha256) => kits[sha256] ?? null;
  const source = await (await fetch(new URL("py/engine.py", base))).text();
  pyodide.FS.writeFile("/home/pyodide/webinfer_page_engine.py", source);
  engine = pyodide.pyimport("webinfer_page_engine");
  post({ ev: "booted", ms: performance.now() - t0, gpu: "gpu" in navigator });
}

async function handle(msg) {
  switch (msg.op) {
    case "boot":
      return boot(msg.config);
    case "load": {
      const t0 = performance.now();
      const bytes = new Uint8Array(msg.buffer);
      const info = await engine.load_model(bytes, msg.name, msg.device ?? "auto",
        (stage, done, total) => post({ ev: "progress", stage, done, total }));
      return post({ ev: "loaded", ...info.toJs({ dict_converter: Object.fromEntries }), ms: performance.now() - t0 });
    }
    case "send": {
      const result = await engine.send(msg.text, JSON.stringify(msg.settings), (text) => post({ ev: "delta", text }));
      return post({ ev: "done", result: JSON.parse(result) });
    }
    case "reset":
      return engine.reset(msg.system ?? "");
  }
  throw new Error(`unknown request ${msg.op}`);
}

self.onmessage = ({ data: msg }) => {
  // Stop must not wait in the queue: it lands between two tokens of the running answer.
  if (msg.op === "stop") {
    engine?.stop();
    return;
  }
  queue = queue.then(() => handle(msg)).catch((e) => {
    post({ ev: "error", during: msg.op, message: String(e?.message ?? e) });
  });
};
