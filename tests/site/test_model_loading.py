"""Loading models in the chat page: what a user can get wrong, a local file, a full disk, a phone.

A failed load (a missing file, a file that is not a GGUF, a URL on another origin) keeps the model
and the conversation, caches nothing, hides the progress bar and says what went wrong in words;
the URL box takes a relative path (its placeholder) and a leftover URL does not block loading the
built-in model. A local GGUF chosen with the file picker loads and answers; with a full disk the
model still loads, with a notice; at a phone's width nothing overflows and the streamed answer
stays in view above the composer.
"""

from __future__ import annotations

import pytest

from chat_page import ask, assert_clean, cached_names, golden, load_source, set_greedy, violations, wait_ready

pytestmark = [pytest.mark.slow]


def failed_load(page, kind, value) -> str:
    """Load something that must fail; returns the notice after checking what must not change."""
    before = page.locator(".msg").count()
    load_source(page, kind, value)
    assert page.evaluate("() => document.body.dataset.state") == "ready", "a failed load must leave the chat usable"
    assert page.locator(".msg").count() == before, "a failed load must keep the conversation"
    assert page.evaluate("() => document.getElementById('progress-wrap').hidden"), "stale progress bar"
    assert "SmolLM2-135M-Instruct.Q4_1.gguf · ready" in page.inner_text("#status")
    return page.inner_text("#notice")


def test_failed_loads_keep_the_chat(open_page, model_file, site_dir):
    prompt, expected = golden(model_file)
    (site_dir / "models" / "notes.txt").write_text("not a model\n" * 100)
    page, rec = open_page(webgpu=False)
    wait_ready(page, rec)
    set_greedy(page, 3)
    assert ask(page, prompt) == expected(3)

    notice = failed_load(page, "url", "/models/missing.gguf")          # the placeholder's shape
    assert "HTTP 404" in notice, notice
    notice = failed_load(page, "url", "models/notes.txt")
    assert "not a model webinfer can read" in notice and "magic" in notice.lower(), notice
    notice = failed_load(page, "url", "https://models.example.com/x.gguf")
    assert "own origin" in notice and "Local GGUF file" in notice, notice
    blocked = violations(page)
    assert [v["directive"] for v in blocked] == ["connect-src"] and "models.example.com" in blocked[0]["blocked"], blocked
    model = "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    assert cached_names(page, wait_for=model) == [model], "a failed load was cached"

    # A leftover URL does not stand in the way of the built-in model; the chat goes on after it.
    page.fill("#model-url", "https://models.example.com/x.gguf")
    load_source(page, "default")
    wait_ready(page, rec)
    assert page.inner_text("#notice") == ""
    assert page.evaluate("() => document.body.dataset.modelSource") == "cache"
    set_greedy(page, 2)
    ask(page, "Thanks!")
    assert page.locator(".msg.user").count() == 2
    page.evaluate("() => { window.webinferPage.cspViolations.length = 0; }")   # the one provoked above
    assert_clean(page, rec, allowed_errors=("models.example.com", "404"))


def test_local_file_full_disk_and_phone(open_page, model_file, screenshot):
    prompt, expected = golden(model_file)
    # A site quota (set through the DevTools protocol) too small for the model: the browser refuses to
    # cache it, and the page must still load it and say so.
    page, rec = open_page(webgpu=False, quota=16 << 20, viewport={"width": 390, "height": 700})
    wait_ready(page, rec)
    page.wait_for_function("() => document.getElementById('notice').textContent.includes('Not enough browser storage')",
                           timeout=30_000)      # the model is cached after it loaded, while the page is ready
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390, "the page overflows a phone screen"
    load_source(page, "file", str(model_file))
    wait_ready(page, rec)
    assert page.inner_text("#notice") == "", "a notice of the earlier load was left standing"
    assert page.evaluate("() => document.body.dataset.modelSource") == "file"
    assert model_file.name in page.inner_text("#status")
    page.click("#model-panel summary")
    set_greedy(page, 4)
    page.click("#settings-panel summary")
    assert ask(page, prompt) == expected(4)
    # A longer answer on a short screen: its last line stays in view, above the composer.
    set_greedy(page, 64)
    page.click("#settings-panel summary")
    ask(page, "Tell me more about it.")
    box = page.evaluate("""() => {
      const r = (id) => document.getElementById(id).getBoundingClientRect();
      const text = document.createRange();
      text.selectNodeContents(document.getElementById('output'));
      const lines = text.getClientRects();
      const t = document.getElementById('transcript');
      return {text_bottom: lines[lines.length - 1].bottom, box_bottom: r('output').bottom, main_bottom: r('transcript').bottom,
              composer_top: document.querySelector('.composer').getBoundingClientRect().top,
              scrolls: t.scrollHeight > t.clientHeight};
    }""")
    screenshot(page, "site_phone")
    assert box["scrolls"], f"the test needs an answer taller than the transcript: {box}"
    # The answer's last line of text is inside its bubble, and both are in view above the composer.
    assert box["text_bottom"] <= box["box_bottom"] + 1, box
    assert box["box_bottom"] <= box["main_bottom"] + 2 and box["box_bottom"] <= box["composer_top"] + 2, box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert_clean(page, rec)
