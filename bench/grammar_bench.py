"""Per-token mask time of the grammar constraint with the shipped model's vocabulary, and decode
tokens/s on NumPy with and without a constraint.

    PYTHONPATH=pkg python3 bench/grammar_bench.py [--decode] [--pyodide]

Mask time: the real model writes a JSON answer (greedy) under each constraint; its tokens are
then replayed through a fresh Constraint (the compiled grammar cache cleared first, so the
first walks of each state are counted), timing allowed_ids() per token: median and p99 over
every token of every replay; then replayed again timing mask_words() (the bit mask WebGPU gets;
bench/grammar_gpu_bench.py times decoding with it). A token is the mask for one decode step. Decode tok/s (--decode): greedy, the same prompt,
free; constrained with the compiled-grammar cache cleared first (cold); and again (warm: the
same schema's masks cached, as for a repeated request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import numpy as np

import webinfer
from webinfer.grammar import constraint as C

PRODUCT = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 40}, "price": {"type": "number", "minimum": 0},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4}}, "required": ["name", "price", "tags"]}
PEOPLE = {"type": "object", "properties": {"people": {"type": "array", "maxItems": 3, "items": {
    "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 120},
                                     "role": {"enum": ["author", "editor", "reader"]}},
    "required": ["name", "age", "role"]}}}, "required": ["people"]}
CASES = {
    "json_object": ({"type": "json_object"}, "Describe a cat as a JSON object."),
    "schema product": ({"type": "json_schema", "json_schema": {"schema": PRODUCT}}, "A lamp for sale, as JSON."),
    "schema people": ({"type": "json_schema", "json_schema": {"schema": PEOPLE}}, "Three people who made a book, as JSON."),
}


async def measure(model, max_tokens: int, decode: bool) -> list[str]:
    """The report's lines (CPython, or inside Pyodide: the async API only)."""
    from webinfer.grammar.mask import vocab_trie
    tok, lines = model.tokenizer, []
    t0 = time.perf_counter()
    vocab_trie(tok)
    lines.append(f"vocabulary trie: {tok.n_vocab} tokens, {time.perf_counter() - t0:.2f} s to build (once per tokenizer)")
    for name, (fmt, ask) in CASES.items():
        prompt = model.encode_chat([{"role": "user", "content": ask}])
        model.reset()
        res = await model.acomplete(prompt, response_format=fmt, max_tokens=max_tokens, temperature=0)
        json.loads(res.text)
        ids = res.token_ids
        C._COMPILED.clear()
        t = time.perf_counter()
        c = C.make_constraint(tok, tok.eot_ids, response_format=fmt)
        compile_s = time.perf_counter() - t
        times = []
        for k, tid in enumerate(ids):
            t = time.perf_counter()
            c.allowed_ids(max_tokens - k)   # the budget the generation had
            times.append(time.perf_counter() - t)
            c.advance(tid)
        ms = np.array(times) * 1e3
        lines.append(f"{name}: {len(ids)} tokens (finish: {res.finish_reason}), compile {compile_s * 1e3:.1f} ms, "
                     f"mask median {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms, "
                     f"first-visit walks {int((ms > 5).sum())}, DFA states {len(c.automaton.stacks)}")
        # the WebGPU path's host work: the same masks as bit-mask words (Constraint.mask_words),
        # timed on a second replay with every state's mask already walked (the cold walks are above)
        c2, packed = C.make_constraint(tok, tok.eot_ids, response_format=fmt), []
        for k, tid in enumerate(ids):
            t = time.perf_counter()
            c2.mask_words(max_tokens - k, model.config.n_vocab)
            packed.append(time.perf_counter() - t)
            c2.advance(tid)
        pk = np.array(packed) * 1e3
        lines.append(f"  as bit-mask words (warm): median {np.median(pk):.3f} ms, p99 {np.percentile(pk, 99):.2f} ms")
        if decode:
            runs = (("free", {}), ("constrained, cold", {"response_format": fmt}),
                    ("constrained, warm", {"response_format": fmt}))
            for label, kw in runs:
                if label.endswith("cold"):
                    C._COMPILED.clear()   # the grammar compiled and every state's mask walked in this run
                model.reset()
                r = await model.acomplete(prompt, max_tokens=max_tokens, temperature=0, **kw)
                lines.append(f"  decode {label}: {r.completion_tokens} tokens, {r.decode_tok_s:.2f} tok/s")
    return lines


PYODIDE_CODE = """
import sys, json
import pyodide_js
await pyodide_js.loadPackage(["numpy"])
sys.path[:0] = ["/host/pkg", "/host/bench"]
import webinfer, grammar_bench
m = webinfer.load(open("/host/models/{name}", "rb").read(), device="numpy")
json.dumps(await grammar_bench.measure(m, {max_tokens}, {decode}))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--decode", action="store_true", help="also decode tok/s with and without the constraint")
    ap.add_argument("--pyodide", action="store_true", help="inside Pyodide under Node (bench/node_pyodide.py)")
    args = ap.parse_args()
    if args.pyodide:
        from pathlib import Path

        from node_pyodide import model_path, run
        repo = Path(__file__).resolve().parents[1]
        mp = model_path()
        code = PYODIDE_CODE.format(name=mp.name, max_tokens=args.max_tokens, decode=args.decode)
        lines = json.loads(run(code, {"/host/pkg": repo / "pkg", "/host/bench": repo / "bench",
                                      f"/host/models/{mp.name}": mp}))
        print("inside Pyodide (Node):")
    else:
        lines = asyncio.run(measure(webinfer.load(device="numpy"), args.max_tokens, args.decode))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
