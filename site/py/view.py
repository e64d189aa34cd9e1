"""The chat page's view: what the page shows, written from Python on the main thread (MicroPython).

What it is: small functions over the page's elements (pyscript.web): the state on
body[data-state], the status line (short, with the details behind "why?"), the notice, the
progress bar with bytes, rate and time left, and the transcript. Model text enters the page only
as text (Text nodes and textContent), never as HTML.
What it is not: the page's logic (main.py) or the engine (worker.py).
"""

import js
from pyscript.web import page

import store

STATES = ("booting", "loading", "ready", "generating", "error")


def el(element_id: str):
    """The page element with this id (a pyscript.web Element)."""
    return page[f"#{element_id}"][0]


def set_state(state: str) -> None:
    assert state in STATES, state
    js.document.body.dataset.state = state
    ready = state == "ready"
    el("prompt").disabled = state not in ("ready", "generating")
    el("send").disabled = not ready
    el("stop").disabled = state != "generating"
    el("load-model").disabled = state in ("booting", "loading", "generating")
    el("device").disabled = state in ("booting", "loading", "generating")


def state() -> str:
    return js.document.body.dataset.state


def short_device(description: str) -> tuple[str, str]:
    """("WebGPU" | "CPU (NumPy)", the reason or adapter) from webinfer's "kind: detail" description."""
    kind, detail = (str(description).split(": ", 1) + [""])[:2]
    label = {"webgpu": "WebGPU", "numpy": "CPU (NumPy)"}.get(kind, kind)
    return label, detail if detail != "requested" else "chosen in Settings"


def status(text: str, detail: str = "") -> None:
    """The one-line status; `detail` (the full reason) sits behind the "why?" button and the tooltip."""
    el("status").textContent = text
    el("status").title = detail
    why, box = el("status-why"), el("status-detail")
    box.textContent = detail
    why.hidden = not detail
    if not detail:
        box.hidden = True
        why.setAttribute("aria-expanded", "false")


def toggle_detail() -> None:
    box = el("status-detail")
    box.hidden = not box.hidden
    el("status-why").setAttribute("aria-expanded", "false" if box.hidden else "true")


def notice(text) -> None:
    box = el("notice")
    box.textContent = text or ""
    box.hidden = not text


def ask(text) -> None:
    """The question a tight model waits on (#fit-ask: its text, "Load anyway", "Cancel"); None hides it."""
    el("fit-ask-text").textContent = text or ""
    el("fit-ask").hidden = not text


def progress(label: str, done: float = 0, total: float = 0) -> None:
    """Show the bar with a label; total 0 shows an indeterminate bar (a stage with no count)."""
    js.window.webinferPage.progressOwner = "python"
    el("progress-wrap").hidden = False
    bar = el("progress")
    if total:
        # as floats: MicroPython hands JS a big int (a file past 2 GB) wrongly
        bar.max, bar.value = float(total), float(min(done, total))
    else:
        bar.removeAttribute("value")             # indeterminate
    el("progress-label").textContent = label


def progress_bytes(what: str, snap: dict) -> None:
    """"Downloading X: 40.1 / 98.0 MB · 31.2 MB/s · 2 s left" from a store.Meter snapshot."""
    done, total, rate, left = snap["done"], snap["total"], snap.get("rate"), snap.get("left_s")
    text = what + ": " + store.format_bytes(done) + (" / " + store.format_bytes(total) if total else "")
    if rate:
        text += " · " + store.format_bytes(rate) + "/s"
    if left:
        text += " · {:.0f} s left".format(left)
    progress(text, done, total)


def hide_progress() -> None:
    el("progress-wrap").hidden = True


# ---- the transcript ---------------------------------------------------------------------------


def _near_bottom(box) -> bool:
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48


def bubble(role: str, text: str):
    """Append a message; returns its DOM element."""
    el("empty-hint").hidden = True
    box = js.document.getElementById("transcript")
    div = js.document.createElement("div")
    div.className = "msg " + role
    div.textContent = text
    box.append(div)
    box.scrollTop = box.scrollHeight
    return div


