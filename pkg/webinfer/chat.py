"""Chat on top of Model: a multi-turn ChatSession and an OpenAI-shaped chat completion.

A ChatSession keeps the messages; each turn renders the whole conversation with the model's
chat template, and the model's KV cache makes that cheap (only the new turn is prefilled).
Truncation policy: when a conversation no longer fits the context (leaving room for the
answer), the oldest user/assistant turns are dropped (the system message stays); if the newest
user message alone does not fit, ContextLengthError.

Not here: template rendering (chat_template), the token loop (generate).
"""

from __future__ import annotations

import time
import uuid

from .errors import ContextLengthError, WebinferError
from .syncio import iterate_sync, run_sync

# OpenAI argument names -> ours (the rest pass through unchanged).
_OPENAI_KEYS = {"max_completion_tokens": "max_tokens"}


class ChatSession:
    def __init__(self, model, system: str | None = None, **defaults):
        self.model = model
        self.messages: list[dict] = [{"role": "system", "content": system}] if system else []
        self.defaults = defaults     # generate() keywords used on every turn unless overridden
        self.last = None             # the Completion of the latest turn
        self.generation = None       # the Generation of the turn in progress (or the latest one)

    def prompt_ids(self, reserve: int) -> list[int]:
        """The conversation as ids, dropping the oldest turns until prompt + reserve fits."""
        m = self.model
        while True:
            ids = m.encode_chat(self.messages)
            if len(ids) + reserve <= m.n_ctx:
                return ids
            first = 1 if self.messages and self.messages[0]["role"] == "system" else 0
            if len(self.messages) - first <= 1:
                raise ContextLengthError(
                    f"the message is {len(ids)} tokens with the template; the context holds {m.n_ctx} "
                    f"and {reserve} are kept for the answer: shorten it")
            del self.messages[first:first + 2 if len(self.messages) - first > 2 else first + 1]

    async def send(self, text: str, **kw):
        """Add a user message and stream the assistant's answer (an async generator of deltas).
        A message that cannot fit the context raises ContextLengthError and is not kept."""
        opts = {**self.defaults, **kw}
        max_tokens = opts.get("max_tokens") or self.model.recommended_sampling.max_tokens
        reserve = min(int(max_tokens), self.model.n_ctx // 4)
        self.messages.append({"role": "user", "content": text})
        try:
            ids = self.prompt_ids(reserve)
        except ContextLengthError:
            self.messages.pop()
            raise
        gen = self.generation = self.model.generate(ids, **opts)
        try:
            async for delta in gen:
                yield delta
        finally:
            self.last = gen.result
            if gen.result is not None:
                self.messages.append({"role": "assistant", "content": gen.result.text})

    async def asay(self, text: str, **kw):
        """Send and wait for the whole answer; returns the Completion."""
        async for _ in self.send(text, **kw):
            pass
        return self.last

    def say(self, text: str, **kw):
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


async def acreate_chat_completion(model, messages, stream: bool = False, retriever=None, k: int | None = None, **kw):
    """OpenAI-shaped chat completion. stream=False: a dict; stream=True: an async generator of chunks.

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


def create_chat_completion(model, messages, stream: bool = False, **kw):
    """Synchronous version (CPython). stream=True gives a plain iterator of chunks. `retriever=`
    and `k=` ground the answer in a store, as in acreate_chat_completion."""
    if not stream:
        return run_sync(acreate_chat_completion(model, messages, **kw))
    return iterate_sync(_stream_chunks(model, messages, kw))


async def _stream_chunks(model, messages, kw):
    async for chunk in await acreate_chat_completion(model, messages, stream=True, **kw):
        yield chunk
