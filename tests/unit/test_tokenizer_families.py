"""Today's small-model tokenizers against Hugging Face's `tokenizers` library, id for id.

For each family a vocabulary is generated here (trained on CORPUS), written the way a GGUF stores
it (`tokenizer.ggml.model / pre / tokens / scores / token_type / merges` and the special ids),
and loaded by webinfer. The reference is a `tokenizers.Tokenizer` built from the *same* vocabulary
with the pipeline the family's real tokenizer.json declares:

  family  GGUF model/pre    tokenizer.json (normalizer | pre-tokenizer | model)
  gpt2    gpt2 / gpt-2      - | ByteLevel(use_regex=True) | BPE
  llama3  gpt2 / llama-bpe  - | Split(LLaMA-3 regex, isolated) + ByteLevel(use_regex=False) | BPE(ignore_merges)
  qwen3   gpt2 / qwen2      NFC | Split(Qwen2 regex, isolated) + ByteLevel(use_regex=False) | BPE
  gemma3  llama (no pre)    Replace(' ', '▁') | - | BPE(byte_fallback), no dummy prefix
  phi3    llama (no pre)    Prepend('▁') + Replace(' ', '▁') | - | BPE(byte_fallback)

(Llama-3's pipeline: meta-llama's tokenizer.json; Qwen3's: Qwen/Qwen3 tokenizer.json; GPT-2's
ByteLevel; Gemma-3 and Phi-3: their SentencePiece BPE with byte fallback as transformers converts
them: GemmaConverter's Replace(' ', '▁') normalizer, whose Split(' ') pre-tokenizer finds no space
left to split on; GGUFPhi3Converter's rstrip=True on </s>, <|assistant|>, <|system|>, <|end|>,
<|user|> and the placeholders, and LlamaConverter's Prepend + Replace normalizer.)
SentencePiece vocabularies get HF merges the way HF's SentencePieceExtractor makes them: every
split of a piece into two vocabulary pieces, ranked by the piece's score.

Fixed texts (empty, whitespace runs, digits, contractions, CJK, emoji, NFD accents, unseen
characters, long) and seeded random ones are compared, with and without BOS. Webinfer reads the
vocabulary back from a GGUF file written by the project's writer. Special tokens sit in the text
as they do in chat prompts; control ones (type 3) are HF special added tokens, user-defined ones
(type 4, e.g. Qwen3's <think>) HF non-special added tokens; Phi-3's carry rstrip=True (see
PHI3_RSTRIP). Seconds to run; needs `tokenizers` (the [test] extra), nothing downloaded.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Regex, normalizers, pre_tokenizers, processors, trainers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models as hf_models

from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf
from webinfer.tokenizer import Tokenizer
from webinfer.tokenizer.pretokenize import GPT2, LLAMA3, QWEN2

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6

CORPUS = [
    "Hello world! Hello there, world. The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see they've done it; it's he'd we're. DON'T WON'T CAN'T I'LL",
    "def main():\n    return 12345 + 67890  # comment\n\n\n",
    "    indented    spaces      and\t\ttabs\t \n\r\n",
    "日本語のテキストです。中文：你好，世界！한국어 문장입니다",
    "emoji 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family 😀😀😀",
    "café naïve résumé façade über straße Ελληνικά русский текст",
    "cafe\u0301 nai\u0308ve — decomposed accents",
    "The year 2024 had 366 days; 1,000,000 people; 3.14159265358979",
    "<html><body class=\"x\">Hi</body></html> https://example.com/path?q=1&r=two",
    "مرحبا بالعالم ١٢٣ हिन्दी पाठ עברית שלום",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa " * 2,
]

TEXTS = [
    "",
    " ",
    "   ",
    "Hello world",
    " Hello world",
    "Hello  world   ",
    "hello\nworld\n\n\nend\r\nwindows",
    "\t\ttabs and\t \t mixed   \n  ",
    "I'm sure you'll see they've done it; it's he'd we're",
    "I'LL SHOUT: DON'T, WON'T, CAN'T",
    "12345 1234567890 3.14159 1,000,000 ٣٤٥ ①② ½",
    "日本語のテキストです。",
    "中文：你好，世界！ 한국어",
    "emoji 😀🎉👍🏽 and 👨‍👩‍👧‍👦 family",
    "café naïve résumé façade",
    "cafe\u0301 nai\u0308ve re\u0301sume\u0301",            # NFD accents: Qwen's NFC joins them
    "Ω\u212b \ufb01 \u2126",                              # NFC changes Å (U+212B), Ω (U+2126)
    "mixed Latin日本語123русский😀",
    "def f(x):\n    return x ** 2  # square\n",
    "<html><body class=\"x\">Hi</body></html>",
    "unseen chars: ☃ ✈ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u0000\u0001 \x7f",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    " ".join(CORPUS) * 3,                                  # long
]


def special_texts(specials: list[str]) -> list[str]:
    """Texts with the family's special tokens in them, as a chat prompt has."""
    a, b = specials[0], specials[-1]
    return [
        "".join(f"{t}\n word {t}  \t\n\n" for t in specials),
        a,
        a + b,
        f"{a}user\nHello world{b}\n{a}assistant\n",
        f"text{a}more text{b}",
        f" {a} spaced {b} ",
        f"{a}  two spaces after",
        f"{a}\nnewline after{b}\n",
        f"half {a[:-1]} and {a[1:]}",
        f"日本{a}語{b}😀",
    ]


