"""The chat page's Documents panel, as a user meets it, in headless Chromium on NumPy under the CSP
tools/serve.py sends.

With the tests' tiny BERT as the embedding model (`?embedder=test`; the build ships it beside
all-MiniLM-L6-v2), which keeps the test fast: what is checked is the page (the store, its
messages, retrieval into the prompt, the sources shown), not the embedding's quality
(tests/unit covers the embedder against HF transformers). Bad input (empty text, a binary file,
a PDF that is not one, a file over the store's 10 MiB) shows the store's own message and stores nothing; a
pasted document and files (Markdown, and a PDF written by fpdf2, its text extracted in the worker)
are listed, an answer with "Use documents" shows the chunk it used, from the PDF (as text); the
documents survive a reload (OPFS);
Delete removes one. The embedding model is fetched only once documents are used. Without OPFS
the panel says so and keeps documents in memory.
"""

from __future__ import annotations

import fpdf
import pytest

from chat_page import assert_clean, ask, lines, set_greedy, wait_ready

pytestmark = [pytest.mark.slow]

FACT = "The lighthouse keeper on Skerry Island is named Oswin Tamberlake and paints his boat <b>teal</b>."
QUESTION = "Who keeps the lighthouse on Skerry Island?"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def island_pdf() -> bytes:
    """FACT on one line of a PDF page (fpdf2, Helvetica: WinAnsi text in a Flate content stream)."""
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=8)
    pdf.cell(0, 8, FACT)
    return bytes(pdf.output())


def doc_list(page) -> str:
    return page.inner_text("#doc-list")


def wait_idle(page) -> None:
    """Until the panel's call in flight (if any) has answered."""
    page.wait_for_function("() => document.getElementById('doc-busy').hidden", timeout=120_000)


def doc_error_after(page, action) -> str:
    page.evaluate("() => { const e = document.getElementById('doc-error'); e.hidden = true; e.textContent = ''; }")
    action()
    page.wait_for_function("() => !document.getElementById('doc-error').hidden", timeout=60_000)
    wait_idle(page)
    return page.inner_text("#doc-error")


def embed_requests(rec) -> list[str]:
    return [u for u in rec.requests if "/models/embed/" in u]


