"""The chat page's logic, in Python on the main thread: state, settings, model picker, streaming
into the transcript, Stop, New chat, progress, status, and the model cache panel.

It runs on PyScript's MicroPython, the model on Pyodide in the PyScript worker "engine"
(py/worker.py): this module awaits the worker's exported functions and gives it five callbacks
(stage, progress, delta, notice, violation), so the main thread only ever does page work and stays responsive while
the model computes. MicroPython starts in a fraction of a second where a second Pyodide on the
main thread would compete with the worker's for the CPU at start-up (the page got ready about
twice as late that way; bench/RESULTS.md). What the page shows is view.py's;
Cache Storage is store.py's. For tests and embedders: body[data-state] (booting | loading | ready
| generating | error), body[data-model-source] (network | cache | file), window.webinferPage
(timings, device, model, lastResult: in JSON mode with json_text, the answer indented, mask_ms,
the per-token mask time: median, mean, p99, max, and setup_s, the grammar's setup).
"""

import asyncio
import json

import js
from pyscript import when, workers
from pyscript.ffi import create_proxy, to_js

import fit
import store
import view
from view import el

PAGE = js.window.webinferPage             # made by js/boot.js at the first moment
SETTINGS = {"temperature": "temperature", "top_p": "top-p", "top_k": "top-k", "max_tokens": "max-tokens"}

engine = None              # the worker's exported functions
site = {}                  # site-config.json, with absolute URLs
loaded = None              # what the worker said about the model in use (None: no model yet)
source = None              # where that model came from: {"kind": "url", "url"} or {"kind": "file", ...}
answer = None              # the view.Answer being streamed
touched = set()            # settings the user changed (a new model's recommendations keep off them)
pending = None             # (src, data) of a model that is tight, waiting for the user's "Load anyway"
checking = False           # a message's JSON schema is being checked (send() waits for the worker)


def now() -> float:
    return js.performance.now()


# ---- the worker's callbacks -------------------------------------------------------------------


def on_stage(text: str) -> None:
    """The worker's current step (the progress bar shows the bytes of the download beside it)."""
    if view.state() in ("booting", "loading"):
        view.status(f"{text}…")


def on_progress(report_json: str) -> None:
    r = json.loads(report_json)
    kind = r["kind"]
    if kind == "download":
        view.progress_bytes(f"Downloading {r['name']}", r)
    elif kind == "cache":
        view.progress_bytes(f"Reading {r['name']} from this browser's cache", r)
    elif kind == "file":
        view.progress_bytes(f"Reading {r['name']}", r)
    elif kind == "read":
        view.progress(f"Reading the model: {r['done']} of {r['total']}", r["done"], r["total"])
    elif kind == "embed":
        if r.get("stage") == "load":
            view.progress("Loading the embedding model " + r["name"] + "…")
        else:
            view.progress_bytes("Downloading the embedding model " + r["name"], r)
    elif kind == "upload":
        view.progress(f"Loading the weights: tensor {r['done']} of {r['total']}", r["done"], r["total"])


def on_delta(text: str) -> None:
    if answer is not None:
        answer.add(text)


def on_notice(text: str) -> None:
    view.notice(text)


def on_violation(report_json: str) -> None:
    PAGE.cspViolations.push(js.JSON.parse(report_json))
    js.console.warn("webinfer: the Content-Security-Policy blocked something in the worker: " + report_json)


# ---- model loading ------------------------------------------------------------------------------


def device_choice() -> str:
    return el("device").value


def apply_recommended(rec: dict) -> None:
    """Fill the sampling settings the user has not changed with the model's recommendations."""
    for key, element_id in SETTINGS.items():
        if element_id not in touched and rec.get(key) is not None:
            el(element_id).value = str(rec[key])
    el("temperature-value").textContent = el("temperature").value
    el("settings-source").textContent = "Defaults: " + rec.get("source", "webinfer") + "."


def ready_status(extra: str = "") -> None:
    label, detail = view.short_device(loaded["device"])
    view.status(label + " · " + loaded["model"] + " · ready" + extra, detail)


def no_model_status() -> None:
    view.set_state("error")
    view.status("No model loaded: pick one under Model, or reload the page.")


