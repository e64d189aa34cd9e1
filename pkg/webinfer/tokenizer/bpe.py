"""Byte-level BPE (GGUF `tokenizer.ggml.model == 'gpt2'`): GPT-2's byte alphabet and the merge loop.

A word (one pre-token) is turned into UTF-8 bytes, each byte spelled as one printable character
of GPT-2's bytes<->unicode table (space -> 'Ġ', newline -> 'Ċ', ...), because that is how the
vocabulary and the merges are written. Merges then join adjacent symbols, always the pair with
the lowest rank first (leftmost on ties), until no adjacent pair has a rank.

Not here: splitting text into words (pretokenize.py) and special tokens (__init__.py).
"""

from __future__ import annotations

import heapq

from ..errors import TokenizerError


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes are moved
    to U+0100 and up, in byte order. So every byte has a visible, non-space character."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}
# str.translate table taking a Latin-1-decoded byte string to GPT-2's spelling in one call.
_LATIN1_TO_GPT2 = str.maketrans({chr(b): c for b, c in BYTE_TO_CHAR.items()})

_CACHE_LIMIT = 1 << 16  # words; cleared when full (a chat rarely has more distinct words)
# Words longer than this merge through a heap in O(n log n) (a base64 blob or a run of one letter
# is one word); the plain loop is O(n^2) but faster below ~8 characters (measured: 1.7 us vs 3.9 us
# at 4 chars, 70 us vs 24 us at 32).
_LONG_WORD = 8


def spell(text: str) -> str:
    """UTF-8 bytes of text, written in GPT-2's byte alphabet."""
    return text.encode("utf-8").decode("latin-1").translate(_LATIN1_TO_GPT2)


def unspell(token: str) -> bytes | None:
    """Inverse of spell(); None when token has a character outside the byte alphabet."""
    try:
        return bytes([CHAR_TO_BYTE[c] for c in token])
    except KeyError:
        return None


class ByteLevelBPE:
    """encode_word(word) -> ids, for one pre-token of raw text.

    vocab: {token text as stored in GGUF: id}; merges: GGUF's "left right" strings, best first.
    The ranks dict is keyed by those strings as they are ("Ġ t"), so loading splits nothing:
    a pair (a, b) is looked up as a + " " + b. No byte-level token contains a real space
    (space is 'Ġ'), so the key is unambiguous.
    """

    def __init__(self, vocab: dict[str, int], merges: list[str], ignore_merges: bool = False,
                 unk_id: int | None = None):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.ignore_merges = ignore_merges
        self.unk_id = unk_id
        self._cache: dict[str, list[int]] = {}

    def encode_word(self, word: str) -> list[int]:
        ids = self._cache.get(word)
        if ids is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            ids = self._cache[word] = self._encode_uncached(word)
        return ids

    def _encode_uncached(self, word: str) -> list[int]:
        spelled = spell(word)
        whole = self.vocab.get(spelled)
        if whole is not None and (self.ignore_merges or len(spelled) == 1):
            return [whole]
        return [i for sym in self.merge(spelled) for i in self._lookup(sym)]

    def merge(self, spelled: str) -> list[str]:
        """The merge loop: symbols start as single characters (= single bytes)."""
        if len(spelled) > _LONG_WORD:
            return self._merge_long(spelled)
        ranks = self.ranks
        parts = list(spelled)
        while len(parts) > 1:
            # Lowest-ranked adjacent pair; strict '<' keeps the leftmost among equal ranks.
            best, best_i = None, -1
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + " " + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, best_i = r, i
            if best_i < 0:
                break
            # Merge every non-overlapping occurrence of that pair, left to right. Nothing left
            # of best_i can match (it was the leftmost), so start there.
            a, b = parts[best_i], parts[best_i + 1]
            merged = parts[:best_i]
            i, n = best_i, len(parts)
            while i < n:
                if i < n - 1 and parts[i] == a and parts[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        return parts

    def _merge_long(self, spelled: str) -> list[str]:
        """Same merges as merge(), through a heap of (rank, left index) over a linked list of
        symbols (HF tokenizers' order). sym[i] is the symbol starting at character i, '' once it
        was merged into its left neighbour; symbols only grow, so a queued pair whose texts no
        longer match what is there now is stale."""
        ranks, n = self.ranks, len(spelled)
        sym = list(spelled)
        nxt = list(range(1, n + 1))
        prv = list(range(-1, n - 1))
        heap = []
        for i in range(n - 1):
            r = ranks.get(sym[i] + " " + sym[i + 1])
            if r is not None:
                heap.append((r, i, sym[i], sym[i + 1]))
        heapq.heapify(heap)
        while heap:
            _, left, a, b = heapq.heappop(heap)
            right = nxt[left]
            if sym[left] != a or right >= n or sym[right] != b:
                continue
            sym[left], sym[right] = a + b, ""
            nxt[left] = nxt[right]
            if nxt[right] < n:
                prv[nxt[right]] = left
            for i, j in ((prv[left], left), (left, nxt[left])):
                if i >= 0 and j < n:
                    r = ranks.get(sym[i] + " " + sym[j])
                    if r is not None:
                        heapq.heappush(heap, (r, i, sym[i], sym[j]))
        out, i = [], 0
        while i < n:
            out.append(sym[i])
            i = nxt[i]
        return out

    def _lookup(self, sym: str) -> list[int]:
        """A merged symbol is always a token in a sane vocab; if not, fall back to its bytes."""
        tid = self.vocab.get(sym)
        if tid is not None:
            return [tid]
        out = []
        for ch in sym:
            tid = self.vocab.get(ch, self.unk_id)
            if tid is None:
                raise TokenizerError(f"byte-level vocab has no token for byte {CHAR_TO_BYTE.get(ch)!r} ({ch!r})"
                                     " and no unknown token")
            out.append(tid)
        return out
