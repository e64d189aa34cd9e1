"""The chat page's JSON mode, worker side (site/py/structured.py), in CPython: the schema box's text
becomes the library's response_format (empty: any JSON object); text that is not JSON, and a
schema with a keyword the grammar compiler does not support, come back as a message naming the
problem; every token's mask of a real generation is timed; the answer is indented. A tiny model
of the tests' (tests/data/arch) generates, so this runs in a second."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "site" / "py"))
import structured  # noqa: E402

PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120}},
          "required": ["name", "age"]}


def test_empty_box_is_any_json_object_and_a_schema_is_passed_whole():
    assert structured.response_format("  \n") == {"ok": True, "response_format": {"type": "json_object"}}
    out = structured.response_format(json.dumps(PERSON))
    assert out["ok"] and out["response_format"]["type"] == "json_schema"
    assert out["response_format"]["json_schema"]["schema"] == PERSON


def test_bad_schemas_are_refused_in_words():
    out = structured.response_format('{"type": "object",')
    assert not out["ok"] and out["error"].startswith("The JSON schema is not valid JSON:"), out
    out = structured.response_format('{"type": "string", "format": "email"}')
    assert not out["ok"] and "'format'" in out["error"] and "not supported" in out["error"], out
    out = structured.response_format('{"<b>x</b>": 1}')   # the name comes back as given (the page shows it as text)
    assert not out["ok"] and "'<b>x</b>'" in out["error"], out


TINY = str(REPO / "tests" / "data" / "arch" / "llama.f32.gguf")


def timed_run(gen):
    """Run the generation with its masks timed; (its Completion, the times), checked one a step:
    every token taken, and the end-of-turn token's when one ended the answer (c.stop; a value
    that nothing may follow ends without one)."""
    import asyncio
    times = structured.time_masks(gen)

    async def run():
        async for _ in gen:
            pass
    asyncio.run(run())
    c = gen.result
    assert len(times) == c.completion_tokens + (c.stop is not None), (len(times), c.to_dict())
    return c, times


def test_masks_of_a_generation_are_timed_and_the_answer_indented():
    import jsonschema
    import webinfer
    model = webinfer.load(TINY, device="numpy")
    rf = structured.response_format(json.dumps(PERSON))["response_format"]
    c, times = timed_run(model.generate("a person", response_format=rf, max_tokens=40, temperature=1.0, seed=3))
    stats = structured.mask_stats(times)
    assert stats["tokens"] == len(times) and 0 < stats["median"] <= stats["p99"] <= stats["max"]
    assert 0 < stats["mean"] <= stats["max"]
    shaped = structured.pretty(c.text)
    jsonschema.validate(json.loads(shaped), PERSON)
    assert shaped == json.dumps(json.loads(c.text), indent=2, ensure_ascii=False)
    assert structured.pretty(c.text[:-1]) is None                  # a stopped answer stays as it streamed
    free = model.generate("a person", max_tokens=4, temperature=0)
    assert structured.time_masks(free) == [] and structured.mask_stats([]) is None


def test_masks_on_webgpu_are_timed_once_a_token():
    # On WebGPU the mask goes to the GPU as words (mask_words, which may call allowed_ids): one
    # time a token all the same, and the same greedy answer as NumPy's.
    import webinfer

    sys.path.insert(0, str(REPO / "tests"))
    from gpu_available import open_webgpu
    rf = structured.response_format(json.dumps(PERSON))["response_format"]
    answers = {}
    for name, device in (("webgpu", open_webgpu()), ("numpy", "numpy")):
        gen = webinfer.load(TINY, device=device).generate("a person", response_format=rf, max_tokens=30, temperature=0)
        answers[name] = timed_run(gen)[0].token_ids
    assert answers["webgpu"] == answers["numpy"]