# -- byte-level BPE: gpt2, llama3, qwen3 ---------------------------------------------------------

def byte_level_pipeline(family: str):
    """(normalizer, pre_tokenizer, ignore_merges) of the family's tokenizer.json."""
    if family == "gpt2":
        return None, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), False
    regex = {"llama3": LLAMA3, "qwen3": QWEN2}[family]
    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    return (normalizers.NFC() if family == "qwen3" else None), pre, family == "llama3"


BYTE_LEVEL = {
    # family: (GGUF pre, [(special text, GGUF type)], bos, eos)
    "gpt2": ("gpt-2", [("<|endoftext|>", CONTROL)], "<|endoftext|>", "<|endoftext|>"),
    "llama3": ("llama-bpe", [("<|begin_of_text|>", CONTROL), ("<|end_of_text|>", CONTROL),
                             ("<|start_header_id|>", CONTROL), ("<|end_header_id|>", CONTROL),
                             ("<|eot_id|>", CONTROL)], "<|begin_of_text|>", "<|end_of_text|>"),
    "qwen3": ("qwen2", [("<|endoftext|>", CONTROL), ("<|im_start|>", CONTROL), ("<|im_end|>", CONTROL),
                        ("<|fim_prefix|>", CONTROL), ("<tool_call>", USER_DEFINED), ("<think>", USER_DEFINED),
                        ("</think>", USER_DEFINED)], None, "<|im_end|>"),
}

# Whole words put in the vocabulary without a merge path to them: LLaMA-3 (ignore_merges) takes
# them as one token, the others must still merge their way through.
UNREACHABLE = ["Ġbrownfox", "Hello", "ĠHello", "world", "ä¸Ńæĸĩ", "12", "Ġworld"]


def byte_level_case(family: str):
    pre, specials, bos, eos = BYTE_LEVEL[family]
    normalizer, pre_tok, ignore_merges = byte_level_pipeline(family)
    trainer_tok = HFTokenizer(hf_models.BPE())
    if normalizer is not None:
        trainer_tok.normalizer = normalizer
    trainer_tok.pre_tokenizer = pre_tok
    trainer_tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=900, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(trainer_tok.to_str())["model"]
    vocab = sorted(model["vocab"], key=model["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    tokens = vocab + [w for w in UNREACHABLE if w not in model["vocab"]]
    types = [NORMAL] * len(tokens)
    for text, kind in specials:
        tokens.append(text)
        types.append(kind)
    meta = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.eos_token_id": tokens.index(eos)}
    if bos is not None:
        meta["tokenizer.ggml.bos_token_id"] = tokens.index(bos)
    if family == "qwen3":
        meta["tokenizer.ggml.add_bos_token"] = False     # as Qwen's GGUFs say

    hf = HFTokenizer(hf_models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                   merges=[tuple(m.split(" ")) for m in merges], ignore_merges=ignore_merges))
    if normalizer is not None:
        hf.normalizer = normalizer
    hf.pre_tokenizer = pre_tok
    add_specials(hf, tokens, types)
    if family == "llama3":   # tokenizer.json's TemplateProcessing: "<|begin_of_text|> $A"
        hf.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, tokens.index(bos))])
    return meta, hf, [t for t, _ in specials]


