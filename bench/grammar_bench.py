"""Per-token mask time of the grammar constraint with the shipped model's vocabulary, and decode
tokens/s on NumPy with and without a constraint.

    PYTHONPATH=pkg python3 bench/grammar_bench.py [--decode]

Mask time: the real model writes a JSON answer (greedy) under each constraint; its tokens are
then replayed through a fresh Constraint (the compiled grammar cache cleared first, so the
first walks of each state are counted), timing allowed_ids() per token: median and p99 over
every token of every replay. A token is the mask for one decode step. Decode tok/s (--decode): greedy, the same prompt,
free; constrained with the compiled-grammar cache cleared first (cold); and again (warm: the
same schema's masks cached, as for a repeated request).
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--decode", action="store_true", help="also decode tok/s with and without the constraint")
    args = ap.parse_args()
    model = webinfer.load(device="numpy")
    tok = model.tokenizer
    t0 = time.perf_counter()
    from webinfer.grammar.mask import vocab_trie
    vocab_trie(tok)
    print(f"vocabulary trie: {tok.n_vocab} tokens, {time.perf_counter() - t0:.2f} s to build (once per tokenizer)")
    for name, (fmt, ask) in CASES.items():
        msgs = [{"role": "user", "content": ask}]
        model.reset()
        res = model.complete(model.encode_chat(msgs), response_format=fmt, max_tokens=args.max_tokens, temperature=0)
        json.loads(res.text)
        ids = res.token_ids
        C._COMPILED.clear()
        t = time.perf_counter()
        c = C.make_constraint(tok, tok.eot_ids, response_format=fmt)
        compile_s = time.perf_counter() - t
        times = []
        for k, tid in enumerate(ids):
            t = time.perf_counter()
            c.allowed_ids(args.max_tokens - k)   # the budget the generation had
            times.append(time.perf_counter() - t)
            c.advance(tid)
        ms = np.array(times) * 1e3
        print(f"{name}: {len(ids)} tokens (finish: {res.finish_reason}), compile {compile_s * 1e3:.1f} ms, mask median {np.median(ms):.3f} ms, "
              f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms, first-visit walks "
              f"{int((ms > 5).sum())}, DFA states {len(c.automaton.stacks)}")
        if args.decode:
            runs = (("free", {}), ("constrained, cold", {"response_format": fmt}),
                    ("constrained, warm", {"response_format": fmt}))
            for label, kw in runs:
                if label.endswith("cold"):
                    C._COMPILED.clear()   # the grammar compiled and every state's mask walked in this run
                model.reset()
                prompt = model.encode_chat(msgs)
                r = model.complete(prompt, max_tokens=args.max_tokens, temperature=0, **kw)
                print(f"  decode {label}: {r.completion_tokens} tokens, {r.decode_tok_s:.2f} tok/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
