"""Built-in chat-template renderers: jinja2-free output for the common template families.

Pyodide has no offline jinja2 wheel, so a model's ``tokenizer.chat_template`` cannot be run
there. Instead we recognise the family from marker strings in the template text and write the
prompt in Python, byte-identical to what jinja2 gives for that family's published templates
(tests/unit/test_chat_template.py checks every template in tests/data/chat_templates/ against
jinja2). Model-specific pieces (a default system prompt, the "[INST]" spacing, where Mistral folds
the system message, the Llama-3.1 knowledge-cutoff line) are read out of the template's own
string literals, not hard-coded for one model. A template of a known family that uses something
we cannot reproduce raises ChatTemplateError rather than rendering something subtly different.

Qwen3's template (a ChatML dialect) gets its own renderer: the `<think>` block it writes into
assistant turns after the last user query, the generation prompt and the `enable_thinking`
switch are read from the template. Phi-3 / Phi-3.5 (`<|user|>` ... `<|end|>`) have one too.

Tools and tool messages: chat_builtin_tools.py, for the templates that write them (Qwen2.5, Qwen3,
Llama 3.1+); other families see only plain messages (chat_template rewrites theirs first).

Not here: message validation and the jinja2 path (chat_template.py), multimodal content.
"""

from __future__ import annotations

import re
from datetime import datetime

from .errors import ChatTemplateError

# Marker -> family, first match wins: Llama-2 templates contain both "<<SYS>>" and "[INST]", so
# "<<SYS>>" is tried before Mistral's bare "[INST]"; Qwen3's ChatML is told from plain ChatML by
# the index of the last user query it keeps for its <think> blocks.
_FAMILY_MARKERS = (
    ("qwen3", "last_query_index"),
    ("chatml", "<|im_start|>"),
    ("llama3", "<|start_header_id|>"),
    ("gemma", "<start_of_turn>"),
    ("phi3", "<|end|>"),
    ("llama2", "<<SYS>>"),
    ("mistral", "[INST]"),
)

# Markers of features a family's built-in renderer does not reproduce (reasoning blocks, phi-4's
# ChatML dialect, vision tokens): better a clear error than a prompt the model was not trained on.
_UNSUPPORTED = {
    "qwen3": (),
    "chatml": ("<|im_sep|>", "<think>", "reasoning_content"),
    "llama3": ("<|image|>",),
    "gemma": ("<audio",),
    "phi3": ("<|tool|>", "<|image"),
    "llama2": (),
    "mistral": ("[SYSTEM_PROMPT]",),
}

# A jinja string literal, single- or double-quoted, with backslash escapes.
_LITERAL = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""", re.S)
_RAISE = re.compile(r"""raise_exception\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*\)""", re.S)


def detect_family(template: str) -> str | None:
    """'qwen3' | 'chatml' | 'llama3' | 'gemma' | 'phi3' | 'llama2' | 'mistral' from marker strings, or None."""
    for family, marker in _FAMILY_MARKERS:
        if marker in template:
            return family
    return None


def render_builtin(template: str, messages: list[dict], add_generation_prompt: bool,
                   bos_token: str, eos_token: str, enable_thinking: bool | None = None,
                   tools: list | None = None) -> str:
    """Render validated ``messages`` the way the template's family does, without jinja2.
    enable_thinking: None leaves it undefined, as jinja does when the caller does not pass it.
    tools (and tool / tool-call messages) reach here only for templates that write tools
    themselves (chat_template sends the others through tools.fallback_messages)."""
    family = detect_family(template)
    if family is None:
        raise ChatTemplateError(
            "chat template of an unknown family and jinja2 is not available (built-in renderers: "
            f"qwen3, chatml, llama3, gemma, phi3, llama2, mistral); template starts {template[:80]!r}")
    for marker in _UNSUPPORTED[family]:
        if marker in template:
            raise ChatTemplateError(f"{family} chat template uses {marker!r}, which the built-in renderer "
                                    f"does not support without jinja2; template starts {template[:80]!r}")
    if family == "qwen3":
        return _render_qwen3(template, messages, add_generation_prompt, enable_thinking, tools)
    if tools or any(m["role"] == "tool" or m.get("tool_calls") for m in messages):
        from . import chat_builtin_tools as bt
        if family == "chatml":
            return bt.render_qwen25_tools(template, messages, add_generation_prompt, tools)
        if family == "llama3":
            return bt.render_llama3_tools(template, messages, add_generation_prompt, bos_token, tools)
        raise ChatTemplateError(f"tool calls with this {family} chat template need jinja2; "
                                f"template starts {template[:80]!r}")
    return _RENDERERS[family](template, messages, add_generation_prompt, bos_token, eos_token)


# -- reading pieces out of the template text ------------------------------------------------------

def _unescape(raw: str) -> str:
    # Exactly what jinja's lexer does to a string literal's body.
    return raw.encode("ascii", "backslashreplace").decode("unicode-escape")


def _literals(template: str) -> list[str]:
    """Every string literal in the template, decoded, in order.

    Comments go first: an apostrophe in "{# we're ... #}" would otherwise open a fake literal.
    """
    code = re.sub(r"\{#.*?#\}", "", template, flags=re.S)
    return [_unescape(m.group(1) if m.group(1) is not None else m.group(2)) for m in _LITERAL.finditer(code)]


def _raised(template: str, containing: str, fallback: str) -> str:
    """The template's own raise_exception message that contains ``containing`` (for equal errors)."""
    for m in _RAISE.finditer(template):
        text = _unescape(m.group(1) if m.group(1) is not None else m.group(2))
        if containing in text:
            return text
    return fallback


