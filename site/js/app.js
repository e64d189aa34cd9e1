// The chat page's main thread: UI, model bytes (store.js), and messages to/from the worker.
//
// Python never runs here (see worker.js), so typing, scrolling and Stop stay responsive while the
// model works. Model output only ever enters the page as text (Text nodes / textContent), never
// as HTML. For tests and embedders: body[data-state] is booting | loading | ready | generating |
// error, body[data-model-source] is network | cache | file, and window.webinferPage holds the
// timings and the last answer's numbers.
import { clearCached, fetchModel, formatBytes, listCached, storageEstimate } from "./store.js";

const $ = (id) => document.getElementById(id);
const ui = {
  prompt: $("prompt"), send: $("send"), stop: $("stop"), status: $("status"), notice: $("notice"),
  progress: $("progress"), progressWrap: $("progress-wrap"), progressLabel: $("progress-label"),
  transcript: $("transcript"), emptyHint: $("empty-hint"), newChat: $("new-chat"),
  modelForm: $("model-form"), modelUrl: $("model-url"), modelFile: $("model-file"),
  cacheList: $("cache-list"), cacheEstimate: $("cache-estimate"), cacheClear: $("cache-clear"),
  modelPanel: $("model-panel"), temperature: $("temperature"), temperatureValue: $("temperature-value"),
  topP: $("top-p"), topK: $("top-k"), maxTokens: $("max-tokens"), systemPrompt: $("system-prompt"),
};
const page = { timings: { start: 0 }, lastResult: null, device: "", model: "" };
window.webinferPage = page;

let config = null;
let output = null;        // {el, text}: the answer being streamed (el is #output)
let booted = null;        // resolves when the worker has Python + webinfer ready
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });

// ---- small view helpers -----------------------------------------------------------------------
function setState(state) {
  document.body.dataset.state = state;
  const ready = state === "ready";
  ui.prompt.disabled = !ready && state !== "generating";
  ui.send.disabled = !ready;
  ui.stop.disabled = state !== "generating";
  $("load-model").disabled = state === "loading" || state === "booting" || state === "generating";
}

function status(text) {
  ui.status.textContent = text;
}

function notice(text) {
  ui.notice.textContent = text ?? "";
  ui.notice.hidden = !text;
}

// bytes: done/total are bytes (a download); otherwise they are steps (webinfer counts tensors).
function progress(label, done, total, bytes = true) {
  ui.progressWrap.hidden = false;
  ui.progress.max = total || 1;
  ui.progress.value = total ? done : 0;
  const pct = total ? `${Math.floor((100 * done) / total)}%` : "";
  const amount = bytes ? `${formatBytes(done)}${total ? " / " + formatBytes(total) : ""} ` : "";
  ui.progressLabel.textContent = `${label}: ${amount}${bytes && pct ? `(${pct})` : pct}`;
  if (total && done >= total && label !== "Downloading") setTimeout(() => (ui.progressWrap.hidden = true), 400);
}

// "webgpu: NVIDIA ..." -> "WebGPU: NVIDIA ..."; "numpy: no navigator.gpu" -> "NumPy (no navigator.gpu)"
function deviceLabel(desc) {
  const [kind, ...rest] = String(desc).split(": ");
  const why = rest.join(": ");
  if (kind === "webgpu") return `WebGPU: ${why}`;
  if (kind === "numpy") return why && why !== "requested" ? `NumPy (${why})` : "NumPy";
  return desc;
}

function bubble(role, text) {
  ui.emptyHint.hidden = true;
  const el = document.createElement("div");
  el.className = `msg ${role}`;
  el.textContent = text;
  ui.transcript.append(el);
  el.scrollIntoView({ block: "end" });
  return el;
}

// ---- model loading ------------------------------------------------------------------------------
async function loadModel(source) {
  setState("loading");
  notice(null);
  clearTranscript();
  let buffer, name;
  if (source.file) {
    name = source.file.name;
    status(`Reading ${name}…`);
    buffer = await source.file.arrayBuffer();
    document.body.dataset.modelSource = "file";
  } else {
    name = decodeURIComponent(new URL(source.url, location.href).pathname.split("/").pop());
    status(`Fetching ${name}…`);
    const got = await fetchModel(source.url, (d, t) => progress("Downloading", d, t));
    ({ buffer } = got);
    document.body.dataset.modelSource = got.fromCache ? "cache" : "network";
    if (got.notice) notice(got.notice);
    refreshCache();
  }
  page.timings.bytes = performance.now();
  await booted;
  status(`Loading ${name} (${formatBytes(buffer.byteLength)})…`);
  page.model = name;
  worker.postMessage({ op: "load", buffer, name, device: "auto" }, [buffer]);
}

async function refreshCache() {
  try {
    const items = await listCached();
    ui.cacheList.replaceChildren(...items.map((it) => {
      const li = document.createElement("li");
      li.textContent = `${it.name} — ${formatBytes(it.size)}`;
      li.title = it.url;
      return li;
    }));
    if (!items.length) ui.cacheList.replaceChildren(Object.assign(document.createElement("li"), { textContent: "nothing cached yet", className: "muted" }));
    const est = await storageEstimate();
    ui.cacheEstimate.textContent = est ? `Storage used ${formatBytes(est.usage)} of ${formatBytes(est.quota)} available to this site.` : "";
  } catch (e) {
    ui.cacheEstimate.textContent = `Cache Storage unavailable here (${e?.name ?? e}).`;
  }
}

