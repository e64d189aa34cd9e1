"""Documents in, chunks out: the checks a text passes before it is stored, and chunking by tokens.

What this is:
- `check_text(name, text, max_bytes)`: the boundary for untrusted documents. Takes `str` or
  `bytes` (UTF-8); refuses an empty (or all-whitespace) text, one larger than `max_bytes` of
  UTF-8 (before decoding or encoding more than needed), invalid UTF-8, NUL bytes, lone
  surrogates and other signs of a binary file, each with a DocumentError that names the
  document and the offending value. Any script is fine (CJK, RTL, emoji, combining marks).
- `chunk_text(text, count_tokens, chunk_tokens, overlap)`: cuts a text into chunks of at most
  `chunk_tokens` tokens, consecutive chunks sharing up to `overlap` tokens. Each chunk is an
  exact slice of the text (char offsets kept), so it never splits a character and shows the
  user the very words that were embedded. The text is first split into pieces (a word with
  the whitespace before it); a piece longer than a quarter chunk (a CJK sentence, a URL) is
  halved by characters, never inside a combining sequence, until it is short. Token counts
  are per piece, so positions are those of the pieces tokenized one by one: exact for
  tokenizers that split on spaces first (GPT-2-style BPE, WordPiece), within a few tokens for
  SentencePiece.
- `token_counter(tokenizer)`: a `str -> int` counter from a webinfer Tokenizer, any object
  with `.encode(text)`, or a callable returning tokens or a count; `None` gives
  `simple_count`, a tokenizer-free estimate (a run of letters/digits is one token, every
  other non-space character one).

What it is not: the store (store.py) or an embedding model.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import re
import unicodedata
from dataclasses import dataclass

from ..errors import DocumentError

# Above this a document is refused (10 MiB of UTF-8, about 2.5M tokens: ~20k chunks of 128
# tokens, already minutes of embedding on a laptop). Larger texts go in as several documents.
MAX_DOCUMENT_BYTES = 10 * 2**20

# C0 controls other than tab, newline, vertical tab, form feed, carriage return: a text with
# more than BINARY_CONTROL_SHARE of them among its first characters is a binary file.
_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1f\x7f]")
BINARY_CONTROL_SHARE = 0.01
_SNIFF_CHARS = 1 << 16

_PIECE = re.compile(r"\s*\S+")
# Scripts written without spaces: each character is its own simple token.
_NO_SPACE = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\u0e00-\u0e7f"
_SIMPLE_TOKEN = re.compile(rf"[^\W{_NO_SPACE}]+|\S")
_JOINERS = {"\u200d", "\u200c", "\ufe0e", "\ufe0f"}


@dataclass(frozen=True)
class Piece:
    """One chunk of a text: text[char_start:char_end], tokens [tok_start, tok_end)."""
    text: str
    char_start: int
    char_end: int
    tok_start: int
    tok_end: int


def _mib(n: int) -> str:
    return f"{n:,} bytes ({n / 2**20:.1f} MiB)"


def check_text(name: str, text, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """The document's text as str, or DocumentError naming what is wrong (see module doc)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        if len(raw) > max_bytes:
            raise DocumentError(f"document {name!r} is {_mib(len(raw))}; the limit is {_mib(max_bytes)}: "
                                "split it into smaller documents")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DocumentError(f"document {name!r} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                                f"{e.start} is invalid): a binary file?") from None
    elif isinstance(text, str):
        if len(text) > max_bytes:           # UTF-8 takes at least a byte a character
            raise DocumentError(f"document {name!r} is at least {_mib(len(text))} of UTF-8; the limit is "
                                f"{_mib(max_bytes)}: split it into smaller documents")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError as e:
            raise DocumentError(f"document {name!r} holds a lone surrogate (U+{ord(text[e.start]):04X} at "
                                f"character {e.start}): not valid Unicode text") from None
        if size > max_bytes:
            raise DocumentError(f"document {name!r} is {_mib(size)} of UTF-8; the limit is {_mib(max_bytes)}: "
                                "split it into smaller documents")
    else:
        raise DocumentError(f"document {name!r}: expected str or UTF-8 bytes, got {type(text).__name__}")
    nul = text.find("\x00")
    if nul >= 0:
        raise DocumentError(f"document {name!r} contains a NUL byte (at character {nul}): a binary file?")
    head = text[:_SNIFF_CHARS]
    n_control = len(_CONTROL.findall(head))
    if n_control > BINARY_CONTROL_SHARE * len(head):
        raise DocumentError(f"document {name!r} is {n_control / len(head):.0%} control characters in its first "
                            f"{len(head):,}: a binary file?")
    if not text.strip():
        raise DocumentError(f"document {name!r} is empty" + (" (only whitespace)" if text else ""))
    return text


