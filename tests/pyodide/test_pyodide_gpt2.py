"""A tiny random GPT-2 (tests/gpt2_model.py) inside Pyodide: greedy tokens equal to CPython's, on
the NumPy device (Node and Chromium; its decode step runs op by op: the recorded step takes no
LayerNorm, GELU or learned positions, numpy_step.Unrecordable) and on the browser's WebGPU
(Chromium on SwiftShader: the replayed step, the fused one refused with its reason)."""

from __future__ import annotations

import asyncio

import pytest
from gpt2_model import make_gpt2
from pytest_pyodide import run_in_pyodide

import webinfer

pytestmark = [pytest.mark.pyodide]

PROMPT = [1, 2, 3, 50, 7]
N = 16


@pytest.fixture(scope="module")
def gpt2_case(tmp_path_factory) -> dict:
    """The model's bytes and CPython's greedy tokens on NumPy."""
    path = make_gpt2(tmp_path_factory.mktemp("gpt2") / "g.gguf", "Q8_0", seed=6)
    m = webinfer.load(path, device="numpy", n_ctx=64)
    res = asyncio.run(m.acomplete(PROMPT, max_tokens=N, temperature=0))
    return {"gguf": path.read_bytes(), "prompt": PROMPT, "n": N, "tokens": list(res.token_ids)}


@run_in_pyodide
async def test_gpt2_greedy_on_numpy_matches_cpython(selenium_webinfer, gpt2_case):
    import webinfer
    m = webinfer.load(gpt2_case["gguf"], device="numpy", n_ctx=64)
    res = await m.acomplete(gpt2_case["prompt"], max_tokens=gpt2_case["n"], temperature=0)
    assert list(res.token_ids) == gpt2_case["tokens"]
    assert m.config.arch == "gpt2" and m.device.decode_path() == "op by op", m.device.decode_path()


@run_in_pyodide
async def test_gpt2_greedy_on_browser_webgpu_matches_cpython(selenium_webgpu, gpt2_case):
    import webinfer
    m = await webinfer.load_async(gpt2_case["gguf"], device="webgpu", n_ctx=64)
    m.device.fused = "on"                  # SwiftShader: "auto" would not try; this one must refuse
    res = await m.acomplete(gpt2_case["prompt"], max_tokens=gpt2_case["n"], temperature=0)
    assert list(res.token_ids) == gpt2_case["tokens"]
    path = m.device.decode_path()
    assert path.startswith("replayed (decode step not fused: ") and "learned positions" in path, path
