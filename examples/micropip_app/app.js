// JavaScript because this example is a plain Pyodide app (no PyScript), and such an app boots Pyodide from JS.
// The JavaScript half of the library example: boot the site's local Pyodide, run app.py.
// Paths are the site's: /pyodide/ (the offline dist), /wheels/ and /models/ (site-config.json).
// Any failure is written on the page, not only to the console.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const out = document.getElementById("out");
const go = document.getElementById("go");
const say = (text) => { out.textContent += text; };
document.body.dataset.state = "loading";
const fail = (err) => {
  say(`\nError: ${err?.message ?? err}\n`);
  document.body.dataset.state = "error";
};
window.addEventListener("error", (e) => fail(e.error ?? e.message));        // this module's own failure
window.addEventListener("unhandledrejection", (e) => fail(e.reason));      // a failed click handler

const config = await (await fetch("/site-config.json")).json();
const pyodide = await loadPyodide({ indexURL: "/pyodide/" });
await pyodide.loadPackage(["micropip", "numpy"]);
pyodide.runPython(await (await fetch("./app.py")).text());
const app = pyodide.globals;
const wheelUrl = new URL(config.wheel, location.origin + "/").href;
say(`webinfer ${await app.get("install")(wheelUrl)} installed from ${wheelUrl}\n`);
const model = await app.get("load_model")(new URL(config.default_model.url, location.origin + "/").href);
say(`loaded ${model.toString()}\n\n`);
go.disabled = false;
document.body.dataset.state = "ready";
go.addEventListener("click", async () => {
  go.disabled = true;
  say(`> ${document.getElementById("prompt").value}\n`);
  document.body.dataset.state = "generating";
  await app.get("generate")(model, document.getElementById("prompt").value, say);
  say("\n\n");
  go.disabled = false;
  document.body.dataset.state = "ready";
});
