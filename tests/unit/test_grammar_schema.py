"""JSON Schema -> GBNF: the grammar accepts documents the schema accepts and rejects ones it
refuses (checked against `jsonschema`), and unsupported keywords are refused by name."""

from __future__ import annotations

import json

import jsonschema
import pytest

from grammar_schemas import ADDRESS, NESTED_ENUMS, PRODUCT, TREE, UNICODE

from webinfer import GrammarError
from webinfer.grammar import Matcher, parse_gbnf, response_format_gbnf, schema_to_gbnf
from webinfer.grammar.json_schema import int_range


DOCS = {
    "product": (PRODUCT, ['{"name": "Lamp", "price": 12.5}', '{"name":"x","price":0,"stock":7,"tags":["a","b"],"on_sale":true}'],
                ['{"price": 1}', '{"name": "", "price": 1}', '{"name":"x","price":-1}', '{"name":"x","price":1,"stock":10001}',
                 '{"name":"x","price":1,"tags":["1","2","3","4","5"]}']),
    "address": (ADDRESS, ['{"street": "1 Rue", "city": "Paris", "country": "FR"}',
                          '{"street":"a","city":"b","zip":"75001","country":"JP","unit":null}'],
                ['{"street":"a","city":"b","country":"UK"}', '{"street":"a","city":"b","country":"FR","extra":1}']),
    "nested": (NESTED_ENUMS, ['{"grid": [["red", "blue"], ["green", "green"]]}'],
               ['{"grid": []}', '{"grid": [["red"]]}', '{"grid": [["red", "pink"]]}']),
    "unicode": (UNICODE, ['{"greeting": "h\u00e9llo \u4e16\u754c", "word": "\u00e9t\u00e9"}'],
                ['{"greeting": "hello", "word": "a"}', '{"greeting": "h\u00e9llo \u4e16\u754c", "word": "\u00e9t\u00e9s"}']),
    "tree": (TREE, ['{"v": 1, "kids": [{"v": -5}, {"v": 5, "kids": []}]}'], ['{"v": 6}', '{"kids": []}']),
}


def accepts(gbnf: str, text: str) -> bool:
    m = Matcher(parse_gbnf(gbnf))
    data = text.encode()
    return m.accepts(data) and (m.advance(data) or m.is_complete())


@pytest.mark.parametrize("name", sorted(DOCS))
def test_real_world_schemas(name):
    schema, good, bad = DOCS[name]
    g = schema_to_gbnf(schema)
    for text in good:
        jsonschema.validate(json.loads(text), schema)
        assert accepts(g, text), text
    for text in bad:
        assert not accepts(g, text), text


def test_json_object_mode():
    g = response_format_gbnf({"type": "json_object"})
    assert accepts(g, '{"a": [1, {"b": "\\u00e9"}]}')
    assert not accepts(g, "[1]") and not accepts(g, '"x"')
    assert response_format_gbnf({"type": "text"}) is None


def test_whitespace_is_bounded():
    g = parse_gbnf(response_format_gbnf({"type": "json_object"}))
    m = Matcher(g)
    m.advance(b"{\n" + b" " * 20)
    assert not m.accepts(b" ")        # 21 blanks after a newline: refused
    assert m.accepts(b'"k"  ') is False   # and never two spaces in a row outside a newline


@pytest.mark.parametrize("lo, hi", [(0, 0), (5, 123), (-50, 7), (-20, -3), (None, 5), (17, None), (None, -4), (-3, None)])
def test_integer_ranges_are_exact(lo, hi):
    g = "root ::= " + " | ".join(int_range(lo, hi))
    a = Matcher(parse_gbnf(g)).automaton
    for v in list(range(-130, 130)) + ["01", "-0", "00"]:
        s = a.run(a.start, str(v).encode())
        ok = isinstance(v, int) and (lo is None or v >= lo) and (hi is None or v <= hi)
        assert (s != -1 and a.complete[s]) == ok, v


@pytest.mark.parametrize("schema, word", [
    ({"type": "string", "pattern": "a+"}, "only anchored patterns"),
    ({"type": "string", "pattern": "^a(?=b)$"}, "lookarounds"),
    ({"type": "string", "pattern": "^(a)\\1$"}, "escape \\\\1"),
    ({"type": "string", "pattern": "^a+$", "maxLength": 3}, "pattern together with"),
    ({"type": "string", "format": "date"}, "'format'"),
    ({"allOf": [{"type": "string"}]}, "'allOf'"),
    ({"oneOf": [{"type": "string"}]}, "'oneOf'"),
    ({"type": "object", "properties": {"a": {"type": "number", "maximum": 3}}}, "'maximum' on a number at #/properties/a"),
    ({"type": "array", "prefixItems": [{"type": "string"}]}, "'prefixItems'"),
    ({"type": "object", "patternProperties": {}}, "'patternProperties'"),
    ({"$ref": "https://example.com/s.json"}, "only '#/\\$defs/NAME'"),
    ({"type": "object", "properties": {}, "required": ["a"]}, "required property 'a'"),
    ({"type": "integer", "minimum": 5, "maximum": 2}, "no integer"),
])
def test_unsupported_keywords_are_refused_by_name(schema, word):
    with pytest.raises(GrammarError, match=word):
        schema_to_gbnf(schema)


def test_bad_response_format():
    with pytest.raises(GrammarError, match="needs"):
        response_format_gbnf({"type": "json_schema"})
    with pytest.raises(GrammarError, match="not one of"):
        response_format_gbnf({"type": "yaml"})
