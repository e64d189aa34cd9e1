"""llama.cpp's GBNF grammar format, parsed into a Grammar over bytes.

    root  ::= (expr "=" ws term "\\n")+        # rules: name ::= alternatives
    expr  ::= term ([-+*/] term)*              # groups, * + ? {m} {m,} {m,n}
    ws    ::= [ \\t\\n]*                         # char classes: ranges, [^...] negation, '.' any char

Literals take the escapes \\n \\r \\t \\\\ \\" \\[ \\] \\- \\xNN \\uNNNN \\UNNNNNNNN; '#' starts a comment.
A rule's body ends at a newline that is not inside a group (as in llama.cpp). Every character
class is compiled to the UTF-8 byte sequences of its code points (utf8.py), so the Grammar
matches bytes: a token that ends in the middle of a character is matched byte by byte.
Repetitions become right-recursive helper rules, as llama.cpp builds them. Errors are
GrammarError naming the line and column; left recursion and undefined rules are refused.

The Grammar is a flat program: ``kind[pos]`` is BYTES (``arg[pos]`` is a 256-bit set of bytes),
REF (``arg[pos]`` is a rule id) or END (the end of an alternative); ``alts[rule]`` lists the
positions where the rule's alternatives start. matcher.py runs it.

Not here: running the grammar (matcher), JSON Schema (json_schema), token ids (mask).
"""

from __future__ import annotations

import re

from ..errors import GrammarError
from . import utf8

BYTES, REF, END = 0, 1, 2
_WORD = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_ESC = {"n": 10, "r": 13, "t": 9, "\\": 92, '"': 34, "[": 91, "]": 93, "-": 45, "/": 47, "'": 39, "^": 94,
        ".": 46, "0": 0}
MAX_REPEAT = 10000
_DEFINES = re.compile(r"[ \t]*::=")


class Grammar:
    """A parsed grammar: rule names, the flat program, and min lengths (bytes) for budgeting."""

    def __init__(self, names: list[str], rules: list[list[list[tuple[int, int]]]], root: int, source: str = "",
                 chains: dict[int, tuple[int, int]] | None = None):
        self.names, self.root, self.source = names, root, source
        # chains[r] = (star, j): rule r is "item (item (...)?)?" with up to j items left (a {m,n}
        # repetition's tail) and rule star is "item*", laid out the same way (mask.py uses it)
        self.chains = chains or {}
        self.kind: list[int] = []
        self.arg: list[int] = []
        self.alts: list[list[int]] = []
        for alts in rules:
            starts = []
            for seq in alts:
                starts.append(len(self.kind))
                for k, a in seq:
                    self.kind.append(k)
                    self.arg.append(a)
                self.kind.append(END)
                self.arg.append(0)
            self.alts.append(starts)
        self._check_left_recursion()
        self.min_rest = self._min_rest()

    def _nullable(self) -> list[bool]:
        null = [False] * len(self.alts)
        changed = True
        while changed:
            changed = False
            for r, starts in enumerate(self.alts):
                if not null[r] and any(self._seq_nullable(p, null) for p in starts):
                    null[r] = changed = True
        return null

    def _seq_nullable(self, p: int, null: list[bool]) -> bool:
        while self.kind[p] != END:
            if self.kind[p] == BYTES or not null[self.arg[p]]:
                return False
            p += 1
        return True

    def _check_left_recursion(self) -> None:
        """A rule that can reach itself without consuming a byte would expand forever."""
        null = self._nullable()
        left: list[set[int]] = []
        for starts in self.alts:
            refs = set()
            for p in starts:
                while self.kind[p] == REF:
                    refs.add(self.arg[p])
                    if not null[self.arg[p]]:
                        break
                    p += 1
            left.append(refs)
        for r in range(len(self.alts)):
            seen, todo = set(), list(left[r])
            while todo:
                x = todo.pop()
                if x == r:
                    raise GrammarError(f"rule {self.names[r]!r} is left-recursive (it can reach itself before "
                                       f"matching any byte); rewrite it with repetition")
                if x not in seen:
                    seen.add(x)
                    todo.extend(left[x])

    def _min_rest(self) -> list[float]:
        """min_rest[pos]: fewest bytes that finish the alternative from pos (inf: never finishes)."""
        inf = float("inf")
        rule_min = [inf] * len(self.alts)
        changed = True
        while changed:
            changed = False
            for r, starts in enumerate(self.alts):
                best = min((self._seq_min(p, rule_min) for p in starts), default=inf)
                if best < rule_min[r]:
                    rule_min[r], changed = best, True
        rest = [0.0] * len(self.kind)
        for p in range(len(self.kind) - 1, -1, -1):
            k = self.kind[p]
            rest[p] = 0.0 if k == END else (1 if k == BYTES else rule_min[self.arg[p]]) + rest[p + 1]
        return rest

    def _seq_min(self, p: int, rule_min: list[float]) -> float:
        n = 0.0
        while self.kind[p] != END:
            n += 1 if self.kind[p] == BYTES else rule_min[self.arg[p]]
            p += 1
        return n


