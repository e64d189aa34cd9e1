"""Chat templates: turn a list of messages into the prompt text a chat model was trained on.

``render_chat(template, messages)`` runs the model's own ``tokenizer.chat_template`` (a jinja2
template) with a sandboxed jinja2 environment set up the way HF transformers sets it up
(trim_blocks, lstrip_blocks, loopcontrols, ``raise_exception``, ``strftime_now``, a non-escaping
``tojson``), so the text matches ``tokenizer.apply_chat_template(..., tokenize=False)``.
Where jinja2 is missing (Pyodide has no offline wheel) or ``use_jinja=False``, the built-in
renderer in chat_builtin.py writes the same bytes for the common families (ChatML, Qwen3,
Llama-3, Llama-2, Mistral, Gemma, Phi-3).

Tools: ``tools=`` (OpenAI shape), "tool" messages (with tool_call_id) and assistant messages with
``tool_calls`` render through the template where it writes tools itself (Qwen2.5/3, Llama 3.1+),
and through the fallback of tools.py (plain messages with a tools section) everywhere else.

Not here: tokenizing the prompt, multimodal content, the tool-call grammar and parsing (tools.py),
and choosing what to do when a conversation is too long (chat.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache

from .chat_builtin import detect_family, render_builtin
from .errors import ChatTemplateError
from .tools import call_arguments, check_tools, fallback_messages, native_syntax, template_messages

__all__ = ["render_chat", "detect_family", "jinja_available"]

_ROLES = ("system", "user", "assistant", "tool")
_KEYS = {"system": {"role", "content"}, "user": {"role", "content"},
         "assistant": {"role", "content", "tool_calls"}, "tool": {"role", "content", "tool_call_id", "name"}}


def render_chat(template: str, messages: list[dict], *, add_generation_prompt: bool = True,
                bos_token: str = "", eos_token: str = "", use_jinja: bool | None = None,
                enable_thinking: bool | None = None, tools: list | None = None) -> str:
    """The prompt text for ``messages`` under ``template``.

    use_jinja: None = jinja2 when importable, else the built-in renderer; True = jinja2 or a
    ChatTemplateError; False = always the built-in renderer (what Pyodide gets).
    enable_thinking: passed to the template as transformers passes extra keywords (Qwen3 reads
    it: False closes an empty <think> block in the generation prompt); None leaves it undefined.
    tools: OpenAI-shaped tools to describe to the model (tools.py says how, for each template).
    """
    if not isinstance(template, str) or not template.strip():
        raise ChatTemplateError(f"chat template must be a non-empty string, got {template!r:.80}")
    _validate(messages)
    if tools is not None:
        check_tools(tools)
    if tools or any(m["role"] == "tool" or m.get("tool_calls") for m in messages):
        if native_syntax(template) is None:
            messages, tools = fallback_messages(template, messages, tools), None
        else:
            messages = template_messages(messages)
    if use_jinja is None:
        use_jinja = jinja_available()
    elif use_jinja and not jinja_available():
        raise ChatTemplateError("use_jinja=True but jinja2 is not installed")
    extra = {} if enable_thinking is None else {"enable_thinking": bool(enable_thinking)}
    if tools:
        extra["tools"] = list(tools)
    if use_jinja:
        return _render_jinja(template, messages, add_generation_prompt, bos_token, eos_token, extra)
    return render_builtin(template, messages, add_generation_prompt, bos_token, eos_token, **extra)


def _validate(messages) -> None:
    """A non-empty list of {"role": system|user|assistant|tool, "content": str} dicts; an assistant
    message may carry "tool_calls" (then its content may be None), a tool message "tool_call_id"."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ChatTemplateError(f"messages must be a non-empty list of dicts, got {messages!r:.80}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ChatTemplateError(f"messages[{i}] must be a dict with 'role' and 'content', got {m!r:.80}")
        role = m.get("role")
        if role not in _ROLES:
            raise ChatTemplateError(f"messages[{i}]['role'] must be one of {', '.join(_ROLES)}, "
                                    f"got {role!r:.40}")
        calls = m.get("tool_calls")
        if not isinstance(m.get("content"), str) and not (calls and m.get("content") is None):
            raise ChatTemplateError(f"messages[{i}]['content'] must be a string, got {m.get('content')!r:.80}")
        extra = sorted(set(m) - _KEYS[role])
        if extra:
            raise ChatTemplateError(f"messages[{i}] ({role}) has unsupported keys {extra} "
                                    f"(allowed: {', '.join(sorted(_KEYS[role]))})")
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise ChatTemplateError(f"messages[{i}] is a tool result: it needs 'tool_call_id' (the id of the call "
                                    f"it answers), got {m.get('tool_call_id')!r:.40}")
        if calls is not None:
            _validate_calls(i, calls)


def _validate_calls(i: int, calls) -> None:
    if not isinstance(calls, list) or not calls:
        raise ChatTemplateError(f"messages[{i}]['tool_calls'] must be a non-empty list, got {calls!r:.80}")
    for j, c in enumerate(calls):
        f = c.get("function") if isinstance(c, dict) else None
        if not isinstance(f, dict) or c.get("type", "function") != "function" or not isinstance(f.get("name"), str):
            raise ChatTemplateError(f'messages[{i}]["tool_calls"][{j}] must be {{"id": ..., "type": "function", '
                                    f'"function": {{"name": ..., "arguments": "<json>"}}}}, got {c!r:.80}')
        try:
            args = call_arguments(c)
        except (KeyError, ValueError) as e:
            raise ChatTemplateError(f'messages[{i}]["tool_calls"][{j}] arguments are not JSON: {e}') from None
        if not isinstance(args, dict):
            raise ChatTemplateError(f'messages[{i}]["tool_calls"][{j}] arguments must be a JSON object, '
                                    f"got {args!r:.80}")


# -- jinja2 path ---------------------------------------------------------------------------------

def jinja_available() -> bool:
    try:
        import jinja2  # noqa: F401
    except ImportError:
        return False
    return True


def _render_jinja(template, messages, add_generation_prompt, bos_token, eos_token, extra=None) -> str:
    import jinja2
    try:
        compiled = _compile(template)
        return compiled.render(messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt,
                               bos_token=bos_token, eos_token=eos_token, **(extra or {}))
    except jinja2.TemplateError as e:
        raise ChatTemplateError(f"chat template error: {e.message or e}") from e
    except (TypeError, ValueError, LookupError, AttributeError) as e:
        # A template that does e.g. string + None fails inside Python, not inside jinja.
        raise ChatTemplateError(f"chat template failed: {type(e).__name__}: {e}") from e


@lru_cache(maxsize=16)
def _compile(template: str):
    """The template compiled in an environment configured like transformers' apply_chat_template."""
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # jinja's own tojson HTML-escapes '<' and '>', which chat templates must not do.
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(template)
