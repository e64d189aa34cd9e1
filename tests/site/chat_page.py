"""Helpers the chat-page tests share: driving the page as a user does, and reading what it recorded.

Predicates are passed to Playwright as functions: it evals a bare expression inside the page,
which the page's CSP (rightly) forbids; a function is called through the DevTools protocol instead.
"""

from __future__ import annotations

import json
from pathlib import Path

GOLDENS = Path(__file__).resolve().parents[1] / "goldens" / "smollm2_q4_1.json"
CASE = "chat_climate_change"
READY_TIMEOUT_MS = 240_000


def golden(model_file):
    """(user message, function n -> the golden greedy text of its first n tokens), from HF transformers."""
    from webinfer.formats.gguf import read_gguf
    from webinfer.tokenizer import Tokenizer
    case = next(c for c in json.loads(GOLDENS.read_text())["cases"] if c["name"] == CASE)
    tok = Tokenizer.from_metadata(read_gguf(model_file).metadata)
    return case["messages"][-1]["content"], lambda n: tok.decode(case["generated_ids"][:n])


def state(page) -> str:
    return page.evaluate("() => document.body.dataset.state")


def wait_state(page, states=("ready", "error"), timeout=READY_TIMEOUT_MS) -> str:
    page.wait_for_function("(s) => s.includes(document.body.dataset.state)", arg=list(states), timeout=timeout)
    return state(page)


def wait_ready(page, rec=None, timeout=READY_TIMEOUT_MS) -> None:
    got = wait_state(page, timeout=timeout)
    if got != "ready":
        tail = "\n".join(rec.console[-30:]) if rec else ""
        raise AssertionError(f"page state {got!r}: notice {page.inner_text('#notice')!r}, "
                             f"status {page.inner_text('#status')!r}\n{tail}")


def open_settings(page) -> None:
    if not page.evaluate("() => document.getElementById('settings-panel').open"):
        page.click("#settings-panel summary")


def set_greedy(page, max_tokens: int) -> None:
    open_settings(page)
    page.fill("#temperature", "0")
    page.fill("#max-tokens", str(max_tokens))


def ask(page, text: str, timeout=READY_TIMEOUT_MS) -> str:
    """Type a message, press Enter, wait for the whole answer; returns #output's text."""
    page.fill("#prompt", text)
    n = page.evaluate("() => window.__rec.states.length")
    page.press("#prompt", "Enter")
    page.wait_for_function("(n) => window.__rec.states.slice(n).includes('generating')", arg=n, timeout=10_000)
    page.wait_for_function("() => document.body.dataset.state !== 'generating'", timeout=timeout)
    return page.text_content("#output")


def load_source(page, kind: str, value: str | None = None) -> None:
    """Pick a source in the Model panel and press Load model (kind: default | url | file); returns
    once the page has entered "loading" (however briefly) and left it."""
    if not page.evaluate("() => document.getElementById('model-panel').open"):
        page.click("#model-panel summary")
    if kind == "url":
        page.fill("#model-url", value)
    elif kind == "file":
        page.set_input_files("#model-file", value)
    page.check(f"input[name=model-source][value={kind}]")
    n = page.evaluate("() => window.__rec.states.length")
    page.click("#load-model")
    page.wait_for_function("(n) => window.__rec.states.slice(n).includes('loading')", arg=n, timeout=10_000)
    wait_state(page)


def cached_names(page, wait_for: str | None = None) -> list[str]:
    """The paths in the page's model cache; with wait_for, once that one is there (the worker writes
    a model there in the background, streamed from its heap, after the load)."""
    names = """async () => {
      const c = await caches.open('webinfer-models-v1');
      return (await c.keys()).map((r) => new URL(r.url).pathname); }"""
    for _ in range(300 if wait_for else 0):        # (wait_for_function does not await a Promise)
        if wait_for in page.evaluate(names):
            break
        page.wait_for_timeout(100)
    return page.evaluate(names)


def violations(page) -> list:
    """The page's record of Content-Security-Policy violations (its own and its worker's)."""
    return page.evaluate("() => window.webinferPage.cspViolations")


def lines(page) -> list[str]:
    return page.evaluate("() => window.__rec.lines")


def assert_clean(page, rec, allowed_errors=()) -> None:
    assert rec.foreign == [], f"requests left 127.0.0.1: {rec.foreign}"
    assert violations(page) == [], f"Content-Security-Policy violations: {violations(page)}"
    errors = [e for e in rec.errors if not any(a in e for a in allowed_errors)]
    assert errors == [], f"console/page errors: {errors}"
    assert rec.dialogs == [], f"the page opened dialogs: {rec.dialogs}"
