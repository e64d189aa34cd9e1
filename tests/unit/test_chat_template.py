"""Chat templates: the jinja-free built-in renderer against jinja2, on real model templates.

tests/data/chat_templates/ holds each model's ``tokenizer.chat_template`` text byte for byte:
  smollm2-instruct        SmolLM2-135M-Instruct GGUF (tokenizer.chat_template)
  qwen2-instruct          Qwen/Qwen2-*-Instruct
  qwen2.5-instruct        Qwen/Qwen2.5-*-Instruct (tools branch + default system prompt)
  chatml-openhermes       teknium/OpenHermes-2.5-Mistral-7B (plain ChatML)
  llama3-instruct         meta-llama/Meta-Llama-3-8B-Instruct
  llama3.1-instruct       meta-llama/Llama-3.1-8B-Instruct (= Llama-3.3-70B-Instruct)
  llama3.2-instruct       meta-llama/Llama-3.2-1B-Instruct (today's date via strftime_now)
  llama2-chat             meta-llama/Llama-2-7b-chat-hf
  mistral-instruct-v0.2-legacy  Mistral-7B-Instruct-v0.2 original template (no system role)
  mistral-instruct-v0.2   Mistral-7B-Instruct-v0.1/v0.2 updated "v1" template (system -> first user turn)
  mistral-instruct-v0.3   Mistral-7B-Instruct-v0.3 "v3" template (system -> last user turn, tools)
  gemma2-it               google/gemma-2-2b-it (system role rejected)
  gemma3-it               google/gemma-3-*-it (system folded into the first user turn)
  qwen3                   Qwen/Qwen3-0.6B (the same for the hybrid-thinking Qwen3 sizes): <think>
                          blocks after the last user query, enable_thinking
  qwen3-thinking-2507     Qwen/Qwen3-4B-Thinking-2507 (generation prompt opens <think>, no switch)
  phi3-mini-instruct      microsoft/Phi-3-mini-4k-instruct (EOS when there is no generation prompt)
  phi3.5-mini-instruct    microsoft/Phi-3.5-mini-instruct (an empty system message is skipped)
Texts other than SmolLM2's were transcribed from the published tokenizer configs as quoted in
llama.cpp's tests/test-chat-template.cpp and other public code.
"""

from __future__ import annotations

import builtins
import sys
from datetime import datetime
from pathlib import Path

import pytest

from webinfer.chat_template import detect_family, render_chat
from webinfer.errors import ChatTemplateError
from webinfer.sources import default_model_path

