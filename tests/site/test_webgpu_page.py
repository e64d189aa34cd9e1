"""The chat page in Chromium with WebGPU on SwiftShader (a CPU emulation of a GPU).

"auto" picks NumPy there, because an emulated adapter is far slower than NumPy on the same CPU,
and the status says why; the Settings selector forces WebGPU, the page reloads the model on it,
and a greedy answer equals HF transformers' golden continuation. SwiftShader decodes ~0.1 tok/s
on this model, so the answer is short. The Documents panel's embedding model (the tests' tiny
BERT, `?embedder=test`) runs where the chat model runs: on NumPy first, then, once the chat model
moves to WebGPU, loaded again there.
"""

from __future__ import annotations

import pytest

from chat_page import ask, assert_clean, golden, open_settings, set_greedy, wait_ready

pytestmark = [pytest.mark.slow]


def add_document(page, name: str, text: str) -> dict:
    """Paste a document in the Documents panel; the page's record of the add (chunks, device)."""
    if not page.evaluate("() => document.getElementById('docs-panel').open"):
        page.click("#docs-panel summary")
    page.wait_for_function("() => document.getElementById('doc-busy').hidden", timeout=60_000)
    page.fill("#doc-name", name)
    page.fill("#doc-text", text)
    page.click("#doc-add")
    page.wait_for_function(f"() => document.getElementById('doc-list').textContent.includes({name!r})",
                           timeout=300_000)
    assert page.is_hidden("#doc-error"), page.inner_text("#doc-error")
    return page.evaluate("() => window.webinferPage.documents.added")


def test_auto_prefers_numpy_then_webgpu_forced(open_page, model_file, screenshot):
    prompt, expected = golden(model_file)
    page, rec = open_page(webgpu=True, path="?embedder=test")
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("CPU (NumPy)"), page.inner_text("#status")
    device = page.evaluate("() => window.webinferPage.device")
    assert "SwiftShader" in device or "swiftshader" in device.lower(), device
    added = add_document(page, "bakery.txt", "The bakery on Mill Street opens at six.")
    assert added["device"].startswith("numpy"), added
    open_settings(page)
    page.select_option("#device", "webgpu")
    page.wait_for_function("() => document.body.dataset.state === 'loading'", timeout=10_000)
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("WebGPU"), page.inner_text("#status")
    assert page.evaluate("() => window.webinferPage.device").startswith("webgpu: ")
    n = 3
    set_greedy(page, n)
    assert ask(page, prompt, timeout=600_000) == expected(n)
    assert page.inner_text("#status").startswith("WebGPU") and "tok/s" in page.inner_text("#status")
    screenshot(page, "site_webgpu")

    # The embedding model follows the chat model onto WebGPU (py/documents.py), and a document goes in.
    added = add_document(page, "island.txt", "The lighthouse keeper on Skerry Island is named Oswin Tamberlake.")
    assert added["chunks"] == 1 and added["device"].startswith("webgpu: "), added
    assert_clean(page, rec)