def add_specials(hf: HFTokenizer, tokens: list[str], types: list[int], rstrip: frozenset = frozenset()) -> None:
    """Control tokens as special added tokens, user-defined ones as plain added tokens; both
    unnormalized, at their ids in the model's vocabulary (as in a real tokenizer.json)."""
    for i, (t, k) in enumerate(zip(tokens, types)):
        if k in (CONTROL, UNKNOWN, USER_DEFINED):
            token = AddedToken(t, special=k != USER_DEFINED, normalized=False, rstrip=t in rstrip)
            n = hf.add_special_tokens([token]) if k != USER_DEFINED else hf.add_tokens([token])
            assert hf.token_to_id(t) == i, (t, i, hf.token_to_id(t), n)


# -- SentencePiece BPE with byte fallback: gemma3, phi3 ------------------------------------------

SPM = {
    # family: (leading tokens, trailing specials, bos, eos, add_space_prefix)
    "gemma3": ([("<pad>", CONTROL), ("<eos>", CONTROL), ("<bos>", CONTROL), ("<unk>", UNKNOWN)],
               [("<start_of_turn>", CONTROL), ("<end_of_turn>", CONTROL), ("<start_of_image>", CONTROL)],
               "<bos>", "<eos>", False),
    "phi3": ([("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)],
             [("<|endoftext|>", CONTROL), ("<|assistant|>", CONTROL), ("<|system|>", CONTROL),
              ("<|end|>", CONTROL), ("<|user|>", CONTROL)],
             "<s>", "<|endoftext|>", True),
}
SPACE = "\u2581"


def train_spm_pieces(texts: list[str], n_merges: int) -> tuple[list[str], list[str]]:
    """(characters, merged pieces best first): plain BPE over whole normalized texts (pieces may
    span '▁', as SentencePiece's whitespace pieces do). Ties go to the first pair seen."""
    seqs = [list(t) for t in texts]
    chars = sorted({c for s in seqs for c in s})
    pieces: list[str] = []
    known = set(chars)
    for _ in range(n_merges):
        pairs = Counter()
        for s in seqs:
            pairs.update(zip(s, s[1:]))
        best = next(((p, n) for p, n in pairs.most_common() if p[0] + p[1] not in known), None)
        if best is None or best[1] < 2:
            break
        (a, b), _ = best
        known.add(a + b)
        pieces.append(a + b)
        for s in seqs:
            i = 0
            while i < len(s) - 1:
                if s[i] == a and s[i + 1] == b:
                    s[i:i + 2] = [a + b]
                i += 1
    return chars, pieces


# Phi-3's tokenizer config (Phi-3.5-mini's as published, and what transformers' GGUF converter
# writes): every special token but <unk>, <s>, <|endoftext|> has rstrip=True. The GGUF does not
# record it; llama.cpp (and webinfer) apply it when general.name names Phi-3.
PHI3_RSTRIP = frozenset({"</s>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"})


def spm_case(family: str, name: str | None = None, arch: str | None = None):
    """A SentencePiece case; for phi3, general.name (default "Phi3", as Microsoft's GGUFs) or
    general.architecture phi3 makes the special tokens strip the whitespace after them (rstrip)."""
    lead, specials, bos, eos, prefix = SPM[family]
    if family == "phi3" and name is None:
        name = "Phi3"
    phi = arch == "phi3" or (name is not None and ("phi3" in name.lower() or "phi-3" in name.lower()))
    rstrip = PHI3_RSTRIP if phi else frozenset()
    normalized = [(SPACE if prefix else "") + t.replace(" ", SPACE) for t in CORPUS]
    chars, pieces = train_spm_pieces(normalized, 400)
    tokens = [t for t, _ in lead] + [f"<0x{b:02X}>" for b in range(256)] + chars + pieces
    types = [k for _, k in lead] + [BYTE] * 256 + [NORMAL] * (len(chars) + len(pieces))
    scores = [0.0] * (len(lead) + 256) + [-1e4 - i for i in range(len(chars))] + [-float(i) for i in range(len(pieces))]
    for t, k in specials:
        tokens.append(t)
        types.append(k)
        scores.append(0.0)
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": tokens.index(bos),
            "tokenizer.ggml.eos_token_id": tokens.index(eos), "tokenizer.ggml.unknown_token_id": tokens.index("<unk>"),
            "tokenizer.ggml.add_bos_token": True, "tokenizer.ggml.add_space_prefix": prefix}
    if name is not None:
        meta["general.name"] = name
    if arch is not None:
        meta["general.architecture"] = arch

    # HF: vocab of every non-added token; merges = all (left, right) splits of each piece, by score.
    ids = {t: i for i, t in enumerate(tokens)}
    merges = []
    for piece in sorted(pieces, key=lambda p: -scores[ids[p]]):
        splits = [(piece[:j], piece[j:]) for j in range(1, len(piece)) if piece[:j] in ids and piece[j:] in ids]
        merges += sorted(splits, key=lambda lr: (ids[lr[0]], ids[lr[1]]))
    hf = HFTokenizer(hf_models.BPE(vocab=ids,
                                   merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    steps = ([normalizers.Prepend(SPACE)] if prefix else []) + [normalizers.Replace(" ", SPACE)]
    hf.normalizer = normalizers.Sequence(steps)
    add_specials(hf, tokens, types, rstrip)
    hf.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, ids[bos])])
    return meta, hf, [t for t, _ in specials]


