"""Tool calls with the real model (numpy device; SmolLM2's template has no tools, so the fallback
prompt and the hermes call syntax): a forced call validates against its tool's schema with
`jsonschema`, greedy and at temperature 1 with seeds; a named tool; "auto" following examples
into a call; a tool result fed back gives an answer; streaming; a ChatSession; the CLI's --tools;
errors."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest

from webinfer import GrammarError, ToolError, WebinferError

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                                                     "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer", "minimum": -99, "maximum": 99},
                                                     "b": {"type": "integer", "minimum": -99, "maximum": 99}},
                   "required": ["a", "b"]}}}
TOOLS = [WEATHER, ADD]
SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
BUDGET = 96    # above the call grammar's shortest output in bytes; a call stops at its end


def check_calls(message, names=tuple(SCHEMAS)):
    assert message["role"] == "assistant" and message["tool_calls"]
    for c in message["tool_calls"]:
        assert c["type"] == "function" and c["id"].startswith("call_")
        assert c["function"]["name"] in names
        jsonschema.validate(json.loads(c["function"]["arguments"]), SCHEMAS[c["function"]["name"]])
    return message["tool_calls"]


def call_message(i, name, args):
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]}


@pytest.mark.parametrize("kw", [dict(temperature=0), dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=1)],
                         ids=["greedy", "seed1"])
def test_forced_call_validates(numpy_model, kw):
    r = numpy_model.create_chat_completion(ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
                                           max_tokens=BUDGET, **kw)
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert len(check_calls(choice["message"])) == 1
    assert 0 < r["usage"]["completion_tokens"] < BUDGET


def test_named_tool_streamed(numpy_model):
    """Another seed at temperature 1, the named choice, and the streamed shape."""
    chunks = list(numpy_model.create_chat_completion(
        [{"role": "user", "content": "What is 2 plus 3?"}], tools=TOOLS, max_tokens=BUDGET, stream=True,
        tool_choice={"type": "function", "function": {"name": "add"}}, temperature=1.0, seed=3))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    calls = [c for ch in chunks for c in ch["choices"][0]["delta"].get("tool_calls", [])]
    assert [c["index"] for c in calls] == list(range(len(calls))) and calls
    check_calls({"role": "assistant", "tool_calls": calls}, names=("add",))
    assert not any(ch["choices"][0]["delta"].get("content") for ch in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls" and chunks[-1]["usage"]["completion_tokens"] > 0


def test_auto_follows_examples_into_a_call(numpy_model):
    """Two earlier turns that called the tool: greedy, the model opens a call (the marker), and the
    rest is generated under the grammar."""
    msgs = [{"role": "user", "content": "Weather in Rome?"}, call_message("c1", "get_weather", {"city": "Rome"}),
            {"role": "user", "content": "Weather in Oslo?"}, call_message("c2", "get_weather", {"city": "Oslo"}),
            {"role": "user", "content": "Weather in Paris?"}]
    r = numpy_model.create_chat_completion(msgs, tools=[WEATHER], max_tokens=BUDGET, temperature=0)
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    assert choice["message"]["content"] is None
    check_calls(choice["message"], names=("get_weather",))


def test_tool_result_fed_back_gives_an_answer(numpy_model):
    msgs = ASK + [call_message("c1", "get_weather", {"city": "Paris"}),
                  {"role": "tool", "tool_call_id": "c1", "content": "18C, sunny"}]
    prompt = numpy_model.apply_chat_template(msgs, tools=TOOLS)
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>' in prompt
    assert prompt.endswith("<|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response><|im_end|>\n"
                           "<|im_start|>assistant\n")
    r = numpy_model.create_chat_completion(msgs, tools=TOOLS, tool_choice="none", max_tokens=8, temperature=0)
    choice = r["choices"][0]
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"].strip()
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] in ("stop", "length")


def test_errors(numpy_model):
    with pytest.raises(ToolError, match="tool_choice names 'mul'"):
        numpy_model.create_chat_completion(ASK, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "mul"}})
    with pytest.raises(ToolError, match=r"tools\[0\] must be"):
        numpy_model.create_chat_completion(ASK, tools=[{"name": "add"}])
    with pytest.raises(GrammarError, match="tool 'f' parameters: JSON Schema keyword 'oneOf'"):
        numpy_model.create_chat_completion(ASK, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {"x": {"oneOf": [{"type": "string"}]}}}}}])
    with pytest.raises(ToolError, match="response_format= / grammar= cannot be combined with tools"):
        numpy_model.create_chat_completion(ASK, tools=TOOLS, response_format={"type": "json_object"})
    with pytest.raises(ToolError, match="tool_choice= and parallel_tool_calls= need tools="):
        numpy_model.create_chat_completion(ASK, tool_choice="required")
    with pytest.raises(WebinferError, match="too small for the grammar"):
        numpy_model.create_chat_completion(ASK, tools=TOOLS, tool_choice="required", max_tokens=8)


def test_cli_tools(model_path, tmp_path):
    f = tmp_path / "tools.json"
    f.write_text(json.dumps([WEATHER, {"type": "function", "function": {"name": "now", "description": "The time"}}]))
    p = subprocess.run([sys.executable, "-m", "webinfer", "generate", "--model", str(model_path), "--device", "numpy",
                        "--quiet", "--chat", "--tools", str(f), "--tool-choice", "now", "--max-tokens",
                        str(BUDGET), "--temperature", "0", "What time is it?"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    msg = json.loads(p.stdout)
    assert {(c["function"]["name"], c["function"]["arguments"]) for c in msg["tool_calls"]} == {("now", "{}")}
    p = subprocess.run([sys.executable, "-m", "webinfer", "generate", "--model", str(model_path), "--device", "numpy",
                        "--tools", str(f), "x"], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "--tools needs --chat" in p.stderr


def test_chat_session_with_tools(numpy_model):
    """A session: a forced call is kept as the assistant's message, its result goes back, and the
    next turn answers it (no tools described: tool_choice "none")."""
    chat = numpy_model.chat(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
                            max_tokens=BUDGET, temperature=0)
    chat.say("Weather in Paris?")
    calls = check_calls(chat.messages[-1], names=("get_weather",))
    assert chat.messages[-1]["content"] is None and len(calls) == 1
    with pytest.raises(ToolError, match="no tool call has the id 'nope'"):
        chat.add_tool_result("nope", "x")
    with pytest.raises(WebinferError, match="send\\(None\\) answers tool results"):
        chat.say(None)
    chat.add_tool_result(calls[0]["id"], {"temp_c": 18})
    assert chat.messages[-1] == {"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"temp_c": 18}'}
    c = chat.say(None, tool_choice="none", max_tokens=6)
    assert chat.messages[-1] == {"role": "assistant", "content": c.text} and c.text.strip()
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
