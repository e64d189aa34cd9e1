"""The whole model on the numpy device against HF transformers' outputs (tests/goldens, made by
tools/make_goldens.py): same prompt ids, same top-10 logits, same greedy tokens."""

from __future__ import annotations

import numpy as np
import pytest



def _cases(goldens, kind=None):
    return [c for c in goldens["cases"] if kind is None or c["kind"] == kind]


def test_goldens_cover_the_issue(goldens):
    chat, raw = _cases(goldens, "chat"), _cases(goldens, "raw")
    assert len(chat) >= 8 and len(raw) >= 5
    long = [c for c in goldens["cases"] if len(c["generated_ids"]) - bool(c["stopped_on_eos"]) >= 32]
    assert len([c for c in long if c["kind"] == "chat"]) >= 8
    assert len([c for c in long if c["kind"] == "raw"]) >= 5


def test_chat_prompts_render_and_tokenize_like_hf(numpy_model, goldens):
    for case in _cases(goldens, "chat"):
        assert numpy_model.apply_chat_template(case["messages"]) == case["rendered"], case["name"]
        assert numpy_model.encode_chat(case["messages"]) == case["prompt_ids"], case["name"]


def test_raw_prompts_tokenize_like_hf(numpy_model, goldens):
    for case in _cases(goldens, "raw"):
        assert numpy_model.tokenize(case["prompt"]) == case["prompt_ids"], case["name"]


def test_top10_logits_at_last_prompt_position(numpy_model, goldens):
    m = numpy_model
    worst = 0.0
    for case in goldens["cases"]:
        m.reset()
        logits_t, _ = m.prefill(case["prompt_ids"])
        logits = m.device.read_sync(logits_t).reshape(-1)
        ref = case["last_position"]
        ours = logits[ref["top_ids"]]
        rel = np.abs(ours - np.array(ref["top_logits"])) / np.abs(np.array(ref["top_logits"]))
        worst = max(worst, float(rel.max()))
        assert rel.max() < 1e-3, (case["name"], ours, ref["top_logits"])
        # the same ten ids are our ten largest (ties aside)
        assert set(np.argsort(-logits)[:10].tolist()) == set(ref["top_ids"]), case["name"]
    print(f"worst top-10 relative error: {worst:.2e}")


@pytest.mark.parametrize("kind", ["chat", "raw"])
def test_greedy_continuations_equal_hf(numpy_model, goldens, kind):
    m = numpy_model
    for case in _cases(goldens, kind):
        m.reset()
        want = case["generated_ids"]
        if case["stopped_on_eos"]:
            want = want[:case["eos_index"]]
        res = m.complete(case["prompt_ids"], max_tokens=len(case["generated_ids"]), temperature=0)
        assert res.token_ids == want, (case["name"], m.detokenize(res.token_ids), case["generated_text"])
        assert res.finish_reason == ("stop" if case["stopped_on_eos"] else "length")
        assert res.text == m.detokenize(want)


def test_cached_prefix_gives_the_same_tokens(numpy_model, goldens):
    m = numpy_model
    case = _cases(goldens, "chat")[0]
    m.reset()
    first = m.complete(case["prompt_ids"], max_tokens=12, temperature=0)
    again = m.complete(case["prompt_ids"], max_tokens=12, temperature=0)
    assert first.cached_tokens == 0
    assert again.cached_tokens == len(case["prompt_ids"]) - 1
    assert again.token_ids == first.token_ids == case["generated_ids"][:12]


def test_weights_kept_quantized_give_hf_answers(numpy_model_quantized, goldens):
    """The same model with every weight left as the file's blocks (dequantized a tile at a time
    inside each product): the top-10 logits of every prompt, and greedy continuations of a chat and
    a raw prompt (the full set runs on float32 weights above; this path is ~10x slower a token)."""
    m = numpy_model_quantized
    assert m.device.f32_bytes == 0 and m.device.quantized_bytes > 80 << 20
    for case in goldens["cases"]:
        m.reset()
        logits = m.device.read_sync(m.prefill(case["prompt_ids"])[0]).reshape(-1)
        ref = case["last_position"]
        np.testing.assert_allclose(logits[ref["top_ids"]], ref["top_logits"], rtol=1e-3, err_msg=case["name"])
    for kind in ("chat", "raw"):
        case = _cases(goldens, kind)[0]
        m.reset()
        want = case["generated_ids"][:case["eos_index"]] if case["stopped_on_eos"] else case["generated_ids"]
        res = m.complete(case["prompt_ids"], max_tokens=len(case["generated_ids"]), temperature=0)
        assert res.token_ids == want, (case["name"], m.detokenize(res.token_ids))
