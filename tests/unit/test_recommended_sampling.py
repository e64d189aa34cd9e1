"""model.recommended_sampling: the GGUF's general.sampling.* keys, else the model card's advice,
else webinfer's default; and Model.generate using it for whatever the caller leaves out."""

from __future__ import annotations

import pytest
from synthetic_model import build_synthetic_model

import webinfer
from webinfer.errors import GGUFError, WebinferError
from webinfer.recommended import DEFAULT_MAX_TOKENS, WEBINFER_DEFAULT, WHOLE_HISTORY, recommended_sampling

# what the default model's GGUF says about itself (SmolLM2-135M-Instruct Q4_1)
SMOLLM2 = {"general.architecture": "llama", "general.name": "Smollm2 135M 8k Lc100K Mix1 Ep2",
           "general.basename": "smollm2", "general.size_label": "135M"}
UNKNOWN = {"general.architecture": "llama", "general.name": "some model"}


def test_gguf_keys_are_the_llama_cpp_ones():
    gguf = pytest.importorskip("gguf")
    K = gguf.constants.Keys.General
    assert {K.SAMPLING_TEMP, K.SAMPLING_TOP_K, K.SAMPLING_TOP_P, K.SAMPLING_MIN_P, K.SAMPLING_PENALTY_REPEAT,
            K.SAMPLING_PENALTY_LAST_N} == {f"general.sampling.{k}" for k in
                                           ("temp", "top_k", "top_p", "min_p", "penalty_repeat", "penalty_last_n")}


def test_smollm2_takes_its_model_card():
    r = recommended_sampling(SMOLLM2)
    assert (r.temperature, r.top_p) == (0.2, 0.9)                       # the card's
    assert (r.top_k, r.min_p, r.repetition_penalty) == (40, 0.05, 1.0)   # ours for the rest
    assert r.source == "model card: SmolLM2 + webinfer default" and r.max_tokens == DEFAULT_MAX_TOKENS
    # no basename: the name says it
    named = recommended_sampling({"general.architecture": "llama", "general.name": "SmolLM2 360M Instruct"})
    assert named.temperature == 0.2 and named.source.startswith("model card: SmolLM2")
    assert recommended_sampling({**UNKNOWN, "general.name": "smollm2ish"}).source == "webinfer default"


def test_an_unknown_model_gets_webinfer_s_default():
    r = recommended_sampling(UNKNOWN)
    assert r.source == "webinfer default"
    assert {k: v for k, v in r.generate_kwargs().items() if k != "max_tokens"} == WEBINFER_DEFAULT


def test_the_gguf_wins_over_the_card_key_by_key():
    meta = {**SMOLLM2, "general.sampling.temp": 0.5, "general.sampling.top_k": 20,
            "general.sampling.penalty_repeat": 1.05, "general.sampling.penalty_last_n": -1}
    r = recommended_sampling(meta)
    assert (r.temperature, r.top_k, r.repetition_penalty) == (0.5, 20, 1.05)
    assert r.top_p == 0.9 and r.min_p == 0.05 and r.repetition_window == WHOLE_HISTORY
    assert r.source == "gguf + model card: SmolLM2 + webinfer default"
    full = recommended_sampling({**UNKNOWN, **{f"general.sampling.{k}": v for k, v in dict(
        temp=0.8, top_k=50, top_p=0.95, min_p=0.0, penalty_repeat=1.0, penalty_last_n=32).items()}})
    assert full.source == "gguf" and full.repetition_window == 32 and full.temperature == 0.8


@pytest.mark.parametrize("key, value", [("temp", "hot"), ("temp", -0.1), ("top_p", 1.5), ("top_k", 2.5),
                                        ("top_k", True), ("min_p", [0.1]), ("penalty_repeat", 0),
                                        ("penalty_last_n", -2)])
def test_a_bad_gguf_value_is_named(key, value):
    with pytest.raises(GGUFError, match=f"general.sampling.{key}"):
        recommended_sampling({**UNKNOWN, f"general.sampling.{key}": value})


def test_describe_and_to_dict():
    r = recommended_sampling(SMOLLM2)
    assert r.describe() == ("temperature 0.2, top_k 40, top_p 0.9, min_p 0.05, repetition_penalty 1, "
                            f"repetition_window 64, max_tokens {DEFAULT_MAX_TOKENS} "
                            "(model card: SmolLM2 + webinfer default)")
    assert r.to_dict()["source"] == r.source and r.to_dict()["temperature"] == 0.2


TINY = {"n_layers": 2, "d_model": 64, "n_heads": 4, "n_kv_heads": 2, "d_ff": 96, "n_vocab": 300, "n_ctx": 128}


@pytest.fixture(scope="module")
def hot_model(tmp_path_factory):
    """A tiny random model whose GGUF recommends unfiltered sampling at temperature 1.5."""
    from webinfer.formats import gguf_write
    path = build_synthetic_model(tmp_path_factory.mktemp("rec") / "tiny.gguf", seed=5, shapes=TINY)
    gf = webinfer.sources.open_source(path, None)
    meta = {**gf.metadata, "general.sampling.temp": 1.5, "general.sampling.top_k": 0,
            "general.sampling.top_p": 1.0, "general.sampling.min_p": 0.0}
    tensors = {name: gguf_write.RawTensor(tuple(t.shape), t.ggml_type, gf.raw(name).tobytes())
               for name, t in gf.tensors.items()}
    out = path.replace("tiny.gguf", "hot.gguf")
    gguf_write.write_gguf(out, meta, tensors)
    return webinfer.load(out, device="numpy")


def test_generate_uses_the_recommended_values_for_what_is_left_out(hot_model):
    m = hot_model
    rec = m.recommended_sampling
    assert rec.source == "gguf + webinfer default" and rec.temperature == 1.5
    implicit = m.complete([1, 2, 3], max_tokens=12, seed=3)
    explicit = m.complete([1, 2, 3], max_tokens=12, seed=3, temperature=1.5, top_k=0, top_p=1.0, min_p=0.0)
    assert implicit.token_ids == explicit.token_ids and implicit.completion_tokens == 12
    # one keyword given: the rest still come from the GGUF (an unfiltered draw at 1.5 differs)
    greedy = m.complete([1, 2, 3], max_tokens=12, seed=3, temperature=0)
    assert greedy.token_ids != implicit.token_ids
    assert greedy.token_ids == m.complete([1, 2, 3], max_tokens=12, seed=4, temperature=0).token_ids
    # max_tokens left out: the recommended length
    assert m.generate([1]).max_tokens == rec.max_tokens
    with pytest.raises(WebinferError, match="unknown sampling keyword 'temprature'"):
        m.complete([1], temprature=0.5)
