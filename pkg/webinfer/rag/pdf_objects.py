"""PDF's object syntax, for pdf.py: a lexer and parser for objects and content streams, the file's
object table (found by scanning, so a damaged cross-reference table does not matter), and the
stream filters (pdf_filters.py) a text layer uses.

What this is: enough of ISO 32000 to reach the text: numbers, strings, names, arrays,
dictionaries, references, streams, compressed object streams (PDF 1.5), and the trailer. What it is not: a writer,
a decrypter (an /Encrypt entry is reported, pdf.py refuses the file), or an image decoder.

Every loop is bounded (Limits): a hostile file costs at most so many tokens, bytes decompressed
and nesting levels, then raises DocumentError; it never hangs and never overflows the stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DocumentError
from .pdf_filters import decode_stream


class Name(str):
    """A PDF name (/Font -> Name("Font")); a plain str is never a name."""


class Op(str):
    """A content-stream operator (Tj, BT, ...) or a bare keyword in an object (obj, R, stream)."""


@dataclass(frozen=True)
class Ref:
    num: int
    gen: int


@dataclass
class Stream:
    dict: dict
    raw: bytes           # the bytes between "stream" and "endstream", still filtered


@dataclass
class Limits:
    """How much work one file may cost; exceeding any is a DocumentError."""
    tokens: int = 20_000_000           # lexer tokens over the whole file (objects and content streams)
    stream_bytes: int = 64 << 20       # one stream, decompressed
    total_bytes: int = 256 << 20       # all streams decompressed, together
    depth: int = 64                    # nested arrays / dictionaries
    objects: int = 2_000_000           # indirect objects


class Budget:
    """The running count against Limits (one per file)."""

    def __init__(self, name: str, limits: Limits):
        self.name, self.limits = name, limits
        self.tokens = self.bytes = 0

    def fail(self, why: str):
        raise DocumentError(f"PDF {self.name!r} cannot be read: {why}")

    def spent(self) -> bool:
        return self.tokens > self.limits.tokens or self.bytes > self.limits.total_bytes

    def spend_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.total_bytes:
            self.fail(f"its streams decompress to over {self.limits.total_bytes >> 20} MiB")


WS = b" \t\r\n\x0c\x00"
_TOKEN = re.compile(rb"""
    (?P<ws>(?:[ \t\r\n\x0c\x00]+|%[^\r\n]*)+)
  | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?![^ \t\r\n\x0c\x00()<>\[\]{}/%])
  | (?P<name>/[^ \t\r\n\x0c\x00()<>\[\]{}/%]*)
  | (?P<dopen><<) | (?P<dclose>>>) | (?P<aopen>\[) | (?P<aclose>\]) | (?P<brace>[{}])
  | (?P<hex><[0-9A-Fa-f \t\r\n\x0c\x00]*>)
  | (?P<str>\()
  | (?P<kw>[^ \t\r\n\x0c\x00()<>\[\]{}/%]+)
""", re.X)
_STR_SPECIAL = re.compile(rb"[()\\]")
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f",
            ord("("): b"(", ord(")"): b")", ord("\\"): b"\\"}
_NAME_ESC = re.compile(rb"#([0-9A-Fa-f]{2})")
END = object()             # returned by the lexer at the end of its data


class Lexer:
    """Tokens of `data` from `pos`: numbers (int/float), bytes (strings), Name, Op, and the
    structural marks "<<", ">>", "[", "]" as Op. Each token is charged to the Budget."""

    def __init__(self, data: bytes, budget: Budget, pos: int = 0):
        self.data, self.budget, self.pos = data, budget, pos

    def next(self):
        b = self.budget
        b.tokens += 1
        if b.tokens > b.limits.tokens:
            b.fail(f"it needs over {b.limits.tokens:,} tokens of parsing (too large or malformed)")
        data = self.data
        while True:
            m = _TOKEN.match(data, self.pos)
            if m is None:
                if self.pos >= len(data):
                    return END
                self.pos += 1                # a stray byte (")" or ">" alone): skipped, as readers do
                continue
            kind = m.lastgroup
            self.pos = m.end()
            if kind == "ws":
                continue
            text = m.group()
            if kind == "num":
                return float(text) if b"." in text else int(text)
            if kind == "name":
                return Name(_NAME_ESC.sub(lambda e: bytes([int(e.group(1), 16)]), text[1:]).decode("latin-1"))
            if kind == "hex":
                digits = re.sub(rb"[^0-9A-Fa-f]", b"", text)
                return bytes.fromhex((digits + b"0" if len(digits) % 2 else digits).decode())
            if kind == "str":
                return self._string()
            return Op(text.decode("latin-1"))

    def _string(self) -> bytes:
        """A literal string, self.pos just past its "(": balanced parentheses, escapes."""
        data, out, depth, pos = self.data, bytearray(), 1, self.pos
        while True:
            m = _STR_SPECIAL.search(data, pos)
            if m is None:                    # unterminated: the rest of the data
                out += data[pos:]
                self.pos = len(data)
                return bytes(out)
            out += data[pos:m.start()]
            c, pos = data[m.start()], m.end()
            if c == 0x5C:                    # backslash
                if pos >= len(data):
                    continue
                e = data[pos]
                if e in _ESCAPES:
                    out += _ESCAPES[e]
                    pos += 1
                elif 0x30 <= e <= 0x37:      # \ddd octal, one to three digits
                    m2 = re.match(rb"[0-7]{1,3}", data[pos:pos + 3])
                    out.append(int(m2.group(), 8) & 0xFF)
                    pos += len(m2.group())
                elif e in b"\r\n":           # a line continuation
                    pos += 2 if data[pos:pos + 2] == b"\r\n" else 1
                else:
                    pos += 1                 # an unknown escape: the backslash is dropped
            elif c == 0x28:
                depth += 1
                out.append(c)
            else:
                depth -= 1
                if depth == 0:
                    self.pos = pos
                    return bytes(out)
                out.append(c)


def parse_object(lex: Lexer, tok=None, depth: int = 0):
    """One object from the lexer (tok: its first token, if already read). "N G R" becomes a Ref;
    a keyword that is no value (an operator) comes back as the Op itself."""
    if depth > lex.budget.limits.depth:
        lex.budget.fail(f"objects nested over {lex.budget.limits.depth} deep")
    tok = lex.next() if tok is None else tok
    if isinstance(tok, Op):
        if tok == "[":
            items = []
            while True:
                t = lex.next()
                if t is END or t == "]":
                    return _refs(items)
                items.append(parse_object(lex, t, depth + 1))
        if tok == "<<":
            items = []
            while True:
                t = lex.next()
                if t is END or t == ">>":
                    items = _refs(items)
                    return {items[i]: items[i + 1] for i in range(0, len(items) - 1, 2) if isinstance(items[i], Name)}
                items.append(parse_object(lex, t, depth + 1))
        if tok == "true":
            return True
        if tok == "false":
            return False
        if tok == "null":
            return None
    return tok


def _refs(items: list) -> list:
    """Fold "N G R" triples of an array's or dictionary's items into Refs."""
    if Op("R") not in items:
        return items
    out = []
    for t in items:
        if isinstance(t, Op) and t == "R" and len(out) >= 2 and type(out[-1]) is int and type(out[-2]) is int:
            gen, num = out.pop(), out.pop()
            out.append(Ref(num, gen))
        else:
            out.append(t)
    return out


# --- the object table -------------------------------------------------------------------------

_OBJ_OR_TRAILER = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n\x0c\x00]+(\d{1,5})[ \t\r\n\x0c\x00]+obj\b|trailer\b")
_ENDSTREAM = re.compile(rb"[\r\n]?endstream\b")


class ObjectTable:
    """Every indirect object in the file, found by scanning it front to back (stream data is
    skipped by its /Length, or up to "endstream"); a later definition of a number replaces an
    earlier one, as an incremental update does. Objects inside object streams join the table
    where their stream is. Trailers (and cross-reference streams) are kept for /Root, /Encrypt."""

    def __init__(self, data: bytes, budget: Budget):
        self.data, self.budget = data, budget
        self.objects: dict[int, object] = {}
        self.trailers: list[dict] = []
        self._scan()

    def _scan(self) -> None:
        data, pos = self.data, 0
        while True:
            m = _OBJ_OR_TRAILER.search(data, pos)
            if m is None:
                return
            lex = Lexer(data, self.budget, m.end())
            if m.group(1) is None:                               # trailer << ... >>
                t = parse_object(lex)
                if isinstance(t, dict):
                    self.trailers.append(t)
                pos = lex.pos
                continue
            num = int(m.group(1))
            value = parse_object(lex)
            after = lex.pos
            if isinstance(value, dict):
                nxt = Lexer(data, self.budget, lex.pos)
                if nxt.next() == "stream":
                    value, after = self._stream(value, nxt.pos)
            self._define(num, value)
            pos = max(after, m.end())

    def _define(self, num: int, value) -> None:
        if len(self.objects) >= self.budget.limits.objects and num not in self.objects:
            self.budget.fail(f"over {self.budget.limits.objects:,} objects")
        self.objects[num] = value
        if isinstance(value, Stream):
            kind = value.dict.get("Type")
            if kind == "XRef":
                self.trailers.append(value.dict)
            elif kind == "ObjStm":
                self._object_stream(value)

    def _stream(self, d: dict, pos: int):
        """(Stream, position after "endstream"); pos is just past the "stream" keyword."""
        data = self.data
        if data[pos:pos + 2] == b"\r\n":
            pos += 2
        elif data[pos:pos + 1] in (b"\n", b"\r"):
            pos += 1
        n = d.get("Length")
        if type(n) is int and 0 <= n <= len(data) - pos:
            m = re.compile(rb"[ \t\r\n\x0c\x00]*endstream\b").match(data, pos + n)
            if m:
                return Stream(d, data[pos:pos + n]), m.end()
        m = _ENDSTREAM.search(data, pos)                           # indirect or wrong /Length
        if m is None:
            return Stream(d, data[pos:]), len(data)               # truncated: what there is
        return Stream(d, data[pos:m.start()]), m.end()

    def _object_stream(self, s: Stream) -> None:
        """The objects packed in an object stream: "num offset" pairs, then the objects."""
        try:
            body = decode_stream(s, self, self.budget)
        except DocumentError:
            return                                                 # its objects stay missing
        n, first = s.dict.get("N"), s.dict.get("First")
        if type(n) is not int or type(first) is not int or not 0 <= first <= len(body):
            return
        head = Lexer(body[:first], self.budget)
        pairs = []
        for _ in range(n):
            num, off = head.next(), head.next()
            if type(num) is not int or type(off) is not int:
                break
            pairs.append((num, off))
        for num, off in pairs:
            if 0 <= first + off < len(body):
                self._define(num, parse_object(Lexer(body, self.budget, first + off)))

    def resolve(self, value, hops: int = 32):
        """The value a reference names (None for a missing object); other values as they are."""
        while isinstance(value, Ref) and hops:
            value, hops = self.objects.get(value.num), hops - 1
        return None if isinstance(value, Ref) else value

    def trailer(self, key: str):
        """The newest trailer's entry for `key` (an incremental update's trailer comes last)."""
        for t in reversed(self.trailers):
            if key in t:
                return t[key]
        return None
