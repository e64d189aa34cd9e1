"""Write tests/goldens/tokenizer_smollm2.json: Hugging Face's token ids for a text corpus.

Dev-only (imports transformers, tokenizers, sentencepiece); the tests read the JSON, never this.

    python3 tools/make_tokenizer_goldens.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]

Two Hugging Face references, both encoded without special tokens added:
- "hf_gguf": HF's tokenizer built from the GGUF itself (`AutoTokenizer.from_pretrained(dir,
  gguf_file=name)`, `add_special_tokens=False`). Its GGUF conversion gives `smollm` a plain GPT-2
  ByteLevel pre-tokenizer (transformers/integrations/gguf/gguf_tokenizer_mapping.py has no split
  for it), so digits are not isolated.
- "original": SmolLM2's own tokenizer.json pipeline, rebuilt here with `tokenizers` from the
  GGUF's vocab and merges: Digits(individual_digits=True), then ByteLevel(use_regex=True). This
  is what the model was trained on, and what llama.cpp's `smollm` pre-tokenizer does.
They differ only where the vocab joins a space to a digit: it has no ASCII-digit merges, but it
does have e.g. 'Ġ١' (space + ARABIC-INDIC DIGIT ONE). The golden `ids` are the original
pipeline's; a case where HF-from-GGUF differs also records its ids as `hf_gguf_ids`.
The script checks webinfer's tokenizer against the goldens and 5000 seeded random strings, and webinfer's SentencePiece BPE
against `sentencepiece` on a freshly trained small model (printed, not written).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "pkg"))
DEFAULT_MODEL = os.path.expanduser("~/.cache/webinfer/models/SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "goldens", "tokenizer_smollm2.json")

CORPUS = [
    "Hello world",
    "Hello, world!",
    " leading space",
    "  two leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four\n",
    "\n\n\n",
    "windows\r\nline\r\nends",
    "   \n  \t \n",
    "12345",
    "3.14159265358979",
    "The year 2024 had 366 days; 1,000,000 people.",
    "phone: +1 (555) 010-9999",
    "I'm sure you'll see they've done it; it's he'd we're",
    "I'LL SHOUT: DON'T, WON'T, CAN'T",
    "rock 'n' roll's 'quoted'",
    "Punctuation!!! ... ??? --- *** ### @@@",
    "emoji 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family",
    "🙂",
    "日本語のテキストです。",
    "中文：你好，世界！",
    "한국어 문장입니다",
    "Ελληνικά και русский текст",
    "مرحبا بالعالم ١٢٣",
    "digits in scripts: ٣ ٤٥ ۶ ७८ ๙ ①② Ⅻ ½",
    "עברית שלום",
    "हिन्दी पाठ",
    "e\u0301 combining acute, a\u0308 umlaut, Z\u0335\u0321a\u0337l\u0336g\u0338o",
    "café naïve résumé façade",
    "mixed Latin日本語123русский😀",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { a[i] = b[i] * 2; }",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "<html><body class=\"x\">Hi</body></html>",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.com",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>",
    "text<|im_end|>more text",
    "<|im_start|><|im_start|>",
    "<repo_name>webinfer<file_sep>main.py",
    "half special <|im_sta and |im_end|>",
    "ＦＵＬＬ　ＷＩＤＴＨ　１２３",
    "\u00a0non-breaking\u2009thin\u3000ideographic",
    "zero\u200bwidth\u200dthings\ufeff",
    "math: ∑ x² ≤ ∞, π ≈ 3.14, √2",
    "a" * 64,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "",
]


def metadata(path: str) -> dict:
    from webinfer.formats.gguf import read_gguf
    return dict(read_gguf(path).metadata)


def original_smollm2(meta: dict):
    """SmolLM2's tokenizer.json pipeline (Digits individual + ByteLevel), from the GGUF vocab."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    tokens = list(meta["tokenizer.ggml.tokens"])
    merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    types = meta["tokenizer.ggml.token_type"]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, k in zip(tokens, types) if int(k) == 3])
    return tok


