"""Golden outputs for the default model, from an independent implementation (HF transformers).

What this is: a dev-only script that loads SmolLM2-135M-Instruct.Q4_1.gguf with Hugging Face
transformers (which dequantizes every tensor to float32 and runs its own LLaMA code on the CPU,
eager attention), runs a fixed set of chat and raw-text prompts through it, and writes what it
saw to tests/goldens/smollm2_q4_1.json: the token ids fed to the model, the top-10 logits and
the full-vocab logsumexp at the last prompt position, and 48 greedy tokens.

What this is not: a test, nor part of the package. It imports torch and transformers, which
neither pkg/ nor tests/ may import; tests read only the JSON it writes. Regenerate with

    pip install torch==2.13.0 transformers gguf accelerate
    python3 tools/make_goldens.py            # --model PATH, --out PATH to override

Why HF and not llama.cpp: it shares no code with webinfer (its own BPE, its own Jinja chat
template rendering, its own dequantization through gguf-py and its own attention), so an
agreement between the two is evidence, not an echo.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

DEFAULT_MODEL = Path.home() / ".cache/webinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests/goldens/smollm2_q4_1.json"
MAX_NEW_TOKENS = 48
TOP_K = 10
# Logits are float32 of magnitude ~10-30, so 5 decimals is already at f32 resolution.
LOGIT_DECIMALS = 5

# Chat prompts: lists of messages rendered through the GGUF's own ChatML template. Chosen to
# elicit long answers so that greedy decoding runs the full 48 tokens in most cases.
CHAT_PROMPTS: list[tuple[str, list[dict[str, str]]]] = [
    ("chat_photosynthesis", [
        {"role": "user", "content": "Explain how photosynthesis works in plants."}]),
    ("chat_robot_story", [
        {"role": "user", "content": "Write a short story about a robot who learns to paint."}]),
    ("chat_productivity_tips", [
        {"role": "user", "content": "List five tips for staying productive while working from home."}]),
    ("chat_prime_function", [
        {"role": "user", "content": "Write a Python function that checks whether a number is prime, "
                                    "and explain how it works."}]),
    ("chat_climate_change", [
        {"role": "user", "content": "What are the main causes of climate change?"}]),
    ("chat_list_vs_tuple", [
        {"role": "user", "content": "What is the difference between a list and a tuple in Python?"}]),
    ("chat_pancakes", [
        {"role": "user", "content": "Give me a simple recipe for pancakes."}]),
    ("chat_translate", [
        {"role": "user", "content": "Translate 'Good morning, how are you today?' into French, "
                                    "Spanish and German."}]),
    ("chat_system_pirate", [
        {"role": "system", "content": "You are a cheerful pirate captain. Always answer in pirate speak."},
        {"role": "user", "content": "Describe your ship and your crew."}]),
    ("chat_multi_turn_trip", [
        {"role": "user", "content": "Hi! Can you help me plan a trip?"},
        {"role": "assistant", "content": "Of course! Where would you like to go, and for how long?"},
        {"role": "user", "content": "I want to visit Japan for one week in spring. What should I see?"}]),
    ("chat_history_rome", [
        {"role": "user", "content": "Tell me about the history of the Roman Empire."}]),
    ("chat_exercise", [
        {"role": "user", "content": "Why is regular exercise good for your health?"}]),
]

# Raw prompts: plain continuation, no template, no BOS (the GGUF says add_bos_token = false).
# They also cover the tokenizer: code and whitespace, digits, punctuation, accents, CJK, emoji.
RAW_PROMPTS: list[tuple[str, str]] = [
    ("raw_capital_france", "The capital of France is"),
    ("raw_fibonacci", "def fibonacci(n):\n"),
    ("raw_fruit_list", "Here is a list of fruits:\n1. Apple\n2. Banana\n3."),
    ("raw_story_opening", "Once upon a time, in a small village by the sea, there lived"),
    ("raw_numbers", "In 2023, the company reported revenue of $4.5 billion, up 12% from"),
    ("raw_french", "La tour Eiffel est un monument situé à Paris. Elle a été construite"),
    ("raw_cjk_emoji", "東京は日本の首都です。 I love sushi 🍣 and ramen 🍜 because"),
    ("raw_json", '{"name": "Alice", "age": 30, "skills": ['),
]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(model_path: Path):
    """Tokenizer and float32 model from the GGUF; HF dequantizes every tensor on load."""
    d, name = str(model_path.parent), model_path.name
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(
        d, gguf_file=name, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return tok, model


def encode(tok, text: str) -> tuple[list[int], bool]:
    """Ids of `text` without special tokens, and whether HF's default call would add any.

    For this GGUF add_bos_token is false, so the two must agree; we record that instead of
    assuming it, because a BOS mismatch is the classic silent cause of logit drift.
    """
    plain = tok(text, add_special_tokens=False).input_ids
    default = tok(text).input_ids
    return plain, default != plain


def top_k(logits: torch.Tensor, k: int) -> dict:
    """Top-k (ids, values) and the full-vocab logsumexp of one (vocab,) float32 row."""
    vals, ids = torch.topk(logits, k)
    return {
        "top_ids": ids.tolist(),
        "top_logits": [round(v, LOGIT_DECIMALS) for v in vals.tolist()],
        "logsumexp": round(torch.logsumexp(logits.double(), 0).item(), LOGIT_DECIMALS),
    }


@torch.no_grad()
def run_case(tok, model, prompt_ids: list[int], eos_ids: list[int]) -> dict:
    ids = torch.tensor([prompt_ids], dtype=torch.long)  # (1, n_prompt)
    mask = torch.ones_like(ids)
    # One plain forward over the whole prompt, no cache: the logits at its last position.
    last = model(input_ids=ids, attention_mask=mask).logits[0, -1].float()  # (vocab,)
    out = model.generate(
        input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
        eos_token_id=eos_ids, pad_token_id=eos_ids[0], output_logits=True,
        return_dict_in_generate=True, num_beams=1)
    gen = out.sequences[0, len(prompt_ids):].tolist()
    steps = torch.stack(out.logits)[:, 0].float()  # (n_generated, vocab), raw logits
    # The first decode step scores the same position as the plain forward: a self-check that
    # the cached and uncached paths agree before we trust either.
    assert torch.allclose(steps[0], last, atol=1e-3), (steps[0] - last).abs().max()
    assert gen == steps.argmax(-1).tolist(), "greedy tokens are not the argmax of the logits"
    top2 = torch.topk(steps, 2, dim=-1).values  # (n_generated, 2)
    margins = (top2[:, 0] - top2[:, 1]).tolist()
    eos_index = next((i for i, t in enumerate(gen) if t in eos_ids), None)
    body = gen if eos_index is None else gen[:eos_index]
    return {
        "prompt_ids": prompt_ids,
        "n_prompt": len(prompt_ids),
        "last_position": top_k(last, TOP_K),
        "generated_ids": gen,
        "generated_text": tok.decode(body, skip_special_tokens=False),
        "stopped_on_eos": eos_index is not None,
        "eos_index": eos_index,
        "n_generated": len(gen),
        "greedy_margins": [round(m, 4) for m in margins],
        "min_greedy_margin": round(min(margins), 4),
    }


def dump(doc: dict) -> str:
    """JSON with one key per line but every list of numbers on one line: small, diffable."""
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    flat = re.compile(r"\[\s*((?:-?[\d.e+-]+|null)(?:,\s*(?:-?[\d.e+-]+|null))*)\s*\]")
    return flat.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


FORMAT = (
    "Golden outputs of HF transformers on the GGUF named in meta.model_file (dequantized to "
    "float32, CPU, eager attention), written by tools/make_goldens.py. Top level: format (this "
    "string), meta, cases. meta: model_file, model_sha256, versions, dtype, attn_implementation, "
    "date (UTC), add_bos (whether HF adds BOS for this model: it does not, so prompt_ids are "
    "exactly what was fed), bos_token_id, eos_token_ids (greedy generation stopped only on these), "
    "max_new_tokens, top_k. Each case: name; kind ('chat' or 'raw'); messages (chat only: the "
    "list of {role, content}); rendered (chat only: the text from tokenizer.apply_chat_template("
    "messages, add_generation_prompt=True, tokenize=False), i.e. the GGUF's own template with its "
    "default system message when none is given); prompt (raw only: the plain text); prompt_ids "
    "(tokenizer(text, add_special_tokens=False).input_ids, the model's whole input; a chat "
    "prompt starts with id 1 because the template begins with <|im_start|>, which is also "
    "bos_token_id, not because a BOS was added); n_prompt; "
    "last_position: top_ids and top_logits (the 10 largest raw logits at the last prompt position, "
    "descending, rounded to 5 decimals) and logsumexp (of the full 49152-wide logit row there, so "
    "log-probs are top_logits - logsumexp); generated_ids (greedy, do_sample=False, up to "
    "max_new_tokens, including the eos token when one stopped it); generated_text (decode of "
    "generated_ids up to but excluding that eos, special tokens kept); stopped_on_eos; eos_index "
    "(index of the eos in generated_ids, or null); n_generated; greedy_margins (per generated "
    "step, top-1 minus top-2 raw logit: a step with a tiny margin may legitimately flip under "
    "another implementation's rounding, and everything after it may then differ); "
    "min_greedy_margin."
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path,
                    default=Path(os.environ.get("WEBINFER_MODEL", DEFAULT_MODEL)))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    tok, model = load(args.model)
    eos = model.generation_config.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos)

    cases, add_bos_seen = [], set()
    todo = [(n, "chat", m) for n, m in CHAT_PROMPTS] + [(n, "raw", p) for n, p in RAW_PROMPTS]
    for name, kind, src in todo:
        if kind == "chat":
            text = tok.apply_chat_template(src, add_generation_prompt=True, tokenize=False)
            head = {"name": name, "kind": kind, "messages": src, "rendered": text}
        else:
            text = src
            head = {"name": name, "kind": kind, "prompt": text}
        prompt_ids, adds = encode(tok, text)
        add_bos_seen.add(adds)
        case = {**head, **run_case(tok, model, prompt_ids, eos_ids)}
        cases.append(case)
        print(f"--- {name}: {case['n_prompt']} prompt tokens, {case['n_generated']} generated, "
              f"eos={case['stopped_on_eos']}, min margin {case['min_greedy_margin']}")
        print(repr(case["generated_text"]))
    assert len(add_bos_seen) == 1, "HF added special tokens to some prompts but not others"

    meta = {
        "model_file": args.model.name,
        "model_sha256": sha256_file(args.model),
        "versions": {
            "transformers": transformers.__version__, "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "dtype": "float32",
        "attn_implementation": model.config._attn_implementation,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "add_bos": add_bos_seen.pop(),
        "bos_token_id": tok.bos_token_id,
        "eos_token_ids": eos_ids,
        "max_new_tokens": MAX_NEW_TOKENS,
        "top_k": TOP_K,
    }
    doc = {"format": FORMAT, "meta": meta, "cases": cases}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(doc) + "\n", encoding="utf-8")
    short = sum(c["n_generated"] < 32 for c in cases)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes, {len(cases)} cases, "
          f"{short} with fewer than 32 generated tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