def _fail(message: str) -> ChatTemplateError:
    # Same wording as the jinja path gives for raise_exception(message).
    return ChatTemplateError(f"chat template error: {message}")


def _starts_with_bos(template: str) -> bool:
    return re.match(r"\s*\{\{-?\s*bos_token\s*-?\}\}", template) is not None


def _alternation_error(template: str) -> ChatTemplateError:
    return _fail(_raised(template, "alternate", "Conversation roles must alternate user/assistant/user/assistant/..."))


def _split_system(messages: list[dict]) -> tuple[str | None, list[dict]]:
    if messages[0]["role"] == "system":
        return messages[0]["content"], messages[1:]
    return None, messages


# -- ChatML: SmolLM2, Qwen2, Qwen2.5, OpenHermes ... ------------------------------------------------

def _chatml_default_system(template: str) -> str | None:
    """The default system prompt written when the conversation has none (SmolLM2, Qwen2/2.5)."""
    for lit in _literals(template):
        m = re.fullmatch(r"<\|im_start\|>system\n(.*)<\|im_end\|>\n", lit, re.S)
        if m:
            return m.group(1)
    return None


def _render_chatml(template, messages, add_generation_prompt, bos_token, eos_token):
    out = [bos_token] if _starts_with_bos(template) else []
    default = _chatml_default_system(template)
    if default is not None and messages[0]["role"] != "system":
        out.append(f"<|im_start|>system\n{default}<|im_end|>\n")
    out += [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


# -- Qwen3: ChatML with <think> blocks ------------------------------------------------------------

# The expressions of Qwen3's template that the renderer below reproduces; a variant without any of
# them does something else and is refused.
_QWEN3_REQUIRED = (
    "'<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n'",
    "(message.role == \"user\") or (message.role == \"system\" and not loop.first)",
    "not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>'))",
    "split('</think>')[-1].lstrip('\\n')",
    "split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n')",
    "loop.index0 > ns.last_query_index",
    "loop.last or (not loop.last and reasoning_content)",
    "'\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n')",
)
_QWEN3_PROMPT = re.compile(r"""\{%-?\s*if add_generation_prompt\s*-?%\}\s*\{\{-?\s*'((?:[^'\\]|\\.)*)'\s*-?\}\}""")
_QWEN3_NO_THINK = re.compile(r"""\{%-?\s*if enable_thinking is defined and enable_thinking is false\s*-?%\}"""
                             r"""\s*\{\{-?\s*'((?:[^'\\]|\\.)*)'\s*-?\}\}""")


def _qwen3_style(template: str) -> tuple[str, str | None]:
    """(generation prompt, what enable_thinking=False appends to it or None) of this template."""
    missing = [e for e in _QWEN3_REQUIRED if e not in template]
    prompt = _QWEN3_PROMPT.search(template)
    no_think = _QWEN3_NO_THINK.search(template)
    if missing or prompt is None or ("enable_thinking" in template and no_think is None):
        raise ChatTemplateError(f"unsupported qwen3 chat template variant without jinja2 "
                                f"({'no ' + repr(missing[0]) if missing else 'generation prompt'}); "
                                f"template starts {template[:80]!r}")
    return _unescape(prompt.group(1)), (_unescape(no_think.group(1)) if no_think else None)


def _render_qwen3(template, messages, add_generation_prompt, enable_thinking, tools=None):
    from . import chat_builtin_tools as bt
    prompt, no_think = _qwen3_style(template)
    out = []
    header = bt.qwen3_header(template, messages, tools)
    if header is not None:
        out.append(header)
    elif messages[0]["role"] == "system":
        out.append(f"<|im_start|>system\n{messages[0]['content']}<|im_end|>\n")
    # The last user turn that is a real query (not a tool response wrapped as a user turn).
    last_query = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user" and not (
        messages[i]["content"].startswith("<tool_response>") and messages[i]["content"].endswith("</tool_response>"))),
        len(messages) - 1)
    for i, m in enumerate(messages):
        role, content = m["role"], m["content"]
        if role == "user" or (role == "system" and i > 0):
            out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
        elif role == "assistant":
            reasoning = ""
            if "</think>" in content:
                reasoning = content.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
                content = content.split("</think>")[-1].lstrip("\n")
            if i > last_query and (i == len(messages) - 1 or reasoning):
                think, answer = reasoning.strip("\n"), content.lstrip("\n")
                out.append(f"<|im_start|>assistant\n<think>\n{think}\n</think>\n\n{answer}")
            else:
                out.append(f"<|im_start|>assistant\n{content}")
            if m.get("tool_calls"):
                out.append(bt.qwen3_calls(content, m["tool_calls"]))
            out.append("<|im_end|>\n")
        elif role == "tool":
            out.append(bt.qwen3_tool_turn(messages, i))
    if add_generation_prompt:
        out.append(prompt)
        if enable_thinking is False and no_think is not None:
            out.append(no_think)
    return "".join(out)


