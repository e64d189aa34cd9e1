"""Sentence embeddings inside Pyodide (Node and Chromium, NumPy device): the tiny BERT checkpoint
(tests/data/embed/tiny, handed over as the browser hands files: a {name: bytes} dict) gives the
token ids and embeddings that webinfer gives in CPython (loaded by load_embedder_async), through
embed() and await aembed(), and
stays within the fidelity bound of HF's (tiny.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_pyodide import run_in_pyodide

pytestmark = [pytest.mark.pyodide]

EMBED = Path(__file__).resolve().parents[1] / "data" / "embed"


@pytest.fixture(scope="module")
def embed_case():
    import webinfer
    ref = json.loads((EMBED / "tiny.json").read_text())
    files = {n: (EMBED / "tiny" / n).read_bytes() for n in ("config.json", "model.safetensors", "tokenizer.json")}
    emb = webinfer.load_embedder(EMBED / "tiny", device="numpy")
    return {"files": files, "texts": ref["texts"], "hf": ref["embeddings"], "hf_ids": ref["ids"],
            "cpython": emb.embed(ref["texts"]).tolist()}


@run_in_pyodide
async def test_tiny_embeddings_match_cpython(selenium_webinfer, embed_case):
    import numpy as np
    import webinfer

    emb = await webinfer.load_embedder_async(embed_case["files"], device="numpy")
    texts = embed_case["texts"]
    assert [emb.tokenize(t) for t in texts] == embed_case["hf_ids"]
    cpy = np.asarray(embed_case["cpython"], np.float32)
    for got in (emb.embed(texts, batch_size=4), await emb.aembed(texts)):
        assert got.shape == cpy.shape and got.dtype == np.float32
        assert float(np.abs(got - cpy).max()) < 1e-5, float(np.abs(got - cpy).max())
        cos = (got.astype(np.float64) * np.asarray(embed_case["hf"])).sum(1)
        assert cos.min() >= 0.9999, cos
