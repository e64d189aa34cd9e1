"""Built-in (jinja2-free) rendering of tools and tool messages for the templates that write them
themselves: Qwen2.5 (ChatML), Qwen3, Llama 3.1 / 3.2 / 3.3. Byte-identical to jinja2 on the
published templates (tests/unit/test_chat_tools.py checks each one); the fixed text (the tools
section, the call format) is read out of the template's own string literals, and a variant
without the expressions reproduced here is refused with a ChatTemplateError.

Messages arrive validated and as tools.template_messages leaves them (arguments as objects).
Templates without tools never get here: chat_template rewrites their conversation first
(tools.fallback_messages).

Not here: the families' plain renderers (chat_builtin), message validation (chat_template).
"""

from __future__ import annotations

import json

from .chat_builtin import _fail, _literals, _llama3_dated_header, _raised, _split_system
from .errors import ChatTemplateError


def _tojson(x, indent=None) -> str:
    return json.dumps(x, ensure_ascii=False, indent=indent)   # the tojson chat_template gives jinja


def _require(template: str, family: str, needed: tuple) -> None:
    missing = [e for e in needed if e not in template]
    if missing:
        raise ChatTemplateError(f"unsupported {family} chat template variant with tools without jinja2 "
                                f"(no {missing[0]!r}); template starts {template[:80]!r}")


# -- Qwen2.5 (ChatML) and Qwen3: <tools> in the system turn, <tool_call> / <tool_response> ---------

_HERMES_REQUIRED = ("tool | tojson", '<tool_call>\\n{"name": "', '", "arguments": ', "}\\n</tool_call>",
                    "'\\n<tool_response>\\n'", "'\\n</tool_response>'", "'<|im_start|>user'")


def _hermes_header(template: str, messages: list[dict], tools: list) -> str:
    """The system turn that lists the tools. Qwen2.5 writes the system message (or its default)
    then "\\n\\n# Tools..."; Qwen3 writes the system message and "\\n\\n" (if any), then "# Tools..."."""
    lits = _literals(template)
    i = next((k for k, s in enumerate(lits) if "# Tools" in s), None)
    tail = next((s for s in lits if s.startswith("\n</tools>")), None)
    if i is None or tail is None or i == 0:
        raise ChatTemplateError(f"unsupported chat template variant with tools without jinja2 (no tools section); "
                                f"template starts {template[:80]!r}")
    head = lits[i]
    system = messages[0]["content"] if messages[0]["role"] == "system" else None
    if head.startswith("\n\n"):
        intro = system if system is not None else lits[i - 1]
    else:
        intro = system + lits[i - 1] if system is not None else ""
    return "<|im_start|>system\n" + intro + head + "".join("\n" + _tojson(t) for t in tools) + tail


def _tool_turn(messages: list[dict], i: int) -> str:
    """A tool result: consecutive results share one user turn."""
    first = i == 0 or messages[i - 1]["role"] != "tool"
    last = i == len(messages) - 1 or messages[i + 1]["role"] != "tool"
    return (("<|im_start|>user" if first else "") + "\n<tool_response>\n" + messages[i]["content"]
            + "\n</tool_response>" + ("<|im_end|>\n" if last else ""))


def _call(c: dict) -> str:
    f = c["function"]
    args = f["arguments"] if isinstance(f["arguments"], str) else _tojson(f["arguments"])
    return '<tool_call>\n{"name": "' + f["name"] + '", "arguments": ' + args + "}\n</tool_call>"


