"""The real model inside Pyodide: greedy 16 tokens must equal CPython's, token for token.

What this covers: the whole engine (GGUF reader, tokenizer, numpy device, forward pass,
sampling) running on Pyodide's numpy 2.0.2 (wasm32, no BLAS, Python 3.12) against the same
call in this CPython process (imports webinfer from pkg/). Greedy decoding makes the two
comparable exactly; a mismatch means the two numpy builds round differently enough to flip
an argmax, or a platform dependence (byte order, int width, dict order) in our code.

How the 98 MB GGUF gets in: its folder is mounted with NODEFS and read with `open().read()`
(~0.13 s measured). Sending it over the driver's pipe would mean base64 JSON of 130 MB.
The bytes (not the path) go to `webinfer.load`, like a browser's `fetch().arrayBuffer()`.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from pyodide_node import MODEL_MOUNT, TIMINGS, model_path

pytestmark = [pytest.mark.pyodide, pytest.mark.slow]

PROMPT = "The capital of France is"
MAX_TOKENS = 16


@pytest.fixture(scope="session")
def model_file():
    path = model_path()
    if not path.is_file():
        pytest.skip(f"model not found at {path} (set WEBINFER_MODEL or download the default model)")
    return path


def cpython_greedy(path) -> dict:
    import webinfer

    t0 = time.perf_counter()
    model = webinfer.load(str(path), device="numpy")
    t_load = time.perf_counter() - t0
    res = asyncio.run(model.acomplete(PROMPT, max_tokens=MAX_TOKENS, temperature=0))
    TIMINGS["CPython: load model (s)"] = t_load
    TIMINGS["CPython: load + 16 greedy tokens (s)"] = time.perf_counter() - t0
    return {"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason}


def test_greedy_16_tokens_match_cpython(model_file, node_pyodide, webinfer_in_pyodide):
    expected = cpython_greedy(model_file)
    got = node_pyodide.run(
        f"""
import time
import webinfer
t0 = time.perf_counter()
with open("{MODEL_MOUNT}/{model_file.name}", "rb") as f:
    gguf_bytes = f.read()
t_read = time.perf_counter() - t0
model = webinfer.load(gguf_bytes, device="numpy")   # bytes/memoryview works in Pyodide
t_load = time.perf_counter() - t0
res = await model.acomplete({PROMPT!r}, max_tokens={MAX_TOKENS}, temperature=0)
{{"token_ids": list(res.token_ids), "text": res.text, "finish_reason": res.finish_reason,
  "read_s": t_read, "load_s": t_load, "total_s": time.perf_counter() - t0}}
""",
        timeout=900,
        what="loading the model and generating 16 greedy tokens",
    )
    TIMINGS["Pyodide: read 98 MB GGUF via NODEFS (s)"] = got.pop("read_s")
    TIMINGS["Pyodide: read + load model (s)"] = got.pop("load_s")
    TIMINGS["Pyodide: read + load + 16 greedy tokens (s)"] = got.pop("total_s")
    assert got == expected
    assert len(got["token_ids"]) == MAX_TOKENS or got["finish_reason"] == "stop"
