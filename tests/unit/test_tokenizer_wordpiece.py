"""WordPiece (BERT embedding models) against Hugging Face's `tokenizers`, id for id.

A vocabulary is trained here (HF's WordPieceTrainer on CORPUS) under the pipeline a BERT
tokenizer.json declares (BertNormalizer | BertPreTokenizer | WordPiece | [CLS] A [SEP]), in the
variants real files use (uncased, cased, accents kept, CJK splitting off, a short
max_input_chars_per_word, truncation), saved as tokenizer.json and read by webinfer. Fixed texts
(unicode, CJK, emoji, accents, empty, over-long, punctuation, whitespace and control oddities,
special tokens in the text) and seeded random ones are compared. The same vocabulary written as
a GGUF `bert` vocabulary (llama.cpp's phantom-space tokens) by the project's writer gives the
same ids. Seconds; needs `tokenizers` (the [test] extra).
"""

from __future__ import annotations

import io
import json
import random
import unicodedata

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, normalizers, pre_tokenizers, processors, trainers

from webinfer.errors import TokenizerError, UnsupportedModelError
from webinfer.formats.gguf import read_gguf
from webinfer.formats.gguf_write import write_gguf
from webinfer.tokenizer.wordpiece import PHANTOM_SPACE, WordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

CORPUS = [
    "Hello world! Hello there, world. The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see they've done it; it's he'd we're. DON'T WON'T CAN'T I'LL",
    "Sentence embeddings map text to vectors; retrieval compares them by cosine similarity.",
    "日本語のテキストです。中文：你好，世界！한국어 문장입니다 北京 上海",
    "café naïve résumé façade über straße Ελληνικά русский текст ΣΊΣΥΦΟΣ",
    "The year 2024 had 366 days; 1,000,000 people; 3.14159265358979 $5 50%",
    "emoji 😀 🎉 👍 are rare; unaffable unbelievable tokenization embedding",
] * 3

TEXTS = [
    "", " ", "\t\n\r ", "Hello world", "  Hello   world  ", "HELLO, World!!!",
    "Café naïve résumé ÀÉÎÕÜ", "cafe\u0301 nai\u0308ve re\u0301sume\u0301",
    "北京是中国的首都。", "日本語のテキスト、カタカナ", "한국어 텍스트", "mixed Latin日本語123русский😀",
    "emoji 😀👍🏽 🇫🇷 family 👨‍👩‍👧", "ΣΊΣΥΦΟΣ final sigma ΟΔΟΣ", "İstanbul ß straße ﬁ ligature",
    "a" * 150 + " ok", "x" * 7 + " " + "y" * 8 + " " + "z" * 9,
    "punct: !@#$%^&*()_+-=[]{}|;':\",./<>?`~ ¡¿ «» — – … ‘’ “”",
    "zero\u200bwidth\ufeffbom \x00nul \x0bvt \x0cff \x85nel \u2028ls \u3000ideo \xa0nbsp \x7fdel",
    "[CLS] hello [MASK] world [SEP][PAD] [UNK]x", "unknown ☃ ⚙ ∑ ∫ ∂ ℝ", "unaffable tokenization",
    "\ufffdreplacement \U0001F600\U0001F600", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "email@example.com http://x.y/z?q=1&r=2",
    " ".join(["word"] * 600),
]


def random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    # Random characters only where Unicode 3.2 gave them the category they have now: HF's Rust
    # tables and Python's unicodedata are of different Unicode versions, and disagree on characters
    # assigned or recategorised since (U+1885 became a non-spacing mark in Unicode 9, say).
    stable = [chr(c) for c in (rng.randrange(0x20, 0x2500) for _ in range(200))
              if unicodedata.ucd_3_2_0.category(chr(c)) == unicodedata.category(chr(c)) != "Cn"]
    pool = "abcdefghéàüΣσ北京日本😀!?.,'-[] \t\n\u0301\u200b" + "".join(stable[:80])
    return ["".join(rng.choice(pool) for _ in range(rng.randrange(0, 40))) for _ in range(n)]


def train(lowercase=True, strip_accents=None, chinese=True, max_chars=100, max_length=None) -> str:
    """tokenizer.json text of a WordPiece vocab trained on CORPUS under this BERT pipeline."""
    tok = HFTokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=max_chars))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=chinese,
                                                strip_accents=strip_accents, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=400, special_tokens=SPECIALS))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    if max_length:
        tok.enable_truncation(max_length)
    return tok.to_str()


