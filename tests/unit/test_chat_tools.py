"""Tool calls without a model: rendering (the built-in renderer against jinja2 on the real
templates, and the fallback's exact text), the call grammar over bytes, parsing calls, and the
errors for bad tools / tool_choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webinfer.chat_template import render_chat
from webinfer.errors import ChatTemplateError, GrammarError, ToolError
from webinfer.grammar import Matcher, parse_gbnf
from webinfer.tools import (HERMES, LLAMA3, calls_gbnf, check_tools, native_syntax, parse_calls,
                            tools_section, write_calls)

DATA = Path(__file__).resolve().parent.parent / "data" / "chat_templates"
TEMPLATES = {p.stem: p.read_text(encoding="utf-8") for p in sorted(DATA.glob("*.jinja"))}
NATIVE = {"qwen2.5-instruct": HERMES, "qwen3": HERMES, "qwen3-thinking-2507": HERMES,
          "llama3.1-instruct": LLAMA3, "llama3.2-instruct": LLAMA3}

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city (°C)",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                                                     "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}
TOOLS = [WEATHER, ADD]


def call(i, name, args):
    return {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


CONVERSATIONS = {
    "result_then_question": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "get_weather", {"city": "Paris"})]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C, sunny"},
        {"role": "assistant", "content": "It is 18C and sunny."}, {"role": "user", "content": "And in Rome?"}],
    "two_results_no_system": [
        {"role": "user", "content": "Weather in Paris, and 2+3?"},
        {"role": "assistant", "content": "Checking.",
         "tool_calls": [call("c1", "get_weather", {"city": "Paris", "unit": "c"}), call("c2", "add", {"a": 2, "b": 3})]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"}, {"role": "tool", "tool_call_id": "c2", "content": "5"}],
    "question_only": [{"role": "user", "content": "Hi"}],
}


def conversation(name, template):
    msgs = CONVERSATIONS[name]
    if template.startswith("llama3.") and name == "two_results_no_system":   # Llama 3 takes one call a turn
        msgs = [msgs[0], {**msgs[1], "tool_calls": msgs[1]["tool_calls"][:1]}, msgs[2]]
    return msgs


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_native_syntax_of_each_template(name):
    assert native_syntax(TEMPLATES[name]) is NATIVE.get(name)


@pytest.mark.parametrize("conv", sorted(CONVERSATIONS))
@pytest.mark.parametrize("with_tools", [True, False])
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_builtin_renders_tools_as_jinja_does(name, conv, with_tools):
    """Every template, native or fallback: the jinja-free path writes the same bytes."""
    msgs = conversation(conv, name)
    if name == "gemma2-it" and msgs[0]["role"] == "system":
        msgs = msgs[1:]
    kw = dict(tools=TOOLS if with_tools else None, bos_token="<s>", eos_token="</s>")
    try:
        want = render_chat(TEMPLATES[name], msgs, use_jinja=True, **kw)
    except ChatTemplateError as e:     # roles the template itself refuses (alternation): the same error
        with pytest.raises(ChatTemplateError, match=str(e)[:40]):
            render_chat(TEMPLATES[name], msgs, use_jinja=False, **kw)
        return
    assert render_chat(TEMPLATES[name], msgs, use_jinja=False, **kw) == want
    if with_tools:
        assert "get_weather" in want and "Add two integers" in want
    if conv != "question_only":
        assert "18C" in want and "Paris" in want


def test_native_template_writes_calls_and_results_its_way():
    msgs = CONVERSATIONS["result_then_question"]
    q = render_chat(TEMPLATES["qwen2.5-instruct"], msgs, tools=TOOLS)
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in q
    assert "<|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response><|im_end|>" in q
    ll = render_chat(TEMPLATES["llama3.1-instruct"], msgs, tools=TOOLS)
    assert '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}' in ll
    assert '<|start_header_id|>ipython<|end_header_id|>\n\n"18C, sunny"<|eot_id|>' in ll


def test_fallback_text_on_smollm2():
    """SmolLM2's template has no tools: the documented fallback, byte for byte."""
    msgs = CONVERSATIONS["two_results_no_system"]
    got = render_chat(TEMPLATES["smollm2-instruct"], msgs, tools=[ADD])
    assert got == (
        "<|im_start|>system\n" + tools_section([ADD]) + "<|im_end|>\n"
        "<|im_start|>user\nWeather in Paris, and 2+3?<|im_end|>\n"
        "<|im_start|>assistant\nChecking.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\n18C\n</tool_response>\n<tool_response>\n5\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n")
    assert tools_section([ADD]).startswith("# Tools\n\n") and json.dumps(ADD) in tools_section([ADD])
    # a system message keeps its text, the section follows it
    sys_first = render_chat(TEMPLATES["smollm2-instruct"], [{"role": "system", "content": "Be brief."}] + msgs[:1],
                            tools=[ADD])
    assert sys_first.startswith("<|im_start|>system\nBe brief.\n\n# Tools\n\n")