def test_documents_panel(open_page, screenshot):
    page, rec = open_page(webgpu=False, path="?embedder=test")
    wait_ready(page, rec)

    # Opening the panel lists the (no) documents, from OPFS; the embedding model is not fetched yet.
    page.click("#docs-panel summary")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('no documents yet')",
                           timeout=60_000)
    assert "Stored in this browser" in page.inner_text("#doc-store"), page.inner_text("#doc-store")
    assert embed_requests(rec) == []

    # Bad input: the store's message, nothing stored.
    msg = doc_error_after(page, lambda: page.click("#doc-add"))
    assert "empty" in msg, msg
    msg = doc_error_after(page, lambda: page.set_input_files(
        "#doc-files", files=[{"name": "photo.txt", "mimeType": "text/plain", "buffer": PNG}]))
    assert "photo.txt" in msg and "not UTF-8 text" in msg and "binary" in msg, msg
    msg = doc_error_after(page, lambda: page.set_input_files(
        "#doc-files", files=[{"name": "paper.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n%\xe2\xe3\n"}]))
    assert "'paper.pdf' cannot be read" in msg and "no page tree" in msg, msg
    big = b"a" * (10 * 1024 * 1024 + 1)          # the store's limit (10 MiB) plus one byte: refused unread
    msg = doc_error_after(page, lambda: page.set_input_files(
        "#doc-files", files=[{"name": "big.txt", "mimeType": "text/plain", "buffer": big}]))
    assert "big.txt" in msg and "10,485,761 bytes" in msg and "the limit is 10,485,760 bytes" in msg, msg
    assert "no documents yet" in doc_list(page)
    assert embed_requests(rec) == [], "bad input loaded the embedding model"

    # A pasted document, then a Markdown file and a PDF picked together: listed with their chunks and size.
    page.fill("#doc-name", "fruit.txt")
    page.fill("#doc-text", "Strawberries are not berries, botanically.")
    page.click("#doc-add")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('fruit.txt')",
                           timeout=120_000)
    wait_idle(page)
    page.set_input_files("#doc-files", files=[
        {"name": "notes.md", "mimeType": "text/markdown", "buffer": "# Notes\n\nBananas are berries.\n".encode()},
        {"name": "island.pdf", "mimeType": "application/pdf", "buffer": island_pdf()}])
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('island.pdf')",
                           timeout=60_000)
    wait_idle(page)
    listed = doc_list(page)
    assert all(f"{n} — 1 chunk · " in listed for n in ("fruit.txt", "notes.md", "island.pdf")), listed
    assert page.is_hidden("#doc-error")
    assert any(u.endswith("/models/embed/tiny/model.safetensors") for u in embed_requests(rec)), embed_requests(rec)
    assert "progress-label: Loading the embedding model tiny…" in lines(page), lines(page)

    # Asked with "Use documents": the chunks the prompt held show under the answer, as text.
    page.check("#use-docs")
    set_greedy(page, 4)
    ask(page, QUESTION)
    result = page.evaluate("() => window.webinferPage.lastResult")
    used = result["sources"]
    assert [s["doc"] for s in used if s["doc"] == "island.pdf"] == ["island.pdf"], used
    assert next(s for s in used if s["doc"] == "island.pdf")["text"] == FACT         # the PDF's text, extracted
    # the grounded prompt is longer than the question alone
    assert result["prompt_tokens"] > 40, result["prompt_tokens"]
    sources = page.locator(".sources").last
    sources.locator("summary").click()
    shown = sources.inner_text()
    assert "island.pdf · chunk 1 · score " in shown and FACT in shown, shown
    assert page.locator(".sources b").count() == 0          # the chunk's HTML shows as characters
    screenshot(page, "site_documents")

    # A reload finds the documents in OPFS; Delete removes one.
    page.reload()
    wait_ready(page, rec)
    page.click("#docs-panel summary")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('island.pdf')",
                           timeout=60_000)
    wait_idle(page)
    page.click("#doc-list button[aria-label='Delete island.pdf']")
    page.wait_for_function("() => !document.getElementById('doc-list').textContent.includes('island.pdf')",
                           timeout=60_000)
    assert "notes.md" in doc_list(page) and "fruit.txt" in doc_list(page)
    page.click("#model-panel summary")
    page.wait_for_function("() => document.getElementById('cache-list').textContent.includes('embedding model')",
                           timeout=30_000)
    assert "embedding model tiny/model.safetensors" in page.inner_text("#cache-list"), page.inner_text("#cache-list")
    page.click("#doc-clear")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('no documents yet')",
                           timeout=60_000)
    assert_clean(page, rec)


def test_without_opfs_documents_stay_in_memory(open_page):
    """A browser without the origin private file system (Chromium with it switched off): the panel
    says so, and documents still work for the session, in memory."""
    page, rec = open_page(webgpu=False, path="?embedder=test",
                          flags=["--disable-blink-features=FileSystemAccessOriginPrivate"])
    wait_ready(page, rec)
    page.click("#docs-panel summary")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('no documents yet')",
                           timeout=60_000)
    where = page.inner_text("#doc-store")
    assert "private file system is unavailable" in where and "in memory for this session" in where, where
    page.fill("#doc-name", "island.txt")
    page.fill("#doc-text", FACT)
    page.click("#doc-add")
    page.wait_for_function("() => document.getElementById('doc-list').textContent.includes('island.txt')",
                           timeout=120_000)
    assert page.is_hidden("#doc-error")
    assert_clean(page, rec)


def test_site_ships_the_embedding_model(site_dir, site_server):
    """The build ships all-MiniLM-L6-v2's files (and the tests' tiny one), listed in site-config.json
    with their sizes; tools/serve.py serves .safetensors as bytes under the site's CSP."""
    import json
    from urllib.request import Request, urlopen
    config = json.loads((site_dir / "site-config.json").read_text())
    default = config["embedders"]["default"]
    assert default["name"] == "all-MiniLM-L6-v2" and default["url"] == "./models/embed/all-MiniLM-L6-v2/", default
    names = [f["name"] for f in default["files"]]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(names), names
    assert config["embedders"]["test"]["url"] == "./models/embed/tiny/"
    for f in default["files"]:
        assert (site_dir / "models" / "embed" / "all-MiniLM-L6-v2" / f["name"]).stat().st_size == f["size"]
    with urlopen(Request(site_server.url + "models/embed/all-MiniLM-L6-v2/model.safetensors", method="HEAD")) as resp:
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert int(resp.headers["Content-Length"]) == next(f["size"] for f in default["files"]
                                                          if f["name"] == "model.safetensors")
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
