"""How a PDF font's character codes become Unicode text, for pdf.py.

Three sources, in the order PDF readers use them: the font's ToUnicode CMap (bfchar and bfrange
entries, code lengths from its codespace ranges), else for a simple font its /Encoding (the
WinAnsi, Standard or MacRoman table, with /Differences given as glyph names), else nothing (a
composite font with no ToUnicode map has codes that mean glyphs, not characters: its text is
lost, and pdf.py says so if that leaves the document empty).

What it is not: a font renderer; glyph widths are not read, so pdf.py places spaces from the
text operators alone.
"""

from __future__ import annotations

import unicodedata

from ..errors import DocumentError
from .pdf_filters import decode_stream
from .pdf_objects import END, Budget, Lexer, Name, ObjectTable, Op, Stream

MAX_RANGE = 1 << 16          # codes one bfrange may map (a CMap is at most 4-byte codes)


def _table(codec: str) -> list[str]:
    out = []
    for b in range(256):
        try:
            c = bytes([b]).decode(codec)
        except UnicodeDecodeError:
            c = ""
        out.append(c if b >= 0x20 or c in "\t\n\r" else "")
    return out


WIN_ANSI = _table("cp1252")
MAC_ROMAN = _table("mac_roman")
_STANDARD_HIGH = dict(zip(
    [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF, 0xB1, 0xB2, 0xB3,
     0xB4, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBF, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8,
     0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xD0, 0xE1, 0xE3, 0xE8, 0xE9, 0xEA, 0xEB, 0xF1, 0xF5, 0xF8, 0xF9, 0xFA, 0xFB],
    "¡¢£⁄¥ƒ§¤'“«‹›ﬁﬂ–†‡·¶•‚„”»…‰¿`´ˆ˜¯˘˙¨˚¸˝˛ˇ—ÆªŁØŒºæıłøœß"))
STANDARD = [chr(b) if 0x20 <= b < 0x7F else _STANDARD_HIGH.get(b, "") for b in range(256)]
STANDARD[0x27], STANDARD[0x60] = "’", "‘"
BASE_ENCODINGS = {"WinAnsiEncoding": WIN_ANSI, "StandardEncoding": STANDARD, "MacRomanEncoding": MAC_ROMAN,
                  "PDFDocEncoding": WIN_ANSI}

# Glyph names (the Adobe Glyph List's common part) that /Differences arrays use; single letters
# and digits' names are read by rule (glyph_text), "uniXXXX" and "uXXXX" too.
GLYPHS = dict(zip(
    ("space exclam quotedbl numbersign dollar percent ampersand quotesingle parenleft parenright asterisk plus "
     "comma hyphen period slash colon semicolon less equal greater question at bracketleft backslash "
     "bracketright asciicircum underscore grave braceleft bar braceright asciitilde quoteleft quoteright "
     "quotedblleft quotedblright quotesinglbase quotedblbase endash emdash bullet ellipsis dagger daggerdbl "
     "periodcentered guillemotleft guillemotright guilsinglleft guilsinglright exclamdown questiondown sterling "
     "yen cent currency Euro copyright registered trademark degree section paragraph minus multiply divide "
     "germandbls ae AE oe OE oslash Oslash dotlessi lslash Lslash eth Eth thorn Thorn nbspace sfthyphen "
     "fi fl ff ffi ffl perthousand florin fraction mu plusminus onehalf onequarter threequarters").split(),
    [" ", "!", '"', "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "?",
     "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~", "‘", "’", "“", "”", "‚", "„", "–", "—", "•", "…",
     "†", "‡", "·", "«", "»", "‹", "›", "¡", "¿", "£", "¥", "¢", "¤", "€", "©", "®", "™", "°", "§", "¶", "−", "×",
     "÷", "ß", "æ", "Æ", "œ", "Œ", "ø", "Ø", "ı", "ł", "Ł", "ð", "Ð", "þ", "Þ", " ", "-", "fi", "fl", "ff", "ffi",
     "ffl", "‰", "ƒ", "⁄", "µ", "±", "½", "¼", "¾"]))
DIGITS = "zero one two three four five six seven eight nine".split()
ACCENTS = {"acute": "\u0301", "grave": "\u0300", "circumflex": "\u0302", "dieresis": "\u0308", "tilde": "\u0303",
           "ring": "\u030a", "cedilla": "\u0327", "caron": "\u030c", "macron": "\u0304", "breve": "\u0306",
           "ogonek": "\u0328", "dotaccent": "\u0307", "hungarumlaut": "\u030b"}
# Ligature characters a ToUnicode map or an encoding may give: spelled out, so a search for
# "find" matches the text "ﬁnd" and the store holds what a reader sees.
LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})


def glyph_text(name: str) -> str:
    """The text of a glyph name ("eacute" -> "é", "uni4E2D" -> "中", "A" -> "A"); "" if unknown."""
    base = name.split(".")[0].split("_")[0]
    if len(base) == 1 and base.isascii() and base.isalpha():
        return base
    if base in GLYPHS:
        return GLYPHS[base]
    if base in DIGITS:
        return str(DIGITS.index(base))
    for prefix, width in (("uni", 4), ("u", 0)):
        hexes = base[len(prefix):]
        if base.startswith(prefix) and hexes and all(c in "0123456789ABCDEFabcdef" for c in hexes):
            if width and len(hexes) % width == 0:
                return "".join(_char(int(hexes[i:i + 4], 16)) for i in range(0, len(hexes), 4))
            if not width and 4 <= len(hexes) <= 6:
                return _char(int(hexes, 16))
    if len(base) > 1 and base[0].isalpha() and base[1:] in ACCENTS:
        return unicodedata.normalize("NFC", base[0] + ACCENTS[base[1:]])
    return ""