def test_fallback_goes_into_the_first_user_turn_where_there_is_no_system_role():
    got = render_chat(TEMPLATES["gemma2-it"], [{"role": "user", "content": "Hi"}], tools=[ADD], bos_token="<bos>")
    assert got.startswith("<bos><start_of_turn>user\n# Tools\n\n") and got.endswith("\n\nHi<end_of_turn>\n<start_of_turn>model\n")


# -- the call grammar -----------------------------------------------------------------------------

def accepts(gbnf: str, text: str) -> bool:
    m = Matcher(parse_gbnf(gbnf))
    data = text.encode()
    return m.accepts(data) and (m.advance(data) or m.is_complete())


W_CALL = call("x", "get_weather", {"city": "Paris", "unit": "f"})
A_CALL = call("y", "add", {"a": -2, "b": 30})


@pytest.mark.parametrize("syntax", [HERMES, LLAMA3], ids=lambda s: s.name)
def test_call_grammar_takes_valid_calls_only(syntax):
    g = calls_gbnf(check_tools(TOOLS, "required"), syntax)
    for c in (W_CALL, A_CALL, call("z", "get_weather", {"city": "é"})):
        assert accepts(g, write_calls([c], syntax))
    bad = [call("x", "get_weather", {"unit": "c"}),               # a required property missing
           call("x", "get_weather", {"city": "P", "unit": "k"}),  # outside the enum
           call("x", "add", {"a": 1.5, "b": 2}),                  # not an integer
           call("x", "add", {"city": "Paris"}),                   # another tool's arguments
           call("x", "mul", {"a": 1, "b": 2})]                    # no such tool
    for c in bad:
        assert not accepts(g, write_calls([c], syntax)), c
    assert not accepts(g, "The weather is fine.")
    assert not accepts(g, write_calls([W_CALL], syntax) + " and more")


def test_parallel_calls_and_a_named_tool():
    two = write_calls([W_CALL, A_CALL])
    assert accepts(calls_gbnf(check_tools(TOOLS, "required"), HERMES), two)
    assert not accepts(calls_gbnf(check_tools(TOOLS, "required", parallel_tool_calls=False), HERMES), two)
    assert not accepts(calls_gbnf(check_tools(TOOLS, "required"), LLAMA3), write_calls([W_CALL, A_CALL], LLAMA3))
    named = calls_gbnf(check_tools(TOOLS, {"type": "function", "function": {"name": "add"}}), HERMES)
    assert accepts(named, write_calls([A_CALL])) and not accepts(named, write_calls([W_CALL]))


@pytest.mark.parametrize("syntax", [HERMES, LLAMA3], ids=lambda s: s.name)
def test_grammar_after_the_marker(syntax):
    g = calls_gbnf(check_tools(TOOLS), syntax, after_marker=True)
    text = write_calls([A_CALL], syntax)
    assert text.startswith(syntax.marker)
    assert accepts(g, text[len(syntax.marker):]) and not accepts(g, text)


def test_parameters_with_refs_in_two_tools_do_not_clash():
    def tool(name, leaf):
        return {"type": "function", "function": {"name": name, "parameters": {
            "type": "object", "$defs": {"v": leaf}, "properties": {"v": {"$ref": "#/$defs/v"}}, "required": ["v"]}}}
    g = calls_gbnf(check_tools([tool("s", {"type": "string", "maxLength": 2}), tool("n", {"type": "boolean"})]), HERMES)
    assert accepts(g, write_calls([call("1", "s", {"v": "ab"})])) and accepts(g, write_calls([call("1", "n", {"v": True})]))
    assert not accepts(g, write_calls([call("1", "s", {"v": True})]))
    assert not accepts(g, write_calls([call("1", "n", {"v": "ab"})]))