def render_qwen25_tools(template, messages, add_generation_prompt, tools) -> str:
    """Qwen2.5's template (ChatML that writes tools when given)."""
    _require(template, "chatml", _HERMES_REQUIRED + ('message.role == "assistant" and not message.tool_calls',))
    if tools:
        out = [_hermes_header(template, messages, tools)]
    elif messages[0]["role"] == "system":
        out = [f"<|im_start|>system\n{messages[0]['content']}<|im_end|>\n"]
    else:
        default = next((s for s in _literals(template) if s.startswith("<|im_start|>system\n")
                        and s.endswith("<|im_end|>\n")), None)
        if default is None:
            raise ChatTemplateError(f"chatml chat template with tools but no default system turn; "
                                    f"template starts {template[:80]!r}")
        out = [default]
    for i, m in enumerate(messages):
        role = m["role"]
        if role == "user" or (role == "system" and i > 0) or (role == "assistant" and not m.get("tool_calls")):
            out.append(f"<|im_start|>{role}\n{m['content']}<|im_end|>\n")
        elif role == "assistant":
            out.append("<|im_start|>assistant" + ("\n" + m["content"] if m["content"] else "")
                       + "".join("\n" + _call(c) for c in m["tool_calls"]) + "<|im_end|>\n")
        elif role == "tool":
            out.append(_tool_turn(messages, i))
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def qwen3_header(template: str, messages: list[dict], tools) -> str | None:
    """Qwen3's system turn with the tools, or None without tools (then the plain one is written)."""
    if not tools:
        return None
    _require(template, "qwen3", _HERMES_REQUIRED + ("(loop.first and content) or (not loop.first)",
                                                    "tool_call.arguments is string"))
    return _hermes_header(template, messages, tools)


def qwen3_calls(content: str, calls: list[dict]) -> str:
    """What Qwen3 writes after an assistant turn's content: its calls, each on a new line."""
    return "".join(("\n" if j or content else "") + _call(c) for j, c in enumerate(calls))


qwen3_tool_turn = _tool_turn


# -- Llama 3.1+: tools in the first user turn, JSON calls, "ipython" results -----------------------

_LLAMA3_REQUIRED = ("tools_in_user_message", "t | tojson(indent=4)", '\'{"name": "\' + tool_call.name + \'", \'',
                    "'\"parameters\": '", "<|start_header_id|>ipython<|end_header_id|>\\n\\n",
                    "message.content | tojson", "Environment: ipython\\n")


def render_llama3_tools(template, messages, add_generation_prompt, bos_token, tools) -> str:
    _require(template, "llama3", _LLAMA3_REQUIRED)
    dated = _llama3_dated_header(template)
    if dated is None:
        raise ChatTemplateError(f"llama3 chat template with tools but no knowledge-cutoff line; "
                                f"template starts {template[:80]!r}")
    bos = bos_token if "bos_token" in template else ""
    header = "<|start_header_id|>{}<|end_header_id|>\n\n"
    system, rest = _split_system(messages)
    out = [bos, header.format("system"), "Environment: ipython\n" if tools else "", dated,
           (system or "").strip(), "<|eot_id|>"]
    if tools:
        if not rest:
            raise _fail(_raised(template, "no first user message",
                                "Cannot put tools in the first user message when there's no first user message!"))
        lits = _literals(template)
        guide = "".join(next((s for s in lits if s.startswith(p)), "") for p in (
            "Given the following functions", "with its proper arguments", 'Respond in the format {"name"',
            "Do not use variables."))
        listed = "".join(_tojson(t, indent=4) + "\n\n" for t in tools)
        out.append(header.format("user") + guide + listed + rest[0]["content"].strip() + "<|eot_id|>")
        rest = rest[1:]
    for m in rest:
        if m["role"] == "tool":
            out.append(header.format("ipython") + _tojson(m["content"]) + "<|eot_id|>")
        elif "tool_calls" in m:
            if len(m["tool_calls"]) != 1:
                raise _fail(_raised(template, "single tool-calls", "This model only supports single tool-calls at once!"))
            f = m["tool_calls"][0]["function"]
            out.append(header.format("assistant") + '{"name": "' + f["name"] + '", "parameters": '
                       + _tojson(f["arguments"]) + "}<|eot_id|>")
        else:
            out.append(header.format(m["role"]) + m["content"].strip() + "<|eot_id|>")
    if add_generation_prompt:
        out.append(header.format("assistant"))
    return "".join(out)


