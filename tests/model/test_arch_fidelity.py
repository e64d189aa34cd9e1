"""Every architecture answers as HF transformers does, on NumPy and on WebGPU (llvmpipe on CI).

Each tests/data/arch/NAME.json (written by tools/hf_fixtures, which needs torch: CI does not run
it, it reads the committed files) holds a prompt of token ids and, for NAME.f32.gguf and
NAME.q8_0.gguf, HF's greedy 32 new tokens and its logits at the last prompt position. For f32 HF
ran on the same float32 weights; for q8_0 on that file's weights dequantized by the gguf package.
Both devices must give the same 32 tokens (through webinfer's own generate loop: prefill, the
recorded decode step, decode-ahead on WebGPU) and last-position logits within LOGITS_RTOL of HF's,
relative to the largest |logit|: max |webinfer - HF| <= LOGITS_RTOL * max |HF| (the fixture's
greedy margins are all >= 5e-4 of that scale, so a near tie cannot flip a right answer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gpu_available import open_webgpu

ARCH_DIR = Path(__file__).resolve().parents[1] / "data" / "arch"
FIXTURES = sorted(p.stem for p in ARCH_DIR.glob("*.json"))
LOGITS_RTOL = {"f32": 1e-4,    # the same float32 weights: only the order of float32 sums differs
               "q8_0": 1e-4}   # HF on the gguf package's dequantization of the file: the same values


def load_fixture(name: str) -> dict:
    return json.loads((ARCH_DIR / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def gdev():
    return open_webgpu()


def test_fixtures_found():
    assert "llama" in FIXTURES, f"no tests/data/arch/llama.json (found {FIXTURES})"


@pytest.mark.parametrize("device", ["numpy", "webgpu"])
@pytest.mark.parametrize("variant", ["f32", "q8_0"])
@pytest.mark.parametrize("name", FIXTURES)
def test_answers_as_hf(name, variant, device, request):
    import webinfer
    doc = load_fixture(name)
    want = doc["variants"][variant]
    dev = request.getfixturevalue("gdev") if device == "webgpu" else "numpy"
    model = webinfer.load(ARCH_DIR / want["file"], device=dev, n_ctx=64)
    assert model.config.arch == doc["arch"]

    logits = np.asarray(model.device.read_sync(model.prefill(doc["prompt"])[0]), np.float64).reshape(-1)
    ref = np.asarray(want["logits"], np.float64)
    err = float(np.abs(logits - ref).max() / np.abs(ref).max())
    assert err <= LOGITS_RTOL[variant], f"{name} {variant} on {device}: logits off by {err:.3g} of max |logit|"

    model.reset()
    got = model.complete(doc["prompt"], max_tokens=doc["n_new"], temperature=0)
    assert got.token_ids == want["tokens"], (
        f"{name} {variant} on {device}: greedy tokens differ from HF's at step "
        f"{next(i for i, (a, b) in enumerate(zip(got.token_ids + [-1] * 99, want['tokens'])) if a != b)}")