def file_size(f) -> int:
    """A File's size in bytes. MicroPython takes a JS integer as 32 bits (a 5 GB file's size reads as
    1 GB), so a size it cannot confirm is found by bisection: f.slice(a, a + 1) is one byte long
    exactly when the file is longer than a (slicing reads nothing; floats reach JS whole)."""
    def longer_than(a) -> bool:
        return f.slice(float(a), float(a + 1)).size == 1
    n = f.size
    if n >= 0 and not longer_than(n) and (n == 0 or longer_than(n - 1)):
        return n
    lo, hi = 0, 1 << 31
    while longer_than(hi - 1):
        lo, hi = hi, hi * 2
    while hi - lo > 1:                 # longer_than(lo - 1), not longer_than(hi - 1)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if longer_than(mid - 1) else (lo, mid)
    return lo


async def model_size(src: dict, data):
    """The model's size in bytes before anything is downloaded: a File's, the site's model's (from
    site-config.json), a URL's Content-Length (a HEAD request, on this origin only: another origin is
    blocked by the CSP, and the worker says so); None when it is not known."""
    if data is not None:
        return file_size(data)
    url = src["url"]
    if url == site["model"] and site.get("model_size"):
        return site["model_size"]
    if js.URL.new(url).origin != js.location.origin:
        return None
    try:
        resp = await js.fetch(url, to_js({"method": "HEAD"}))
        length = resp.headers.get("Content-Length") if resp.ok else None
        return int(length) if length else None
    except Exception:  # noqa: BLE001 - no answer: the worker's GET will say what is wrong
        return None


def judge(size: int, name: str) -> dict:
    """fit.verdict from the size alone (the worker judges the header again before loading), with what
    this page knows: the heap the worker has in use, the device, navigator.deviceMemory."""
    runtime = {"heap_limit": fit.WASM32_HEAP,
               "heap_in_use": loaded["heap_in_use"] if loaded else fit.RUNTIME_BYTES}
    if js.Reflect.has(js.navigator, "deviceMemory") and js.navigator.deviceMemory:
        runtime["device_memory"] = js.navigator.deviceMemory
    device = device_choice()
    if device == "auto":
        device = "webgpu" if loaded and loaded["device"].startswith("webgpu") else "numpy"
    return fit.verdict(size, None, runtime, device, name=name)


async def load_model(src: dict, data=None, confirmed: bool = False) -> None:
    """Ask the worker to load a model; on failure the model and chat in use stay, with a notice.
    First the model's size is judged (fit.py): one that cannot fit is refused before any download,
    one that is tight waits for the user's "Load anyway" (#fit-ask)."""
    global loaded, source, pending
    name = src.get("name") or store.file_name(src.get("url", ""))
    view.notice(None)
    view.ask(None)
    if not confirmed:
        size = await model_size(src, data)
        if size:
            v = judge(size, name)
            PAGE.fit = js.JSON.parse(json.dumps({"verdict": v["verdict"], "message": v["message"], "need": v["need"]}))
            if v["verdict"] != "fits":
                if v["verdict"] == "cannot":
                    view.notice(v["message"] + " The model in use stays." if loaded else v["message"])
                else:
                    pending = (src, data)
                    view.ask(v["message"] + " Loading it may fail, or slow this device down. Load it anyway?")
                if loaded is None:
                    no_model_status()
                return
    view.set_state("loading")
    view.status(f"Loading {name}…")
    view.progress(f"Loading {name}…")
    req = dict(src)
    req.update(device=device_choice(), wheel=site["wheel"], origin=js.location.origin)
    out = json.loads(await engine.load(json.dumps(req), data))
    view.hide_progress()
    PAGE.memory.heap = out["heap_bytes"]
    if not out["ok"]:
        view.notice("Could not load " + name + ". " + out["error"])
        if out.get("lost"):           # the model in use was freed for this one and could not be rebuilt
            loaded = source = None
            view.notice("Could not load " + name + ". " + out["error"] + " The model in use could not be rebuilt.")
        if loaded is not None:
            view.set_state("ready")
            ready_status()
        else:
            no_model_status()
        return
    loaded, source = out, (src, data)
    js.document.body.dataset.modelSource = out["source"]
    PAGE.device, PAGE.model = out["device"], out["model"]
    PAGE.timings.ready = now()
    PAGE.timings.loadMs = 1000 * out["load_s"]
    PAGE.memory.inUse = out["heap_in_use"]
    PAGE.memory.atLoad = out["heap_at_load"]
    PAGE.streamed = out["streamed"]
    apply_recommended(out["recommended"])
    ready_status(" (model from cache)" if out["source"] == "cache" else "")
    if out["fit"] == "tight" and not confirmed:      # tight by its header, though not by its size
        view.notice("Loaded, but memory is tight: " + out["fit_message"])
    view.set_state("ready")
    el("prompt").focus()


