"""The page's grounded turn: the conversation, with room made for the retrieved chunks, put into a
prompt by webinfer.rag.grounded_messages, the library's own builder (the chunks as numbered
sources in the system message, the question last, counted with the chat model's template; see
docs/rag.md for why there). py/worker.py calls it; it runs in the worker (Pyodide) and, having
no browser imports, in CPython for tests/site/test_grounding.py.

What it adds to the library: a chat that goes on. The history is the page's ChatSession's; its
older turns are dropped first (ChatSession.prompt_ids) so that the chunks may take up to
SOURCE_SHARE of the context, and the session keeps the question alone (the chunks are not
carried into later turns).
"""

from __future__ import annotations

SOURCE_SHARE = 0.5        # at most this much of the context goes to chunks when older turns must go


def grounded_turn(model, session, hits: list, reserve: int) -> tuple[list[int], list]:
    """(the prompt's token ids, the webinfer.rag Sources it holds) for the session's conversation,
    whose newest message is the question; with no hits, ChatSession's own prompt. `reserve` tokens
    stay free for the answer. ContextLengthError when the question alone cannot fit (as
    ChatSession raises)."""
    from webinfer.errors import ContextLengthError
    from webinfer.rag import grounded_messages
    if not hits:
        return session.prompt_ids(reserve), []
    # what all the chunks would add to the prompt, capped at the share they may claim
    everything, _ = grounded_messages(model, session.messages, hits, budget=1 << 30)
    want = len(model.encode_chat(everything)) - len(model.encode_chat(session.messages))
    try:
        session.prompt_ids(reserve + min(want, int(model.n_ctx * SOURCE_SHARE)))
    except ContextLengthError:
        pass                         # not even the question and that many: fewer chunks, below
    session.prompt_ids(reserve)      # the question (and what history still fits) without chunks
    messages, sources = grounded_messages(model, session.messages, hits, budget=model.n_ctx - reserve)
    return model.encode_chat(messages), sources
