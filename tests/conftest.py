"""Shared fixtures: the real default model (downloaded by `make test` / tools/fetch_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOLDENS = ROOT / "tests" / "goldens"


def model_file() -> Path:
    from webinfer.sources import default_model_path   # WEBINFER_MODEL, else the cache
    return default_model_path()


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
def numpy_model_quantized(model_path):
    """The real model on a numpy device that keeps every weight as the file's blocks (QMat)."""
    import webinfer
    from webinfer.device.numpy_device import NumpyDevice
    return webinfer.load(model_path, device=NumpyDevice("every weight quantized", f32_budget=0))


@pytest.fixture(scope="session")
def goldens() -> dict:
    return json.loads((GOLDENS / "smollm2_q4_1.json").read_text())


@pytest.fixture(scope="session")
def embed_model_path() -> Path:
    """The default embedding model's folder (all-MiniLM-L6-v2, fetched by `make embed-model`)."""
    from webinfer.embed import default_embedder_path
    p = default_embedder_path()
    if not (p / "model.safetensors").exists():
        pytest.skip(f"default embedding model not at {p}: run `make embed-model` (make test does it first)")
    return p