VARIANTS = {
    "uncased": dict(),
    "cased": dict(lowercase=False),
    "lower_keep_accents": dict(strip_accents=False),
    "cased_strip_accents": dict(lowercase=False, strip_accents=True),
    "no_cjk_split": dict(chinese=False),
    "short_words": dict(max_chars=6),
    "truncate_16": dict(max_length=16),
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def pair(request):
    spec = train(**VARIANTS[request.param])
    return hf_at(spec, 512), WordPieceTokenizer.from_tokenizer_json(spec)


def hf_at(spec: str, max_length: int) -> HFTokenizer:
    """HF's tokenizer of spec, truncating at the file's length or else at max_length (the model's,
    where webinfer truncates a file that sets none)."""
    hf = HFTokenizer.from_str(spec)
    if hf.truncation is None:
        hf.enable_truncation(max_length)
    return hf


def test_ids_equal_hf(pair):
    hf, me = pair
    for text in TEXTS + random_texts(150):
        assert me.encode(text) == hf.encode(text).ids, repr(text)


def test_truncation_at_max_length():
    spec = train()
    me = WordPieceTokenizer.from_tokenizer_json(spec)
    assert me.max_length == 512                               # no truncation in the file: BERT's 512
    ids = me.encode(" ".join(["word"] * 600))
    assert len(ids) == 512 and ids[0] == me.cls_id and ids[-1] == me.sep_id
    hf = hf_at(spec, 512)
    assert ids == hf.encode(" ".join(["word"] * 600)).ids
    short = WordPieceTokenizer.from_tokenizer_json(spec, max_length=5)
    assert short.encode("hello world there fox") == [me.cls_id, *me.encode("hello world there fox")[1:4], me.sep_id]


def gguf_vocab_meta(spec: str) -> dict:
    """The vocabulary as llama.cpp's converter writes a BERT one: phantom-space tokens, specials as control."""
    vocab = json.loads(spec)["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    phantom = [t if t.startswith("[") and t.endswith("]") else t[2:] if t.startswith("##") else PHANTOM_SPACE + t
               for t in tokens]
    return {"general.architecture": "bert", "tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": phantom,
            "tokenizer.ggml.token_type": [3 if t in SPECIALS else 1 for t in tokens],
            "tokenizer.ggml.bos_token_id": vocab["[CLS]"], "tokenizer.ggml.seperator_token_id": vocab["[SEP]"],
            "tokenizer.ggml.unknown_token_id": vocab["[UNK]"], "tokenizer.ggml.padding_token_id": vocab["[PAD]"]}


def test_gguf_bert_vocab_equals_hf():
    spec = train()
    buf = io.BytesIO()
    write_gguf(buf, gguf_vocab_meta(spec), {})
    me = WordPieceTokenizer.from_gguf_metadata(read_gguf(buf.getvalue()).metadata, max_length=512)
    hf = hf_at(spec, 512)
    for text in TEXTS + random_texts(100, seed=1):
        assert me.encode(text) == hf.encode(text).ids, repr(text)


def test_bad_files():
    spec = json.loads(train())
    with pytest.raises(UnsupportedModelError, match="only WordPiece"):
        WordPieceTokenizer.from_tokenizer_json({**spec, "model": {"type": "BPE"}})
    with pytest.raises(UnsupportedModelError, match="only BertNormalizer"):
        WordPieceTokenizer.from_tokenizer_json({**spec, "normalizer": {"type": "NFC"}})
    with pytest.raises(TokenizerError, match="not valid JSON"):
        WordPieceTokenizer.from_tokenizer_json("{nope")
    vocab = dict(spec["model"]["vocab"])
    del vocab["[UNK]"]
    with pytest.raises(TokenizerError, match="no unknown token"):
        WordPieceTokenizer.from_tokenizer_json({**spec, "model": {**spec["model"], "vocab": vocab}})
    with pytest.raises(UnsupportedModelError, match="needs a 'bert'"):
        WordPieceTokenizer.from_gguf_metadata({"tokenizer.ggml.model": "gpt2"}, 512)
    meta = gguf_vocab_meta(train())
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        WordPieceTokenizer.from_gguf_metadata({**meta, "tokenizer.ggml.seperator_token_id": 10 ** 6}, 512)
    with pytest.raises(TokenizerError, match="takes str"):
        WordPieceTokenizer.from_tokenizer_json(spec).encode(b"bytes")
