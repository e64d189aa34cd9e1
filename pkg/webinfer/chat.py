"""Chat on top of Model: a multi-turn ChatSession and an OpenAI-shaped chat completion.

A ChatSession keeps the messages; each turn renders the whole conversation with the model's
chat template, and the model's KV cache makes that cheap (only the new turn is prefilled).
Truncation policy: when a conversation no longer fits the context (leaving room for the
answer), the oldest exchanges are dropped (a user message and all that answers it: the
assistant's turns, tool calls and results; the system message stays); if the newest user
message alone does not fit, ContextLengthError.

Tools (``tools=``, ``tool_choice=``, ``parallel_tool_calls=`` on create_chat_completion and
ChatSession): a call comes back as OpenAI's ``message["tool_calls"]`` with finish_reason
"tool_calls" (a session keeps that message; add_tool_result, then send(None)). How the turn is
generated (ToolTurn):
- "required" or a named tool: the whole answer is generated under the call grammar
  (tools.calls_gbnf): the model's call syntax, a tool's name and arguments valid under its schema.
- "auto": the model picks. The answer is generated unconstrained with the syntax's opening marker
  (``<tool_call>``; Llama 3: ``{"name": "``, its call's first bytes) as a stop string. A text answer (no marker) is the
  reply; at the marker, generation goes on from the prompt, the text so far and the marker (the
  model's own tokens when they end exactly there, so the KV cache is reused) under the grammar
  of the rest of the call. Text before the marker is the message's content. So a call is always
  valid under its schema, and a text answer is never constrained (nor slowed by a grammar).
- "none": no tools are described in the prompt, and the answer is text.
A stop= list applies to text only (a call is grammar-bound), and response_format= / grammar=
cannot be combined with tools unless tool_choice is "none".

Not here: template rendering (chat_template), the token loop (generate), checking tools and the
call grammar (tools).
"""

from __future__ import annotations

import json
import time
import uuid

from .errors import ContextLengthError, ToolError, WebinferError
from .grammar import make_constraint
from .syncio import iterate_sync, run_sync
from .tools import call_syntax, calls_gbnf, check_tools, parse_calls

# OpenAI argument names -> ours (the rest pass through unchanged).
_OPENAI_KEYS = {"max_completion_tokens": "max_tokens"}


