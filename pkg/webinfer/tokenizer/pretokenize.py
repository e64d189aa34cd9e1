"""Pre-tokenizers for byte-level BPE: cut text into words before the merges run.

Each variant is named as llama.cpp names it in `tokenizer.ggml.pre` and is written in the
original regex syntax (`\\p{L}`, `\\p{N}`, `\\s`), exactly as llama.cpp / Hugging Face spell it.
Python's `re` has no `\\p{..}` and Pyodide has no `regex` module, so `translate()` rewrites those
escapes into explicit character classes built once from `unicodedata`. The tests run the same
original strings through the `regex` module and compare.

A variant is a *sequence* of patterns (llama.cpp's `regex_exprs`, HF's `Sequence` of `Split`s):
each pattern cuts every piece left by the previous one into its matches and the gaps between
them, and keeps both ("isolated"). Lookaheads therefore only see the current piece.

Not here: the merges (bpe.py), special-token splitting (done before this, in __init__.py), and
SentencePiece models, which have no pre-tokenizer (spm.py).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from ..errors import UnsupportedModelError

# The GPT-2 pattern (tokenizers' ByteLevel `use_regex=True`). The trailing `|\s+` catches a
# whitespace run that `\s+(?!\S)` must leave, so the alternatives cover every character.
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
          r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Qwen2: LLaMA-3's pattern but digits one by one.
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# Bloom / Poro / GPT3-Finnish: words with an optional leading space, cut at punctuation.
BLOOM = r" ?[^(\s|.,!?…。，、।۔،)]+"

# (patterns, ignore_merges). `ignore_merges`: a whole word found in the vocab is emitted as one
# token without running the merges (LLaMA-3's tokenizer.json says so; llama.cpp agrees).
VARIANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "gpt2": ((GPT2,), False),
    "gpt-2": ((GPT2,), False),
    "mpt": ((GPT2,), False),
    "olmo": ((GPT2,), False),
    "jais": ((GPT2,), False),
    # SmolLM (and StarCoder, Refact, Command-R, CodeShell, EXAONE): every digit alone, then GPT-2.
    # SmolLM2's own tokenizer.json says the same: Digits(individual_digits) + ByteLevel(use_regex).
    "smollm": ((r"\p{N}", GPT2), False),
    "starcoder": ((r"\p{N}", GPT2), False),
    "refact": ((r"\p{N}", GPT2), False),
    "command-r": ((r"\p{N}", GPT2), False),
    "codeshell": ((r"\p{N}", GPT2), False),
    "exaone": ((r"\p{N}", GPT2), False),
    "llama3": ((LLAMA3,), True),
    "llama-v3": ((LLAMA3,), True),
    "llama-bpe": ((LLAMA3,), True),
    "falcon3": ((LLAMA3,), True),
    "dbrx": ((LLAMA3,), False),
    "smaug-bpe": ((LLAMA3,), False),
    "qwen2": ((QWEN2,), False),
    "deepseek-r1-qwen": ((QWEN2,), False),
    "stablelm2": ((QWEN2,), False),
    "bloom": ((BLOOM,), False),
    "poro-chat": ((BLOOM,), False),
    "gpt3-finnish": ((BLOOM,), False),
    "viking": ((BLOOM, r"\p{N}"), False),
    # llama.cpp's fallback when `pre` is "default" (or absent): punctuation runs, then GPT-2
    # without its final `\s+`, then numbers, then groups of three ASCII digits.
    "default": ((r"[\p{P}\$\+<=>\^~\|]+",
                 r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
                 r"\p{N}+", r"[0-9][0-9][0-9]"), False),
    "falcon": ((r"[\p{P}\$\+<=>\^~\|`]+",
                r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
                r"[0-9][0-9][0-9]"), False),
}

# Variants whose tokenizer.json runs a Unicode normalizer before the split (Qwen2/2.5/3: NFC, so
# "e" + U+0301 is tokenized as "é"). llama.cpp skips it; Hugging Face, which the models were
# trained with, does not, so we follow Hugging Face.
NORMALIZER: dict[str, str] = {"qwen2": "NFC"}

# White_Space as the `regex` module and llama.cpp define `\s`. Python's `re` would also take
# U+001C..U+001F (str.isspace), which are not whitespace to any tokenizer.
_WHITESPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
               (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
               (0x3000, 0x3000)]

# Code points outside these spans are unassigned or private use in every Unicode so far (planes
# 4..13, 15, 16), so they belong to no class we build; skipping them keeps the scan ~20 ms.
_SCAN = (range(0x0, 0x40000), range(0xE0000, 0xE1000))


@functools.cache
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """{general category ('Lu', 'Nd', ...): sorted inclusive code point ranges}, from this
    interpreter's unicodedata (so CPython 3.11 and Pyodide 3.12 each agree with themselves)."""
    cat = unicodedata.category
    out: dict[str, list[tuple[int, int]]] = {}
    for span in _SCAN:
        start, prev = span.start, cat(chr(span.start))
        for cp in range(span.start + 1, span.stop):
            c = cat(chr(cp))
            if c != prev:
                out.setdefault(prev, []).append((start, cp - 1))
                start, prev = cp, c
        out.setdefault(prev, []).append((start, span.stop - 1))
    return out


