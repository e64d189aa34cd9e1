// JavaScript because it must run before Python exists: it starts PyScript and shows the runtime's download.
//
// 1. PyScript starts with pyscript-no-eval.js, which lets it run under the page's CSP (no eval).
// 2. Until Python runs, nothing else can say how far the download of the runtime is (Pyodide, numpy,
//    the webinfer wheel: ~17 MB on a first visit). The files are fetched here with a byte count while
//    the worker's Pyodide fetches them too: the browser's HTTP cache shares one download between the
//    two (tests/site checks that the server sends pyodide.asm.wasm once). py/main.py takes the
//    progress bar over when this is done (webinferPage.runtime, a Promise; webinferPage.progressOwner).
// 3. window.webinferPage, the embedder interface (site/README.md), exists from the first moment,
//    with every Content-Security-Policy violation of the page from then on (py/main.py adds the
//    worker's), so a blocked request is never only a line in the console.
import "./pyscript-no-eval.js";

const page = { timings: { start: performance.now() }, lastResult: null, device: "", model: "", progressOwner: "boot",
               cspViolations: [], memory: { heap: 0, inUse: 0, atLoad: 0 }, streamed: false };
window.webinferPage = page;
document.addEventListener("securitypolicyviolation", (e) => page.cspViolations.push(
  { where: "page", directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber }));

const bar = document.getElementById("progress");
const label = document.getElementById("progress-label");
const MB = 1024 * 1024;

function show(done, total, t0) {
  if (page.progressOwner !== "boot") return;
  const secs = (performance.now() - t0) / 1000;
  const rate = secs > 0.2 ? done / secs : 0;
  const left = rate > 0 && total > done ? ` · ${Math.ceil((total - done) / rate)} s left` : "";
  bar.max = total || 1;
  bar.value = done;
  label.textContent = `Downloading the Python runtime: ${(done / MB).toFixed(1)} / ${(total / MB).toFixed(1)} MB`
    + (rate ? ` · ${(rate / MB).toFixed(1)} MB/s${left}` : "");
}

async function count(url, add) {
  const resp = await fetch(url);
  if (!resp.ok || !resp.body) return;
  const reader = resp.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    add(value.length);
  }
}

async function runtimeProgress() {
  const config = await (await fetch("./site-config.json")).json();
  const files = config.runtime_files;
  const total = files.reduce((sum, f) => sum + f.size, 0);
  const t0 = performance.now();
  let done = 0;
  show(0, total, t0);
  await Promise.all(files.map((f) => count(f.url, (n) => { done += n; show(done, total, t0); })));
  page.timings.runtime = performance.now();
  page.runtimeBytes = total;
}

page.runtime = runtimeProgress().catch((e) => console.warn("webinfer: the runtime's download could not be counted", e));
