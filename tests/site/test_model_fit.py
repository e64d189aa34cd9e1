"""A model too big for this tab is refused before it is downloaded, and says why with numbers.

Under the served CSP, with the shipped model loaded and a conversation going: a URL on this site
whose file is larger than Pyodide's 4 GiB heap (a sparse file: 5 GiB on disk in no time) is refused
from its HEAD's Content-Length, and a local file of that size from File.size, before a byte of it is
read; one that is tight (webinfer.fit's "tight", computed here for the heap the page reports in use)
waits for "Load anyway", and Cancel leaves everything as it was; "Load anyway" on that file (zeros:
not a GGUF) is refused by the worker from its first megabyte, the rest never read. A model that
fails after its header (a damaged tensor), for which the model in use was freed, gets that model
rebuilt. The model and the chat stay through all of it; then a normal model from the file picker
loads and answers.
"""

from __future__ import annotations

import numpy as np
import pytest

from chat_page import assert_clean, ask, golden, load_source, set_greedy, wait_ready

from webinfer.formats.gguf import SCALE_FIELDS, read_gguf

pytestmark = [pytest.mark.slow]
GiB = 1 << 30
FILE_SIZES = "() => [...document.getElementById('model-file').files].map((f) => f.size)"


def sparse(path, size: int):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def press_load(page, kind: str, value) -> None:
    """Pick a source and press Load model, for a load that the page refuses or asks about (it never
    enters "loading": load_source waits for that)."""
    if not page.evaluate("() => document.getElementById('model-panel').open"):
        page.click("#model-panel summary")
    if kind == "url":
        page.fill("#model-url", value)
    else:
        page.set_input_files("#model-file", str(value))
    page.check(f"input[name=model-source][value={kind}]")
    page.click("#load-model")


def wait_notice(page, text: str, rec) -> str:
    try:
        page.wait_for_function("(t) => document.getElementById('notice').textContent.includes(t)", arg=text,
                               timeout=30_000)
    except Exception as e:  # noqa: BLE001 - say what the page shows instead
        raise AssertionError(f"no notice with {text!r}: notice {page.inner_text('#notice')!r}, status "
                             f"{page.inner_text('#status')!r}, fit {page.evaluate('() => window.webinferPage.fit')}, "
                             f"file sizes {page.evaluate(FILE_SIZES)}\n"
                             + "\n".join(rec.console[-20:])) from e
    return page.inner_text("#notice")


def assert_unchanged(page, n_msgs: int, status: str) -> None:
    assert page.evaluate("() => document.body.dataset.state") == "ready", "a refused model must leave the chat usable"
    assert page.locator(".msg").count() == n_msgs, "a refused model must keep the conversation"
    assert page.inner_text("#status") == status
    assert page.evaluate("() => window.webinferPage.model") == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert page.evaluate("() => document.getElementById('progress-wrap').hidden"), "stale progress bar"


def tight_size(in_use: int) -> int:
    """A file size webinfer.fit calls tight with `in_use` bytes of the heap taken (by size alone, as the page judges)."""
    from webinfer import fit
    runtime = {"heap_limit": fit.WASM32_HEAP, "heap_in_use": in_use}
    for mib in range(1024, 4096, 16):
        if fit.verdict(mib << 20, runtime=runtime)["verdict"] == "tight":
            return mib << 20
    raise AssertionError("no tight size below 4 GiB")


