"""The real SmolLM2 tokenizer (from the GGUF's metadata) against recorded Hugging Face ids.

tests/goldens/tokenizer_smollm2.json comes from tools/make_tokenizer_goldens.py: SmolLM2's own
tokenizer.json pipeline over the GGUF's vocab (see that script for why not HF-from-GGUF alone).
Needs the default model; skips with the reason when it is not downloaded.
"""

import hashlib
import json
import time
from pathlib import Path

import pytest

from webinfer.formats.gguf import read_gguf
from webinfer.sources import default_model_path
from webinfer.tokenizer import IncrementalDecoder, Tokenizer

MODEL = default_model_path()
GOLDEN = json.loads((Path(__file__).parent.parent / "goldens" / "tokenizer_smollm2.json").read_text("utf-8"))
CASES = GOLDEN["cases"]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not MODEL.exists(), reason=f"model file {MODEL} not downloaded")]


@pytest.fixture(scope="module")
def meta():
    with open(MODEL, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    assert sha == GOLDEN["model_sha256"], f"{MODEL} is not the model the goldens were made from"
    return read_gguf(str(MODEL)).metadata


@pytest.fixture(scope="module")
def tok(meta):
    return Tokenizer.from_metadata(meta)


def test_metadata_facts(tok):
    assert (tok.n_vocab, tok.pre, tok.bos_id, tok.eos_id) == (49152, "smollm", 1, 2)
    assert tok.id_of("<|im_end|>") == 2 and tok.id_of("<|im_start|>") == 1
    assert 2 in tok.eot_ids and tok.is_control(1) and not tok.add_bos


def test_corpus_is_varied():
    texts = [c["text"] for c in CASES]
    assert len(texts) >= 40
    for needle in ["\n", "  ", "123", "'ll", "😀", "日本", "\u0301", "def ", "<|im_start|>"]:
        assert any(needle in t for t in texts), needle


@pytest.mark.parametrize("case", CASES, ids=[repr(c["text"])[:40] for c in CASES])
def test_encode_matches_golden_and_round_trips(tok, case):
    ids = tok.encode(case["text"], add_special=False)
    assert ids == case["ids"]
    assert tok.decode(ids) == case["text"]
    # SmolLM2 adds no BOS (tokenizer.ggml.add_bos_token = false), so add_special changes nothing.
    assert tok.encode(case["text"]) == ids


@pytest.mark.parametrize("case", CASES, ids=[repr(c["text"])[:40] for c in CASES])
def test_streamed_decode_is_the_text(tok, case):
    dec = IncrementalDecoder(tok)
    pieces = [dec.push(i) for i in case["ids"]]
    assert "".join(pieces) + dec.flush() == case["text"]
    assert all("\ufffd" not in p for p in pieces)


def test_load_and_encode_are_fast(meta):
    t0 = time.perf_counter()
    tok = Tokenizer.from_metadata(meta)
    load_s = time.perf_counter() - t0
    text = "".join(c["text"] for c in CASES) * 20 + "A plain English sentence, with 12 words or so. " * 400
    t0 = time.perf_counter()
    ids = tok.encode(text)  # cold word cache
    rate = len(text) / (time.perf_counter() - t0)
    assert tok.decode(ids) == text
    assert load_s < 0.5, f"loading the 49k vocab took {load_s:.3f} s"
    assert rate > 50_000, f"encode ran at {rate:.0f} chars/s"
