"""WordPiece, as BERT-family embedding models tokenize: text -> ids equal to Hugging Face `tokenizers`.

The pipeline a BERT tokenizer.json declares, in pure Python (``re`` + ``unicodedata``, so it runs in
Pyodide too), each step as HF's Rust code does it:

1. added tokens ([CLS], [SEP], [PAD], [MASK], [UNK]) are cut out of the raw text first, longest first;
2. BertNormalizer: clean_text (drop NUL, U+FFFD and control characters -- Unicode Cc/Cf/Cs/Co but
   tab, newline, carriage return --, then every whitespace character -> ' '), handle_chinese_chars
   (a space each side of a CJK ideograph), strip_accents (NFD, drop the non-spacing marks Mn; by
   default it follows lowercase), lowercase (per character: 'Σ' -> 'σ' anywhere, as Rust's
   char::to_lowercase);
3. BertPreTokenizer: split on whitespace, and every punctuation character (ASCII punctuation, or
   Unicode P*) a word of its own;
4. WordPiece: greedy longest match from the left, continuations prefixed '##'; a word that cannot be
   spelled, or longer than max_input_chars_per_word characters, is [UNK];
5. post-processing: [CLS] ids [SEP], the ids first truncated to max_length - 2.

``from_tokenizer_json`` reads HF's file; ``from_gguf_metadata`` reads a GGUF `bert` vocabulary
(tokenizer.ggml.model "bert"), whose tokens llama.cpp's converter stores in "phantom space" form
('▁word' starts a word, 'ord' continues one, '[CLS]' as is): they are turned back into WordPiece's
form, and the pipeline is the uncased one llama.cpp's WPM tokenizer runs (lower-casing and
accent-stripping always).

Not here: decoding ids to text (an embedder never needs it), pairs of sequences, offsets.
"""

from __future__ import annotations

import json
import re
import unicodedata

from ..errors import TokenizerError, UnsupportedModelError

# Rust's char::is_whitespace (the White_Space property)
_WHITESPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
                        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
_CONTROL_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co"))   # (not Cn: HF keeps unassigned ones)
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
# HF tokenizers' is_chinese_char: the CJK ideograph blocks
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
PHANTOM_SPACE = "\u2581"


# ASCII fast paths (most text): clean_text's deletions and spaces as one str.translate table; the
# pre-tokenizer as one regex (words between whitespace, each punctuation character alone)
_ASCII_CLEAN = {i: None for i in (*range(0, 9), 11, 12, *range(14, 32), 127)} | {9: " ", 10: " ", 13: " "}
_ASCII_WORDS = re.compile("[%s]|[^\t\n\v\f\r %s]+" % ((re.escape("".join(sorted(_ASCII_PUNCT))),) * 2))
_CJK_RX = re.compile("([%s])" % "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK))


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c) in _CONTROL_CATEGORIES


def _is_punct(c: str) -> bool:
    return c in _ASCII_PUNCT or unicodedata.category(c)[0] == "P"


