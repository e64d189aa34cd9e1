"""The new families' tokenizers and built-in chat renderers inside Pyodide (no jinja2 there).

The expectations are made in this CPython process: Hugging Face `tokenizers` ids for the five
generated vocabularies of tests/unit/test_tokenizer_families.py (GPT-2, Llama 3, Qwen3, Gemma 3,
Phi-3), and jinja2's rendering of the Qwen3, Qwen3-Thinking-2507, Phi-3, Phi-3.5 and Gemma 3
templates on tests/unit/test_chat_template.py's conversations. Pyodide's webinfer (Python 3.12,
its own unicodedata, the built-in renderers) must give the same ids and the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))   # the unit tests' cases
import test_chat_template as chat_tests  # noqa: E402
import test_tokenizer_families as tok_tests  # noqa: E402

pytestmark = [pytest.mark.pyodide]

TEMPLATE_NAMES = ["qwen3", "qwen3-thinking-2507", "phi3-mini-instruct", "phi3.5-mini-instruct", "gemma3-it"]


@pytest.fixture(scope="module")
def cases() -> dict:
    from webinfer.chat_template import render_chat
    from webinfer.errors import ChatTemplateError

    tok_cases = []
    for family in tok_tests.FAMILIES:
        make = tok_tests.byte_level_case if family in tok_tests.BYTE_LEVEL else tok_tests.spm_case
        meta, hf, specials = make(family)
        texts = tok_tests.TEXTS + tok_tests.special_texts(specials)
        tok_cases.append({"family": family, "meta": meta, "texts": texts, "ids": [hf.encode(t).ids for t in texts]})
    chat_cases = []
    for name in TEMPLATE_NAMES:
        for conv, messages in chat_tests.CONVERSATIONS.items():
            for agp in (True, False):
                for thinking in (None, False):
                    try:
                        ref = render_chat(chat_tests.TEMPLATES[name], messages, add_generation_prompt=agp,
                                          enable_thinking=thinking, bos_token="<s>", eos_token="</s>", use_jinja=True)
                    except ChatTemplateError as e:
                        ref = "error: " + str(e)
                    chat_cases.append((name, conv, agp, thinking, ref))
    return {"tok": tok_cases, "chat": chat_cases, "templates": {n: chat_tests.TEMPLATES[n] for n in TEMPLATE_NAMES},
            "conversations": chat_tests.CONVERSATIONS}


@run_in_pyodide
def test_tokenizers_and_chat_renderers_match_cpython(selenium_webinfer, cases):
    from webinfer.chat_template import jinja_available, render_chat
    from webinfer.errors import ChatTemplateError
    from webinfer.tokenizer import Tokenizer

    assert not jinja_available()
    wrong = []
    for c in cases["tok"]:
        tok = Tokenizer.from_metadata(c["meta"])
        wrong += [(c["family"], text) for text, ids in zip(c["texts"], c["ids"]) if tok.encode(text) != ids]
    for name, conv, agp, thinking, ref in cases["chat"]:
        try:
            got = render_chat(cases["templates"][name], cases["conversations"][conv], add_generation_prompt=agp,
                              enable_thinking=thinking, bos_token="<s>", eos_token="</s>")
        except ChatTemplateError as e:
            got = "error: " + str(e)
        if got != ref:
            wrong.append((name, conv, agp, thinking))
    assert not wrong, wrong[:5]
    assert len(cases["chat"]) > 300 and sum(len(c["texts"]) for c in cases["tok"]) > 150
