"""The real model inside Pyodide (Node and Chromium): greedy 16 tokens must equal CPython's.

What this covers: the whole engine (GGUF reader, tokenizer, numpy device, forward pass,
sampling) running on Pyodide's numpy 2.0.2 (wasm32, no BLAS, Python 3.12) against the same
call in this CPython process (imports webinfer from pkg/). Greedy decoding makes the two
comparable exactly; a mismatch means the two numpy builds round differently enough to flip
an argmax, or a platform dependence (byte order, int width, dict order) in our code.

How the 98 MB GGUF gets in: fetched from the local server (/models/) as bytes, which go to
`webinfer.load` the way a browser page hands it a `fetch().arrayBuffer()`.
"""

from __future__ import annotations

import asyncio

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide, pytest.mark.slow]

PROMPT = "The capital of France is"
MAX_TOKENS = 16


@pytest.fixture(scope="session")
def cpython_greedy(numpy_model) -> dict:
    """The same greedy generation in this CPython process (tests/conftest.py's model), once."""
    numpy_model.reset()
    res = asyncio.run(numpy_model.acomplete(PROMPT, max_tokens=MAX_TOKENS, temperature=0))
    return {"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason}


@pytest.fixture(scope="session")
def greedy_request() -> dict:
    return {"prompt": PROMPT, "max_tokens": MAX_TOKENS}


@run_in_pyodide
async def test_greedy_16_tokens_match_cpython(selenium_webinfer, model_url, greedy_request, cpython_greedy):
    import webinfer
    from pyodide.http import pyfetch

    resp = await pyfetch(model_url)
    assert resp.ok, (model_url, resp.status)
    model = webinfer.load(await resp.bytes(), device="numpy")   # bytes work in Pyodide
    res = await model.acomplete(greedy_request["prompt"], max_tokens=greedy_request["max_tokens"], temperature=0)
    got = {"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason}
    del model   # the next test in this shared Pyodide gets the memory back
    assert got == cpython_greedy
    assert len(got["token_ids"]) == greedy_request["max_tokens"] or got["finish_reason"] == "stop"
