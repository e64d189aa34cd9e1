"""The page's grounded prompt: a question with the document chunks retrieved for it.

One function, grounded_message, so that the library's own prompt builder (webinfer.rag's, when
it lands) can replace it in one place (py/worker.py calls it). It runs in the worker (Pyodide).
"""

from __future__ import annotations

PREAMBLE = ("Answer the question using the excerpts from the user's documents below when they are "
            "relevant; say so when they do not contain the answer.\n\n")


def grounded_message(question: str, hits: list, count_tokens, budget: int) -> tuple[str, list]:
    """(the user message's text, the hits it holds): the excerpts best first, each as
    "[n] document name:\\n text", added while the message stays within `budget` tokens of
    count_tokens (the chat model's tokenizer); a chunk that does not fit is left out (a later,
    shorter one may still fit). No excerpt fits: the question alone, and no hits."""
    tail = "\n\nQuestion: " + question
    used, parts = [], []
    size = count_tokens(PREAMBLE + tail)
    for hit in hits:
        part = "[{}] {}:\n{}\n\n".format(len(used) + 1, hit.doc_name, hit.chunk.text.strip())
        n = count_tokens(part)
        if size + n > budget:
            continue
        parts.append(part)
        used.append(hit)
        size += n
    if not used:
        return question, []
    return PREAMBLE + "".join(parts).rstrip() + tail, used