# -- Llama 3 / 3.1 / 3.2 / 3.3 ----------------------------------------------------------------------

def _llama3_dated_header(template: str) -> str | None:
    """Llama-3.1+ opens with a system turn carrying the knowledge cutoff and today's date.

    Returns "Cutting Knowledge Date: ...\\nToday Date: ...\\n\\n", or None for Llama-3.0.
    """
    lits = _literals(template)
    cutoff = next((s for s in lits if s.startswith("Cutting Knowledge Date:")), None)
    if cutoff is None:
        return None
    # Llama-3.2 asks for strftime_now(fmt) (today, as transformers gives it); 3.1/3.3 pin a date.
    fmt = re.search(r"""date_string\s*=\s*strftime_now\(\s*(["'])(.*?)\1\s*\)""", template)
    if fmt:
        date = datetime.now().strftime(fmt.group(2))
    else:
        fixed = re.search(r"""date_string\s*=\s*(["'])(.*?)\1""", template)
        if not fixed:
            raise ChatTemplateError(f"llama3 chat template has a knowledge-cutoff line but no date_string; "
                                    f"template starts {template[:80]!r}")
        date = fixed.group(2)
    today = next((s for s in lits if s.startswith("Today Date:")), "Today Date: ")
    return f"{cutoff}{today}{date}\n\n"


def _render_llama3(template, messages, add_generation_prompt, bos_token, eos_token):
    bos = bos_token if "bos_token" in template else ""
    turn = "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>"
    dated = _llama3_dated_header(template)
    if dated is None:
        out = [bos] + [turn.format(m["role"], m["content"].strip()) for m in messages]
    else:
        system, rest = _split_system(messages)
        out = [bos, turn.format("system", dated + (system or "").strip())]
        out += [turn.format(m["role"], m["content"].strip()) for m in rest]
    if add_generation_prompt:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


# -- Llama 2 chat: [INST] <<SYS>> -------------------------------------------------------------------

def _render_llama2(template, messages, add_generation_prompt, bos_token, eos_token):
    # Llama-2-chat writes BOS before every [INST]; variants that put it elsewhere or carry a
    # default system prompt (vigogne, codellama forks) are not reproduced.
    if not re.search(r"bos_token\s*\+\s*'\[INST\] '", template) or re.search(r"set system_message = ['\"]", template):
        raise ChatTemplateError(f"unsupported llama2 chat template variant without jinja2; "
                                f"template starts {template[:80]!r}")
    system_branch = re.search(r"""\['role'\] == 'system' %\}\{\{ '<<SYS>>""", template) is not None
    system, loop = _split_system(messages)
    out = []
    for i, m in enumerate(loop):
        if (m["role"] == "user") != (i % 2 == 0):
            raise _alternation_error(template)
        content = m["content"]
        if i == 0 and system is not None:
            content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
        if m["role"] == "user":
            out.append(f"{bos_token}[INST] {content.strip()} [/INST]")
        elif m["role"] == "assistant":
            out.append(f" {content.strip()} {eos_token}")
        elif system_branch:      # a later system message (only in templates that handle it)
            out.append(f"<<SYS>>\n{content.strip()}\n<</SYS>>\n\n")
    return "".join(out)     # Llama-2-chat has no generation prompt: the prompt ends at [/INST]


# -- Mistral [INST]: v0.1/v0.2 legacy, "v1" (system first), "v3" (system last) -----------------------