def _char(cp: int) -> str:
    return chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else ""


def _utf16(b: bytes) -> str:
    return b.decode("utf-16-be", errors="replace") if len(b) % 2 == 0 else b.decode("latin-1")


class Font:
    """One font's decoder: decode(bytes) -> str."""

    def __init__(self, table: ObjectTable, d: dict, budget: Budget):
        r = table.resolve
        self.composite = r(d.get("Subtype")) == "Type0"
        self.cmap: dict[bytes, str] = {}
        self.code_ranges: list[tuple[int, bytes, bytes]] = []      # (length, lo, hi) from codespacerange
        tu = r(d.get("ToUnicode"))
        if isinstance(tu, Stream):
            try:
                self._read_cmap(decode_stream(tu, table, budget), budget)
            except DocumentError:       # a map this reader cannot decode: the encoding instead
                if budget.spent():
                    raise                                            # out of budget: the whole file stops
                self.cmap = {}
        self.encoding = None if self.composite else self._encoding(table, r(d.get("Encoding")), r(d.get("Subtype")))
        if not self.code_ranges:
            n = 2 if self.composite else 1
            self.code_ranges = [(n, b"\x00" * n, b"\xff" * n)]
        self.lengths = sorted({n for n, _, _ in self.code_ranges})

    @staticmethod
    def _encoding(table: ObjectTable, enc, subtype) -> list[str]:
        base = WIN_ANSI if subtype == "TrueType" else STANDARD
        if isinstance(enc, Name):
            return BASE_ENCODINGS.get(enc, base)
        if not isinstance(enc, dict):
            return base
        out = list(BASE_ENCODINGS.get(table.resolve(enc.get("BaseEncoding")), base))
        code = 0
        for item in table.resolve(enc.get("Differences")) or []:
            if type(item) is int:
                code = item
            elif isinstance(item, Name) and 0 <= code < 256:
                out[code] = glyph_text(item)
                code += 1
        return out

    def _read_cmap(self, data: bytes, budget: Budget) -> None:
        lex, stack = Lexer(data, budget), []
        while (tok := lex.next()) is not END:
            if not isinstance(tok, Op):
                stack.append(tok)
                continue
            if tok == "[":
                arr = []
                while (t := lex.next()) not in (END, "]"):
                    arr.append(t)
                stack.append(arr)
            elif tok == "endcodespacerange":
                for lo, hi in zip(stack[0::2], stack[1::2]):
                    if isinstance(lo, bytes) and isinstance(hi, bytes) and len(lo) == len(hi) and 1 <= len(lo) <= 4:
                        self.code_ranges.append((len(lo), lo, hi))
            elif tok == "endbfchar":
                for src, dst in zip(stack[0::2], stack[1::2]):
                    if isinstance(src, bytes) and isinstance(dst, bytes):
                        self.cmap[src] = _utf16(dst)
                    elif isinstance(src, bytes) and isinstance(dst, Name):
                        self.cmap[src] = glyph_text(dst)
            elif tok == "endbfrange":
                for lo, hi, dst in zip(stack[0::3], stack[1::3], stack[2::3]):
                    self._bfrange(lo, hi, dst)
            if tok.startswith("end") or tok.startswith("begin"):
                stack = []

    def _bfrange(self, lo, hi, dst) -> None:
        if not (isinstance(lo, bytes) and isinstance(hi, bytes) and len(lo) == len(hi) and lo):
            return
        a, b = int.from_bytes(lo, "big"), int.from_bytes(hi, "big")
        if not 0 <= b - a < MAX_RANGE:
            return
        n = len(lo)
        for i in range(b - a + 1):
            code = (a + i).to_bytes(n, "big")
            if isinstance(dst, list):
                if i < len(dst) and isinstance(dst[i], bytes):
                    self.cmap[code] = _utf16(dst[i])
            elif isinstance(dst, bytes) and dst:
                # the destination's last UTF-16 unit counts up with the code
                last = int.from_bytes(dst[-2:], "big") + i if len(dst) >= 2 else dst[-1] + i
                self.cmap[code] = _utf16(dst[:-2] + (last & 0xFFFF).to_bytes(2, "big")) if len(dst) >= 2 else chr(last)

    def _code_length(self, s: bytes, pos: int) -> int:
        for n in self.lengths:
            code = s[pos:pos + n]
            if len(code) == n and any(k == n and lo <= code <= hi for k, lo, hi in self.code_ranges):
                return n
        return self.lengths[0]

    def decode(self, s: bytes) -> str:
        out, pos = [], 0
        single = self.lengths == [1]
        while pos < len(s):
            n = 1 if single else self._code_length(s, pos)
            code = s[pos:pos + n]
            pos += n
            text = self.cmap.get(code)
            if text is None and self.encoding is not None and n == 1:
                text = self.encoding[code[0]]
            out.append(text or "")
        return "".join(out).translate(LIGATURES)
