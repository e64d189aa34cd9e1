"""JSON Schema `pattern` (an anchored regular expression) as a GBNF expression over a JSON
string's body, for the common cases.

Supported: ^...$ (both anchors are required: JSON Schema patterns match anywhere, and an
unanchored one is refused rather than widened), literals, `.`, classes [a-z0-9_] and [^...],
\\d \\w \\s (ASCII) and their negations, escaped metacharacters, groups (...) and (?:...),
alternation |, and the quantifiers * + ? {m} {m,} {m,n}. Refused with a GrammarError: lazy or
possessive quantifiers, backreferences, lookarounds, named groups, anchors inside, flags.

The result matches the JSON-encoded text: a `"` or `\\` the pattern allows is written escaped,
and control characters (which JSON must escape) are never produced, so a class that would
allow them is narrowed (the outputs stay valid under the pattern).

Not here: the rest of the schema (json_schema).
"""

from __future__ import annotations

from ..errors import GrammarError
from . import utf8

_META = set("\\^$.|?*+()[]{}/-")
_CLASS_ESC = {"d": [(0x30, 0x39)], "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
              "s": [(0x09, 0x0D), (0x20, 0x20)]}
_CHAR_ESC = {"n": 10, "t": 9, "r": 13, "f": 12, "v": 11}
MAX_REPEAT = 1000


def pattern_gbnf(pattern: str, path: str) -> str:
    """A GBNF expression matching the JSON string bodies (no quotes) of strings that match pattern."""
    if not isinstance(pattern, str):
        raise GrammarError(f"JSON Schema at {path}: pattern must be a string")
    if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")):
        raise GrammarError(f"JSON Schema pattern {pattern!r} at {path} is not supported: only anchored "
                           f"patterns (^...$) are compiled")
    p = _Regex(pattern[1:-1], pattern, path)
    out = p.alternation()
    if p.i != len(p.s):
        p.fail(f"unexpected {p.s[p.i]!r}")
    return "(" + out + ")"


def _class_gbnf(ranges) -> str:
    """A GBNF element for one character of ranges, narrowed to what a JSON string holds raw; `"`
    and `\\` become their escapes."""
    out, specials, keep = [], [], []
    for lo, hi in utf8.normalize(ranges):
        for cp in (0x22, 0x5C):
            if lo <= cp <= hi:
                specials.append('"\\\\\\""' if cp == 0x22 else '"\\\\\\\\"')
        # cut controls, the quote and the backslash out of the range
        cuts = [(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)]
        pieces = [(lo, hi)]
        for a, b in cuts:
            nxt = []
            for x, y in pieces:
                if y < a or x > b:
                    nxt.append((x, y))
                else:
                    if x < a:
                        nxt.append((x, a - 1))
                    if y > b:
                        nxt.append((b + 1, y))
            pieces = nxt
        keep += pieces
    if keep:
        out.append("[" + "".join(_cp(a) if a == b else f"{_cp(a)}-{_cp(b)}" for a, b in keep) + "]")
    out += specials
    if not out:
        raise GrammarError("a pattern's character class allows only control characters")
    return out[0] if len(out) == 1 else "(" + " | ".join(out) + ")"


def _cp(c: int) -> str:
    if chr(c).isalnum() and c < 0x80:
        return chr(c)
    return f"\\x{c:02X}" if c < 0x80 else (f"\\u{c:04X}" if c <= 0xFFFF else f"\\U{c:08X}")


class _Regex:
    def __init__(self, s: str, whole: str, path: str):
        self.s, self.i, self.whole, self.path = s, 0, whole, path

    def fail(self, msg: str):
        raise GrammarError(f"JSON Schema pattern {self.whole!r} at {self.path}: {msg} (at offset {self.i + 2})")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def alternation(self) -> str:
        alts = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            alts.append(self.sequence())
        return " | ".join(a or '""' for a in alts)

    def sequence(self) -> str:
        items = []
        while self.peek() and self.peek() not in "|)":
            atom = self.atom()
            items.append(self.quantified(atom))
        return " ".join(items)

    def quantified(self, atom: str) -> str:
        c = self.peek()
        if c in ("*", "+", "?"):
            self.i += 1
            q = c
        elif c == "{" and self._brace_ahead():
            j = self.s.index("}", self.i)
            body = self.s[self.i + 1:j]
            self.i = j + 1
            a, _, b = body.partition(",")
            lo = int(a)
            hi = lo if "," not in body else (int(b) if b else None)
            if (hi is not None and hi < lo) or max(lo, hi or 0) > MAX_REPEAT:
                self.fail(f"bad repetition {{{body}}}")
            q = f"{{{lo}}}" if hi == lo else f"{{{lo},{'' if hi is None else hi}}}"
        else:
            return atom
        if self.peek() in ("?", "+"):
            self.fail("lazy and possessive quantifiers are not supported")
        return atom + q

    def _brace_ahead(self) -> bool:
        j = self.s.find("}", self.i)
        body = self.s[self.i + 1:j] if j > 0 else ""
        a, _, b = body.partition(",")
        return j > 0 and a.isdigit() and (b == "" or b.isdigit())

    def atom(self) -> str:
        c = self.peek()
        if c == "(":
            self.i += 1
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                self.fail("lookarounds, named groups and flags are not supported")
            inner = self.alternation()
            if self.peek() != ")":
                self.fail("missing ')'")
            self.i += 1
            return "(" + inner + ")"
        if c in "*+?":
            self.fail(f"{c!r} follows nothing it could repeat")
        if c in "^$":
            self.fail("anchors are supported only at the start and the end")
        if c == "[":
            return _class_gbnf(self.char_class())
        if c == ".":
            self.i += 1
            return _class_gbnf([(0, 9), (11, utf8.MAX_CP)])
        if c == "\\":
            ranges = self.escape(in_class=False)
            return _class_gbnf(ranges)
        self.i += 1
        return _class_gbnf([(ord(c), ord(c))])

    def escape(self, in_class: bool) -> list:
        e = self.s[self.i + 1:self.i + 2]
        self.i += 2
        if e.lower() in _CLASS_ESC:
            r = _CLASS_ESC[e.lower()]
            return utf8.complement(r) if e.isupper() else r
        if e in _CHAR_ESC:
            return [(_CHAR_ESC[e],) * 2]
        if e == "u" and all(ch in "0123456789abcdefABCDEF" for ch in self.s[self.i:self.i + 4]) \
                and len(self.s) >= self.i + 4:
            cp = int(self.s[self.i:self.i + 4], 16)
            self.i += 4
            return [(cp, cp)]
        if e and (e in _META or not e.isalnum()):
            return [(ord(e), ord(e))]
        self.i -= 2
        self.fail(f"the escape \\{e} is not supported")

    def char_class(self) -> list:
        self.i += 1
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        ranges = []
        first = True
        while first or self.peek() != "]":
            first = False
            if not self.peek():
                self.fail("unterminated character class")
            if self.peek() == "\\":
                r = self.escape(in_class=True)
            else:
                r = [(ord(self.peek()),) * 2]
                self.i += 1
            if len(r) == 1 and r[0][0] == r[0][1] and self.peek() == "-" and self.s[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                if self.peek() == "\\":
                    hi = self.escape(True)
                else:
                    hi = [(ord(self.peek()),) * 2]
                    self.i += 1
                if len(hi) != 1 or hi[0][0] != hi[0][1] or hi[0][0] < r[0][0]:
                    self.fail("bad range in a character class")
                r = [(r[0][0], hi[0][0])]
            ranges += r
        self.i += 1
        return utf8.complement(ranges) if negate else ranges
