"""The chat page's JSON mode (Settings → JSON, #json-mode and #json-schema) with the shipped model, on
NumPy, in headless Chromium under the served CSP: a schema that is not JSON and one with an
unsupported keyword show the library's message as text (under the box and in the notice) and
nothing is sent (turning JSON off takes the message away, on again checks the box at once);
under a good schema the greedy answer parses and validates (jsonschema), is shown indented, and
the page reports the per-token mask time.
"""

from __future__ import annotations

import json

import pytest

from chat_page import ask, assert_clean, open_settings, set_greedy, wait_ready

pytestmark = [pytest.mark.slow]

PERSON = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 30},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "city": {"enum": ["Paris", "London", "Rome"]}}, "required": ["name", "age", "city"]}
QUESTION = "Alice is 31 years old and lives in Paris. Give her name, age and city as JSON."


def refused(page, schema: str, shown: str = "") -> str:
    """Send a message under this schema; it must be refused before anything is sent. Returns the message.
    `shown` is the message the box shows before (a different schema's), which must be replaced."""
    page.fill("#json-schema", schema)
    page.fill("#prompt", QUESTION)
    page.press("#prompt", "Enter")
    # The box may still show the previous schema's message: wait for this schema's, in both places.
    page.wait_for_function("""previous => {
        const box = document.getElementById('json-error');
        const text = box.innerText.trim();
        return !box.hidden && text !== previous
            && document.getElementById('notice').innerText.includes(text);
    }""", arg=shown, timeout=30_000)
    assert page.locator(".msg").count() == 0, "a message was sent under a schema the library refuses"
    assert page.input_value("#prompt") == QUESTION               # the question stays, to send once fixed
    assert page.evaluate("() => document.body.dataset.state") == "ready"
    message = page.inner_text("#json-error")
    assert message in page.inner_text("#notice")
    return message


def test_json_mode_refuses_bad_schemas_and_answers_valid_json(open_page, screenshot):
    jsonschema = pytest.importorskip("jsonschema", reason="pip install jsonschema")
    page, rec = open_page(webgpu=False)
    wait_ready(page, rec)
    open_settings(page)
    set_greedy(page, 64)
    page.check("#json-mode")

    message = refused(page, '{"type": "object", "properties": ')
    assert message.startswith("The JSON schema is not valid JSON:"), message
    message = refused(page, '{"type": "string", "format": "<b>email</b>"}', message)
    assert "keyword 'format'" in message and "not supported" in message, message
    message = refused(page, '{"<b>x</b>": 1}', message)          # a name from the schema, shown as text
    assert "'<b>x</b>'" in message, message
    assert page.locator("#json-error b, #notice b").count() == 0
    # Turning JSON off takes the message away; on again, the schema is checked at once.
    page.uncheck("#json-mode")
    page.wait_for_function("() => document.getElementById('json-error').hidden", timeout=10_000)
    assert page.locator("#notice").is_hidden()
    page.check("#json-mode")
    page.wait_for_function("() => !document.getElementById('json-error').hidden", timeout=30_000)
    assert page.inner_text("#json-error") == message

    # Fixed: the message goes, the answer streams, parses, validates, and is shown indented.
    page.fill("#json-schema", json.dumps(PERSON))
    answer = ask(page, QUESTION)
    assert page.locator("#json-error").is_hidden() and page.locator("#notice").is_hidden()
    value = json.loads(answer)
    jsonschema.validate(value, PERSON)
    assert answer == json.dumps(value, indent=2, ensure_ascii=False), answer
    assert page.eval_on_selector("#output", "e => e.classList.contains('json')")
    result = page.evaluate("() => window.webinferPage.lastResult")
    jsonschema.validate(json.loads(result["text"]), PERSON)       # what the model wrote, before indenting
    mask = result["mask_ms"]
    assert mask["tokens"] >= result["completion_tokens"] and 0 < mask["median"] <= mask["p99"], mask
    page.click("#status-why")
    assert "JSON mask per token: median" in page.text_content("#status-detail")
    screenshot(page, "site_json_mode")

    # JSON off: a free answer again, with no mask.
    page.uncheck("#json-mode")
    set_greedy(page, 8)
    ask(page, "Hello!")
    assert page.evaluate("() => window.webinferPage.lastResult.mask_ms") is None
    assert not page.eval_on_selector("#output", "e => e.classList.contains('json')")
    assert_clean(page, rec)