class ChatSession:
    def __init__(self, model, system: str | None = None, tools=None, tool_choice=None, parallel_tool_calls=None,
                 **defaults):
        self.model = model
        self.messages: list[dict] = [{"role": "system", "content": system}] if system else []
        self.defaults = defaults     # generate() keywords used on every turn unless overridden
        self.last = None             # the Completion of the latest turn (with tools: its last generate())
        self.generation = None       # the Generation (or ToolTurn) of the turn in progress, or the latest one
        # Tools (OpenAI shape) offered on every turn; tool_choice may be overridden per turn.
        self.tools, self.tool_choice, self.parallel_tool_calls = tools, tool_choice, parallel_tool_calls
        if tools is not None:
            check_tools(tools, tool_choice, parallel_tool_calls)
        elif tool_choice is not None or parallel_tool_calls is not None:
            raise ToolError("tool_choice= and parallel_tool_calls= need tools=")

    def prompt_ids(self, reserve: int, tools=None) -> list[int]:
        """The conversation as ids, dropping the oldest exchanges (a user message and what answers
        it, tool calls and results included) until prompt + reserve fits."""
        m = self.model
        while True:
            ids = m.encode_chat(self.messages, tools=tools)
            if len(ids) + reserve <= m.n_ctx:
                return ids
            first = 1 if self.messages and self.messages[0]["role"] == "system" else 0
            nxt = next((j for j in range(first + 1, len(self.messages)) if self.messages[j]["role"] == "user"), None)
            if nxt is None:
                raise ContextLengthError(
                    f"the message is {len(ids)} tokens with the template; the context holds {m.n_ctx} "
                    f"and {reserve} are kept for the answer: shorten it")
            del self.messages[first:nxt]

    async def send(self, text: str | None, **kw):
        """Add a user message and stream the assistant's answer (an async generator of deltas).
        A message that cannot fit the context raises ContextLengthError and is not kept.
        With tools the answer may be tool calls (``self.messages[-1]["tool_calls"]``): give each
        result with add_tool_result, then send(None) to have them answered."""
        opts = {**self.defaults, **kw}
        choice = opts.pop("tool_choice", self.tool_choice)
        spec = None if self.tools is None else check_tools(self.tools, choice, self.parallel_tool_calls)
        max_tokens = opts.get("max_tokens") or self.model.recommended_sampling.max_tokens
        reserve = min(int(max_tokens), self.model.n_ctx // 4)
        if text is None:
            if not self.messages or self.messages[-1]["role"] != "tool":
                raise WebinferError("send(None) answers tool results: add them first with add_tool_result")
        else:
            self.messages.append({"role": "user", "content": text})
        try:
            ids = self.prompt_ids(reserve, spec.tools if spec is not None and spec.mode != "none" else None)
        except ContextLengthError:
            if text is not None:
                self.messages.pop()
            raise
        if spec is None:
            gen = self.generation = self.model.generate(ids, **opts)
        else:
            gen = self.generation = ToolTurn(self.model, self.messages, spec, _gen_kwargs(opts), ids=ids)
        try:
            async for delta in gen:
                yield delta
        finally:
            if spec is None:
                self.last = gen.result
                if gen.result is not None:
                    self.messages.append({"role": "assistant", "content": gen.result.text})
            else:
                self.last = gen.completions[-1] if gen.completions else None
                if gen.finish_reason is not None:
                    self.messages.append(gen.message())

    def add_tool_result(self, tool_call_id: str, content) -> None:
        """The result of a call the model made (content: a string, or anything JSON can write)."""
        asked = {c["id"] for m in self.messages if m["role"] == "assistant" for c in m.get("tool_calls") or ()}
        if tool_call_id not in asked:
            raise ToolError(f"no tool call has the id {tool_call_id!r} in this chat")
        self.messages.append({"role": "tool", "tool_call_id": tool_call_id,
                              "content": content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)})

    async def asay(self, text: str | None, **kw):
        """Send and wait for the whole answer; returns the Completion."""
        async for _ in self.send(text, **kw):
            pass
        return self.last

    def say(self, text: str | None, **kw):
        """Synchronous asay (CPython)."""
        return run_sync(self.asay(text, **kw))

    def cancel(self) -> None:
        """Stop the answer in progress at its next token (finish reason "cancelled"); safe to call
        from a signal handler or a Stop button, and a no-op between turns."""
        if self.generation is not None:
            self.generation.cancel()

    def reset(self) -> None:
        """New chat: keep only the system message."""
        self.messages = [m for m in self.messages[:1] if m["role"] == "system"]

    @property
    def system(self) -> str | None:
        """The system message, if any."""
        first = self.messages[0] if self.messages else None
        return first["content"] if first is not None and first["role"] == "system" else None

    @system.setter
    def system(self, text: str | None) -> None:
        """Set (or, with None / "", remove) the system message; the turns so far stay."""
        if self.system is not None:
            del self.messages[0]
        if text:
            self.messages.insert(0, {"role": "system", "content": text})


def _gen_kwargs(kw: dict) -> dict:
    out = {}
    for k, v in kw.items():
        if v is None:
            continue
        k = _OPENAI_KEYS.get(k, k)
        if k == "stop" and isinstance(v, str):
            v = [v]
        if k == "logit_bias":
            v = {int(t): float(b) for t, b in v.items()}
        out[k] = v
    return out


def _envelope(model, kind: str) -> dict:
    return {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": kind,
            "created": int(time.time()), "model": model.config.name}


def _usage(c) -> dict:
    return {"prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens,
            "total_tokens": c.prompt_tokens + c.completion_tokens}