async def load_chosen() -> None:
    """The Model panel's "Load model": the source picked by its radio buttons."""
    kind = js.document.querySelector("input[name=model-source]:checked").value
    if kind == "file":
        files = el("model-file").files
        if not files.length:
            return view.notice("Choose a .gguf file first.")
        f = files.item(0)
        return await load_model({"kind": "file", "name": f.name}, f)
    if kind == "url":
        text = el("model-url").value.strip()
        if not text:
            return view.notice("Enter the URL of a GGUF file on this site first.")
        url = js.URL.new(text, js.document.baseURI).href
        return await load_model({"kind": "url", "url": url})
    await load_model({"kind": "url", "url": site["model"]})


# ---- chat ---------------------------------------------------------------------------------------


def settings() -> dict:
    return {key: el(element_id).value for key, element_id in SETTINGS.items()}


async def response_format(sending: bool = True):
    """Settings → JSON: {} when it is off, else the response_format the worker made of the schema
    box (empty: any JSON object); None when the box's schema cannot be used: the reason (the
    library's words) shows under the box and, for a message about to be sent, in the notice."""
    out = json.loads(await engine.response_format(el("json-schema").value)) if el("json-mode").checked else {"ok": True}
    if not out["ok"]:
        view.json_error(out["error"])
        if sending:
            view.notice(out["error"] + " Nothing was sent: fix the schema under Settings, or turn JSON off.")
        return None
    if not el("json-error").hidden:       # a problem shown before is fixed now, or JSON is off
        view.json_error(None)
        view.notice(None)
    return out.get("response_format", {})


async def check_format() -> None:
    """Check the schema as soon as it is edited or JSON is turned on (once the worker is up)."""
    if engine is not None and view.state() in ("ready", "generating"):
        await response_format(sending=False)


async def send() -> None:
    global answer, loaded, checking
    text = el("prompt").value.strip()
    if not text or view.state() != "ready" or checking:
        return
    checking = True
    try:
        fmt = await response_format()     # nothing is sent under a schema the library refuses
    finally:
        checking = False
    if fmt is None or view.state() != "ready":
        return
    ask_settings = settings()
    if fmt:
        ask_settings["response_format"] = fmt
    el("prompt").value = ""
    view.bubble("user", text)
    answer = view.Answer(json_mode=bool(fmt))
    view.set_state("generating")
    label, detail = view.short_device(loaded["device"])
    use_docs = el("use-docs").checked
    view.status(f"{label} · " + ("searching your documents…" if use_docs else "thinking…"), detail)
    out = json.loads(await engine.ask(text, json.dumps(ask_settings), json.dumps(site["embedder"]) if use_docs else ""))
    view.hide_progress()                  # the embedding model's, when this question loaded it
    cancelled = out.get("finish_reason") == "cancelled"
    answer.end(stopped=cancelled)
    if out.get("json_text"):              # JSON mode: the answer parsed, shown indented (as text)
        answer.replace(out["json_text"])
    answer = None
    if out.get("sources"):
        view.sources(out["sources"])
    elif use_docs and out["ok"]:
        view.notice("No documents are stored yet: this answer does not use any (add some under Documents).")
    if not out["ok"]:
        view.notice("Could not answer: " + out["error"])
        if out.get("lost"):               # the GPU failed and the model could not be reloaded on NumPy
            loaded = None
            no_model_status()
            return
        if out.get("device"):             # the GPU failed mid-answer: the model now runs on NumPy
            loaded["device"] = PAGE.device = out["device"]
        ready_status()
    else:
        PAGE.lastResult = js.JSON.parse(json.dumps(out))
        PAGE.memory.heap = out["heap_bytes"]
        why = " · stopped" if cancelled else ""
        mask = out.get("mask_ms")
        view.status("{} · {:.1f} tok/s · {} tokens{}".format(label, out["decode_tok_s"], out["completion_tokens"], why),
                    "{}\nprefill {:.1f} tok/s ({} prompt tokens), decode {:.1f} tok/s, finish reason: {}\ndecode step: {}".format(
                        detail, out["prefill_tok_s"], out["prompt_tokens"], out["decode_tok_s"], out["finish_reason"],
                        out["decode_path"]) + ("\nJSON mask per token: median {:.3f} ms, p99 {:.1f} ms".format(
                            mask["median"], mask["p99"]) if mask else ""))
    view.set_state("ready")
    el("prompt").focus()


