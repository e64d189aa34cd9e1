"""GBNF parsing and the byte-level matcher: llama.cpp's example grammars accept what they should
and reject the rest; character classes match code points as UTF-8 bytes, so input split in the
middle of a character works; bad grammars fail naming the line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webinfer import GrammarError
from webinfer.grammar import Matcher, parse_gbnf
from webinfer.grammar.utf8 import encode, normalize, utf8_sequences

GRAMMARS = Path(__file__).resolve().parents[1] / "data" / "grammars"


def whole(grammar, data: bytes) -> bool:
    m = Matcher(grammar)
    return m.accepts(data) and (m.advance(data) or m.is_complete())


@pytest.fixture(scope="module")
def examples():
    return {p.stem: parse_gbnf(p.read_text()) for p in GRAMMARS.glob("*.gbnf")}


def test_arithmetic(examples):
    g = examples["arithmetic"]
    assert whole(g, b"(a +12) *b= 5\n1/x=y\n")
    assert not whole(g, b"1+2=3")          # the line must end in a newline
    assert not whole(g, b"1++2=3\n")
    assert not Matcher(g).accepts(b"A")


def test_list(examples):
    g = examples["list"]
    assert whole(g, "- eggs\n- caf\u00e9 \u2603\n".encode())
    assert not whole(g, b"- \n")              # an item needs at least one character
    assert not Matcher(g).accepts("- a\u2028".encode())   # a line separator is excluded
    assert not Matcher(g).accepts(b"- a\x85")  # a raw 0x85 byte is not UTF-8 at all


@pytest.mark.parametrize("doc", [{"a": [1, -2.5e3, "x\u00e9\n", {"b": None}], "c": True}, {}, {"k": []}])
def test_json_accepts_json(examples, doc):
    assert whole(examples["json"], json.dumps(doc, indent=2).encode())
    assert whole(examples["json"], json.dumps(doc, ensure_ascii=False).encode())


@pytest.mark.parametrize("text", ['{"a": }', '{"a" 1}', "[1]", '{"a": 01}', '{"a": "\x01"}', '{"a": tru}'])
def test_json_rejects_non_json(examples, text):
    assert not whole(examples["json"], text.encode())


def test_a_character_split_over_inputs():
    # only "é" followed by a Greek letter: a token ending mid-character must still be taken
    g = parse_gbnf('root ::= "\\u00e9" [\u03b1-\u03c9] "!"')
    data = "\u00e9\u03b2!".encode()
    for cut in range(1, len(data)):
        m = Matcher(g)
        m.advance(data[:cut])
        assert not m.is_complete()
        m.advance(data[cut:])
        assert m.is_complete() and m.is_finished()
    m = Matcher(g)
    m.advance(data[:1])                       # the first byte of "é"
    assert not m.accepts(b"\xa8")             # 0xC3 0xA8 is "è"
    assert m.accepts(b"\xa9\xce")             # "é" and the first byte of a Greek letter
    assert not m.accepts(b"\xa9\xcf\x8a")     # U+03CA is past omega


def test_repetition_bounds_and_min_bytes():
    g = parse_gbnf('root ::= "a"{2,4} [0-9]? "z"')
    assert [whole(g, b) for b in (b"az", b"aaz", b"aaaa5z", b"aaaaaz")] == [False, True, True, False]
    assert Matcher(g).min_bytes_to_complete() == 3


@pytest.mark.parametrize("text, where", [
    ('root ::= "a', "line 1, column 12"),
    ("root ::= x\n", "line 1, column 10"),
    ('root ::= "a"\nb ::= [z-a]\n', "line 2, column 7"),
    ('root ::= ("a"\n', "line 2, column 1"),
    ('root ::= "\\q"', "line 1, column 11"),
    ('root ::= "a"{3,1}', "line 1, column 13"),
])
def test_bad_grammars_name_line_and_column(text, where):
    with pytest.raises(GrammarError, match=where):
        parse_gbnf(text)


@pytest.mark.parametrize("text, msg", [('root ::= root "a"', "left-recursive"), ('a ::= "x"', "no 'root' rule"),
                                       ('root ::= "a"\nroot ::= "b"', "defined twice")])
def test_bad_grammars(text, msg):
    with pytest.raises(GrammarError, match=msg):
        parse_gbnf(text)


def test_utf8_sequences_match_exactly_their_range():
    for lo, hi in [(0x41, 0x3B1), (0x7F0, 0x10400), (0xFFF0, 0x10FFFF), (0xD000, 0xE100)]:
        for a, b in normalize([(lo, hi)]):
            seqs = utf8_sequences(a, b)
            for cp in range(max(0, a - 300), min(0x10FFFF, b + 300), 37):
                if 0xD800 <= cp <= 0xDFFF:
                    continue
                e = encode(cp)
                hit = any(len(s) == len(e) and all(x <= c <= y for c, (x, y) in zip(e, s)) for s in seqs)
                assert hit == (a <= cp <= b), hex(cp)