async def acreate_chat_completion(model, messages, stream: bool = False, retriever=None, k: int | None = None,
                                  tools=None, tool_choice=None, parallel_tool_calls=None, **kw):
    """OpenAI-shaped chat completion. stream=False: a dict; stream=True: an async generator of chunks.

    With tools (OpenAI's [{"type": "function", "function": {"name", "description", "parameters"}}])
    and tool_choice ("auto", the default; "none"; "required"; {"type": "function", "function":
    {"name": ...}}) the reply's message may carry "tool_calls" (finish_reason "tool_calls"), each
    with its arguments as a JSON string valid under the tool's parameters (the module docstring
    says how). parallel_tool_calls=False allows one call per message. Streamed, the calls come
    whole in one chunk before the last.

    Grounded in a store: with `retriever` (a webinfer.rag.Retriever) the newest user message is
    searched for, the k (default 4) best chunks that fit the context go into the prompt as
    numbered sources in the system message (webinfer.rag.ground says how and why), and the
    reply carries them: "sources", a list of {"index", "document", "doc_id", "chunk", "score",
    "text"} (plain text, as stored), on the completion or on the first streamed chunk."""
    sources = None
    if retriever is not None:
        from .rag.ground import DEFAULT_K, grounded_messages, last_user_text
        hits = await retriever.aretrieve(last_user_text(messages), k=DEFAULT_K if k is None else k)
        max_tokens = kw.get("max_tokens") or kw.get("max_completion_tokens")
        messages, used = grounded_messages(model, messages, hits, max_tokens)
        sources = [s.as_dict() for s in used]
    elif k is not None:
        raise WebinferError("k= is the number of chunks to retrieve: it needs retriever=")
    if tools is not None:
        turn = ToolTurn(model, messages, check_tools(tools, tool_choice, parallel_tool_calls), _gen_kwargs(kw))
        if stream:
            return _tool_chunks(model, turn, sources)
        async for _ in turn:
            pass
        reply = {**_envelope(model, "chat.completion"),
                 "choices": [{"index": 0, "message": turn.message(), "finish_reason": turn.finish_reason}],
                 "usage": turn.usage()}
        if sources is not None:
            reply["sources"] = sources
        return reply
    if tool_choice is not None or parallel_tool_calls is not None:
        raise ToolError("tool_choice= and parallel_tool_calls= need tools=")
    gen = model.generate(model.encode_chat(messages), **_gen_kwargs(kw))
    if stream:
        return _chunks(model, gen, sources)
    async for _ in gen:
        pass
    c = gen.result
    reply = {**_envelope(model, "chat.completion"),
             "choices": [{"index": 0, "message": {"role": "assistant", "content": c.text},
                          "finish_reason": c.finish_reason}],
             "usage": _usage(c)}
    if sources is not None:
        reply["sources"] = sources
    return reply