def _mistral_style(template: str) -> dict:
    """The spacing and system handling of this Mistral template, read from its literals."""
    lits = _literals(template)
    inst_open = next((s for s in lits if re.fullmatch(r" ?\[INST\] ?", s)), None)
    inst_close = next((s for s in lits if re.fullmatch(r" ?\[/INST\]", s)), None)
    asst = re.search(r"""(?:(["'])( ?)\1\s*\+\s*)?message\[["']content["']\](\s*\|\s*trim)?\s*\+\s*eos_token"""
                     r"""(\s*\+\s*(["'])( ?)\5)?""", template)
    if inst_open is None or inst_close is None or asst is None:
        raise ChatTemplateError(f"unsupported mistral chat template variant without jinja2; "
                                f"template starts {template[:80]!r}")
    fold = re.search(r"loop\.(first|last) and system_message is defined", template)
    sep = re.search(r"""system_message\s*\+\s*(["'])((?:\\.|(?!\1).)*)\1\s*\+\s*message""", template)
    return {
        "open": inst_open, "close": inst_close,
        "asst_prefix": asst.group(2) or "", "asst_trim": bool(asst.group(3)), "asst_suffix": asst.group(6) or "",
        "fold": fold.group(1) if fold else None,             # which user turn gets the system text
        "sep": _unescape(sep.group(2)) if sep else "\n\n",
        "check_first": "ns.index" in template,               # v3 checks alternation before writing
    }


def _render_mistral(template, messages, add_generation_prompt, bos_token, eos_token):
    st = _mistral_style(template)
    system, loop = _split_system(messages) if st["fold"] else (None, messages)
    roles_error = _fail(_raised(template, "Only user and assistant", "Only user and assistant roles are supported!"))
    if st["check_first"]:
        for i, m in enumerate(loop):
            if (m["role"] == "user") != (i % 2 == 0):
                raise _alternation_error(template)
    target = 0 if st["fold"] == "first" else len(loop) - 1
    out = [bos_token if "bos_token" in template else ""]
    for i, m in enumerate(loop):
        if not st["check_first"] and (m["role"] == "user") != (i % 2 == 0):
            raise _alternation_error(template)
        if m["role"] == "user":
            prefix = system + st["sep"] if system is not None and i == target else ""
            out.append(st["open"] + prefix + m["content"] + st["close"])
        elif m["role"] == "assistant":
            content = m["content"].strip() if st["asst_trim"] else m["content"]
            out.append(st["asst_prefix"] + content + eos_token + st["asst_suffix"])
        else:
            raise roles_error
    return "".join(out)     # Mistral templates have no generation prompt either


# -- Gemma: <start_of_turn>, assistant -> model ------------------------------------------------------

def _render_gemma(template, messages, add_generation_prompt, bos_token, eos_token):
    bos = bos_token if "bos_token" in template else ""
    prefix, loop = "", messages
    if "first_user_prefix" in template:
        # Gemma-3 folds the system message into the first user turn, followed by a separator.
        sep = re.search(r"""messages\[0\]\['content'\]\s*\+\s*(["'])((?:\\.|(?!\1).)*)\1""", template)
        system, loop = _split_system(messages)
        if system is not None:
            prefix = system + (_unescape(sep.group(2)) if sep else "\n\n")
    elif messages[0]["role"] == "system" and "System role not supported" in template:
        raise _fail("System role not supported")     # Gemma-1/2 have no system role at all
    out = [bos]
    for i, m in enumerate(loop):
        if (m["role"] == "user") != (i % 2 == 0):
            raise _alternation_error(template)
        role = "model" if m["role"] == "assistant" else m["role"]
        out.append(f"<start_of_turn>{role}\n{prefix if i == 0 else ''}{m['content'].strip()}<end_of_turn>\n")
    if add_generation_prompt:
        out.append("<start_of_turn>model\n")
    return "".join(out)


# -- Phi-3 / Phi-3.5: <|user|>\n ... <|end|>\n -----------------------------------------------------

_PHI3_TURN = "{{{{'<|{0}|>\\n' + message['content'] + '<|end|>\\n'}}}}"


def _render_phi3(template, messages, add_generation_prompt, bos_token, eos_token):
    # Phi-3-mini writes every turn; Phi-3.5 skips an empty system message. Both end with the
    # generation prompt, or with EOS when there is none. Other <|end|> dialects are refused.
    turns = all(_PHI3_TURN.format(role) in template for role in ("system", "user", "assistant"))
    ending = "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
    if not turns or ending not in template or "bos_token" in template:
        raise ChatTemplateError(f"unsupported phi3 chat template variant without jinja2; "
                                f"template starts {template[:80]!r}")
    skip_empty_system = "message['role'] == 'system' and message['content']" in template
    out = [f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in messages
           if not (skip_empty_system and m["role"] == "system" and not m["content"])]
    out.append("<|assistant|>\n" if add_generation_prompt else eos_token)
    return "".join(out)


_RENDERERS = {"chatml": _render_chatml, "llama3": _render_llama3, "llama2": _render_llama2,
              "mistral": _render_mistral, "gemma": _render_gemma, "phi3": _render_phi3}