def _ranges_text(ranges: list[tuple[int, int]]) -> str:
    """Character-class body for `re`: each range as \\Uxxxxxxxx escapes (safe for any code point)."""
    parts = []
    for a, b in ranges:
        parts.append(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}")
    return "".join(parts)


@functools.cache
def _class_body(name: str) -> str:
    """Body of `\\p{name}` (a one- or two-letter general category), or of `\\s` for name 's'."""
    if name == "s":
        return _ranges_text(_WHITESPACE)
    cats = _category_ranges()
    chosen = [r for c, rs in cats.items() if c.startswith(name) and c != "Cn" for r in rs]
    if not chosen:
        raise UnsupportedModelError(f"pre-tokenizer uses unknown Unicode class \\p{{{name}}}")
    return _ranges_text(sorted(chosen))


_ESCAPE = re.compile(r"\\p\{(\w+)\}|\\([sS])|\\.|\[|\]|.", re.S)


def translate(pattern: str) -> str:
    """Rewrite `\\p{X}`, `\\s`, `\\S` of a `regex`-module pattern into plain `re` syntax.

    Inside `[...]` the class body is pasted in place; outside, it is wrapped in `[...]`.
    `\\S` only occurs outside brackets in tokenizer patterns (as `(?!\\S)`)."""
    out, in_class = [], False
    for m in _ESCAPE.finditer(pattern):
        tok = m.group(0)
        if m.group(1):
            body = _class_body(m.group(1))
            out.append(body if in_class else f"[{body}]")
        elif m.group(2):
            body = _class_body("s")
            if m.group(2) == "S":
                assert not in_class, "\\S inside a character class is not supported"
                out.append(f"[^{body}]")
            else:
                out.append(body if in_class else f"[{body}]")
        elif tok == "[" and not in_class:
            in_class = True
            out.append(tok)
        elif tok == "]" and in_class and not out[-1].endswith(("[", "[^")):
            in_class = False
            out.append(tok)
        else:
            out.append(tok)
    return "".join(out)


class PreTokenizer:
    """`split(text) -> list[str]` for one named variant; compiled once per process."""

    def __init__(self, name: str):
        if name not in VARIANTS:
            raise UnsupportedModelError(
                f"unsupported pre-tokenizer tokenizer.ggml.pre={name!r}; known: {sorted(VARIANTS)}")
        patterns, self.ignore_merges = VARIANTS[name]
        self.name = name
        self.normalizer = NORMALIZER.get(name)   # None, or a unicodedata.normalize form
        self._steps = _compiled(patterns)

    def normalize(self, text: str) -> str:
        """The variant's Unicode normalization (before split(); identity for most variants)."""
        return text if self.normalizer is None else unicodedata.normalize(self.normalizer, text)

    def split(self, text: str) -> list[str]:
        pieces = [text]
        for rx in self._steps:
            out: list[str] = []
            for piece in pieces:
                found = rx.findall(piece)
                # Fast path: the matches tile the piece (GPT-2-like patterns always do).
                if sum(map(len, found)) == len(piece):
                    out.extend(found)
                else:
                    _isolate(rx, piece, out)
            pieces = out
        return pieces


def _isolate(rx: re.Pattern, piece: str, out: list[str]) -> None:
    """Append the matches of rx in piece and the non-empty gaps between them, in order."""
    pos = 0
    for m in rx.finditer(piece):
        s, e = m.span()
        if s > pos:
            out.append(piece[pos:s])
        if e > s:
            out.append(piece[s:e])
        pos = max(pos, e)
    if pos < len(piece):
        out.append(piece[pos:])


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(translate(p)) for p in patterns)
