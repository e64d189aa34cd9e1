"""The architectures beside llama (qwen3, gemma3, gpt2, phi3) in the chat page: each HF fidelity
fixture (tests/data/arch, the Q8_0 file), given its family's chat template (the fixtures carry
none) and picked with the Local GGUF file picker, loads in the PyScript worker (NumPy inside
Pyodide: the template rendered by webinfer's built-in renderer, no jinja2 there) and answers a chat
turn with the same greedy tokens as the library in CPython (jinja2) for the same conversation (ids:
the random fixtures' text is mostly stray bytes); the
fixtures' tokens are held to HF transformers by tests/model/test_arch_fidelity.py. The page stays
clean under its CSP throughout.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chat_page import ask, assert_clean, load_source, set_greedy, wait_ready

pytestmark = [pytest.mark.slow]

DATA = Path(__file__).resolve().parents[1] / "data"
# fixture -> its family's template (GPT-2 has none of its own: ChatML)
TEMPLATES = {"qwen3": "qwen3", "gemma3": "gemma3-it", "gpt2": "chatml-openhermes", "phi3": "phi3-mini-instruct"}
TEXT, N = "hello, world", 8


def with_template(name: str, dest: Path) -> Path:
    """The fixture's Q8_0 file, its blocks copied as they are, with tokenizer.chat_template added."""
    from webinfer.formats.gguf import read_gguf
    from webinfer.formats.gguf_write import RawTensor, write_gguf
    template = (DATA / "chat_templates" / f"{TEMPLATES[name]}.jinja").read_text()
    with read_gguf(DATA / "arch" / f"{name}.q8_0.gguf") as g:
        tensors = {n: RawTensor(tuple(t.shape), t.ggml_type, g.raw(n).tobytes()) for n, t in g.tensors.items()}
        write_gguf(dest, dict(g.metadata, **{"tokenizer.chat_template": template}), tensors)
    return dest


def library_answer(path: Path) -> list[int]:
    """What the page's worker does for one turn (site/py/worker.py ask), in CPython on NumPy."""
    import webinfer
    m = webinfer.load(path, device="numpy")
    s = m.chat()
    s.messages.append({"role": "user", "content": TEXT})
    ids = s.prompt_ids(min(N, m.n_ctx // 4))
    return m.complete(ids, max_tokens=N, temperature=0).token_ids


def test_new_architectures_load_and_answer_in_the_page(open_page, tmp_path):
    page, rec = open_page(webgpu=False)
    wait_ready(page, rec)
    for name in TEMPLATES:
        path = with_template(name, tmp_path / f"{name}.gguf")
        load_source(page, "file", str(path))
        wait_ready(page, rec)
        assert f"{path.name} · ready" in page.inner_text("#status"), (name, page.inner_text("#notice"))
        page.click("#new-chat")      # a loaded model takes the conversation over: each answers a fresh one
        page.wait_for_function("() => document.querySelectorAll('.msg').length === 0")
        set_greedy(page, N)
        with ThreadPoolExecutor(1) as pool:     # (Playwright's loop runs in this thread: sync API elsewhere)
            want = pool.submit(library_answer, path).result()
        assert len(want) == N, f"{name}: the library stopped early"
        ask(page, TEXT)
        assert page.evaluate("() => Array.from(window.webinferPage.lastResult.token_ids)") == want, name
    assert_clean(page, rec)
