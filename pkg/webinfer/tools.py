"""Tool calls (OpenAI's tools= / tool_choice=): checking them, writing them into the prompt, the
grammar a call is generated under, and reading a call back into OpenAI's shape.

Call syntax. A template that writes tools itself fixes how the model calls one:
- "hermes" (Qwen2.5, Qwen3: the template mentions <tool_call>): each call is
  ``<tool_call>\\n{"name": "NAME", "arguments": {...}}\\n</tool_call>``, several joined by "\\n";
- "llama3" (Llama 3.1 / 3.2 / 3.3: "parameters" in a <|start_header_id|> template): the whole
  message is ``{"name": "NAME", "parameters": {...}}``, one call per message.
Any other template (SmolLM2, Llama 3.0, Gemma, Phi-3, Mistral, ...) gets the fallback: the
conversation is rewritten into plain messages before the template runs (``fallback_messages``):
a "# Tools" section in the system message (Qwen's wording: the tools as JSON inside <tools>,
and the hermes call format), an assistant's calls written in hermes syntax as its content, and
each run of tool results as one user message of ``<tool_response>\\n...\\n</tool_response>``
blocks. Gemma-1/2 templates refuse a system message: there the section opens the first user turn.

Grammar. A call is generated under a grammar (``calls_gbnf``): the syntax's fixed text, one of the
allowed names, and that tool's arguments under its parameters schema (webinfer.grammar's JSON
Schema subset; a keyword outside it is a GrammarError naming the tool). Several tools make an
alternation of (name, arguments) pairs, so a name always comes with its own arguments.

Not here: running the model (chat.py), template rendering (chat_template, chat_builtin).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from .errors import GrammarError, ToolError

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class CallSyntax:
    name: str             # "hermes" | "llama3"
    prefix: str           # the text before the function name
    middle: str           # between the name and the arguments object
    suffix: str           # after the arguments object
    sep: str | None       # between two calls of one message; None: one call per message
    marker: str           # the start of prefix that tells a call from a text answer (tool_choice "auto")


HERMES = CallSyntax("hermes", '<tool_call>\n{"name": "', '", "arguments": ', "}\n</tool_call>", "\n", "<tool_call>")
LLAMA3 = CallSyntax("llama3", '{"name": "', '", "parameters": ', "}", None, '{"name": "')


def native_syntax(template: str) -> CallSyntax | None:
    """The call syntax this chat template writes tools in itself, or None (it has no tools: fallback)."""
    if not re.search(r"\btools\b", template):
        return None
    if "<tool_call>" in template:
        return HERMES
    if "<|start_header_id|>" in template and '"parameters": ' in template:
        return LLAMA3
    return None


def call_syntax(template: str) -> CallSyntax:
    """How a model with this template calls a tool: its own syntax, or the fallback's (hermes)."""
    return native_syntax(template) or HERMES


# -- checking tools= and tool_choice= ------------------------------------------------------------

@dataclass(frozen=True)
class ToolSpec:
    tools: list           # the tools as given (OpenAI shape), for the template
    schemas: dict         # name -> parameters schema
    mode: str             # "auto" | "none" | "required" (a named tool is "required" of one name)
    names: tuple          # the names a call may use
    parallel: bool        # several calls in one message allowed


def check_tools(tools, tool_choice=None, parallel_tool_calls=None) -> ToolSpec:
    """Validate OpenAI-shaped tools and tool_choice; ToolError (or GrammarError for a parameters
    schema the grammar compiler refuses) names what is wrong. tool_choice None is "auto"."""
    from .grammar import schema_to_gbnf
    if not isinstance(tools, (list, tuple)) or not tools:
        raise ToolError(f'tools must be a non-empty list of {{"type": "function", "function": {{...}}}}, '
                        f"got {tools!r:.80}")
    schemas = {}
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or t.get("type") != "function" or not isinstance(t.get("function"), dict):
            raise ToolError(f'tools[{i}] must be {{"type": "function", "function": {{"name": ..., '
                            f'"parameters": ...}}}}, got {t!r:.80}')
        f = t["function"]
        extra = sorted(set(t) - {"type", "function"}) or sorted(set(f) - {"name", "description", "parameters", "strict"})
        if extra:
            raise ToolError(f"tools[{i}] has unsupported key {extra[0]!r}")
        name = f.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ToolError(f"tools[{i}] function name must be 1-64 letters, digits, '_' or '-', got {name!r:.80}")
        if name in schemas:
            raise ToolError(f"tools[{i}]: two tools are named {name!r}")
        if not isinstance(f.get("description", ""), str):
            raise ToolError(f"tools[{i}] ({name}) description must be a string")
        params = f.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict) or params.get("type", "object") != "object":
            raise ToolError(f"tools[{i}] ({name}) parameters must be a JSON Schema of type object, got {params!r:.80}")
        try:
            schema_to_gbnf(params)
        except GrammarError as e:
            raise GrammarError(f"tool {name!r} parameters: {e}") from None
        schemas[name] = params
    mode, names = _check_choice(tool_choice, schemas)
    if parallel_tool_calls is not None and not isinstance(parallel_tool_calls, bool):
        raise ToolError(f"parallel_tool_calls must be true or false, got {parallel_tool_calls!r}")
    return ToolSpec(list(tools), schemas, mode, names, parallel_tool_calls is not False and len(names) > 0)


