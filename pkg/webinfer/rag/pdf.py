"""PDF as text: the words of a PDF's text layer, in pure Python (CPython and Pyodide alike), for
the store to chunk and embed.

    from webinfer.rag import pdf_text, read_document
    text = pdf_text(open("paper.pdf", "rb").read(), "paper.pdf")
    name, text = read_document("paper.pdf")     # a PDF's text; any other file's bytes, unread

What it reads: the object table (pdf_objects.py: scanned, so a broken cross-reference table or an
incremental update is no obstacle; object streams too), the page tree in order, each page's
content streams (and the form XObjects they draw), and their text operators: Tj, TJ, ' and "
under the font Tf selects, decoded by pdf_fonts.py (the font's ToUnicode CMap, else its simple
encoding). Lines: a new line where the text moves to another baseline (Td, TD, Tm, T*, ', ",
and BT/ET blocks set on different lines), a space where it moves along the same line or a TJ
gap is wider than a fifth of the font size; pages are separated by a blank line.

What it is not: layout analysis (columns are read in content-stream order, usually reading
order), OCR (a scanned page has no text layer), or decryption.

A PDF it cannot read raises DocumentError naming why: not a PDF, encrypted, no pages (damaged
or truncated), a page whose content is missing (truncated), a filter it lacks, or no text at all
(a scan, or fonts without a Unicode map). The work is bounded (pdf_objects.Limits: tokens,
decompressed bytes, nesting, pages, form depth), so a hostile file fails in seconds.
"""

from __future__ import annotations

import os
import re
import unicodedata

from ..errors import DocumentError
from .pdf_fonts import Font
from .pdf_filters import decode_stream
from .pdf_objects import END, Budget, Lexer, Limits, Name, ObjectTable, Op, Ref, Stream, parse_object

