"""PDF stream filters, for pdf_objects.py: FlateDecode (zlib), LZWDecode, ASCIIHexDecode and
ASCII85Decode, with the PNG and TIFF predictors, each bounded by the file's Budget (a zip bomb
stops at Limits.stream_bytes). What it is not: the image codecs (DCT, JPX, JBIG2, CCITT): a
stream that needs one is a DocumentError naming the filter.

`s` is a pdf_objects.Stream (its .dict and .raw), `table` the ObjectTable (for .resolve), `budget`
the file's Budget; duck-typed, so this module imports nothing of the others.
"""

from __future__ import annotations

import base64
import re
import zlib


def decode_stream(s, table, budget) -> bytes:
    """A stream's data with its filters undone; DocumentError for a filter this reader lacks
    (the image codecs: DCT, JPX, JBIG2, CCITT) or data over Limits.stream_bytes."""
    filters = table.resolve(s.dict.get("Filter"))
    parms = table.resolve(s.dict.get("DecodeParms"))
    filters = [] if filters is None else filters if isinstance(filters, list) else [filters]
    parms = parms if isinstance(parms, list) else [parms] * len(filters)
    data = s.raw
    for i, f in enumerate(filters):
        f = table.resolve(f)
        p = table.resolve(parms[i]) if i < len(parms) else None
        if f in ("FlateDecode", "Fl"):
            data = _predict(_inflate(data, budget), p if isinstance(p, dict) else {}, table, budget)
        elif f in ("LZWDecode", "LZW"):
            p = p if isinstance(p, dict) else {}
            data = _predict(_lzw(data, budget, table.resolve(p.get("EarlyChange", 1)) != 0), p, table, budget)
        elif f in ("ASCIIHexDecode", "AHx"):
            hexes = re.sub(rb"[^0-9A-Fa-f]", b"", data.split(b">")[0])
            data = bytes.fromhex((hexes + b"0" if len(hexes) % 2 else hexes).decode())
        elif f in ("ASCII85Decode", "A85"):
            data = _ascii85(data, budget)
        else:
            budget.fail(f"a stream uses the {f} filter, which this reader does not decode")
    budget.spend_bytes(len(data))
    return data


def _inflate(data: bytes, budget) -> bytes:
    """zlib, at most Limits.stream_bytes out (a zip bomb stops there); a damaged stream gives what
    decompressed before the damage, as PDF readers do."""
    limit = budget.limits.stream_bytes
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error:
        d, out = zlib.decompressobj(), bytearray()
        for i in range(0, len(data), 1024):           # the part before the damage
            try:
                out += d.decompress(data[i:i + 1024], limit + 1 - len(out))
            except zlib.error:
                break
        out = bytes(out)
    if len(out) > limit:
        budget.fail(f"a stream decompresses to over {limit >> 20} MiB")
    return out


def _lzw(data: bytes, budget, early: bool) -> bytes:
    limit, out = budget.limits.stream_bytes, bytearray()
    table, width, bits, nbits, prev = [bytes([i]) for i in range(256)] + [b"", b""], 9, 0, 0, None
    for byte in data:
        bits, nbits = (bits << 8) | byte, nbits + 8
        while nbits >= width:
            nbits -= width
            code = (bits >> nbits) & ((1 << width) - 1)
            if code == 256:                                  # clear
                table, width, prev = table[:258], 9, None
                continue
            if code == 257:                                  # end of data
                return bytes(out)
            if code < len(table):
                entry = table[code]
                if prev is not None:
                    table.append(prev + entry[:1])
            elif prev is not None and code == len(table):
                entry = prev + prev[:1]
                table.append(entry)
            else:
                return bytes(out)                            # damaged: what came before
            out += entry
            if len(out) > limit:
                budget.fail(f"a stream decompresses to over {limit >> 20} MiB")
            prev = entry
            if len(table) + early >= (1 << width) and width < 12:
                width += 1
    return bytes(out)


def _ascii85(data: bytes, budget) -> bytes:
    body = data.split(b"~>")[0].strip()
    body = body[2:] if body.startswith(b"<~") else body
    try:
        return base64.a85decode(re.sub(rb"\s", b"", body))
    except ValueError as e:
        budget.fail(f"a damaged ASCII85 stream ({e})")


def _predict(data: bytes, p: dict, table, budget) -> bytes:
    """Undo a PNG (10-15) or TIFF (2, 8-bit) predictor, by rows of Columns x Colors x BPC bits."""
    pred = table.resolve(p.get("Predictor", 1))
    if pred in (None, 1):
        return data
    colors, bpc = table.resolve(p.get("Colors", 1)), table.resolve(p.get("BitsPerComponent", 8))
    cols = table.resolve(p.get("Columns", 1))
    if not all(type(v) is int and 0 < v <= 1 << 16 for v in (colors, bpc, cols)):
        budget.fail(f"bad predictor parameters {p}")
    bpp = max(1, colors * bpc // 8)
    row = (colors * bpc * cols + 7) // 8
    out = bytearray()
    if pred == 2:
        for i in range(0, len(data), row):
            r = bytearray(data[i:i + row])
            for j in range(bpp, len(r)):
                r[j] = (r[j] + r[j - bpp]) & 0xFF
            out += r
        return bytes(out)
    prev = bytearray(row)
    for i in range(0, len(data) - row, row + 1):
        kind, r = data[i], bytearray(data[i + 1:i + 1 + row])
        for j in range(len(r)):
            left = r[j - bpp] if j >= bpp else 0
            up, ul = prev[j], (prev[j - bpp] if j >= bpp else 0)
            if kind == 1:
                r[j] = (r[j] + left) & 0xFF
            elif kind == 2:
                r[j] = (r[j] + up) & 0xFF
            elif kind == 3:
                r[j] = (r[j] + (left + up) // 2) & 0xFF
            elif kind == 4:
                pa, pb, pc = abs(up - ul), abs(left - ul), abs(left + up - 2 * ul)
                r[j] = (r[j] + (left if pa <= pb and pa <= pc else up if pb <= pc else ul)) & 0xFF
        out += r
        prev = r
    return bytes(out)
