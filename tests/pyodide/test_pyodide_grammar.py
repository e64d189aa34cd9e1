"""A JSON-Schema-constrained answer inside Pyodide (Node and Chromium) equals CPython's: the
grammar package (parser, DFA, vocabulary trie, masks) runs on Pyodide's numpy and gives the
same greedy tokens, and the text validates."""

from __future__ import annotations

import asyncio
import json

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide, pytest.mark.slow]

SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 12},
                                           "pages": {"type": "integer", "minimum": 1, "maximum": 999}},
          "required": ["title", "pages"]}
REQUEST = {"prompt": "A book as JSON:", "max_tokens": 30,
           "response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}}


@pytest.fixture(scope="session")
def cpython_constrained(numpy_model) -> dict:
    numpy_model.reset()
    r = dict(REQUEST)
    res = asyncio.run(numpy_model.acomplete(r.pop("prompt"), temperature=0, **r))
    json.loads(res.text)
    return {"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason}


@pytest.fixture(scope="session")
def grammar_request() -> dict:
    return REQUEST


@run_in_pyodide
async def test_json_schema_answer_matches_cpython(selenium_webinfer, model_url, grammar_request, cpython_constrained):
    import json

    import webinfer
    from pyodide.http import pyfetch

    resp = await pyfetch(model_url)
    assert resp.ok, (model_url, resp.status)
    model = webinfer.load(await resp.bytes(), device="numpy")
    r = dict(grammar_request)
    res = await model.acomplete(r.pop("prompt"), temperature=0, **r)
    got = {"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason}
    del model
    assert got == cpython_constrained
    doc = json.loads(got["text"])
    assert set(doc) == {"title", "pages"} and 1 <= doc["pages"] <= 999
