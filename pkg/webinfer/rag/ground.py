"""Grounded chat: answers built from the user's own documents (retrieval-augmented generation).

    from webinfer.rag import Retriever, Store
    kb = Retriever(Store.open("notes.sqlite"), webinfer.load_embedder())
    kb.add("zubrowka.txt", "The capital of Zubrowka is Lutz. ...")
    kb.retrieve("What is the capital of Zubrowka?", k=4)          # [Hit(score, chunk, doc_name)]
    reply = model.create_chat_completion([{"role": "user", "content": question}], retriever=kb, k=4)
    reply["choices"][0]["message"]["content"]; reply["sources"]   # the chunks the prompt held

What this is:
- `Retriever(store, embedder)`: a Store and the embedding model that fills it. `add` chunks a
  document with the embedder's own tokenizer (so a chunk is never longer than the embedder
  reads: at most its max_length minus [CLS] and [SEP]) and embeds it; `retrieve` embeds the
  question and returns the store's top-k hits. `aadd` / `aretrieve` await the embedder
  (`aembed`: WebGPU in the browser reads back asynchronously).
- `grounded_messages(model, messages, hits)`: the chat with the retrieved chunks put in, within
  the chat model's context, and the hits that made it in (`Source`s).

How the chunks go into the prompt, and why: as numbered sources in the system message,
    <system text, if any>
    Answer the question using the sources below. ...
    [1] (from "zubrowka.txt") The capital of Zubrowka is Lutz. ...
    [2] (from ...) ...
with the conversation after it unchanged, the question last. The user's turns stay exactly what
the user wrote (a multi-turn chat keeps reading naturally, and the question is the last thing
the model sees before it answers, where small models attend best); the system turn is where
chat models are trained to take standing instructions and reference material; the numbers let
an answer cite "[1]" and let a page show which source that is. Sources go in best first, and
each is counted with the chat model's own tokenizer and template (`model.encode_chat`): a
chunk that would push the prompt past `n_ctx - reserve` is left out, so the lowest-scored
chunks are the ones dropped, and `reserve` tokens stay free for the answer (by default
`min(max_tokens, n_ctx // 4)`, as ChatSession keeps). If even the conversation with no source
does not fit, ContextLengthError.

What it is not: the store (store.py), the embedding model (webinfer.embed), or generation
(webinfer.chat's create_chat_completion takes `retriever=` and calls in here).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ContextLengthError, WebinferError
from .store import Hit, Store

DEFAULT_K = 4
INSTRUCTION = ("Answer the question using the sources below. If they do not contain the answer, say so. "
               "Cite a source by its number, like [1].")


@dataclass(frozen=True)
class Source:
    """A chunk that was put in the prompt: its number there ([index]), where it comes from, the
    cosine score of its retrieval, and its text (plain text, exactly as stored)."""
    index: int
    doc_name: str
    doc_id: int
    ordinal: int          # the chunk's place in its document (0, 1, ...)
    score: float
    text: str

    def as_dict(self) -> dict:
        return {"index": self.index, "document": self.doc_name, "doc_id": self.doc_id,
                "chunk": self.ordinal, "score": round(self.score, 6), "text": self.text}


class Retriever:
    """A Store and the embedding model that fills and queries it (module doc)."""

    def __init__(self, store: Store, embedder, chunk_tokens: int = 128, overlap: int | None = None):
        if store.dim is not None and store.dim != embedder.dim:
            raise WebinferError(f"the store holds {store.dim}-d vectors; this embedder makes {embedder.dim}-d ones "
                                "(a store belongs to one embedding model)")
        self.store, self.embedder = store, embedder
        # a chunk the embedder would truncate would be searched by less than its text
        self.chunk_tokens = min(int(chunk_tokens), embedder.max_length - 2)
        self.overlap = overlap

    def __repr__(self) -> str:
        return f"<webinfer.rag.Retriever {self.store.path!r} {self.store.count()} chunks, {self.embedder!r}>"

    def _add_kw(self) -> dict:
        return {"tokenizer": self.embedder.tokenizer, "chunk_tokens": self.chunk_tokens, "overlap": self.overlap}

    def add(self, name: str, text, metadata: dict | None = None) -> int:
        """Chunk (by the embedder's tokens), embed and store a document; returns its id."""
        return self.store.add(name, text, metadata, embed=self.embedder.embed, **self._add_kw())

    async def aadd(self, name: str, text, metadata: dict | None = None) -> int:
        """`add` with the embedder awaited (Pyodide, notebooks, WebGPU in the browser)."""
        return await self.store.add_async(name, text, metadata, embed=self.embedder.aembed, **self._add_kw())

    def retrieve(self, question: str, k: int = DEFAULT_K, exact: bool = True) -> list[Hit]:
        """The k stored chunks closest to the question (cosine), best first."""
        return self.store.search(self.embedder.embed([_text(question)])[0], k=k, exact=exact)

    async def aretrieve(self, question: str, k: int = DEFAULT_K, exact: bool = True) -> list[Hit]:
        return self.store.search((await self.embedder.aembed([_text(question)]))[0], k=k, exact=exact)


def _text(question) -> str:
    if not isinstance(question, str) or not question.strip():
        raise WebinferError(f"a question to retrieve for must be non-empty text, got {question!r}")
    return question


def last_user_text(messages: list[dict]) -> str:
    """The newest user message's text: what retrieval searches for."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return _text(m.get("content"))
    raise WebinferError("no user message to retrieve for: the last question must be a user message")


def _system_text(system: str | None, sources: list[Source]) -> str:
    body = "\n\n".join(f'[{s.index}] (from "{s.doc_name}") {s.text}' for s in sources)
    head = f"{system}\n\n" if system else ""
    return f"{head}{INSTRUCTION}\n\n{body}"


def _with_sources(messages: list[dict], sources: list[Source]) -> list[dict]:
    if not sources:
        return list(messages)
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": _system_text(messages[0].get("content"), sources)}, *messages[1:]]
    return [{"role": "system", "content": _system_text(None, sources)}, *messages]


def reserve_for(model, max_tokens: int | None = None) -> int:
    """Tokens kept free for the answer: min(max_tokens, n_ctx // 4), as ChatSession keeps."""
    return min(int(max_tokens or model.recommended_sampling.max_tokens), model.n_ctx // 4)


def grounded_messages(model, messages: list[dict], hits: list[Hit], max_tokens: int | None = None,
                      budget: int | None = None) -> tuple[list[dict], list[Source]]:
    """(messages with the sources in the system message, the Sources used), best-scored first;
    the prompt (counted with model.encode_chat) stays within `budget` tokens (default:
    n_ctx - reserve_for(model, max_tokens)). A hit that does not fit is left out (module doc)."""
    budget = model.n_ctx - reserve_for(model, max_tokens) if budget is None else int(budget)
    bare = len(model.encode_chat(list(messages)))
    if bare > budget:
        raise ContextLengthError(f"the conversation is {bare} tokens with the template, over the {budget} "
                                 f"the prompt may take (n_ctx {model.n_ctx}, room kept for the answer): shorten it")
    used: list[Source] = []
    for h in sorted(hits, key=lambda h: -h.score):
        s = Source(len(used) + 1, h.doc_name, h.chunk.doc_id, h.chunk.ordinal, h.score, h.chunk.text)
        if len(model.encode_chat(_with_sources(messages, used + [s]))) <= budget:
            used.append(s)
    return _with_sources(messages, used), used