def test_too_big_is_refused_before_loading(open_page, model_file, site_dir, site_server, tmp_path):
    prompt, expected = golden(model_file)
    huge = sparse(site_dir / "models" / "huge.gguf", 5 * GiB)
    page, rec = open_page(webgpu=False)
    wait_ready(page, rec)
    set_greedy(page, 3)
    assert ask(page, prompt) == expected(3)
    n_msgs, status = page.locator(".msg").count(), page.inner_text("#status")
    heap = page.evaluate("() => window.webinferPage.memory.heap")
    in_use = page.evaluate("() => window.webinferPage.memory.inUse")
    assert 0 < in_use <= heap, (in_use, heap)
    n_gets = len(site_server.gets)

    # A URL on this site: refused from its Content-Length, nothing downloaded.
    press_load(page, "url", "models/huge.gguf")
    notice = wait_notice(page, "cannot be loaded here", rec)
    assert notice.startswith("huge.gguf cannot be loaded here: it needs about "), notice
    assert "file 5.0 GB" in notice and "holds at most 4.0 GB" in notice and "The model in use stays." in notice
    assert ("/models/huge.gguf", 200) in site_server.heads
    assert [p for p, _ in site_server.gets[n_gets:] if p.endswith("huge.gguf")] == [], "the file was downloaded"
    assert_unchanged(page, n_msgs, status)

    # A local file of that size: refused from File.size, never read.
    local = sparse(tmp_path / "local-huge.gguf", 5 * GiB)
    press_load(page, "file", local)
    notice = wait_notice(page, "local-huge.gguf cannot be loaded here", rec)
    assert "file 5.0 GB" in notice, notice
    assert_unchanged(page, n_msgs, status)

    # Tight: the page asks; Cancel changes nothing.
    tight = sparse(site_dir / "models" / "tight.gguf", tight_size(in_use))
    press_load(page, "url", "models/tight.gguf")
    page.wait_for_selector("#fit-ask:not([hidden])", timeout=30_000)
    question = page.inner_text("#fit-ask")
    assert "tight.gguf may not fit" in question and "Load it anyway?" in question, question
    page.click("#fit-cancel")
    assert page.evaluate("() => document.getElementById('fit-ask').hidden")
    assert_unchanged(page, n_msgs, status)
    # "Load anyway": the worker reads the header first; zeros are not a GGUF, so it stops there.
    press_load(page, "url", "models/tight.gguf")
    page.wait_for_selector("#fit-ask:not([hidden])", timeout=30_000)
    page.click("#fit-load")
    notice = wait_notice(page, "not a model webinfer can read", rec)
    assert "magic" in notice.lower(), notice
    assert_unchanged(page, n_msgs, "CPU (NumPy) · SmolLM2-135M-Instruct.Q4_1.gguf · ready")   # as after any failed load
    assert page.evaluate("() => window.webinferPage.memory.heap") < heap + (64 << 20), \
        f"the heap grew by the file ({tight.stat().st_size} bytes): the worker read past its header"

    # A model whose header is sound but whose last tensor is damaged: the model in use is freed for it
    # (its file kept), the load fails at that tensor, and the old model is rebuilt: it answers as before.
    broken = site_dir / "models" / "broken.gguf"
    broken.write_bytes(model_file.read_bytes())
    last = max((t for t in read_gguf(broken).tensors.values() if t.type_name in SCALE_FIELDS), key=lambda t: t.offset)
    with open(broken, "r+b") as f:
        f.seek(last.offset + SCALE_FIELDS[last.type_name][0])
        f.write(np.float16(np.nan).tobytes())
    load_source(page, "url", "models/broken.gguf")
    notice = page.inner_text("#notice")
    assert "broken.gguf" in notice and "damaged" in notice and "could not be rebuilt" not in notice, notice
    assert_unchanged(page, n_msgs, "CPU (NumPy) · SmolLM2-135M-Instruct.Q4_1.gguf · ready")
    set_greedy(page, 3)
    page.click("#new-chat")
    assert ask(page, prompt) == expected(3)
    n_msgs = page.locator(".msg").count()

    # A model that fits still loads, and answers.
    load_source(page, "file", str(model_file))
    wait_ready(page, rec)
    assert page.inner_text("#notice") == ""
    assert page.evaluate("() => document.body.dataset.modelSource") == "file"
    set_greedy(page, 3)
    assert ask(page, prompt) == expected(3)
    assert page.evaluate("() => window.webinferPage.fit.verdict") == "fits"
    assert_clean(page, rec)