class WordPieceTokenizer:
    """encode(text) -> ids with [CLS] ... [SEP]; see the module docstring."""

    def __init__(self, vocab: dict[str, int], *, unk: str = "[UNK]", cls: str = "[CLS]", sep: str = "[SEP]",
                 pad: str = "[PAD]", prefix: str = "##", max_input_chars_per_word: int = 100,
                 lowercase: bool = True, strip_accents: bool | None = None, clean_text: bool = True,
                 handle_chinese_chars: bool = True, max_length: int = 512, added: list[str] | None = None):
        self.vocab = vocab
        self.n_vocab = max(vocab.values()) + 1 if vocab else 0
        for role, tok in (("unknown", unk), ("[CLS]", cls), ("[SEP]", sep)):
            if tok not in vocab:
                raise TokenizerError(f"the WordPiece vocabulary has no {role} token {tok!r}")
        self.unk_id, self.cls_id, self.sep_id = vocab[unk], vocab[cls], vocab[sep]
        self.pad_id = vocab.get(pad, 0)
        self.prefix = prefix
        self.max_chars = int(max_input_chars_per_word)
        self.lowercase, self.clean_text, self.chinese = lowercase, clean_text, handle_chinese_chars
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        if max_length < 2:
            raise TokenizerError(f"max_length {max_length} leaves no room for [CLS] and [SEP]")
        self.max_length = int(max_length)
        texts = sorted({t for t in (added or [unk, cls, sep, pad]) if t in vocab}, key=lambda t: (-len(t), t))
        self._added_rx = re.compile("|".join(re.escape(t) for t in texts)) if texts else None
        self._cache: dict[str, list[int]] = {}

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_tokenizer_json(cls, spec: dict | str | bytes, max_length: int | None = None) -> "WordPieceTokenizer":
        """From a HF tokenizer.json (parsed, or its text). max_length: where to truncate (with the
        specials); default: the file's truncation.max_length, else 512."""
        if not isinstance(spec, dict):
            try:
                spec = json.loads(spec)
            except ValueError as e:
                raise TokenizerError(f"tokenizer.json is not valid JSON ({e})") from None
        model = spec.get("model") or {}
        if model.get("type") != "WordPiece":
            raise UnsupportedModelError(f"tokenizer.json model {model.get('type')!r}: only WordPiece "
                                        "(BERT-family embedding models) is read from tokenizer.json")
        vocab = model.get("vocab")
        if not isinstance(vocab, dict) or not vocab:
            raise TokenizerError("tokenizer.json has no WordPiece vocab")
        norm = spec.get("normalizer") or {}
        if norm and norm.get("type") != "BertNormalizer":
            raise UnsupportedModelError(f"tokenizer.json normalizer {norm.get('type')!r}: only BertNormalizer")
        pre = spec.get("pre_tokenizer") or {}
        if pre and pre.get("type") != "BertPreTokenizer":
            raise UnsupportedModelError(f"tokenizer.json pre_tokenizer {pre.get('type')!r}: only BertPreTokenizer")
        specials = {}
        post = spec.get("post_processor") or {}
        if post.get("type") == "TemplateProcessing":
            single = [next(iter(p.values()))["id"] for p in post.get("single", [])]
            if len(single) == 3 and single[1] == "A":
                specials = {"cls": single[0], "sep": single[2]}
        elif post.get("type") == "BertProcessing":
            specials = {"cls": post["cls"][0], "sep": post["sep"][0]}
        trunc = spec.get("truncation") or {}
        pad = (spec.get("padding") or {}).get("pad_token", "[PAD]")
        added = [a["content"] for a in spec.get("added_tokens") or [] if isinstance(a, dict) and "content" in a]
        return cls({str(k): int(v) for k, v in vocab.items()},
                   unk=model.get("unk_token", "[UNK]"), pad=pad,
                   prefix=model.get("continuing_subword_prefix", "##"),
                   max_input_chars_per_word=model.get("max_input_chars_per_word", 100),
                   lowercase=norm.get("lowercase", True) if norm else False,
                   strip_accents=norm.get("strip_accents") if norm else False,
                   clean_text=norm.get("clean_text", True) if norm else False,
                   handle_chinese_chars=norm.get("handle_chinese_chars", True) if norm else False,
                   max_length=int(max_length or trunc.get("max_length") or 512),
                   added=added or None, **specials)

    @classmethod
    def from_gguf_metadata(cls, meta: dict, max_length: int) -> "WordPieceTokenizer":
        """From a GGUF's tokenizer.ggml.* keys with model "bert" (phantom-space tokens; see the docstring)."""
        k = "tokenizer.ggml."
        if meta.get(k + "model") != "bert":
            raise UnsupportedModelError(f"{k}model={meta.get(k + 'model')!r}: an embedding GGUF needs a 'bert' "
                                        "(WordPiece) vocabulary")
        tokens = [str(t) for t in meta.get(k + "tokens") or []]
        if not tokens:
            raise TokenizerError(f"GGUF metadata has no {k}tokens")
        types = [int(t) for t in meta.get(k + "token_type", [1] * len(tokens))]
        vocab: dict[str, int] = {}
        for i, t in enumerate(tokens):
            control = i < len(types) and types[i] == 3
            if control or (t.startswith("[") and t.endswith("]")):
                w = t
            elif t.startswith(PHANTOM_SPACE):
                w = t[1:]
            else:
                w = "##" + t
            vocab.setdefault(w, i)

        def special(key, default):
            i = meta.get(k + key, default)
            if i is None or not 0 <= int(i) < len(tokens):
                raise TokenizerError(f"{k}{key}={i} is outside the vocabulary (size {len(tokens)})")
            t = tokens[int(i)]
            return t[1:] if t.startswith(PHANTOM_SPACE) else t
        # llama.cpp's defaults for a WPM vocabulary: [CLS]=101 (as BOS), [SEP]=102, [UNK]=100, [PAD]=0
        cls_t, sep_t = special("bos_token_id", 101), special("seperator_token_id", 102)
        unk_t, pad_t = special("unknown_token_id", 100), special("padding_token_id", 0)
        added = [w for w, i in vocab.items() if i < len(types) and types[i] == 3]
        return cls(vocab, unk=unk_t, cls=cls_t, sep=sep_t, pad=pad_t, max_length=max_length,
                   added=added or None)

    # ---------------------------------------------------------------- encode

    def encode(self, text: str, add_special: bool = True) -> list[int]:
        """Ids of text; with add_special [CLS] ... [SEP], truncated to max_length in all."""
        if not isinstance(text, str):
            raise TokenizerError(f"encode() takes str, got {type(text).__name__}")
        ids: list[int] = []
        pos = 0
        if self._added_rx is not None:
            for m in self._added_rx.finditer(text):
                self._encode_fragment(text[pos:m.start()], ids)
                ids.append(self.vocab[m.group(0)])
                pos = m.end()
        self._encode_fragment(text[pos:], ids)
        if not add_special:
            return ids[:self.max_length]
        return [self.cls_id, *ids[:self.max_length - 2], self.sep_id]

    def _encode_fragment(self, text: str, out: list[int]) -> None:
        if not text:
            return
        for word in self.pre_tokenize(self.normalize(text)):
            got = self._cache.get(word)
            if got is None:
                got = self._cache[word] = self._word_ids(word)
                if len(self._cache) > 50000:
                    self._cache.clear()
            out.extend(got)

    def normalize(self, text: str) -> str:
        """BertNormalizer: clean_text, CJK spacing, accent stripping, lower-casing, in HF's order."""
        if text.isascii():   # (the same steps; CJK and accents cannot occur)
            text = text.translate(_ASCII_CLEAN) if self.clean_text else text
            return text.lower() if self.lowercase else text
        if self.clean_text:
            text = "".join(" " if c in _WHITESPACE else c for c in text
                           if c != "\0" and c != "\ufffd" and not _is_control(c))
        if self.chinese:
            text = _CJK_RX.sub(r" \1 ", text)
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        if self.lowercase:
            text = "".join(c.lower() for c in text)
        return text

    @staticmethod
    def pre_tokenize(text: str) -> list[str]:
        """BertPreTokenizer: words split at whitespace, each punctuation character a word."""
        if text.isascii():
            return _ASCII_WORDS.findall(text)
        words, cur = [], []
        for c in text:
            if c in _WHITESPACE:
                if cur:
                    words.append("".join(cur))
                    cur = []
            elif _is_punct(c):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(c)
            else:
                cur.append(c)
        if cur:
            words.append("".join(cur))
        return words

    def _word_ids(self, word: str) -> list[int]:
        """Greedy longest-match-first WordPiece of one word; [UNK] for the whole word if it fails."""
        if len(word) > self.max_chars:
            return [self.unk_id]
        vocab, ids, start, n = self.vocab, [], 0, len(word)
        while start < n:
            end = n
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                tid = vocab.get(piece)
                if tid is not None:
                    ids.append(tid)
                    break
                end -= 1
            else:
                return [self.unk_id]
            start = end
        return ids

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(n_vocab={self.n_vocab}, max_length={self.max_length}, lowercase={self.lowercase})"