DATA = Path(__file__).resolve().parent.parent / "data" / "chat_templates"
TEMPLATES = {p.stem: p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.jinja"))}
FAMILY = {
    "smollm2-instruct": "chatml", "qwen2-instruct": "chatml", "qwen2.5-instruct": "chatml",
    "chatml-openhermes": "chatml", "llama3-instruct": "llama3", "llama3.1-instruct": "llama3",
    "llama3.2-instruct": "llama3", "llama2-chat": "llama2", "mistral-instruct-v0.2-legacy": "mistral",
    "mistral-instruct-v0.2": "mistral", "mistral-instruct-v0.3": "mistral", "gemma2-it": "gemma",
    "gemma3-it": "gemma", "qwen3": "qwen3", "qwen3-thinking-2507": "qwen3", "phi3-mini-instruct": "phi3",
    "phi3.5-mini-instruct": "phi3",
}
U, A, S = "user", "assistant", "system"


def msg(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = {
    "single_user": [msg(U, "Hello")],
    "system_user": [msg(S, "Be brief."), msg(U, "Hi there")],
    "multi_turn": [msg(U, "Hello"), msg(A, "  Hi! How can I help?  "), msg(U, "Tell me a joke.")],
    "system_multi_turn": [msg(S, " You are kind. "), msg(U, "Q1"), msg(A, "A1"), msg(U, " Q2 \n")],
    "ends_with_assistant": [msg(U, "Q"), msg(A, "A")],
    "unicode": [msg(U, "héllo 🌈 日本語 e\u0301 \"quotes\" 'x' {{ not_jinja }} <b>&amp;")],
    "empty_system": [msg(S, ""), msg(U, "u")],
    "only_system": [msg(S, "s")],
    # Invalid for some templates: both paths must then fail with the same message.
    "user_user": [msg(U, "a"), msg(U, "b")],
    "late_system": [msg(U, "a"), msg(S, "s")],
    "system_assistant": [msg(S, "s"), msg(A, "a")],
    "empty_user": [msg(U, "")],
    "empty_turns": [msg(S, ""), msg(U, ""), msg(A, ""), msg(U, "")],
    # Reasoning in assistant turns: Qwen3 drops it before the last query, keeps it after.
    "think_history": [msg(U, "Q1"), msg(A, "<think>\nstep 1\n</think>\n\nA1"), msg(U, "Q2")],
    "think_last": [msg(S, "sys"), msg(U, "Q"), msg(A, "<think>\n\nstep\n\n</think>\n\n\nA ")],
    "think_no_open_tag": [msg(U, "Q"), msg(A, "only a close</think>answer")],
    "think_empty": [msg(U, "Q"), msg(A, "<think></think>A")],
    "tool_response_turn": [msg(U, "Q"), msg(A, "calling"), msg(U, "<tool_response>\n42\n</tool_response>"),
                           msg(A, "<think>\nr\n</think>\n\nIt is 42.")],
    "unicode_multi_turn": [msg(S, "Réponds en français 🇫🇷"), msg(U, "日本語？"),
                           msg(A, "<think>\n考える\n</think>\n\nはい"), msg(U, "e\u0301 ok\n\n")],
}


def outcome(template, messages, **kw):
    """('ok', text) or ('error', message), so error paths compare as well as texts."""
    try:
        return "ok", render_chat(template, messages, **kw)
    except ChatTemplateError as e:
        return "error", str(e)


def test_every_template_file_is_classified():
    assert set(TEMPLATES) == set(FAMILY)
    for name, text in TEMPLATES.items():
        assert detect_family(text) == FAMILY[name], name


@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("name", sorted(FAMILY))
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_builtin_matches_jinja(name, conv, add_generation_prompt):
    kw = dict(add_generation_prompt=add_generation_prompt, bos_token="<s>", eos_token="</s>")
    ref = outcome(TEMPLATES[name], CONVERSATIONS[conv], use_jinja=True, **kw)
    got = outcome(TEMPLATES[name], CONVERSATIONS[conv], use_jinja=False, **kw)
    assert got == ref


@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("enable_thinking", [True, False])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
@pytest.mark.parametrize("name", ["qwen3", "qwen3-thinking-2507"])
def test_qwen3_enable_thinking_matches_jinja(name, conv, enable_thinking, add_generation_prompt):
    kw = dict(add_generation_prompt=add_generation_prompt, enable_thinking=enable_thinking)
    ref = outcome(TEMPLATES[name], CONVERSATIONS[conv], use_jinja=True, **kw)
    assert outcome(TEMPLATES[name], CONVERSATIONS[conv], use_jinja=False, **kw) == ref


def test_enable_thinking_is_ignored_by_templates_without_it():
    for name in ("smollm2-instruct", "gemma3-it", "phi3-mini-instruct"):
        for use_jinja in (True, False):
            assert render_chat(TEMPLATES[name], SYS_CONV, enable_thinking=False, use_jinja=use_jinja) == \
                render_chat(TEMPLATES[name], SYS_CONV, use_jinja=use_jinja)


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_builtin_matches_jinja_with_empty_special_tokens(name):
    conv = CONVERSATIONS["system_multi_turn"] if name != "gemma2-it" else CONVERSATIONS["multi_turn"]
    assert outcome(TEMPLATES[name], conv, use_jinja=False) == outcome(TEMPLATES[name], conv, use_jinja=True)


# -- literal expected strings: the tests are not only self-consistency -----------------------------

SYS_CONV = [msg(S, "Be brief."), msg(U, "Hi"), msg(A, "Hello!"), msg(U, "Why?")]
EXPECTED = {
    ("smollm2-instruct", "single"): (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    ("qwen2.5-instruct", "single"): (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    ("qwen2-instruct", "single"): (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    ("chatml-openhermes", "system"): (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n"),
    ("llama3-instruct", "system"): (
        "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("llama3.1-instruct", "single"): (
        "<s><|start_header_id|>system<|end_header_id|>\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("llama2-chat", "system"): (
        "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Why? [/INST]"),
    ("mistral-instruct-v0.2-legacy", "single"): "<s>[INST] Hi [/INST]",
    ("mistral-instruct-v0.2", "system"): (
        "<s> [INST] Be brief.\n\nHi [/INST] Hello!</s> [INST] Why? [/INST]"),
    ("mistral-instruct-v0.3", "system"): (
        "<s>[INST] Hi[/INST] Hello!</s>[INST] Be brief.\n\nWhy?[/INST]"),
    ("gemma2-it", "single"): "<s><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    ("gemma3-it", "system"): (
        "<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nWhy?<end_of_turn>\n<start_of_turn>model\n"),
    ("qwen3", "single"): "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    ("qwen3", "system"): (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n"),
    ("qwen3-thinking-2507", "single"): "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
    ("phi3-mini-instruct", "system"): (
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
        "<|user|>\nWhy?<|end|>\n<|assistant|>\n"),
    ("phi3.5-mini-instruct", "single"): "<|user|>\nHi<|end|>\n<|assistant|>\n",
}


@pytest.mark.parametrize("use_jinja", [True, False])
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_expected_literal_output(key, use_jinja):
    name, which = key
    messages = [msg(U, "Hi")] if which == "single" else SYS_CONV
    text = render_chat(TEMPLATES[name], messages, bos_token="<s>", eos_token="</s>", use_jinja=use_jinja)
    assert text == EXPECTED[key]


def test_every_family_has_a_literal_expectation():
    assert {FAMILY[name] for name, _ in EXPECTED} == set(FAMILY.values())


# -- Qwen3 <think> handling and Phi-3 endings, as literal strings --------------------------------------

QWEN3_THINK = [msg(U, "Q1"), msg(A, "<think>\nold\n</think>\n\nA1"),
               msg(U, "Q2"), msg(A, "<think>\nnew\n</think>\n\nA2")]


@pytest.mark.parametrize("use_jinja", [True, False])
def test_qwen3_keeps_reasoning_only_after_the_last_query(use_jinja):
    text = render_chat(TEMPLATES["qwen3"], QWEN3_THINK, add_generation_prompt=False, use_jinja=use_jinja)
    assert text == ("<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                    "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n<think>\nnew\n</think>\n\nA2<|im_end|>\n")


@pytest.mark.parametrize("use_jinja", [True, False])
def test_qwen3_enable_thinking_false_closes_an_empty_think_block(use_jinja):
    base = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    for flag, tail in ((None, ""), (True, ""), (False, "<think>\n\n</think>\n\n")):
        assert render_chat(TEMPLATES["qwen3"], [msg(U, "Hi")], enable_thinking=flag, use_jinja=use_jinja) == base + tail


@pytest.mark.parametrize("use_jinja", [True, False])
def test_phi3_ends_with_eos_without_a_generation_prompt(use_jinja):
    for name in ("phi3-mini-instruct", "phi3.5-mini-instruct"):
        text = render_chat(TEMPLATES[name], [msg(S, ""), msg(U, "Hi")], add_generation_prompt=False,
                           eos_token="<|endoftext|>", use_jinja=use_jinja)
        system = "<|system|>\n<|end|>\n" if name == "phi3-mini-instruct" else ""   # 3.5 skips an empty one
        assert text == system + "<|user|>\nHi<|end|>\n<|endoftext|>"


def test_unsupported_qwen3_and_phi3_variants_raise_without_jinja():
    changed = TEMPLATES["qwen3"].replace("loop.index0 > ns.last_query_index", "loop.index0 >= ns.last_query_index")
    with pytest.raises(ChatTemplateError, match="unsupported qwen3"):
        render_chat(changed, [msg(U, "x")], use_jinja=False)
    phi4_like = ("{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}")
    with pytest.raises(ChatTemplateError, match="unsupported phi3"):
        render_chat(phi4_like, [msg(U, "x")], use_jinja=False)


def test_llama32_uses_todays_date_without_jinja():
    text = render_chat(TEMPLATES["llama3.2-instruct"], [msg(U, "Hi")], use_jinja=False)
    assert f"Today Date: {datetime.now().strftime('%d %b %Y')}\n\n" in text


# -- the default system prompt is read from the template, not hard-coded -----------------------------

def test_chatml_default_system_prompt_comes_from_the_template():
    custom = TEMPLATES["smollm2-instruct"].replace("You are a helpful AI assistant named SmolLM, trained by Hugging Face",
                                                   "Tu es l\\'assistant d\\u00e9vou\u00e9 d\\'Ada.")
    assert custom != TEMPLATES["smollm2-instruct"]
    for use_jinja in (True, False):     # the jinja escapes \' and \u00e9 are decoded on both paths
        text = render_chat(custom, [msg(U, "Salut")], use_jinja=use_jinja)
        assert text.startswith("<|im_start|>system\nTu es l'assistant d\u00e9vou\u00e9 d'Ada.<|im_end|>\n")


def test_given_system_prompt_replaces_the_default():
    text = render_chat(TEMPLATES["qwen2.5-instruct"], [msg(S, "Mine."), msg(U, "Hi")], use_jinja=False)
    assert "Qwen" not in text and text.startswith("<|im_start|>system\nMine.<|im_end|>\n")


# -- errors -------------------------------------------------------------------------------------------

def test_unknown_family_without_jinja_names_the_template():
    template = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with pytest.raises(ChatTemplateError, match=r"unknown family.*### \{\{ m\['role'\] \}\}"):
        render_chat(template, [msg(U, "x")], use_jinja=False)
    # ... while jinja2 renders it.
    assert render_chat(template, [msg(U, "x")], use_jinja=True) == "### user: x\n"


def test_unsupported_feature_of_known_family_raises_instead_of_guessing():
    qwen3_like = TEMPLATES["chatml-openhermes"] + "{% if enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
    with pytest.raises(ChatTemplateError, match="<think>"):
        render_chat(qwen3_like, [msg(U, "x")], use_jinja=False)


@pytest.mark.parametrize("use_jinja", [True, False])
def test_template_raise_exception_becomes_chat_template_error(use_jinja):
    with pytest.raises(ChatTemplateError, match="System role not supported"):
        render_chat(TEMPLATES["gemma2-it"], [msg(S, "s"), msg(U, "u")], use_jinja=use_jinja)
    with pytest.raises(ChatTemplateError, match="must alternate"):
        render_chat(TEMPLATES["llama2-chat"], [msg(U, "a"), msg(U, "b")], use_jinja=use_jinja)


def test_jinja_syntax_error_carries_the_jinja_message():
    with pytest.raises(ChatTemplateError, match="chat template error: .*endfor"):
        render_chat("{% for m in messages %}{{ m['content'] }}", [msg(U, "x")], use_jinja=True)


def test_jinja_sandbox_blocks_attribute_escapes():
    evil = "{{ messages.__class__.__mro__ }}"
    with pytest.raises(ChatTemplateError, match="chat template error"):
        render_chat(evil, [msg(U, "x")], use_jinja=True)


def test_tojson_does_not_html_escape():
    assert render_chat("{{ messages[0]['content'] | tojson }}", [msg(U, "<a>&é")], use_jinja=True) == '"<a>&é"'


@pytest.mark.parametrize("messages, fragment", [
    ([], "non-empty list"),
    ("hello", "non-empty list"),
    ([["user", "hi"]], r"messages\[0\] must be a dict"),
    ([msg("ipython", "x")], r"messages\[0\]\['role'\] must be one of system, user, assistant, tool, got 'ipython'"),
    ([msg("tool", "x")], r"messages\[0\] is a tool result: it needs 'tool_call_id'"),
    ([{"role": "user", "content": "x", "tool_call_id": "c"}], r"messages\[0\] \(user\) has unsupported keys \['tool_call_id'\]"),
    ([{"role": "assistant", "content": None}], r"messages\[0\]\['content'\] must be a string, got None"),
    ([{"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "f",
      "arguments": "{oops"}}]}], r"messages\[0\]\[\"tool_calls\"\]\[0\] arguments are not JSON"),
    ([{"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {"name": "f",
      "arguments": "[1]"}}]}], r"arguments must be a JSON object"),
    ([{"role": "assistant", "content": "", "tool_calls": [{"name": "f"}]}], r"\[\"tool_calls\"\]\[0\] must be"),
    ([msg(U, "ok"), {"content": "no role"}], r"messages\[1\]\['role'\]"),
    ([msg(U, None)], r"messages\[0\]\['content'\] must be a string, got None"),
    ([msg(U, [{"type": "text", "text": "hi"}])], r"messages\[0\]\['content'\] must be a string"),
    ([{"role": "assistant", "content": "", "tool_calls": []}], r"\['tool_calls'\] must be a non-empty list"),
])
@pytest.mark.parametrize("use_jinja", [True, False])
def test_invalid_messages(messages, fragment, use_jinja):
    with pytest.raises(ChatTemplateError, match=fragment):
        render_chat(TEMPLATES["smollm2-instruct"], messages, use_jinja=use_jinja)


