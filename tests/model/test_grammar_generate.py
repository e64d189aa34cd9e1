"""Constrained generation with the real model (numpy device): every output under a schema parses
and validates with `jsonschema`, greedy and at temperature 1 with seeds; a GBNF grammar is
obeyed; a max_tokens cut still ends in a complete value; the CLI's --json-schema; clear errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from grammar_schemas import ADDRESS, NESTED_ENUMS, PRODUCT, UNICODE

from webinfer import GrammarError, WebinferError
from webinfer.grammar import Matcher, make_constraint, parse_gbnf

ASK = [{"role": "user", "content": "Describe a small red book as JSON."}]


def rf(schema):
    return {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}


def budget(model, schema, extra=6):
    need = make_constraint(model.tokenizer, set(), response_format=rf(schema)).min_bytes
    return int(math.ceil(need)) + extra


def check(model, schema, **kw):
    r = model.create_chat_completion(ASK, response_format=rf(schema), **kw)
    text = r["choices"][0]["message"]["content"]
    jsonschema.validate(json.loads(text), schema)
    assert r["choices"][0]["finish_reason"] in ("stop", "length")
    return r


names = st.text("abcdefgh", min_size=1, max_size=3)
leaf = st.one_of(
    st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.tuples(st.integers(-30, 30), st.integers(0, 40)).map(
        lambda t: {"type": "integer", "minimum": t[0], "maximum": t[0] + t[1]}),
    st.integers(0, 4).map(lambda n: {"type": "string", "maxLength": n}),
    st.lists(st.sampled_from(["x", "yes", "no", "\u00e9t\u00e9"]), min_size=1, max_size=3, unique=True).map(
        lambda v: {"enum": v}),
)


def objects(children):
    return st.dictionaries(names, children, min_size=1, max_size=3).flatmap(
        lambda props: st.lists(st.sampled_from(sorted(props)), unique=True).map(
            lambda req: {"type": "object", "properties": props, "required": req}))


schemas = st.recursive(leaf, lambda c: st.one_of(
    objects(c), st.tuples(c, st.integers(0, 2)).map(lambda t: {"type": "array", "items": t[0], "maxItems": t[1]})),
    max_leaves=4)


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(schema=objects(schemas))
def test_generated_schemas_validate(numpy_model, schema):
    n = budget(numpy_model, schema)
    check(numpy_model, schema, max_tokens=n, temperature=0)
    check(numpy_model, schema, max_tokens=n, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=11)


@pytest.mark.parametrize("schema, kw", [(PRODUCT, dict(temperature=0)), (ADDRESS, dict(temperature=1.0, seed=3)),
                                        (NESTED_ENUMS, dict(temperature=1.0, seed=4)), (UNICODE, dict(temperature=0))],
                         ids=["product", "address", "nested", "unicode"])
def test_real_world_schemas_validate(numpy_model, schema, kw):
    check(numpy_model, schema, max_tokens=budget(numpy_model, schema, extra=4), **kw)


def test_a_budget_cut_still_ends_in_a_complete_value(numpy_model):
    # an open JSON object would take far more than 8 tokens: the mask closes it in time
    c = numpy_model.complete("Here is a long JSON document about cats:", max_tokens=8, temperature=0,
                             response_format={"type": "json_object"})
    assert c.completion_tokens <= 8 and c.finish_reason == "length"
    assert isinstance(json.loads(c.text), dict)


def test_seeded_constrained_sampling_is_reproducible(numpy_model):
    kw = dict(max_tokens=12, temperature=1.0, seed=5, response_format={"type": "json_object"})
    a, b = (numpy_model.create_chat_completion(ASK, **kw)["choices"][0]["message"]["content"] for _ in range(2))
    assert a == b


def test_gbnf_grammar_is_obeyed(numpy_model):
    g = '# a list of three lowercase words\nroot ::= "- " [a-z]+ ("\\n- " [a-z]+){2}\n'
    c = numpy_model.complete("Three fruits:\n", max_tokens=24, temperature=0, grammar=g)
    m = Matcher(parse_gbnf(g))
    m.advance(c.text.encode())
    assert m.is_complete(), c.text
    assert c.finish_reason in ("stop", "length")


def test_constraint_errors(numpy_model):
    with pytest.raises(WebinferError, match="too small for the grammar"):
        numpy_model.generate("x", max_tokens=3, response_format=rf(PRODUCT))
    with pytest.raises(WebinferError, match="stop strings cannot be combined"):
        numpy_model.generate("x", max_tokens=30, stop=["}"], response_format={"type": "json_object"})
    with pytest.raises(GrammarError, match="'format'"):
        numpy_model.generate("x", response_format=rf({"type": "string", "format": "date"}))
    with pytest.raises(GrammarError, match="line 1, column 10"):
        numpy_model.generate("x", grammar="root ::= x")


def test_cli_json_schema(model_path, tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps(NESTED_ENUMS))
    p = subprocess.run([sys.executable, "-m", "webinfer", "generate", "--model", str(model_path), "--device", "numpy",
                        "--temperature", "0", "--max-tokens", "24", "--quiet", "--chat", "--json-schema", str(f),
                        "Colours of two flags?"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    jsonschema.validate(json.loads(p.stdout), NESTED_ENUMS)