MAX_PDF_BYTES = 64 << 20      # a PDF's file size (images make PDFs far larger than their text)
MAX_PAGES = 100_000
MAX_FORM_DEPTH = 8            # form XObjects drawn inside each other
TJ_SPACE = -200               # a TJ adjustment under this (thousandths of an em: a move right) is a space
IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_INLINE_END = re.compile(rb"[ \t\r\n\x0c\x00]EI(?=[ \t\r\n\x0c\x00/\[<(]|$)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _mul(m, n):
    """The 3x3 affine product m x n of PDF matrices (a b c d e f)."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _num(x, default=0.0) -> float:
    return float(x) if type(x) in (int, float) else default


class _Page:
    """The text of one page as it is drawn: lines of strings, with the position of the last text
    shown to decide between a new line, a space, and nothing."""

    def __init__(self):
        self.lines: list[list[str]] = [[]]
        self.last = None              # (x, y, size) where the last text was shown, in user space
        self.moved = False            # the text position was set since (Td, Tm, ...)

    def space(self) -> None:
        line = self.lines[-1]
        if line and not line[-1][-1:].isspace():
            line.append(" ")

    def newline(self) -> None:
        if self.lines[-1]:
            self.lines.append([])

    def show(self, text: str, x: float, y: float, size: float) -> None:
        if not text:
            return
        if self.last is not None:
            lx, ly, lsize = self.last
            if abs(y - ly) > 0.5 * max(min(size, lsize), 1.0):
                self.newline()
            elif self.moved and abs(x - lx) > 0.01:
                self.space()
        self.lines[-1].append(text)
        self.last, self.moved = (x, y, size), False

    def text(self) -> str:
        return "\n".join("".join(line).rstrip() for line in self.lines)


class _Reader:
    def __init__(self, data: bytes, name: str, limits: Limits):
        self.budget = Budget(name, limits)
        self.table = ObjectTable(data, self.budget)
        self.fonts: dict = {}          # id of the font's object -> Font
        self.images = 0                # image XObjects and inline images drawn
        self.lost = 0                  # strings in fonts with no way to Unicode

    def fail(self, why: str):
        self.budget.fail(why)

    def pages(self) -> list[tuple[dict, dict]]:
        """(page, its resources) for each page in order, resources inherited down the tree."""
        r = self.table.resolve
        root = r(self.table.trailer("Root"))
        if not isinstance(root, dict):     # no trailer (cut off before it): the newest catalog
            root = next((o for o in reversed(list(self.table.objects.values()))
                         if isinstance(o, dict) and o.get("Type") == "Catalog"), None)
        if not isinstance(root, dict) or not isinstance(r(root.get("Pages")), dict):
            self.fail("it has no page tree (the file is damaged or truncated)")
        out, seen, stack = [], set(), [(root["Pages"], {}, 0)]
        while stack:
            ref, inherited, depth = stack.pop()
            if isinstance(ref, Ref):
                if ref.num in seen:
                    continue                                  # a cycle, or a page listed twice
                seen.add(ref.num)
            node = r(ref)
            if node is None and isinstance(ref, Ref):         # a page the file no longer holds
                self.fail(f"object {ref.num} of its page tree is missing (the file is damaged or truncated)")
            if not isinstance(node, dict) or depth > 64:
                continue
            res = r(node.get("Resources"))
            res = res if isinstance(res, dict) else inherited
            kids = r(node.get("Kids"))
            if isinstance(kids, list) and node.get("Type") != "Page":
                stack.extend((k, res, depth + 1) for k in reversed(kids))
            else:
                out.append((node, res))
                if len(out) > MAX_PAGES:
                    self.fail(f"it has over {MAX_PAGES:,} pages")
        if not out:
            self.fail("its page tree holds no page (the file is damaged or truncated)")
        return out

    def page_text(self, number: int, page: dict, resources: dict) -> str:
        out = _Page()
        contents = page.get("Contents")
        parts = self.table.resolve(contents)
        parts = parts if isinstance(parts, list) else [contents] if contents is not None else []
        data = []
        for part in parts:
            s = self.table.resolve(part)
            if not isinstance(s, Stream):
                where = f" (object {part.num})" if isinstance(part, Ref) else ""
                self.fail(f"page {number}'s content{where} is missing (the file is damaged or truncated)")
            data.append(decode_stream(s, self.table, self.budget))
        self.run(b"\n".join(data), resources, out, IDENTITY, 0)
        return out.text()

    def font(self, resources: dict, name) -> Font | None:
        r = self.table.resolve
        fonts = r(resources.get("Font")) if isinstance(resources, dict) else None
        ref = fonts.get(name) if isinstance(fonts, dict) else None
        d = r(ref)
        if not isinstance(d, dict):
            return None
        key = ref.num if isinstance(ref, Ref) else id(d)
        if key not in self.fonts:
            self.fonts[key] = Font(self.table, d, self.budget)
        return self.fonts[key]

    def run(self, data: bytes, resources: dict, out: _Page, ctm, depth: int) -> None:
        """Interpret one content stream's text operators (and the forms it draws) into `out`."""
        lex, args = Lexer(data, self.budget), []
        font, size, leading = None, 1.0, 0.0
        tm = tlm = IDENTITY
        saved = []

        def show(s: bytes) -> None:
            if font is None or not isinstance(s, bytes):
                return
            text = font.decode(s)
            if not text and s:
                self.lost += 1
            m = _mul(tm, ctm)
            out.show(text, m[4], m[5], abs(size * m[3]) or abs(size * m[0]) or 1.0)

        def next_line(tx: float, ty: float) -> None:
            nonlocal tm, tlm
            tm = tlm = _mul((1.0, 0.0, 0.0, 1.0, tx, ty), tlm)
            out.moved = True

        while (tok := lex.next()) is not END:
            if not isinstance(tok, Op):
                args.append(tok)
                continue
            if tok in ("[", "<<"):                        # an array or dictionary operand
                args.append(parse_object(lex, tok))
                continue
            op, a = tok, args
            args = []
            if op == "BT":
                tm = tlm = IDENTITY
            elif op == "Tf" and len(a) >= 2:
                font, size = self.font(resources, a[-2]), _num(a[-1], 1.0)
            elif op == "TL" and a:
                leading = _num(a[-1])
            elif op in ("Td", "TD") and len(a) >= 2:
                if op == "TD":
                    leading = -_num(a[-1])
                next_line(_num(a[-2]), _num(a[-1]))
            elif op == "Tm" and len(a) >= 6:
                tm = tlm = tuple(_num(v) for v in a[-6:])
                out.moved = True
            elif op == "T*":
                next_line(0.0, -leading)
                out.newline()
            elif op == "Tj" and a:
                show(a[-1])
            elif op in ("'", '"') and a:
                next_line(0.0, -leading)
                out.newline()
                show(a[-1])
            elif op == "TJ" and a and isinstance(a[-1], list):
                for item in a[-1]:
                    if isinstance(item, bytes):
                        show(item)
                    elif type(item) in (int, float) and item < TJ_SPACE and out.last is not None:
                        out.space()
            elif op == "cm" and len(a) >= 6:
                ctm = _mul(tuple(_num(v) for v in a[-6:]), ctm)
            elif op == "q":
                saved.append(ctm)
                if len(saved) > 1000:
                    saved.pop(0)
            elif op == "Q" and saved:
                ctm = saved.pop()
            elif op == "Do" and a:
                self.draw(resources, a[-1], out, ctm, depth)
            elif op == "ID":                               # inline image data, up to "EI"
                m = _INLINE_END.search(data, lex.pos)
                lex.pos = m.end() if m else len(data)
                self.images += 1

    def draw(self, resources: dict, name, out: _Page, ctm, depth: int) -> None:
        """A Do: a form XObject's content runs with its own resources (a nested one up to
        MAX_FORM_DEPTH); an image is counted (for the message when no text is found)."""
        r = self.table.resolve
        xobjects = r(resources.get("XObject")) if isinstance(resources, dict) else None
        x = r(xobjects.get(name)) if isinstance(xobjects, dict) and isinstance(name, Name) else None
        if not isinstance(x, Stream):
            return
        kind = r(x.dict.get("Subtype"))
        if kind == "Image":
            self.images += 1
        elif kind == "Form" and depth < MAX_FORM_DEPTH:
            res = r(x.dict.get("Resources"))
            matrix = r(x.dict.get("Matrix"))
            if isinstance(matrix, list) and len(matrix) == 6:
                ctm = _mul(tuple(_num(v) for v in matrix), ctm)
            self.run(decode_stream(x, self.table, self.budget), res if isinstance(res, dict) else resources,
                     out, ctm, depth + 1)

    def text(self) -> str:
        if self.table.trailer("Encrypt") is not None:
            self.fail("it is encrypted, and this reader does not decrypt: save or print it as an unencrypted "
                      "PDF, or paste its text")
        pages = self.pages()
        texts = [self.page_text(i + 1, page, res) for i, (page, res) in enumerate(pages)]
        text = unicodedata.normalize("NFC", _CONTROL.sub("", "\n\n".join(t for t in texts if t.strip())))
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        if not text:
            why = (f"{self.images} image(s) and no text layer (a scan? this reader does no OCR)" if self.images
                   else "text only in fonts without a Unicode map" if self.lost else "no text")
            self.fail(f"its {len(pages)} page(s) hold {why}")
        return text


def pdf_text(data: bytes, name: str = "document.pdf", limits: Limits | None = None) -> str:
    """The text of a PDF's pages, in order (module doc); DocumentError naming why it cannot be read."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DocumentError(f"PDF {name!r}: expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_PDF_BYTES:
        raise DocumentError(f"PDF {name!r} is {len(data):,} bytes; the limit is {MAX_PDF_BYTES:,} bytes")
    if b"%PDF-" not in data[:1024]:
        raise DocumentError(f"{name!r} is not a PDF (no %PDF- header at its start)")
    try:
        return _Reader(data, name, limits or Limits()).text()
    except DocumentError:
        raise
    except (RecursionError, MemoryError) as e:
        raise DocumentError(f"PDF {name!r} cannot be read: it is too complex ({type(e).__name__})") from e
    except Exception as e:  # noqa: BLE001 - untrusted input: whatever broke, the user gets a message, not a crash
        raise DocumentError(f"PDF {name!r} cannot be read: it is damaged ({type(e).__name__}: {e})") from e


def is_pdf(data: bytes, name: str = "") -> bool:
    """Whether a file is a PDF: its header (within the first KiB, as readers allow), or its name."""
    return b"%PDF-" in bytes(data[:1024]) or name.lower().endswith(".pdf")


def read_document(source, name: str | None = None) -> tuple[str, str | bytes]:
    """(name, text) of a file to add to a Store: `source` is a path or the file's bytes. A PDF
    becomes its text (pdf_text); any other file stays bytes, for the store to check as UTF-8
    text (DocumentError there for a binary file, an empty one, one too big)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "document"
    else:
        path = os.fspath(source)
        name = name or os.path.basename(path)
        size = os.path.getsize(path)
        if size > MAX_PDF_BYTES:                # refused before it is read
            raise DocumentError(f"document {name!r} is {size:,} bytes; the limit is {MAX_PDF_BYTES:,} bytes")
        with open(path, "rb") as f:
            data = f.read()
    return name, pdf_text(data, name) if is_pdf(data, name) else data