@pytest.mark.parametrize("template", ["", "   ", None, 42])
def test_invalid_template(template):
    with pytest.raises(ChatTemplateError, match="non-empty string"):
        render_chat(template, [msg(U, "x")])


def test_detect_family_unknown_is_none():
    assert detect_family("{{ messages[0]['content'] }}") is None


# -- Pyodide: no jinja2 ------------------------------------------------------------------------------

@pytest.fixture
def no_jinja2(monkeypatch):
    """Make ``import jinja2`` fail, as in Pyodide, for code that imports it lazily."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "jinja2" or name.startswith("jinja2."):
            raise ImportError("No module named 'jinja2'")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "jinja2" or m.startswith("jinja2.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_jinja2_default_path_is_builtin(no_jinja2):
    text = render_chat(TEMPLATES["smollm2-instruct"], [msg(U, "Hi")])
    assert text == EXPECTED[("smollm2-instruct", "single")]
    with pytest.raises(ChatTemplateError, match="jinja2 is not installed"):
        render_chat(TEMPLATES["smollm2-instruct"], [msg(U, "Hi")], use_jinja=True)


def test_module_imports_without_jinja2(no_jinja2, monkeypatch):
    for mod in ("webinfer.chat_template", "webinfer.chat_builtin"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    import webinfer.chat_template as ct
    assert not ct.jinja_available()
    assert ct.render_chat(TEMPLATES["gemma3-it"], [msg(U, "Hi")]) == \
        "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


# -- the real model file -----------------------------------------------------------------------------

MODEL = default_model_path()


@pytest.mark.skipif(not MODEL.exists(), reason=f"model file not found: {MODEL} (set WEBINFER_MODEL)")
def test_smollm2_template_in_gguf_is_the_test_copy():
    import gguf
    field = gguf.GGUFReader(str(MODEL)).fields["tokenizer.chat_template"]
    assert bytes(field.parts[field.data[0]]).decode("utf-8") == TEMPLATES["smollm2-instruct"]
