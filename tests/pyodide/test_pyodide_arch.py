"""The HF-fidelity fixtures (tests/data/arch) inside Pyodide (Node and Chromium), on NumPy with the
wasm kernels and the recorded decode step: qwen3 (head_norm recorded as one RMS_NORM a head) and
llama3 (the recorded RoPE reads Llama 3's scaled tables) give HF's greedy 32 tokens, and the
recorded step's logits equal the plain forward's bit for bit; gemma3 (windowed, soft-capped
attention, GELU-tanh MLP: ops the recorded step does not have) gives them op by op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

ARCH_DIR = Path(__file__).resolve().parents[1] / "data" / "arch"
NAMES = [n for n in ("qwen3", "llama3", "gemma3") if (ARCH_DIR / f"{n}.json").exists()]


@pytest.fixture(scope="module", params=NAMES)
def arch_case(request):
    doc = json.loads((ARCH_DIR / f"{request.param}.json").read_text())
    want = doc["variants"]["f32"]
    return {"name": request.param, "gguf": (ARCH_DIR / want["file"]).read_bytes(), "prompt": doc["prompt"],
            "tokens": want["tokens"], "logits": want["logits"]}


@run_in_pyodide
async def test_fixture_answers_as_hf_with_the_recorded_step(selenium_webinfer, arch_case):
    import numpy as np
    import webinfer
    from webinfer.device import blas

    assert blas._kernels() is not None, "no wasm kernels: the recorded step would not be tried"
    steps = []
    for record in (True, False):
        model = webinfer.load(arch_case["gguf"], device="numpy", n_ctx=64)
        model.device.record_decode = record
        logits = np.asarray(model.prefill(arch_case["prompt"])[0]).reshape(-1)
        ref = np.asarray(arch_case["logits"])
        err = float(np.abs(logits - ref).max() / np.abs(ref).max())
        assert err <= 1e-4, (arch_case["name"], record, err)
        tok, toks, lg = int(np.argmax(logits)), [], []
        for _ in range(len(arch_case["tokens"])):
            toks.append(tok)
            out = np.asarray(model.step(tok)).reshape(-1)
            lg.append(out)
            tok = int(np.argmax(out))
        assert toks == arch_case["tokens"], (arch_case["name"], record, toks)
        path = model.device.decode_path()
        recorded = record and arch_case["name"] != "gemma3"     # (the recorded step has no Gemma ops)
        assert path.startswith("replayed") if recorded else path.startswith("op by op"), path
        steps.append(lg)
    assert all(np.array_equal(a, b) for a, b in zip(*steps)), arch_case["name"]
