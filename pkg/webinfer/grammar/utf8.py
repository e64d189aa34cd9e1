"""Code-point ranges as UTF-8 byte-range sequences: how a character class over code points
becomes a grammar over bytes.

``utf8_sequences(lo, hi)`` splits [lo, hi] into sequences of byte ranges, each sequence
matching exactly the UTF-8 encodings of a sub-range (the algorithm of Rust's regex-syntax
Utf8Sequences): [0x80, 0x7FF] is [C2-DF][80-BF]; [0x41, 0x3B1] is [41-7F] | [C2-CD][80-BF] |
[CE][80-B1]. Surrogates (U+D800..U+DFFF) have no UTF-8 encoding and are never matched.

Not here: parsing (gbnf), matching (matcher).
"""

from __future__ import annotations

MAX_CP = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
_LENGTH_SPANS = ((0, 0x7F), (0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, MAX_CP))


def encode(cp: int) -> bytes:
    return chr(cp).encode("utf-8", "surrogatepass")


def normalize(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged, surrogate-free code-point ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    res = []
    for lo, hi in out:
        if lo <= _SURROGATES[1] and hi >= _SURROGATES[0]:
            if lo < _SURROGATES[0]:
                res.append((lo, _SURROGATES[0] - 1))
            if hi > _SURROGATES[1]:
                res.append((_SURROGATES[1] + 1, hi))
        else:
            res.append((lo, hi))
    return res


def complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every code point not in ranges (surrogates excluded)."""
    out, nxt = [], 0
    for lo, hi in normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return normalize(out)


def utf8_sequences(lo: int, hi: int) -> list[list[tuple[int, int]]]:
    """[lo, hi] (surrogate-free) as a list of byte-range sequences."""
    out: list[list[tuple[int, int]]] = []
    for a, b in _LENGTH_SPANS:
        l, h = max(lo, a), min(hi, b)
        if l <= h:
            _split(l, h, out)
    return out


def _split(lo: int, hi: int, out: list) -> None:
    """lo and hi encode to the same length: split until every byte position is a full range."""
    if hi <= 0x7F:
        out.append([(lo, hi)])
        return
    n = len(encode(lo))
    for i in range(1, n):
        m = (1 << (6 * i)) - 1
        if lo & ~m != hi & ~m:
            if lo & m != 0:
                _split(lo, lo | m, out)
                _split((lo | m) + 1, hi, out)
                return
            if hi & m != m:
                _split(lo, (hi & ~m) - 1, out)
                _split(hi & ~m, hi, out)
                return
    out.append(list(zip(encode(lo), encode(hi))))