async def _chunks(model, gen, sources=None):
    env = _envelope(model, "chat.completion.chunk")
    first = {**env, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    yield first if sources is None else {**first, "sources": sources}
    async for delta in gen:
        yield {**env, "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
    yield {**env, "choices": [{"index": 0, "delta": {}, "finish_reason": gen.result.finish_reason}],
           "usage": _usage(gen.result)}


class ToolTurn:
    """One assistant turn with tools: ``async for delta in turn`` streams the text answer (or the
    text before a call); afterwards message(), finish_reason and usage() hold the result."""

    def __init__(self, model, messages, spec, gen_kw: dict, ids: list[int] | None = None):
        if spec.mode != "none" and ("response_format" in gen_kw or "grammar" in gen_kw):
            raise ToolError("response_format= / grammar= cannot be combined with tools (a tool call has its own "
                            'grammar); use tool_choice="none" for a constrained text answer')
        self.model, self.spec, self.kw = model, spec, dict(gen_kw)
        self.syntax = call_syntax(model.chat_template or "")
        # ids: the prompt already rendered with these tools (ChatSession's, after its truncation)
        self.ids = ids if ids is not None else model.encode_chat(messages, tools=None if spec.mode == "none"
                                                                  else spec.tools)
        self.content: str | None = None
        self.tool_calls: list | None = None
        self.finish_reason: str | None = None
        self.completions = []     # the Completion of each generate() this turn ran
        self._gen = None          # the generate() running now
        self._cancelled = False

    def __aiter__(self):
        return self._run()

    def cancel(self) -> None:
        """Stop at the next token (finish reason "cancelled"); a call cut short is dropped."""
        self._cancelled = True
        if self._gen is not None:
            self._gen.cancel()

    async def _run(self):
        m, spec, syn, kw = self.model, self.spec, self.syntax, dict(self.kw)
        max_tokens = kw.pop("max_tokens", None) or m.recommended_sampling.max_tokens
        stop = list(kw.pop("stop", None) or ())
        if spec.mode == "none":
            gen = m.generate(self.ids, max_tokens=max_tokens, stop=stop, **kw)
        elif spec.mode == "required":
            gen = m.generate(self.ids, max_tokens=max_tokens, grammar=calls_gbnf(spec, syn), **kw)
        else:
            gen = m.generate(self.ids, max_tokens=max_tokens, stop=[*stop, syn.marker], **kw)
        self._gen = gen
        if self._cancelled:
            gen.cancel()
        async for delta in gen:
            if spec.mode != "required":
                yield delta
        c = gen.result
        self.completions.append(c)
        if spec.mode == "required":
            self._end(None, c.text, c.finish_reason)
            return
        if spec.mode == "none" or c.finish_reason != "stop" or c.stop != syn.marker or self._cancelled:
            self._end(c.text, None, c.finish_reason)
            return
        # The marker: the rest of the call under its grammar, after the model's own tokens when
        # they end exactly at the marker (the KV cache holds them), else the text re-encoded.
        head = c.token_ids if m.detokenize(c.token_ids) == c.text + syn.marker else \
            m.tokenize(c.text + syn.marker, add_special=False)
        ids, grammar = self.ids + head, calls_gbnf(spec, syn, after_marker=True)
        room = min(max_tokens - len(c.token_ids), m.n_ctx - len(ids))
        if room < make_constraint(m.tokenizer, set(), grammar=grammar).min_bytes:
            self._end(c.text, None, "length")    # no room left for a whole call
            return
        gen = self._gen = m.generate(ids, max_tokens=room, grammar=grammar, **kw)
        if self._cancelled:
            gen.cancel()
        async for _ in gen:
            pass
        self.completions.append(gen.result)
        self._end(c.text, syn.marker + gen.result.text, gen.result.finish_reason)

    def _end(self, text: str | None, calls: str | None, reason: str) -> None:
        """text: the answer (or what came before a call); calls: the calls' text, if any."""
        if calls is not None and text is not None:
            text = text.rstrip() or None      # the template writes its own separator before a call
        self.content = text
        if calls is not None and reason != "cancelled":
            self.tool_calls = parse_calls(calls, self.syntax)
            reason = "tool_calls" if reason == "stop" else reason
        self.finish_reason = reason

    def message(self) -> dict:
        msg = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        return msg

    def usage(self) -> dict:
        done = sum(c.completion_tokens for c in self.completions)
        return {"prompt_tokens": len(self.ids), "completion_tokens": done, "total_tokens": len(self.ids) + done}


async def _tool_chunks(model, turn: ToolTurn, sources=None):
    env = _envelope(model, "chat.completion.chunk")
    first = {**env, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
    yield first if sources is None else {**first, "sources": sources}
    async for delta in turn:
        yield {**env, "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
    if turn.tool_calls:
        calls = [{"index": i, **c} for i, c in enumerate(turn.tool_calls)]
        yield {**env, "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]}
    yield {**env, "choices": [{"index": 0, "delta": {}, "finish_reason": turn.finish_reason}], "usage": turn.usage()}


def create_chat_completion(model, messages, stream: bool = False, **kw):
    """Synchronous version (CPython). stream=True gives a plain iterator of chunks. `retriever=`
    and `k=` ground the answer in a store, as in acreate_chat_completion."""
    if not stream:
        return run_sync(acreate_chat_completion(model, messages, **kw))
    return iterate_sync(_stream_chunks(model, messages, kw))


async def _stream_chunks(model, messages, kw):
    async for chunk in await acreate_chat_completion(model, messages, stream=True, **kw):
        yield chunk