async def new_chat() -> None:
    """The transcript is cleared at once (on_new_chat); the worker stops and starts a new chat."""
    if view.state() == "generating":
        await engine.stop()
    await engine.reset(el("system-prompt").value.strip())
    el("prompt").focus()


async def refresh_cache() -> None:
    try:
        view.render_cache(await store.list_cached(), await store.estimate())
    except Exception as e:  # noqa: BLE001 - e.g. Cache Storage disabled in this browser
        el("cache-estimate").textContent = "Cache Storage unavailable here (" + str(e) + ")."


# ---- documents ----------------------------------------------------------------------------------


def docs_ready() -> bool:
    """Whether the worker can take a Documents call (it installs webinfer with the first model)."""
    if engine is None or view.state() == "booting":
        view.doc_error("Python is still starting: try again in a moment.")
        return False
    return True


async def docs_call(busy: str, call) -> None:
    """Run one Documents call in the worker, showing `busy` meanwhile; its answer updates the list,
    or its error (the store's message) shows in the panel."""
    if not docs_ready():
        return
    view.doc_error(None)
    view.doc_busy(busy)
    try:
        out = json.loads(await call())
    finally:
        view.doc_busy(None)
        if view.state() == "ready":
            view.hide_progress()          # the embedding model's download, when this call loaded it
    if out["ok"]:
        view.render_docs(out)
        PAGE.documents = js.JSON.parse(json.dumps(out))
    else:
        view.doc_error(out["error"])
    return out["ok"]


async def add_pasted() -> None:
    name = el("doc-name").value.strip() or "pasted text"
    text = el("doc-text").value
    spec = json.dumps(site["embedder"])
    if await docs_call("Adding " + name + "…", lambda: engine.docs_add(spec, name, text)):
        el("doc-text").value = ""
        el("doc-name").value = ""


async def add_files() -> None:
    files = el("doc-files").files
    spec = json.dumps(site["embedder"])
    for i in range(files.length):
        f = files.item(i)
        if not await docs_call("Adding " + f.name + "…", lambda: engine.docs_add(spec, "", "", f)):
            break
    el("doc-files").value = ""


# ---- wiring -------------------------------------------------------------------------------------


def spawn(coro) -> None:
    """Run an event's work as a task; a failure shows as a notice instead of vanishing."""
    async def guarded():
        try:
            await coro
        except Exception as e:  # noqa: BLE001
            js.console.error("webinfer page: " + repr(e))
            view.notice("Something went wrong: " + str(e))
    asyncio.create_task(guarded())


@when("keydown", "#prompt")
def on_key(event) -> None:
    # Synchronous, so preventDefault() lands before the browser inserts the newline.
    if event.key == "Enter" and not event.shiftKey and not event.isComposing:
        event.preventDefault()
        spawn(send())


@when("click", "#send")
def on_send() -> None:
    spawn(send())


@when("click", "#stop")
def on_stop() -> None:
    spawn(engine.stop())


@when("click", "#new-chat")
def on_new_chat() -> None:
    view.clear_transcript()
    view.notice(None)
    spawn(new_chat())


@when("click", "#load-model")
def on_load() -> None:
    spawn(load_chosen())


@when("change", "#device")
def on_device() -> None:
    if loaded is not None and view.state() == "ready":
        src, data = source
        spawn(load_model(src, data))