# -- the comparison ------------------------------------------------------------------------------

FAMILIES = ["gpt2", "llama3", "qwen3", "gemma3", "phi3"]


def through_gguf(meta: dict) -> dict:
    """The metadata as a GGUF file stores it (llama.cpp's types: token_type i32, scores f32),
    written by the project's writer and read back by its reader."""
    typed = dict(meta, **{"general.architecture": meta.get("general.architecture", "llama"),
                          "tokenizer.ggml.token_type": np.asarray(meta["tokenizer.ggml.token_type"], np.int32)})
    if "tokenizer.ggml.scores" in meta:
        typed["tokenizer.ggml.scores"] = np.asarray(meta["tokenizer.ggml.scores"], np.float32)
    buf = io.BytesIO()
    write_gguf(buf, typed, {})
    return read_gguf(buf.getvalue()).metadata


# Each family's (GGUF metadata, HF reference, special texts), built once; webinfer's tokenizer
# for it is read back from a GGUF file written by the project's writer.
CASES = {family: (byte_level_case(family) if family in BYTE_LEVEL else spm_case(family)) for family in FAMILIES}
_TOKENIZERS: dict = {}


def _tokenizer(family: str) -> Tokenizer:
    if family not in _TOKENIZERS:
        _TOKENIZERS[family] = Tokenizer.from_metadata(through_gguf(CASES[family][0]))
    return _TOKENIZERS[family]


@pytest.fixture(scope="module", params=FAMILIES)
def case(request):
    family = request.param
    _, hf, specials = CASES[family]
    return family, _tokenizer(family), hf, specials


def test_vocabulary_is_not_trivial(case):
    family, tok, hf, _ = case
    assert tok.n_vocab > 400 and hf.get_vocab_size() == tok.n_vocab
    # A trained vocabulary joins across spaces, digits and multi-byte characters.
    ids = tok.encode(CORPUS[0] + CORPUS[4], add_special=False)
    assert len(ids) < len((CORPUS[0] + CORPUS[4]).encode()) / 2


def test_encode_equals_hf_without_special_tokens(case):
    family, tok, hf, specials = case
    for text in TEXTS + special_texts(specials):
        assert tok.encode(text, add_special=False) == hf.encode(text, add_special_tokens=False).ids, (family, text)


def test_encode_equals_hf_with_special_tokens(case):
    family, tok, hf, specials = case
    for text in TEXTS + special_texts(specials):
        assert tok.encode(text) == hf.encode(text).ids, (family, text)


def test_decode_round_trips(case):
    family, tok, hf, specials = case
    # Phi-3 gives every fragment after a special token the prefix space, and decode keeps it
    # (as llama.cpp and HF both do), so only its special-free texts come back unchanged.
    for text in TEXTS + (special_texts(specials) if family != "phi3" else []):
        expect = unicodedata.normalize("NFC", text) if family == "qwen3" else text
        assert tok.decode(tok.encode(text, add_special=False)) == expect, (family, text)


def test_unreachable_whole_words_follow_ignore_merges():
    """LLaMA-3 takes a word that is in the vocabulary whole; GPT-2 and Qwen merge to it or not."""
    for family in ("llama3", "qwen3"):
        meta, hf, _ = byte_level_case(family)
        tok = Tokenizer.from_metadata(meta)
        ids = tok.encode(" brownfox", add_special=False)
        assert ids == hf.encode(" brownfox", add_special_tokens=False).ids
        assert (ids == [tok.vocab["Ġbrownfox"]]) == (family == "llama3")


