"""PDF as text (webinfer.rag.pdf): PDFs written by hand in the test (a Flate content stream with a
standard font, a composite font whose ToUnicode CMap maps to non-ASCII text, /Differences glyph
names, object streams, a form XObject), compared with pypdf's extraction (a test dependency,
like fpdf2); and PDFs it cannot read (encrypted, truncated, image-only, not a PDF, a zip bomb, a
page-tree cycle, deep nesting), each a DocumentError naming why, in bounded time; any cut,
overwritten or spliced copy (hypothesis) gives text or a DocumentError, nothing else. And PDFs a real
generator writes (fpdf2: a core font, and an embedded TrueType subset with its ToUnicode map)."""

from __future__ import annotations

import io
import time
import zlib

import fpdf
import pypdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webinfer.errors import DocumentError
from webinfer.rag import Store, pdf_text, read_document
from webinfer.rag.pdf_objects import Limits


def build_pdf(objects: dict[int, bytes], trailer: bytes = b"/Root 1 0 R", header: bytes = b"%PDF-1.7\n") -> bytes:
    """A PDF of these objects (number -> body between "obj" and "endobj") with a correct xref table."""
    out, offsets = bytearray(header + b"%\xe2\xe3\xcf\xd3\n"), {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d " % size + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes, extra: bytes = b"", flate: bool = True) -> bytes:
    if flate:
        data = zlib.compress(data)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pages(*contents: bytes, resources: bytes = b"<< /Font << /F1 4 0 R >> >>") -> dict[int, bytes]:
    """Catalog (1), page tree (2), font F1 (4, Helvetica, WinAnsi), a page per content stream
    (objects 10, 12, ...) with its content (11, 13, ...)."""
    kids = b" ".join(b"%d 0 R" % (10 + 2 * i) for i in range(len(contents)))
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            2: b"<< /Type /Pages /Kids [%s] /Count %d /Resources %s >>" % (kids, len(contents), resources),
            4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"}
    for i, c in enumerate(contents):
        objs[10 + 2 * i] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>" % (11 + 2 * i)
        objs[11 + 2 * i] = stream(c)
    return objs


PAGE1 = (b"BT /F1 12 Tf 72 720 Td (Hello, PDF world!) Tj 0 -14 Td (Caf\\351 cr\\350me \\(br\\373l\\351e\\)) Tj "
         b"14 TL T* [(Word)-250(spacing)20(kern)] TJ ET\n"
         b"BT /F1 12 Tf 1 0 0 1 72 600 Tm (Second block) Tj ET BT /F1 12 Tf 1 0 0 1 200 600 Tm (same line) Tj ET")
PAGE1_TEXT = "Hello, PDF world!\nCafé crème (brûlée)\nWord spacingkern\nSecond block same line"
PAGE2 = b"BT /F1 10 Tf 72 700 Td 12 TL (Page two) Tj (second line) ' ET"

# A composite font (Type0, Identity-H: two-byte codes) whose ToUnicode CMap gives the text.
CMAP = b"""/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Test-UCS def /CMapType 2 def
1 begincodespacerange <0000> <FFFF> endcodespacerange
4 beginbfchar <0001> <005A> <0002> <00FC> <0003> <0072> <0004> <0069> endbfchar
1 beginbfchar <0005> <0063> endbfchar
1 beginbfchar <0006> <0068> endbfchar
2 beginbfrange
<0010> <0012> <65E5>
<0020> <0021> [<00E9> <D83DDE00>]
endbfrange
1 beginbfchar <0030> <0066 0069> endbfchar
endcmap CMapName currentdict /CMap defineresource pop end end"""
CID_TEXT = "Zürich\n日旦旧\né 😀\nfi"


def cid_pdf(cmap: bytes = CMAP) -> bytes:
    show = b"<000100020003000400050006> Tj 0 -20 Td <001000110012> Tj 0 -20 Td [<0020>-300<0021>] Tj " \
           b"0 -20 Td <0030>Tj"
    objs = pages(b"BT /F2 14 Tf 72 700 Td " + show.replace(b"[<0020>-300<0021>] Tj", b"[<0020>-300<0021>] TJ") + b" ET",
                 resources=b"<< /Font << /F2 5 0 R /F1 4 0 R >> >>")
    objs[5] = b"<< /Type /Font /Subtype /Type0 /BaseFont /Test /Encoding /Identity-H /DescendantFonts [6 0 R] " \
              b"/ToUnicode 7 0 R >>"
    objs[6] = b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Test /CIDSystemInfo << /Registry (Adobe) " \
              b"/Ordering (Identity) /Supplement 0 >> >>"
    objs[7] = stream(cmap)
    return build_pdf(objs)


def test_flate_content_with_a_standard_font():
    text = pdf_text(build_pdf(pages(PAGE1, PAGE2)), "hello.pdf")
    assert text == PAGE1_TEXT + "\n\nPage two\nsecond line"


def test_tounicode_cmap_gives_non_ascii_text():
    assert pdf_text(cid_pdf(), "cid.pdf") == CID_TEXT
    # the map's tokens, not its lines, count: all of it on one line reads the same
    assert pdf_text(cid_pdf(b" ".join(CMAP.split()))) == CID_TEXT


def test_differences_and_standard_encoding():
    objs = pages(b"BT /F3 12 Tf 72 700 Td (\\001\\002 \\003) Tj 0 -14 Td (it`s) Tj ET",
                 resources=b"<< /Font << /F3 5 0 R >> >>")
    objs[5] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding << /Type /Encoding " \
              b"/Differences [1 /eacute /uni4E2D /Euro] >> >>"
    assert pdf_text(build_pdf(objs)) == "é中 €\nit‘s"


def test_object_streams_and_a_form_xobject():
    """PDF 1.5 packing: the page tree and font inside a compressed object stream (no xref table:
    the scan finds them), and the text drawn by a form XObject the page calls with Do."""
    packed = {2: b"<< /Type /Pages /Kids [10 0 R] /Count 1 >>",
              4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
              10: b"<< /Type /Page /Parent 2 0 R /Contents 11 0 R /Resources << /XObject << /X1 12 0 R >> >> >>"}
    head, body = b"", b""
    for num, obj in packed.items():
        head += b"%d %d " % (num, len(body))
        body += obj + b"\n"
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            3: stream(head + body, b" /Type /ObjStm /N 3 /First %d" % len(head)),
            11: stream(b"q 1 0 0 1 0 0 cm /X1 Do Q"),
            12: stream(b"BT /F1 9 Tf 50 50 Td (Inside a form) Tj ET",
                       b" /Type /XObject /Subtype /Form /BBox [0 0 500 500] /Resources << /Font << /F1 4 0 R >> >>")}
    assert pdf_text(build_pdf(objs)) == "Inside a form"


