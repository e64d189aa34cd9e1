"""all-MiniLM-L6-v2 (the default embedding model, fetched by `make embed-model`) against HF transformers:
tests/data/embed/minilm_ref.json (tools/embed_fixtures.py: HF tokenizers' ids and BertModel's
mean-pooled, L2-normalised embeddings at sentence-transformers' max_seq_length 256) holds the
reference; token ids must be equal and every embedding's cosine to HF's >= 0.9999, on NumPy (all
texts, one over-long) and on WebGPU (llvmpipe on CI: the short texts, for time)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from gpu_available import open_webgpu

import webinfer

REF = json.loads((Path(__file__).resolve().parents[1] / "data" / "embed" / "minilm_ref.json").read_text())
MIN_COS = 0.9999


@pytest.fixture(scope="module")
def checked_path(embed_model_path):
    got = hashlib.sha256((embed_model_path / "model.safetensors").read_bytes()).hexdigest()
    assert got == REF["model_sha256"], "the cached model is not the one the reference was made with"
    return embed_model_path


@pytest.mark.parametrize("device", ["numpy", "webgpu"])
def test_minilm_as_hf(checked_path, device):
    dev = open_webgpu() if device == "webgpu" else "numpy"
    emb = webinfer.load_embedder(checked_path, device=dev)
    assert (emb.dim, emb.max_length) == (384, REF["max_length"])
    n = len(REF["texts"]) if device == "numpy" else 8
    texts = REF["texts"][:n]
    assert [emb.tokenize(t) for t in texts] == REF["ids"][:n]
    got = emb.embed(texts, batch_size=4).astype(np.float64)
    cos = (got * np.asarray(REF["embeddings"][:n])).sum(1)
    assert cos.min() >= MIN_COS, f"{device}: cosine {cos.min():.6f} for {texts[int(cos.argmin())]!r}"


def test_real_tokenizer_equals_hf(embed_model_path):
    """The real 30522-piece vocabulary against HF `tokenizers` on the WordPiece unit tests' texts."""
    import sys
    from tokenizers import Tokenizer
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
    from test_tokenizer_wordpiece import TEXTS, random_texts
    from webinfer.tokenizer.wordpiece import WordPieceTokenizer
    spec = (embed_model_path / "tokenizer.json").read_text()
    hf = Tokenizer.from_str(spec)
    hf.no_padding()
    me = WordPieceTokenizer.from_tokenizer_json(spec)
    for text in TEXTS + REF["texts"] + random_texts(200, seed=7):
        assert me.encode(text) == hf.encode(text).ids, repr(text)