def parse_gbnf(text: str, root: str = "root") -> Grammar:
    """Parse GBNF text; the start rule is `root`."""
    if not isinstance(text, str):
        raise GrammarError(f"a GBNF grammar is text, got {type(text).__name__}")
    return _Parser(text).parse(root)


class _Parser:
    def __init__(self, text: str):
        self.s, self.i = text, 0
        self.names: list[str] = []
        self.ids: dict[str, int] = {}
        self.rules: list[list | None] = []
        self.first_ref: dict[str, int] = {}
        self.chains: dict[int, tuple[int, int]] = {}

    # -- positions and errors --------------------------------------------------------------------
    def where(self, i: int | None = None) -> str:
        i = self.i if i is None else i
        line = self.s.count("\n", 0, i) + 1
        col = i - (self.s.rfind("\n", 0, i) + 1) + 1
        return f"line {line}, column {col}"

    def fail(self, msg: str, i: int | None = None):
        raise GrammarError(f"GBNF {self.where(i)}: {msg}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def space(self, newlines: bool) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "#":
                while self.i < len(s) and s[self.i] not in "\r\n":
                    self.i += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            else:
                break

    # -- rules -------------------------------------------------------------------------------------
    def rule_id(self, name: str) -> int:
        if name not in self.ids:
            self.ids[name] = len(self.names)
            self.names.append(name)
            self.rules.append(None)
        return self.ids[name]

    def new_rule(self, base: str, alts: list) -> int:
        rid = self.rule_id(f"{base}-{len(self.names)}")
        self.rules[rid] = alts
        return rid

    def parse(self, root: str) -> Grammar:
        self.space(True)
        while self.i < len(self.s):
            start = self.i
            name = self.word()
            self.space(False)
            if not self.s.startswith("::=", self.i):
                self.fail(f"expected '::=' after rule name {name!r}")
            self.i += 3
            self.space(True)
            rid = self.rule_id(name)
            if self.rules[rid] is not None:
                self.fail(f"rule {name!r} is defined twice", start)
            self.rules[rid] = self.alternates(name, nested=False)
            if self.i < len(self.s) and self.peek() not in "\r\n":
                self.fail(f"unexpected {self.peek()!r}")
            self.space(True)
        for name, rid in self.ids.items():
            if self.rules[rid] is None:
                self.fail(f"rule {name!r} is used but never defined", self.first_ref.get(name, 0))
        if root not in self.ids:
            raise GrammarError(f"GBNF: the grammar has no {root!r} rule (the start rule)")
        return Grammar(self.names, self.rules, self.ids[root], self.s, self.chains)

    def word(self) -> str:
        j = self.i
        while j < len(self.s) and self.s[j] in _WORD:
            j += 1
        if j == self.i:
            self.fail(f"expected a rule name, got {self.peek()!r}" if self.peek() else "expected a rule name")
        w, self.i = self.s[self.i:j], j
        return w

    def alternates(self, name: str, nested: bool) -> list:
        alts = [self.sequence(name, nested)]
        while self.peek() == "|":
            self.i += 1
            self.space(True)
            alts.append(self.sequence(name, nested))
        return alts

    def sequence(self, name: str, nested: bool) -> list:
        seq: list[tuple[int, int]] = []
        last_start = None   # index in seq where the last element began (what a repetition applies to)
        while self.i < len(self.s):
            c = self.peek()
            start = len(seq)
            if c == '"':
                self.i += 1
                data = bytearray()
                while self.peek() != '"':
                    if not self.peek() or self.peek() in "\r\n":
                        self.fail("unterminated string literal")
                    data += utf8.encode(self.char())
                self.i += 1
                seq.extend((BYTES, 1 << b) for b in data)
            elif c == "[":
                self.i += 1
                seq.extend(self.char_class(name))
            elif c == ".":
                self.i += 1
                seq.extend(self.ranges_elem(name, utf8.complement([])))
            elif c in _WORD:
                at = self.i
                w = self.word()
                if _DEFINES.match(self.s, self.i):
                    self.fail(f"a new rule {w!r} starts before the previous one ended (missing newline?)", at)
                self.first_ref.setdefault(w, at)
                seq.append((REF, self.rule_id(w)))
            elif c == "(":
                self.i += 1
                self.space(True)
                inner = self.alternates(name, nested=True)
                if self.peek() != ")":
                    self.fail("expected ')' to close the group")
                self.i += 1
                seq.append((REF, self.new_rule(name, inner)))
            elif c in "*+?{":
                if last_start is None:
                    self.fail(f"{c!r} follows nothing it could repeat")
                self.repeat(name, seq, last_start)
                start = last_start
            elif c == "<":
                self.fail("token references (<...>, <[id]>) are not supported")
            else:
                break
            last_start = start
            self.space(nested)
        return seq

    def repeat(self, name: str, seq: list, start: int) -> None:
        c = self.peek()
        self.i += 1
        if c == "{":
            lo, hi = self.braces()
        else:
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        item = seq[start:]
        del seq[start:]
        seq.extend(item * lo)
        if hi is None:   # R ::= item R |   (right recursion: the matcher's stacks do not grow)
            rid = self.new_rule(name, [])
            self.rules[rid] = [item + [(REF, rid)], []]
            seq.append((REF, rid))
        elif hi > lo:    # item (item (item)?)?  nested, n - m deep
            star = self.new_rule(name, [])
            self.rules[star] = [item + [(REF, star)], []]
            rid = None
            for j in range(1, hi - lo + 1):
                tail = item + ([(REF, rid)] if rid is not None else [])
                rid = self.new_rule(name, [tail, []])
                if j > 1:   # same layout as star's: item, then a reference
                    self.chains[rid] = (star, j)
            seq.append((REF, rid))

    def braces(self) -> tuple[int, int | None]:
        at = self.i - 1
        j = self.s.find("}", self.i)
        if j < 0:
            self.fail("expected '}' to close the repetition", at)
        body, self.i = self.s[self.i:j].replace(" ", ""), j + 1
        try:
            if "," not in body:
                lo = hi = int(body)
            else:
                a, b = body.split(",", 1)
                lo, hi = int(a), (int(b) if b else None)
        except ValueError:
            self.fail(f"bad repetition {{{body}}}: expected {{m}}, {{m,}} or {{m,n}}", at)
        if lo < 0 or (hi is not None and hi < lo) or max(lo, hi or 0) > MAX_REPEAT:
            self.fail(f"bad repetition {{{body}}}: need 0 <= m <= n <= {MAX_REPEAT}", at)
        return lo, hi

    def char(self) -> int:
        """One character of a literal or class, escapes decoded, as a code point."""
        c = self.peek()
        if c != "\\":
            self.i += 1
            return ord(c)
        at = self.i
        e = self.s[self.i + 1:self.i + 2]
        self.i += 2
        if e in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[e]
            h = self.s[self.i:self.i + n]
            if len(h) != n or any(ch not in "0123456789abcdefABCDEF" for ch in h):
                self.fail(f"bad escape \\{e}{h}: expected {n} hex digits", at)
            self.i += n
            cp = int(h, 16)
            if cp > utf8.MAX_CP or 0xD800 <= cp <= 0xDFFF:
                self.fail(f"escape \\{e}{h} is not a Unicode scalar value", at)
            return cp
        if e not in _ESC:
            self.fail(f"unknown escape \\{e}", at)
        return _ESC[e]

    def char_class(self, name: str) -> list:
        at = self.i - 1
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        ranges = []
        while self.peek() != "]":
            if not self.peek():
                self.fail("unterminated character class", at)
            lo = self.char()
            hi = lo
            if self.peek() == "-" and self.s[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                hi = self.char()
                if hi < lo:
                    self.fail(f"bad range in character class: U+{lo:04X} > U+{hi:04X}", at)
            ranges.append((lo, hi))
        self.i += 1
        ranges = utf8.complement(ranges) if negate else utf8.normalize(ranges)
        if not ranges:
            self.fail("the character class matches nothing", at)
        return self.ranges_elem(name, ranges)

    def ranges_elem(self, name: str, ranges: list) -> list:
        """Elements matching one code point of ranges: a byte set when every one is ASCII,
        else a rule whose alternatives are the UTF-8 byte-range sequences."""
        seqs = [s for lo, hi in ranges for s in utf8.utf8_sequences(lo, hi)]
        if all(len(s) == 1 for s in seqs):
            return [(BYTES, _mask(s[0] for s in seqs))]
        # group sequences that share their leading bytes' ranges... kept simple: one per sequence,
        # with single-byte ones merged into one set
        single = [s[0] for s in seqs if len(s) == 1]
        alts = [[(BYTES, _mask(single))]] if single else []
        alts += [[(BYTES, _mask([r])) for r in s] for s in seqs if len(s) > 1]
        return [(REF, self.new_rule(name + "-char", alts))]


def _mask(ranges) -> int:
    m = 0
    for lo, hi in ranges:
        m |= ((1 << (hi - lo + 1)) - 1) << lo
    return m