def test_same_text_as_pypdf():
    for data in (build_pdf(pages(PAGE1, PAGE2)), cid_pdf()):
        theirs = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
        ours = pdf_text(data)
        assert ours.split() == theirs.split() or "".join(ours.split()) == "".join(theirs.split()), (ours, theirs)


def test_pypdf_written_files_read_the_same():
    """A file pypdf rewrote (its own object layout, compressed object streams) reads as the original."""
    w = pypdf.PdfWriter()
    w.append(pypdf.PdfReader(io.BytesIO(cid_pdf())))
    w.compress_identical_objects()
    buf = io.BytesIO()
    w.write(buf)
    assert pdf_text(buf.getvalue()) == pdf_text(cid_pdf())


def test_fpdf2_files_read_as_pypdf_reads_them():
    """fpdf2's output: text laid out in lines by multi_cell (a core font, WinAnsi) and an embedded
    DejaVu Sans subset (two-byte codes and a ToUnicode map) with Greek, Cyrillic and typographic marks."""
    pdf = fpdf.FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "The lighthouse keeper on Skerry Island is named Oswin Tamberlake. " * 4)
    pdf.cell(0, 8, "Café crème (brûlée)")
    pdf.add_page()
    pdf.add_font("dejavu", fname="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")   # tools/sysdeps.sh
    pdf.set_font("dejavu", size=12)
    pdf.multi_cell(0, 8, "Zürich, Ελληνικά — Кириллица, “file” office, 日本 is not in this font. " * 3)
    data = bytes(pdf.output())
    ours = pdf_text(data)
    theirs = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert ours.split() == theirs.split(), (ours, theirs)
    assert ours.startswith("The lighthouse keeper on Skerry Island is named Oswin Tamberlake. The")
    assert "Café crème (brûlée)\n\nZürich," in ours and "Ελληνικά — Кириллица, “file” office" in ours


def assert_refused(data: bytes, *words: str, limits=None) -> str:
    t0 = time.perf_counter()
    with pytest.raises(DocumentError) as e:
        pdf_text(data, "bad.pdf", limits)
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert all(w in msg for w in words), msg
    return msg


def test_encrypted_is_refused():
    objs = pages(PAGE1)
    objs[20] = b"<< /Filter /Standard /V 2 /R 3 /Length 128 /O <00> /U <00> /P -4 >>"
    assert_refused(build_pdf(objs, b"/Root 1 0 R /Encrypt 20 0 R /ID [<01> <01>]"), "'bad.pdf'", "encrypted")


