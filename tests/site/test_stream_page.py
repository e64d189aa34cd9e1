"""The chat page on WebGPU (SwiftShader) streams a model to the GPU as it arrives (webinfer.stream).

The page boots with WebGPU chosen (the selector set before main.py reads it), so its first load,
the site's model from the network, streams: the worker's WebAssembly heap grows by far less than
the file (it held the whole file before; the whole heap ends smaller than the file), the download lands in Cache Storage as it passes, and
the greedy answer equals HF transformers' golden one (the library's: tests/model). Then a file from
the picker streams the same way and its chat turn gives the library's tokens in CPython; a damaged
file fails mid-stream and the model in use is streamed again from its File; and the site's model
loads again, streamed from the cache this time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from chat_page import ask, assert_clean, cached_names, golden, load_source, set_greedy, wait_ready
from test_arch_page import N, TEXT, library_answer, with_template

from webinfer.formats.gguf import SCALE_FIELDS, read_gguf

pytestmark = [pytest.mark.slow]

# before main.py reads the device selector for the first load
FORCE_WEBGPU = """document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("device").value = "webgpu"; });"""


def memory(page) -> dict:
    return page.evaluate("() => ({...window.webinferPage.memory, streamed: window.webinferPage.streamed})")


def test_webgpu_streams_the_model_past_the_heap(open_page, model_file, tmp_path):
    prompt, expected = golden(model_file)
    size = model_file.stat().st_size
    page, rec = open_page(webgpu=True, init_script=FORCE_WEBGPU)
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("WebGPU"), page.inner_text("#status")
    assert page.evaluate("() => document.body.dataset.modelSource") == "network"
    mem = memory(page)
    grew = mem["heap"] - mem["atLoad"]
    print(f"heap {mem['heap'] / 2**20:.1f} MiB, at load {mem['atLoad'] / 2**20:.1f} MiB, "
          f"grew {grew / 2**20:.1f} MiB for a {size / 2**20:.1f} MiB file")
    assert mem["streamed"] and mem["atLoad"] > 0
    # the file whole in the heap would add its size; streamed, the header and tokenizer are most of it
    assert grew < size / 2 and mem["heap"] < size, f"the heap grew by {grew} bytes for a {size}-byte file"
    assert cached_names(page, wait_for=model_file.name)[-1].endswith(model_file.name)   # teed as it streamed

    set_greedy(page, 2)
    assert ask(page, prompt, timeout=600_000) == expected(2)

    path = with_template("gpt2", tmp_path / "gpt2.gguf")
    load_source(page, "file", str(path))
    wait_ready(page, rec)
    assert f"{path.name} · ready" in page.inner_text("#status") and page.inner_text("#status").startswith("WebGPU")
    assert memory(page)["streamed"] and page.evaluate("() => document.body.dataset.modelSource") == "file"
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelectorAll('.msg').length === 0")
    set_greedy(page, N)
    with ThreadPoolExecutor(1) as pool:     # (Playwright's loop runs in this thread: sync API elsewhere)
        want = pool.submit(library_answer, path).result()
    ask(page, TEXT)
    assert page.evaluate("() => Array.from(window.webinferPage.lastResult.token_ids)") == want

    # A file whose last tensor is damaged fails mid-stream (the model in use freed by then): the
    # model in use is streamed again from its File, and answers as before.
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(path.read_bytes())
    last = max((t for t in read_gguf(broken).tensors.values() if t.type_name in SCALE_FIELDS), key=lambda t: t.offset)
    with open(broken, "r+b") as f:
        f.seek(last.offset + SCALE_FIELDS[last.type_name][0])
        f.write(np.float16(np.nan).tobytes())
    load_source(page, "file", str(broken))
    notice = page.inner_text("#notice")
    assert "broken.gguf" in notice and "damaged" in notice and "could not be rebuilt" not in notice, notice
    assert f"{path.name} · ready" in page.inner_text("#status") and page.inner_text("#status").startswith("WebGPU")
    page.click("#new-chat")
    page.wait_for_function("() => document.querySelectorAll('.msg').length === 0")
    ask(page, TEXT)
    assert page.evaluate("() => Array.from(window.webinferPage.lastResult.token_ids)") == want

    load_source(page, "default")
    wait_ready(page, rec)
    assert page.evaluate("() => document.body.dataset.modelSource") == "cache"
    assert memory(page)["streamed"] and page.inner_text("#status").startswith("WebGPU")
    assert_clean(page, rec)


def test_a_full_disk_still_streams_the_model(open_page, model_file):
    # A site quota too small for the model: the cache entry written as the model streams fails, the
    # model loads all the same, and the page says it will be downloaded again.
    page, rec = open_page(webgpu=True, init_script=FORCE_WEBGPU, quota=16 << 20)
    wait_ready(page, rec)
    assert page.inner_text("#status").startswith("WebGPU") and memory(page)["streamed"]
    page.wait_for_function("() => document.getElementById('notice').textContent.includes('Not enough browser storage')",
                           timeout=30_000)
    assert cached_names(page) == []
    assert_clean(page, rec)