def check_random(orig, ours, n: int = 5000) -> int:
    """Seeded random strings (tricky characters, random BMP/emoji code points): webinfer vs original."""
    import random
    rng = random.Random(1)
    pool = list(" \t\n\r\u00a0\u3000'sStTlLdDmMvVreE0123456789٣①日本é\u0301.,!?-…。😀👍🏽\u200d<|>abcxyzQW")
    bad = 0
    for k in range(n):
        if k % 2:
            text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        else:
            text = "".join(chr(rng.choice([rng.randint(32, 0xD7FF), rng.randint(0x1F300, 0x1FAFF)]))
                           for _ in range(rng.randint(0, 20)))
        want, got = orig.encode(text, add_special_tokens=False).ids, ours.encode(text, add_special=False)
        if want != got:
            bad += 1
            print(f"RANDOM MISMATCH {text!r}\n  original {want}\n  webinfer {got}")
    print(f"{n} random strings: {n - bad} agree with the original pipeline")
    return bad


def check_spm() -> int:
    """Train a tiny sentencepiece BPE (byte fallback, dummy prefix) and compare encodings."""
    import sentencepiece as sp
    from webinfer.tokenizer import Tokenizer
    text = "\n".join(CORPUS[:30] * 20)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "c.txt"), "w", encoding="utf-8") as f:
            f.write(text)
        sp.SentencePieceTrainer.train(input=os.path.join(d, "c.txt"), model_prefix=os.path.join(d, "m"),
                                      model_type="bpe", vocab_size=600, byte_fallback=True,
                                      character_coverage=0.98, add_dummy_prefix=True,
                                      remove_extra_whitespaces=False, normalization_rule_name="identity",
                                      minloglevel=2)
        proc = sp.SentencePieceProcessor(model_file=os.path.join(d, "m.model"))
    n = proc.get_piece_size()
    types = [2 if proc.is_unknown(i) else 3 if proc.is_control(i) else 6 if proc.is_byte(i) else 1
             for i in range(n)]
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": [proc.id_to_piece(i) for i in range(n)],
            "tokenizer.ggml.scores": [proc.get_score(i) for i in range(n)], "tokenizer.ggml.token_type": types,
            "tokenizer.ggml.bos_token_id": proc.bos_id(), "tokenizer.ggml.eos_token_id": proc.eos_id(),
            "tokenizer.ggml.unknown_token_id": proc.unk_id()}
    ours = Tokenizer.from_metadata(meta)
    import random
    rng = random.Random(2)
    texts = [s for s in CORPUS if "<|" not in s]
    texts += ["".join(rng.choice(text) for _ in range(rng.randint(0, 40))) for _ in range(2000)]
    bad = 0
    for s in texts:
        want, got = proc.encode(s), ours.encode(s, add_special=False)
        if want != got:
            bad += 1
            print(f"SPM MISMATCH {s!r}\n  sentencepiece {want}\n  webinfer      {got}")
    print(f"sentencepiece BPE vs webinfer SPM: {len(texts) - bad} agree, {bad} differ")
    return bad


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WEBINFER_MODEL", DEFAULT_MODEL)
    from transformers import AutoTokenizer
    from webinfer.tokenizer import Tokenizer
    hf = AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    meta = metadata(path)
    orig, ours = original_smollm2(meta), Tokenizer.from_metadata(meta)
    with open(path, "rb") as f:
        sha = hashlib.file_digest(f, "sha256").hexdigest()
    cases, bad = [], 0
    for text in CORPUS:
        ids = hf.encode(text, add_special_tokens=False)
        original = orig.encode(text, add_special_tokens=False).ids
        mine = ours.encode(text, add_special=False)
        case = {"text": text, "ids": original}
        if ids != original:
            case["hf_gguf_ids"] = ids
            print(f"HF-from-GGUF differs from the original pipeline on {text!r}:\n  {ids}\n  {original}")
        if mine != original:
            bad += 1
            print(f"MISMATCH {text!r}\n  original {original}\n  webinfer {mine}")
        cases.append(case)
    print(f"{len(CORPUS)} cases: webinfer agrees with the original pipeline on {len(CORPUS) - bad}")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"model": os.path.basename(path), "model_sha256": sha,
                   "reference": "SmolLM2 tokenizer.json pipeline (Digits individual + ByteLevel) over the GGUF vocab; "
                   "hf_gguf_ids: transformers AutoTokenizer(gguf_file=...).encode(text, add_special_tokens=False)",
                   "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", OUT)
    bad += check_random(orig, ours)
    bad += check_spm()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
