"""GPT-2's HF-fidelity fixture (tests/data/arch/gpt2.f32.gguf, tools/hf_fixtures) inside Pyodide:
HF's greedy 32 tokens and last-position logits on the NumPy device (Node and Chromium; its decode
step runs op by op: the recorded step takes no LayerNorm, GELU or learned positions,
numpy_step.Unrecordable) and on the browser's WebGPU (Chromium on SwiftShader: the replayed step,
the fused one refused with its reason)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

ARCH_DIR = Path(__file__).resolve().parents[1] / "data" / "arch"


@pytest.fixture(scope="module")
def gpt2_case() -> dict:
    doc = json.loads((ARCH_DIR / "gpt2.json").read_text())
    want = doc["variants"]["f32"]
    return {"gguf": (ARCH_DIR / want["file"]).read_bytes(), "prompt": doc["prompt"], "tokens": want["tokens"],
            "logits": want["logits"]}


@run_in_pyodide
async def test_gpt2_answers_as_hf_on_numpy(selenium_webinfer, gpt2_case):
    import numpy as np
    import webinfer
    m = webinfer.load(gpt2_case["gguf"], device="numpy", n_ctx=64)
    logits = np.asarray(m.prefill(gpt2_case["prompt"])[0], np.float64).reshape(-1)
    ref = np.asarray(gpt2_case["logits"])
    assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
    m.reset()
    res = await m.acomplete(gpt2_case["prompt"], max_tokens=len(gpt2_case["tokens"]), temperature=0)
    assert list(res.token_ids) == gpt2_case["tokens"]
    assert m.config.arch == "gpt2" and m.device.decode_path() == "op by op", m.device.decode_path()


@run_in_pyodide
async def test_gpt2_answers_as_hf_on_browser_webgpu(selenium_webgpu, gpt2_case):
    import numpy as np
    import webinfer
    m = await webinfer.load_async(gpt2_case["gguf"], device="webgpu", n_ctx=64)
    m.device.fused = "on"                  # SwiftShader: "auto" would not try; this one must refuse
    logits = np.asarray(await m.device.read(m.prefill(gpt2_case["prompt"])[0]), np.float64).reshape(-1)
    ref = np.asarray(gpt2_case["logits"])
    assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
    m.reset()
    res = await m.acomplete(gpt2_case["prompt"], max_tokens=len(gpt2_case["tokens"]), temperature=0)
    assert list(res.token_ids) == gpt2_case["tokens"]
    path = m.device.decode_path()
    assert path.startswith("replayed (decode step not fused: ") and "learned positions" in path, path
