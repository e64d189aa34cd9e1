"""The generation API on the real model (numpy device): sampling options, stops, limits,
cancellation, chat sessions with KV reuse, the OpenAI shape, and clear errors."""

from __future__ import annotations

import asyncio

import pytest

import webinfer
from webinfer import ContextLengthError, WebinferError

PROMPT = "Once upon a time, in a small village,"


def test_seeded_sampling_is_reproducible(numpy_model):
    kw = dict(max_tokens=16, temperature=0.9, top_k=50, top_p=0.95, min_p=0.02)
    a = numpy_model.complete(PROMPT, seed=7, **kw)
    b = numpy_model.complete(PROMPT, seed=7, **kw)
    c = numpy_model.complete(PROMPT, seed=8, **kw)
    assert a.token_ids == b.token_ids and len(a.token_ids) == 16
    assert a.token_ids != c.token_ids


def test_penalties_and_logit_bias_change_the_output(numpy_model):
    base = numpy_model.complete(PROMPT, max_tokens=12, temperature=0)
    banned = base.token_ids[0]
    biased = numpy_model.complete(PROMPT, max_tokens=12, temperature=0, logit_bias={banned: float("-inf")})
    assert biased.token_ids[0] != banned
    rep = numpy_model.complete("a a a a a a a a", max_tokens=8, temperature=0, repetition_penalty=1.8)
    plain = numpy_model.complete("a a a a a a a a", max_tokens=8, temperature=0)
    assert rep.token_ids != plain.token_ids


def test_streamed_deltas_join_to_the_text(numpy_model):
    gen = numpy_model.generate(PROMPT, max_tokens=20, temperature=0)

    async def collect():
        return [d async for d in gen]
    deltas = asyncio.run(collect())
    assert len(deltas) > 3
    assert "".join(deltas) == gen.result.text == numpy_model.detokenize(gen.result.token_ids)
    r = gen.result
    assert r.finish_reason == "length" and r.completion_tokens == 20
    assert r.prompt_tokens == len(numpy_model.tokenize(PROMPT))
    assert r.prefill_tok_s > 0 and r.decode_tok_s > 0 and r.device.startswith("numpy")


def test_stop_string_ends_generation_and_is_not_emitted(numpy_model):
    full = numpy_model.complete("1, 2, 3, 4,", max_tokens=20, temperature=0)
    assert " 6" in full.text, full.text   # the model counts on
    res = numpy_model.complete("1, 2, 3, 4,", max_tokens=20, temperature=0, stop=[" 6"])
    assert res.finish_reason == "stop" and res.stop == " 6"
    assert res.text == full.text[:full.text.index(" 6")]


def test_stop_token_ids_and_max_tokens(numpy_model):
    full = numpy_model.complete(PROMPT, max_tokens=10, temperature=0)
    res = numpy_model.complete(PROMPT, max_tokens=10, temperature=0, stop_token_ids=[full.token_ids[3]])
    assert res.token_ids == full.token_ids[:3] and res.finish_reason == "stop"
    one = numpy_model.complete(PROMPT, max_tokens=1, temperature=0)
    assert one.token_ids == full.token_ids[:1] and one.finish_reason == "length"


def test_cancel_stops_at_the_next_token(numpy_model):
    gen = numpy_model.generate(PROMPT, max_tokens=50, temperature=0)

    async def run():
        n = 0
        async for _ in gen:
            n += 1
            if n == 3:
                gen.cancel()
        return n
    asyncio.run(run())
    assert gen.result.finish_reason == "cancelled"
    assert gen.result.completion_tokens <= 4


def test_breaking_out_of_the_loop_is_a_cancel(numpy_model):
    gen = numpy_model.generate(PROMPT, max_tokens=50, temperature=0)

    async def run():
        agen = gen.__aiter__()
        async for _ in agen:
            break
        await agen.aclose()
    asyncio.run(run())
    assert gen.result.finish_reason == "cancelled"


def test_chat_session_reuses_the_kv_cache_across_turns(numpy_model):
    numpy_model.reset()
    chat = numpy_model.chat(max_tokens=24, temperature=0)
    first = chat.say("What is the capital of France?")
    assert "Paris" in first.text
    second = chat.say("And of Italy?")
    assert second.cached_tokens > first.prompt_tokens - 2   # the first turn was not prefilled again
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert "Rome" in second.text
    chat.reset()
    assert chat.messages == []


def test_chat_session_drops_old_turns_when_the_context_is_full(model_path):
    small = webinfer.load(model_path, device="numpy", n_ctx=160)
    chat = small.chat(max_tokens=16, temperature=0)
    for q in ["Tell me about cats.", "Tell me about dogs.", "Tell me about birds.", "Tell me about fish."]:
        chat.say(q)
    assert len(small.encode_chat(chat.messages[:-1])) <= 160
    assert chat.messages[-2]["content"] == "Tell me about fish."
    with pytest.raises(ContextLengthError):
        chat.say("word " * 400)


def test_openai_shaped_chat_completion(numpy_model):
    msgs = [{"role": "user", "content": "Say hello."}]
    out = numpy_model.create_chat_completion(msgs, max_tokens=8, temperature=0)
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
    assert out["usage"]["total_tokens"] == out["usage"]["prompt_tokens"] + out["usage"]["completion_tokens"]
    chunks = list(numpy_model.create_chat_completion(msgs, stream=True, max_tokens=8, temperature=0))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == choice["finish_reason"]


def test_prompt_longer_than_the_context_is_a_clear_error(model_path):
    small = webinfer.load(model_path, device="numpy", n_ctx=64)
    with pytest.raises(ContextLengthError, match=r"prompt is \d+ tokens but the context holds 64"):
        small.complete("hello " * 100, max_tokens=4)
    # filling the context mid-generation ends with "length", not an error
    res = small.complete("hello " * 50, max_tokens=100, temperature=0)
    assert res.finish_reason == "length" and res.prompt_tokens + res.completion_tokens <= 65


def test_bad_arguments_are_clear_errors(numpy_model):
    with pytest.raises(WebinferError, match="empty prompt"):
        numpy_model.complete([], max_tokens=4)
    with pytest.raises(WebinferError, match="outside the vocabulary"):
        numpy_model.complete([10**6], max_tokens=4)
    with pytest.raises(ValueError, match="temperature"):
        numpy_model.complete(PROMPT, temperature=-1)
    with pytest.raises(WebinferError, match="max_tokens"):
        numpy_model.complete(PROMPT, max_tokens=0)


def test_sync_api_inside_a_running_loop_says_to_use_async(numpy_model):
    async def inner():
        with pytest.raises(WebinferError, match="acomplete"):
            numpy_model.complete(PROMPT, max_tokens=2)
        return (await numpy_model.acomplete(PROMPT, max_tokens=2, temperature=0)).token_ids
    assert len(asyncio.run(inner())) == 2


def test_sync_stream(numpy_model):
    deltas = list(numpy_model.stream(PROMPT, max_tokens=10, temperature=0))
    assert "".join(deltas) == numpy_model.complete(PROMPT, max_tokens=10, temperature=0).text