def _check_choice(choice, schemas) -> tuple[str, tuple]:
    if choice is None:
        choice = "auto"
    if isinstance(choice, str):
        if choice not in _CHOICES:
            raise ToolError(f"tool_choice must be one of {', '.join(_CHOICES)} or "
                            f'{{"type": "function", "function": {{"name": ...}}}}, got {choice!r:.80}')
        return choice, (() if choice == "none" else tuple(schemas))
    f = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    name = f.get("name") if isinstance(f, dict) else None
    if not isinstance(name, str):
        raise ToolError(f'tool_choice must be "auto", "none", "required" or '
                        f'{{"type": "function", "function": {{"name": ...}}}}, got {choice!r:.80}')
    if name not in schemas:
        raise ToolError(f"tool_choice names {name!r}, which is not among the tools ({', '.join(schemas)})")
    return "required", (name,)


# -- the grammar of a call -----------------------------------------------------------------------

def calls_gbnf(spec: ToolSpec, syntax: CallSyntax, after_marker: bool = False) -> str:
    """GBNF for one call (or, when parallel, one or more) among spec.names in this syntax.
    after_marker: the grammar of what follows syntax.marker (the model already wrote it)."""
    from .grammar import schemas_gbnf
    from .grammar.json_schema import lit
    exprs, rules = schemas_gbnf([spec.schemas[n] for n in spec.names])
    alts = " | ".join(f"{lit(n + syntax.middle)} {e} {lit(syntax.suffix)}" for n, e in zip(spec.names, exprs))
    first = lit(syntax.prefix[len(syntax.marker):] if after_marker else syntax.prefix)
    more = f" ({lit(syntax.sep + syntax.prefix)} tool-call)*" if spec.parallel and syntax.sep is not None else ""
    head = f"{first} tool-call" if first != '""' else "tool-call"
    return f"root ::= {head}{more}\ntool-call ::= {alts}\n{rules}"


# -- reading calls back --------------------------------------------------------------------------

def parse_calls(text: str, syntax: CallSyntax) -> list[dict]:
    """OpenAI tool_calls from generated text in this syntax (what calls_gbnf allows); ToolError if
    it is not that."""
    calls, pos, dec = [], 0, json.JSONDecoder()
    while True:
        if not text.startswith(syntax.prefix, pos):
            raise ToolError(f"not a {syntax.name} tool call at {text[pos:pos + 40]!r}")
        pos += len(syntax.prefix)
        end = text.find(syntax.middle, pos)
        name = text[pos:end] if end >= 0 else ""
        if not _NAME.fullmatch(name):
            raise ToolError(f"no tool name in the call at {text[pos:pos + 40]!r}")
        pos = end + len(syntax.middle)
        try:
            args, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ToolError(f"the arguments of the call to {name!r} are not JSON ({e})") from None
        if not text.startswith(syntax.suffix, pos):
            raise ToolError(f"the call to {name!r} does not end with {syntax.suffix!r}")
        pos += len(syntax.suffix)
        calls.append({"id": "call_" + uuid.uuid4().hex[:24], "type": "function",
                      "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}})
        if pos == len(text):
            return calls
        if syntax.sep is None or not text.startswith(syntax.sep, pos):
            raise ToolError(f"text after the tool call: {text[pos:pos + 40]!r}")
        pos += len(syntax.sep)


# -- messages: what the templates see ------------------------------------------------------------

def call_arguments(call: dict):
    """A tool call's arguments as a dict (OpenAI gives them as a JSON string; templates want the object)."""
    args = call["function"]["arguments"]
    return json.loads(args) if isinstance(args, str) else args


def template_messages(messages: list[dict]) -> list[dict]:
    """Messages for a template with its own tool syntax, the way transformers passes them: a call's
    arguments as an object, an assistant's missing content as ""."""
    out = []
    for m in messages:
        m = dict(m)
        if m.get("tool_calls") is None:
            m.pop("tool_calls", None)     # Llama 3's template asks whether the key is there
        else:
            m["tool_calls"] = [{**c, "function": {**c["function"], "arguments": call_arguments(c)}}
                               for c in m["tool_calls"]]
            m["content"] = m.get("content") or ""
        out.append(m)
    return out


def tools_section(tools: list) -> str:
    """The fallback's description of the tools (Qwen's own wording, hermes syntax)."""
    listed = "".join("\n" + json.dumps(t, ensure_ascii=False) for t in tools)
    return ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
            f"{listed}\n</tools>\n\nFor each function call, return a json object with function name and "
            "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def write_calls(calls: list[dict], syntax: CallSyntax = HERMES) -> str:
    """Calls as the model writes them in this syntax."""
    return (syntax.sep or "").join(
        syntax.prefix + c["function"]["name"] + syntax.middle
        + json.dumps(call_arguments(c), ensure_ascii=False) + syntax.suffix for c in calls)


def fallback_messages(template: str, messages: list[dict], tools: list | None) -> list[dict]:
    """Plain role/content messages for a template without tools (the module docstring says how)."""
    out = []
    for m in messages:
        role, content = m["role"], m.get("content") or ""
        if role == "tool":
            block = f"<tool_response>\n{content}\n</tool_response>"
            if out and out[-1].get("_tool"):
                out[-1]["content"] += "\n" + block
            else:
                out.append({"role": "user", "content": block, "_tool": True})
        elif m.get("tool_calls"):
            calls = write_calls(m["tool_calls"])
            out.append({"role": "assistant", "content": content + "\n" + calls if content else calls})
        else:
            out.append({"role": role, "content": content})
    out = [{"role": m["role"], "content": m["content"]} for m in out]
    if tools:
        section = tools_section(tools)
        if out[0]["role"] == "system":
            out[0]["content"] += "\n\n" + section
        elif "System role not supported" in template and out[0]["role"] == "user":
            out[0]["content"] = section + "\n\n" + out[0]["content"]
        else:
            out.insert(0, {"role": "system", "content": section})
    return out