class Answer:
    """The assistant message being streamed: #output, grown one Text-node append per delta; the
    transcript follows it while the reader is at the bottom (scrolling up to read stops that).
    An answer in JSON mode (class "json") is set in a monospace font."""

    def __init__(self, json_mode: bool = False):
        old = js.document.getElementById("output")
        if old:
            old.removeAttribute("id")
        self.div = bubble("assistant", "")
        self.div.id = "output"
        self.div.classList.add("streaming")
        if json_mode:
            self.div.classList.add("json")
        self.node = self.div.appendChild(js.document.createTextNode(""))

    def add(self, text: str) -> None:
        box = js.document.getElementById("transcript")
        follow = _near_bottom(box)
        self.node.appendData(text)
        if follow:
            box.scrollTop = box.scrollHeight

    def end(self, stopped: bool = False) -> None:
        self.div.classList.remove("streaming")
        if stopped:
            self.div.classList.add("stopped")

    def replace(self, text: str) -> None:
        """Show `text` instead of what streamed (the JSON answer pretty-printed), as text."""
        self.node.data = text


def clear_transcript() -> None:
    msgs = js.document.querySelectorAll("#transcript .msg, #transcript .sources")
    for i in range(msgs.length):
        msgs[i].remove()
    el("empty-hint").hidden = False


def render_cache(items: list, est) -> None:
    ul = js.document.getElementById("cache-list")
    ul.replaceChildren()
    for it in items:
        li = js.document.createElement("li")
        name = it["name"]
        if "/models/embed/" in it["url"]:          # the Documents panel's embedding model, a file of it
            name = "embedding model " + it["url"].split("/models/embed/")[1]
        li.textContent = name + " — " + store.format_bytes(it["size"])
        li.title = it["url"]
        ul.append(li)
    if not items:
        li = js.document.createElement("li")
        li.textContent = "nothing cached yet"
        li.className = "muted"
        ul.append(li)
    el("cache-estimate").textContent = ("Storage used {} of {} available to this site.".format(
        store.format_bytes(est["usage"]), store.format_bytes(est["quota"])) if est else "")


# ---- the Documents panel ----------------------------------------------------------------------


def _text_el(tag: str, text: str, cls: str = ""):
    node = js.document.createElement(tag)
    node.textContent = text          # a document's name and text only ever as text
    if cls:
        node.className = cls
    return node


def render_docs(listing: dict) -> None:
    """The stored documents (name, chunks, size, a Delete button each) and where they are kept."""
    ul = js.document.getElementById("doc-list")
    ul.replaceChildren()
    for d in listing["docs"]:
        li = js.document.createElement("li")
        li.append(_text_el("span", "{} — {} chunk{} · {}".format(
            d["name"], d["chunks"], "" if d["chunks"] == 1 else "s", store.format_bytes(d["bytes"]))))
        button = _text_el("button", "Delete", "ghost")
        button.type = "button"
        button.dataset.docId = str(d["id"])
        button.setAttribute("aria-label", "Delete " + d["name"])
        li.append(button)
        ul.append(li)
    if not listing["docs"]:
        ul.append(_text_el("li", "no documents yet", "muted"))
    el("doc-clear").disabled = not listing["docs"]
    el("doc-store").textContent = (
        "Stored in this browser (its private file system): they stay after a reload, and nothing is uploaded."
        if listing["persistent"] else
        "This browser's private file system is unavailable here (" + listing["why"] + "): documents are kept "
        "in memory for this session only. Nothing is uploaded.")


def json_error(text) -> None:
    """Why the JSON schema cannot be used, under the schema box (#json-error), as text; None hides it."""
    box = el("json-error")
    box.textContent = text or ""
    box.hidden = not text


def doc_error(text) -> None:
    box = el("doc-error")
    box.textContent = text or ""
    box.hidden = not text


def doc_busy(text) -> None:
    box = el("doc-busy")
    box.textContent = text or ""
    box.hidden = not text
    for element_id in ("doc-add", "doc-files", "doc-clear"):
        el(element_id).disabled = bool(text)


def sources(used: list) -> None:
    """Under the last answer: the chunks its prompt held (document, chunk number, score), collapsed."""
    box = js.document.getElementById("transcript")
    details = js.document.createElement("details")
    details.className = "sources"
    details.append(_text_el("summary", "Sources: {} passage{} from your documents".format(
        len(used), "" if len(used) == 1 else "s")))
    for i, s in enumerate(used):
        item = _text_el("div", "", "source")
        head = "[{}] {} · chunk {} · score {:.3f}".format(i + 1, s["doc"], s["ordinal"] + 1, s["score"])
        item.append(_text_el("p", head, "source-head"))
        item.append(_text_el("blockquote", s["text"], "source-text"))
        details.append(item)
    box.append(details)