def simple_count(text: str) -> int:
    """Tokens by a tokenizer-free rule: a run of letters/digits, or any other non-space character."""
    return len(_SIMPLE_TOKEN.findall(text))


def token_counter(tokenizer=None):
    """A `str -> int` token counter (see module doc)."""
    if tokenizer is None:
        return simple_count
    encode = getattr(tokenizer, "encode", None)
    if encode is not None:
        params = inspect.signature(encode).parameters
        if "add_special" in params:          # webinfer.tokenizer.Tokenizer: no BOS, specials as text
            kwargs = {"add_special": False, **({"parse_special": False} if "parse_special" in params else {})}
            return lambda s: len(encode(s, **kwargs))
        return lambda s: len(encode(s))
    if callable(tokenizer):
        def count(s: str) -> int:
            out = tokenizer(s)
            return out if isinstance(out, int) else len(out)
        return count
    raise TypeError(f"tokenizer must be None, callable, or have .encode(); got {type(tokenizer).__name__}")


def _cut_point(text: str, lo: int, hi: int) -> int:
    """A character index near the middle of text[lo:hi] (after its leading whitespace) that does
    not split a combining sequence; `lo` when there is none (a single grapheme)."""
    start = lo + len(text[lo:hi]) - len(text[lo:hi].lstrip())
    mid = max((lo + hi) // 2, start + 1)
    for cut in [*range(mid, hi), *range(mid - 1, start, -1)]:
        if not (unicodedata.combining(text[cut]) or text[cut] in _JOINERS or text[cut - 1] == "\u200d"):
            return cut
    return lo


def _pieces(text: str, count, max_piece: int) -> tuple[list[int], list[int], list[int]]:
    """(starts, ends, n_tokens) of pieces covering the text's non-space content, each at most
    `max_piece` tokens unless it is a single grapheme. Whole-text operations (findall, one
    count per distinct piece) keep a 10 MiB text to seconds; only long pieces are cut."""
    words = _PIECE.findall(text)              # contiguous from 0: each absorbs the space before it
    known = {w: count(w) for w in set(words)}
    ends = list(itertools.accumulate(map(len, words)))
    starts = [0, *ends[:-1]]
    ns = [known[w] for w in words]
    if max(ns, default=0) <= max_piece:
        return starts, ends, ns
    out_s, out_e, out_n = [], [], []
    for a0, b0, n0 in zip(starts, ends, ns):
        stack = [(a0, b0, n0)]
        while stack:
            a, b, n = stack.pop()
            cut = _cut_point(text, a, b) if n > max_piece and b - a > 1 else a
            if cut == a:
                out_s.append(a), out_e.append(b), out_n.append(n)
            else:                             # the left half is popped first: order kept
                stack += [(cut, b, known.get(text[cut:b]) or count(text[cut:b])),
                          (a, cut, known.get(text[a:cut]) or count(text[a:cut]))]
    return out_s, out_e, out_n


def chunk_text(text: str, count_tokens=simple_count, chunk_tokens: int = 128, overlap: int | None = None) -> list[Piece]:
    """Chunks of at most `chunk_tokens` tokens, overlapping by at most `overlap` (default: an
    eighth of a chunk) tokens (module doc)."""
    if overlap is None:
        overlap = chunk_tokens // 8
    if chunk_tokens < 1 or not 0 <= overlap < chunk_tokens:
        raise ValueError(f"need chunk_tokens >= 1 and 0 <= overlap < chunk_tokens; got {chunk_tokens}, {overlap}")
    starts, ends, ns = _pieces(text, count_tokens, max(1, chunk_tokens // 4))
    pos = [0, *itertools.accumulate(ns)]        # pos[i]: token position where piece i starts
    n = len(ns)
    chunks, s = [], 0
    while s < n:
        # the most pieces from s that fit (at least one, even an over-long grapheme)
        e = max(s + 1, bisect.bisect_right(pos, pos[s] + chunk_tokens, s, n + 1) - 1)
        a, b = starts[s], ends[e - 1]
        a += len(text[a:ends[s]]) - len(text[a:ends[s]].lstrip())     # drop the leading space
        chunks.append(Piece(text[a:b], a, b, pos[s], pos[e]))
        if e == n:
            break
        # the next chunk starts at the earliest piece whose tail up to e fits in `overlap`
        s = max(s + 1, bisect.bisect_left(pos, pos[e] - overlap, s + 1, e))
    return chunks