@pytest.mark.parametrize("family, eot", [("gpt2", "<|endoftext|>"), ("llama3", "<|eot_id|>"), ("qwen3", "<|im_end|>"),
                                         ("gemma3", "<end_of_turn>"), ("phi3", "<|end|>")])
def test_end_of_turn_and_control_tokens(family, eot):
    meta = (byte_level_case if family in BYTE_LEVEL else spm_case)(family)[0]
    tok = Tokenizer.from_metadata(meta)
    assert tok.vocab[eot] in tok.eot_ids and tok.is_control(tok.vocab[eot])
    assert tok.decode([tok.vocab[eot]], skip_special=True) == ""
    if family == "qwen3":   # user-defined: always split out, and written back as text
        think = tok.vocab["<think>"]
        assert tok.encode("<think>", add_special=False, parse_special=False) == [think]
        assert not tok.is_control(think) and tok.decode([think], skip_special=True) == "<think>"


def test_turn_markers_stored_as_plain_tokens_are_still_cut_out():
    """Gemma 3's QAT GGUFs store <start_of_turn> / <end_of_turn> as type 1 (normal); HF (which marks
    them special) and llama.cpp (for the end-of-turn one) still treat them as control tokens."""
    meta, hf, specials = spm_case("gemma3")
    types = list(meta["tokenizer.ggml.token_type"])
    for t in ("<start_of_turn>", "<end_of_turn>"):
        types[meta["tokenizer.ggml.tokens"].index(t)] = NORMAL
    tok = Tokenizer.from_metadata(through_gguf(dict(meta, **{"tokenizer.ggml.token_type": types})))
    for text in special_texts(specials):
        assert tok.encode(text) == hf.encode(text).ids, text
    end = tok.vocab["<end_of_turn>"]
    assert tok.is_control(end) and end in tok.eot_ids and tok.decode([end], skip_special=True) == ""


@pytest.mark.parametrize("name, arch", [("Phi3", "phi3"), ("Phi-3-mini-4k-instruct", "llama"),
                                        ("Phi 3.5 Mini Instruct", "phi3"), ("Llama 2 7B", "llama"),
                                        ("Phi 3.5 mini", "llama")])
def test_phi3_special_tokens_strip_following_whitespace(name, arch):
    """rstrip follows general.name as llama.cpp reads it ('phi-3' / 'phi3' in it, any case) or the
    phi3 architecture; the HF reference carries rstrip=True exactly then (Phi-3.5-mini's config;
    Phi-3-mini-4k's current config has turned it off, its GGUF and llama.cpp have it on)."""
    meta, hf, specials = spm_case("phi3", name, arch)
    tok = Tokenizer.from_metadata(through_gguf(meta))
    for text in TEXTS[:12] + special_texts(specials):
        assert tok.encode(text) == hf.encode(text).ids, (name, text)
    prompt = tok.encode("<|user|>\nHi<|end|>\n<|assistant|>\n", add_special=False)
    strips = "phi3" in name.lower() or "phi-3" in name.lower() or arch == "phi3"
    assert (prompt == [tok.vocab["<|user|>"], *tok.encode("Hi", add_special=False), tok.vocab["<|end|>"],
                       tok.vocab["<|assistant|>"]]) == strips


# Random texts over a fixed alphabet (the corpus's characters, assorted scripts and whitespace,
# characters outside every vocabulary, each family's special tokens): drawn from fixed pieces so
# that this Python's Unicode tables and the Rust library's never disagree on a category.
PIECES = sorted({c for t in CORPUS for c in t}) + list("  \t\n\r\u00a0\u3000'sdtmlve0123456789½①٣é\u0301ÅΩ☃𝔘🙂\x00\x7f")
PIECES += ["'s", "'LL", "\r\n", "  ", "\n\n", "hello", " world", "日本", "<", "|>", "<|", "_"]
PIECES += ["e\u0301", "A\u030a", "\u212b", "\u2126"] * 4          # what NFC changes, often


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_random_texts_equal_hf(family, data):
    meta, hf, specials = CASES[family]
    tok = _tokenizer(family)
    text = "".join(data.draw(st.lists(st.sampled_from(PIECES + specials), max_size=30)))
    assert tok.encode(text) == hf.encode(text).ids
    assert tok.encode(text, add_special=False) == hf.encode(text, add_special_tokens=False).ids