def test_no_parameters_means_an_empty_object():
    t = {"type": "function", "function": {"name": "now"}}
    g = calls_gbnf(check_tools([t], "required"), HERMES)
    assert accepts(g, write_calls([call("1", "now", {})])) and not accepts(g, write_calls([call("1", "now", {"a": 1})]))


# -- parsing --------------------------------------------------------------------------------------

@pytest.mark.parametrize("syntax", [HERMES, LLAMA3], ids=lambda s: s.name)
def test_parse_calls_round_trip(syntax):
    calls = [W_CALL, A_CALL] if syntax.sep is not None else [A_CALL]
    got = parse_calls(write_calls(calls, syntax), syntax)
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in got] == \
        [("function", c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls]
    assert all(c["id"].startswith("call_") for c in got) and len({c["id"] for c in got}) == len(got)
    # the model's own spacing inside the arguments is normalised
    loose = syntax.prefix + "add" + syntax.middle + '{ "a":1,\n "b" : 2}' + syntax.suffix
    assert parse_calls(loose, syntax)[0]["function"]["arguments"] == '{"a": 1, "b": 2}'


@pytest.mark.parametrize("text, fragment", [
    ("hello", "not a hermes tool call"),
    ('<tool_call>\n{"name": "a b", "arguments": {}}\n</tool_call>', "no tool name"),
    ('<tool_call>\n{"name": "f", "arguments": {oops}\n</tool_call>', "are not JSON"),
    ('<tool_call>\n{"name": "f", "arguments": {}}</tool_call>', "does not end with"),
    ('<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call> trailing', "text after the tool call"),
])
def test_parse_errors(text, fragment):
    with pytest.raises(ToolError, match=fragment):
        parse_calls(text, HERMES)


# -- bad tools / tool_choice ----------------------------------------------------------------------

@pytest.mark.parametrize("tools, choice, err, fragment", [
    ([], None, ToolError, "non-empty list"),
    ({"type": "function"}, None, ToolError, "non-empty list"),
    ([{"type": "retrieval"}], None, ToolError, r"tools\[0\] must be"),
    ([{"type": "function", "function": {"name": "a b"}}], None, ToolError, "function name must be"),
    ([ADD, ADD], None, ToolError, "two tools are named 'add'"),
    ([{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}], None, ToolError,
     "parameters must be a JSON Schema of type object"),
    ([{"type": "function", "function": {"name": "f", "params": {}}}], None, ToolError, "unsupported key 'params'"),
    ([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"d": {"type": "string", "format": "date"}}}}}], None, GrammarError,
     "tool 'f' parameters: JSON Schema keyword 'format'"),
    ([ADD], "sometimes", ToolError, "tool_choice must be one of auto, none, required"),
    ([ADD], {"type": "function", "function": {"name": "get_weather"}}, ToolError,
     "tool_choice names 'get_weather', which is not among the tools"),
    ([ADD], {"type": "function", "name": "add"}, ToolError, "tool_choice must be"),
])
def test_bad_tools_and_choice(tools, choice, err, fragment):
    with pytest.raises(err, match=fragment):
        check_tools(tools, choice)


def test_parallel_flag_must_be_a_bool():
    with pytest.raises(ToolError, match="parallel_tool_calls must be true or false"):
        check_tools([ADD], "auto", parallel_tool_calls="yes")


def test_render_checks_tools_too():
    with pytest.raises(ToolError, match="function name must be"):
        render_chat(TEMPLATES["qwen3"], [{"role": "user", "content": "x"}], tools=[{"type": "function", "function": {}}])


def test_llama3_refuses_two_calls_in_one_turn_on_both_paths():
    msgs = CONVERSATIONS["two_results_no_system"]
    for use_jinja in (True, False):
        with pytest.raises(ChatTemplateError, match="only supports single tool-calls"):
            render_chat(TEMPLATES["llama3.1-instruct"], msgs, tools=TOOLS, use_jinja=use_jinja)
