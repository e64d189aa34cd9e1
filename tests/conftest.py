"""Shared fixtures: the real default model (downloaded by `make test` / tools/fetch_model.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "goldens"


def model_file() -> Path:
    env = os.environ.get("WEBINFER_MODEL")
    if env:
        return Path(env)
    cache = Path(os.environ.get("WEBINFER_CACHE") or Path.home() / ".cache" / "webinfer")
    return cache / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def model_path() -> Path:
    p = model_file()
    if not p.exists():
        pytest.skip(f"default model not at {p}: run `make model` (make test does it first)")
    return p


@pytest.fixture(scope="session")
def numpy_model(model_path):
    """The real model on the numpy device, loaded once per session. Tests that generate should
    not rely on the KV cache's state (call model.reset() if they need a cold cache)."""
    import webinfer
    return webinfer.load(model_path, device="numpy")


@pytest.fixture(scope="session")
def goldens() -> dict:
    return json.loads((GOLDENS / "smollm2_q4_1.json").read_text())