@when("input", "#settings input")
def on_setting(event) -> None:
    touched.add(event.target.id)
    el("temperature-value").textContent = el("temperature").value


@when("change", "#json-mode")
def on_json_mode() -> None:
    spawn(check_format())


@when("change", "#json-schema")
def on_json_schema() -> None:
    spawn(check_format())


@when("toggle", "#model-panel")
def on_model_panel() -> None:
    if el("model-panel").open:
        spawn(refresh_cache())


@when("click", "#cache-clear")
def on_cache_clear() -> None:
    async def clear():
        await store.clear()
        await refresh_cache()
    spawn(clear())


@when("toggle", "#docs-panel")
def on_docs_panel() -> None:
    if el("docs-panel").open and engine is not None:
        spec = json.dumps(site["embedder"])
        spawn(docs_call("Opening the documents…", lambda: engine.docs_list(spec)))


@when("click", "#doc-add")
def on_doc_add() -> None:
    spawn(add_pasted())


@when("change", "#doc-files")
def on_doc_files() -> None:
    spawn(add_files())


@when("click", "#doc-list")
def on_doc_list(event) -> None:
    doc_id = event.target.getAttribute("data-doc-id")
    if doc_id:
        spec = json.dumps(site["embedder"])
        spawn(docs_call("Deleting…", lambda: engine.docs_delete(spec, int(doc_id))))


@when("click", "#doc-clear")
def on_doc_clear() -> None:
    spec = json.dumps(site["embedder"])
    spawn(docs_call("Deleting all documents…", lambda: engine.docs_clear(spec)))


@when("click", "#fit-load")
def on_fit_load() -> None:
    global pending
    if pending is not None:
        src, data = pending
        pending = None
        spawn(load_model(src, data, confirmed=True))


@when("click", "#fit-cancel")
def on_fit_cancel() -> None:
    global pending
    pending = None
    view.ask(None)


@when("click", "#status-why")
def on_why() -> None:
    view.toggle_detail()


def select_source(kind: str):
    def handler() -> None:
        js.document.querySelector("input[name=model-source][value=" + kind + "]").checked = True
    return handler


when("change", "#model-file", handler=select_source("file"))
when("input", "#model-url", handler=select_source("url"))


async def main() -> None:
    global engine, site
    view.set_state("booting")
    PAGE.timings.python = now()
    config = await (await js.fetch("./site-config.json")).json()
    base = js.document.baseURI
    site = {"wheel": js.URL.new(config.wheel, base).href, "model": js.URL.new(config.default_model.url, base).href,
            "model_size": json.loads(js.JSON.stringify(config.default_model)).get("size")}
    el("default-model-name").textContent = config.default_model.name
    # The embedding model of the Documents panel: the site's, or with ?embedder=test the tests' tiny
    # one where the build shipped it (tools/build_site.py --test-embedder).
    embedders = json.loads(js.JSON.stringify(config.embedders))
    pick = "test" if "embedder=test" in str(js.location.search) and "test" in embedders else "default"
    site["embedder"] = dict(embedders[pick])
    site["embedder"]["url"] = js.URL.new(embedders[pick]["url"], base).href
    # PyScript starts the worker from its tag in index.html as it starts this module (not from here:
    # that would wait for MicroPython). Its Pyodide fetches the runtime's files while js/boot.js
    # counts the same responses (the browser's HTTP cache shares them: one download), and the bar
    # shows that count until the runtime is in.
    view.status("Starting Python in the worker…")
    starting = workers["engine"]                        # a promise, resolved once the worker runs
    await PAGE.runtime
    view.progress("Starting Python in the worker…")
    engine = await starting
    callbacks = (("stage", on_stage), ("progress", on_progress), ("delta", on_delta), ("notice", on_notice),
                 ("violation", on_violation))
    for name, fn in callbacks:
        setattr(engine, name, create_proxy(fn))         # the worker calls them as pyscript.sync.<name>
    PAGE.timings.booted = now()
    await load_model({"kind": "url", "url": site["model"]})
    if el("docs-panel").open:            # opened while Python was starting: list the documents now
        await docs_call("Opening the documents…", lambda: engine.docs_list(json.dumps(site["embedder"])))


spawn(main())
