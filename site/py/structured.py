"""The chat page's JSON mode, in the worker: the response_format that Settings → JSON asks for,
checked by webinfer before anything is generated; the answer pretty-printed; the per-token mask
time the page reports.

What it is: plain webinfer API (`response_format=` on Model.generate, webinfer.grammar's checks),
so a schema the page accepts is one the library accepts, and one it refuses is refused with the
library's own message (which names the unsupported keyword). What it is not: UI (main.py shows
the messages, as text) or a second JSON Schema implementation.
"""

from __future__ import annotations

import json
import time


def response_format(schema_text: str) -> dict:
    """{"ok": True, "response_format": ...} for the page's JSON mode: any JSON object when the
    schema box is empty, else {"type": "json_schema"} with the box's schema; or {"ok": False,
    "error": ...} in words when the box holds no JSON, or a schema webinfer refuses."""
    from webinfer.errors import GrammarError
    from webinfer.grammar import response_format_gbnf
    text = schema_text.strip()
    if not text:
        rf = {"type": "json_object"}
    else:
        try:
            schema = json.loads(text)
        except ValueError as e:
            return {"ok": False, "error": f"The JSON schema is not valid JSON: {e}."}
        rf = {"type": "json_schema", "json_schema": {"name": "page", "schema": schema}}
    try:
        response_format_gbnf(rf)        # the checks generate makes, without compiling the masks
    except GrammarError as e:
        return {"ok": False, "error": f"The JSON schema cannot be used: {e}"}
    return {"ok": True, "response_format": rf}


def time_masks(gen) -> list:
    """Seconds each token's mask took in this generation, filled as it runs; empty when it has no
    constraint. The mask is the constraint's allowed_ids (the tokens the grammar allows next: what
    bench/grammar_bench.py times in CPython, and what NumPy masks the logits with) or, on WebGPU,
    its mask_words (the same as a bit mask for the GPU, which may call allowed_ids: counted once)."""
    times: list = []
    con = gen.constraint
    if con is None:
        return times
    depth = [0]

    def timed(fn):
        def call(*args):
            depth[0] += 1
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    times.append(time.perf_counter() - t)
        return call
    # this constraint object only: it belongs to this generation
    con.allowed_ids, con.mask_words = timed(con.allowed_ids), timed(con.mask_words)
    return times


def mask_stats(times: list) -> dict | None:
    """Median, mean, p99 and max of the per-token mask times, in milliseconds (None: no
    constraint). In a page without cross-origin isolation (this one) the browser's clock ticks in
    0.1 ms steps, with jitter: the mean over many tokens resolves below that, the median does not."""
    if not times:
        return None
    import numpy as np
    ms = np.asarray(times) * 1e3
    return {"tokens": len(times), "median": round(float(np.median(ms)), 4), "mean": round(float(ms.mean()), 4),
            "p99": round(float(np.percentile(ms, 99)), 3), "max": round(float(ms.max()), 3)}


def pretty(text: str) -> str | None:
    """The answer indented two spaces a level (None when it does not parse: a stopped answer)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return None
