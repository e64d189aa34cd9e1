"""SentencePiece-style BPE (GGUF `tokenizer.ggml.model == 'llama'`), as llama.cpp runs it.

No merges list: a pair of adjacent symbols may merge when their concatenation is a token, and
the pair whose token has the highest score merges first (leftmost on ties). Spaces are written
'▁' (U+2581). A symbol that is no token at the end (a character the vocabulary lacks) falls back
to its UTF-8 bytes as `<0xNN>` tokens, or to the unknown token if there are none.

Not here: the prefix space and special tokens (the caller decides per text fragment, in
__init__.py), and decoding (token_bytes in __init__.py).
"""

from __future__ import annotations

import heapq

from ..errors import TokenizerError

SPACE = "\u2581"


def byte_token_ids(tokens: list[str]) -> dict[int, int]:
    """{byte value: id} for the `<0xNN>` tokens of a vocabulary (possibly empty)."""
    out = {}
    for i, t in enumerate(tokens):
        if len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            try:
                out[int(t[3:5], 16)] = i
            except ValueError:
                continue
    return out


class SentencePieceBPE:
    """encode(text) -> ids for one fragment of text (spaces already present as ' ')."""

    def __init__(self, vocab: dict[str, int], scores: list[float], byte_ids: dict[int, int],
                 unk_id: int | None):
        self.vocab = vocab
        self.scores = scores
        self.byte_ids = byte_ids
        self.unk_id = unk_id

    def encode(self, text: str) -> list[int]:
        text = text.replace(" ", SPACE)
        if not text:
            return []
        vocab, scores = self.vocab, self.scores
        n = len(text)
        # One symbol per character, as a doubly linked list over text offsets:
        # start[i], size[i] (0 once merged away), prev[i], nxt[i] (-1 / n at the ends).
        start = list(range(n))
        size = [1] * n
        prev = list(range(-1, n - 1))
        nxt = list(range(1, n + 1))
        heap: list[tuple[float, int, int]] = []  # (-score, left, combined size)

        def push(left: int, right: int) -> None:
            if left < 0 or right >= n:
                return
            piece = text[start[left]:start[right] + size[right]]
            tid = vocab.get(piece)
            if tid is not None:
                heapq.heappush(heap, (-scores[tid], left, len(piece)))

        for i in range(n - 1):
            push(i, i + 1)
        while heap:
            _, left, width = heapq.heappop(heap)
            right = nxt[left] if size[left] else n
            # Stale entries: a side was merged away or grew since this pair was queued.
            if right >= n or size[left] == 0 or size[right] == 0 or size[left] + size[right] != width:
                continue
            size[left] += size[right]
            size[right] = 0
            nxt[left] = nxt[right]
            if nxt[right] < n:
                prev[nxt[right]] = left
            push(prev[left], left)
            push(left, nxt[left])

        out: list[int] = []
        i = 0
        while i < n:
            out.extend(self._resegment(text[start[i]:start[i] + size[i]]))
            i = nxt[i]
        return out

    def _resegment(self, piece: str) -> list[int]:
        tid = self.vocab.get(piece)
        if tid is not None:
            return [tid]
        # Only single characters reach here (merges only make vocab tokens): bytes or unknown.
        data = piece.encode("utf-8")
        if self.byte_ids and all(b in self.byte_ids for b in data):
            return [self.byte_ids[b] for b in data]
        if self.unk_id is None:
            raise TokenizerError(f"no token, byte token or unknown token for {piece!r}")
        return [self.unk_id]