def test_pypdf_encrypted_is_refused():
    w = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(build_pdf(pages(PAGE1)))))
    w.encrypt("", "owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    assert_refused(buf.getvalue(), "encrypted")


def test_truncated_is_refused():
    data = build_pdf(pages(PAGE1, PAGE2))
    cut = data.index(b"11 0 obj") + 20                 # inside page 1's content stream's object
    assert_refused(data[:cut], "damaged or truncated")
    assert_refused(data[:data.index(b"12 0 obj")], "object 12 of its page tree is missing")   # page 2's object
    # cut after the objects, before the xref table and trailer: everything is still there
    assert pdf_text(data[:data.index(b"xref")]) == pdf_text(data)


def test_unreadable_files_name_why():
    assert_refused(b"\x89PNG\r\n\x1a\n" + bytes(100), "not a PDF")
    assert_refused(b"%PDF-1.4\n" + bytes(range(256)) * 20, "no page tree")
    image = pages(b"q 100 0 0 100 0 0 cm /Im1 Do Q", resources=b"<< /XObject << /Im1 5 0 R >> >>")
    image[5] = stream(b"\xff" * 30, b" /Type /XObject /Subtype /Image /Width 10 /Height 1 /ColorSpace "
                                   b"/DeviceRGB /BitsPerComponent 8")
    assert_refused(build_pdf(image), "1 image(s) and no text layer", "OCR")
    nomap = pages(b"BT /F2 12 Tf (\\000\\001) Tj ET", resources=b"<< /Font << /F2 5 0 R >> >>")
    nomap[5] = b"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [] >>"
    assert_refused(build_pdf(nomap), "fonts without a Unicode map")
    dct = pages(b"")
    dct[11] = stream(b"x", b" /Filter /DCTDecode", flate=False)
    assert_refused(build_pdf(dct), "DCTDecode filter")


def test_hostile_files_are_bounded():
    bomb = pages(b"")
    bomb[11] = stream(bytes(3 << 20))                  # 3 MiB of zeros in 3 KB, against a 2 MiB limit
    assert_refused(build_pdf(bomb), "decompresses to over 2 MiB", limits=Limits(stream_bytes=2 << 20))
    cycle = pages(PAGE1)
    cycle[2] = b"<< /Type /Pages /Kids [2 0 R 10 0 R 2 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >>"
    assert pdf_text(build_pdf(cycle)) == PAGE1_TEXT     # the loop is walked once
    deep = pages(b"BT /F1 12 Tf " + b"[" * 100_000 + b" ET")
    assert_refused(build_pdf(deep), "nested over 64 deep")
    many = pages(b"BT /F1 12 Tf " + b"(x) Tj " * 30_000 + b"ET")
    assert_refused(build_pdf(many), "tokens", limits=Limits(tokens=50_000))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_files_give_text_or_a_documenterror(data):
    """Any file cut, overwritten or spliced from the ones above: text or a DocumentError, never
    another exception, and quickly."""
    base = data.draw(st.sampled_from([build_pdf(pages(PAGE1, PAGE2)), cid_pdf()]))
    at = data.draw(st.integers(0, len(base) - 1))
    how = data.draw(st.sampled_from(["cut", "bytes", "splice"]))
    if how == "cut":
        bad = base[:at]
    elif how == "bytes":
        bad = base[:at] + data.draw(st.binary(min_size=1, max_size=16)) + base[at + 16:]
    else:
        other = data.draw(st.integers(0, len(base) - 1))
        bad = base[:at] + base[other:]
    t0 = time.perf_counter()
    try:
        assert isinstance(pdf_text(bad), str)
    except DocumentError:
        pass
    assert time.perf_counter() - t0 < 5


def test_read_document_and_the_store(tmp_path):
    path = tmp_path / "notes.pdf"
    path.write_bytes(cid_pdf())
    name, text = read_document(path)
    assert (name, text) == ("notes.pdf", pdf_text(cid_pdf()))
    (tmp_path / "a.txt").write_bytes(b"plain")
    assert read_document(tmp_path / "a.txt") == ("a.txt", b"plain")
    with pytest.raises(DocumentError, match="'fake.pdf' is not a PDF"):
        read_document(b"hello", "fake.pdf")
    store = Store.open(":memory:")
    doc = store.add(*read_document(path), embed=lambda texts: [[1.0, 0.0]] * len(texts))
    assert store.document_text(doc) == text