// ---- chat ---------------------------------------------------------------------------------------
function settings() {
  const num = (el) => (el.value === "" ? null : Number(el.value));
  return { temperature: num(ui.temperature), top_p: num(ui.topP), top_k: num(ui.topK), max_tokens: num(ui.maxTokens) };
}

function send() {
  const text = ui.prompt.value.trim();
  if (!text || document.body.dataset.state !== "ready") return;
  ui.prompt.value = "";
  bubble("user", text);
  $("output")?.removeAttribute("id");
  const el = bubble("assistant", "");
  el.id = "output";
  el.classList.add("streaming");
  output = { el, node: el.appendChild(document.createTextNode("")) };
  setState("generating");
  status(`${deviceLabel(page.device)} · thinking…`);
  worker.postMessage({ op: "send", text, settings: settings() });
}

function clearTranscript() {
  ui.transcript.querySelectorAll(".msg").forEach((m) => m.remove());
  ui.emptyHint.hidden = false;
  output = null;
}

function newChat() {
  if (document.body.dataset.state === "generating") worker.postMessage({ op: "stop" });
  clearTranscript();
  worker.postMessage({ op: "reset", system: ui.systemPrompt.value.trim() });
  ui.prompt.focus();
}

// ---- worker events ------------------------------------------------------------------------------
const handlers = {
  booting: ({ what }) => { if (["booting", "loading"].includes(document.body.dataset.state)) status(`Starting ${what}…`); },
  booted: ({ ms, gpu }) => { page.timings.booted = performance.now(); page.timings.bootMs = ms; page.gpu = gpu; },
  progress: ({ stage, done, total }) => progress(
    stage === "upload" ? "Loading weights onto the device" : "Reading model", done, total, stage !== "upload"),
  loaded: ({ device, model, ms }) => {
    page.device = device;
    page.timings.ready = performance.now();
    page.timings.loadMs = ms;
    ui.progressWrap.hidden = true;
    const cached = document.body.dataset.modelSource === "cache" ? " (model from cache)" : "";
    status(`${deviceLabel(device)} · ${model} · ready${cached}`);
    setState("ready");
    ui.prompt.focus();
  },
  delta: ({ text }) => {
    if (!output) return;
    output.node.appendData(text);
    output.el.scrollIntoView({ block: "end" });
  },
  done: ({ result }) => {
    page.lastResult = result;
    if (output) {
      output.el.classList.remove("streaming");
      if (result.finish_reason === "cancelled") output.el.classList.add("stopped");
    }
    output = null;
    const speed = `${result.decode_tok_s.toFixed(1)} tok/s decode, ${result.prefill_tok_s.toFixed(1)} tok/s prefill`;
    const why = result.finish_reason === "cancelled" ? " · stopped" : "";
    status(`${deviceLabel(result.device)} · ${speed} · ${result.completion_tokens} tokens${why}`);
    setState("ready");
  },
  error: ({ during, message }) => {
    const lines = String(message).trim().split("\n");
    console.error(`webinfer worker (${during}):`, message);
    notice(`Error while ${{ boot: "starting Python", load: "loading the model", send: "answering" }[during] ?? during}: ${lines[lines.length - 1]}`);
    output?.el.classList.remove("streaming");
    output = null;
    if (during === "send") setState("ready");
    else { setState("error"); status("Not ready: see the message above. Pick another model or reload the page."); }
    $("load-model").disabled = during === "boot";
  },
};

let bootedResolve;
booted = new Promise((r) => (bootedResolve = r));
worker.onmessage = ({ data }) => {
  if (data.ev === "booted") bootedResolve();
  handlers[data.ev]?.(data);
};
worker.onerror = (e) => handlers.error({ during: "boot", message: e.message || "the worker failed to start" });

// ---- wiring -------------------------------------------------------------------------------------
ui.prompt.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.send.addEventListener("click", send);
ui.stop.addEventListener("click", () => worker.postMessage({ op: "stop" }));
ui.newChat.addEventListener("click", newChat);
ui.temperature.addEventListener("input", () => (ui.temperatureValue.textContent = ui.temperature.value));
ui.modelPanel.addEventListener("toggle", () => ui.modelPanel.open && refreshCache());
ui.cacheClear.addEventListener("click", async () => { await clearCached(); refreshCache(); });
ui.modelForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const kind = new FormData(ui.modelForm).get("model-source");
  if (kind === "file" && !ui.modelFile.files[0]) return notice("Choose a .gguf file first.");
  if (kind === "url" && !ui.modelUrl.value.trim()) return notice("Enter a GGUF URL first.");
  const source = kind === "file" ? { file: ui.modelFile.files[0] }
    : { url: kind === "url" ? ui.modelUrl.value.trim() : config.default_model.url };
  loadModel(source).catch((err) => handlers.error({ during: "load", message: String(err?.message ?? err) }));
});
// Choosing a file or typing a URL selects that source.
ui.modelFile.addEventListener("change", () => (ui.modelForm.elements["model-source"].value = "file"));
ui.modelUrl.addEventListener("input", () => (ui.modelForm.elements["model-source"].value = "url"));

async function main() {
  page.timings.start = performance.now();
  setState("booting");
  config = await (await fetch("./site-config.json")).json();
  $("default-model-name").textContent = config.default_model.name;
  worker.postMessage({ op: "boot", config });
  // The download (or cache read) overlaps Python's start-up.
  await loadModel({ url: config.default_model.url });
}

main().catch((err) => handlers.error({ during: "boot", message: String(err?.message ?? err) }));
