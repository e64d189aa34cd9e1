"""The tokenizer a GGUF file describes (`tokenizer.ggml.*`), in pure Python: text <-> token ids.

Two model types, both as llama.cpp runs them (the GGUF's own reference):
- `gpt2`: byte-level BPE with a named pre-tokenizer (bpe.py, pretokenize.py);
- `llama`: SentencePiece-style BPE with scores, '▁' for spaces and `<0xNN>` byte fallback (spm.py).

Special tokens are cut out of the text first: control tokens (token_type 3) and the unknown
token (2) only when `parse_special`, user-defined tokens (4) always (llama.cpp and HF both treat
those as ordinary added words). Phi-3's special tokens also swallow the whitespace after them
(its rstrip=True; keyed on general.name as llama.cpp does, or on architecture phi3). Each text
fragment between them is tokenized on its own; with SentencePiece every fragment gets the prefix
space when `add_space_prefix` (llama.cpp does this, since a fragment always starts the text or
follows a special token).

The pre-tokenizer variant also names any Unicode normalizer its tokenizer.json runs (Qwen2/3:
NFC, per fragment, as Hugging Face does; llama.cpp skips it).

Not here: chat templates (chat.py), stop strings (stops.py), other normalizers (no supported GGUF
tokenizer uses one), WordPiece (BERT embedding models: wordpiece.py), Unigram models, and
llama.cpp's `clean_spaces` decode tweak (decode here is the exact inverse of encode, up to that
normalization).
"""

from __future__ import annotations

import re

from ..errors import TokenizerError, UnsupportedModelError
from .bpe import ByteLevelBPE, spell, unspell
from .detok import IncrementalDecoder
from .pretokenize import PreTokenizer
from .spm import SentencePieceBPE, byte_token_ids

__all__ = ["Tokenizer", "IncrementalDecoder"]

# GGUF token types (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Texts llama.cpp treats as "end of generation" besides EOS (llama-vocab.cpp's EOG list).
_END_OF_TURN = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
                "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>", "<|end_of_text|>"}

# Turn markers that some files store as plain tokens (Gemma 3's QAT GGUFs give <start_of_turn>
# and <end_of_turn> type 1): they are made control tokens, as llama.cpp does for the end-of-turn
# ones and Hugging Face (which marks them special) does for all, so a prompt's markers are still
# cut out of the text rather than spelled.
_CONTROL_LOOKING = _END_OF_TURN | {"<start_of_turn>", "<|im_start|>", "<|start_header_id|>", "<|end_header_id|>"}

# Phi-3's special tokens strip the whitespace that follows them (its tokenizer config says
# rstrip=True for all but these three; transformers' GGUF converter writes the same list). No GGUF
# key records it: llama.cpp keys on general.name containing "phi-3" / "phi3"; we do too, and also
# take a SentencePiece vocab of architecture phi3 (newer converters name files "Phi 3.5 Mini ...";
# Phi-4-mini, also phi3, has a byte-level vocab and no rstrip).
_NO_RSTRIP = frozenset({"<unk>", "<s>", "<|endoftext|>"})
_RSTRIP_SPACE = " \t\n\v\f\r"    # what llama.cpp's isspace() skips

_KEY = "tokenizer.ggml."


def _opt_id(meta: dict, key: str, n_vocab: int, default: int | None = None) -> int | None:
    """A special-token id from metadata, validated against the vocabulary size."""
    value = meta.get(_KEY + key, default)
    if value is None:
        return None
    value = int(value)
    if not 0 <= value < n_vocab:
        if _KEY + key not in meta:  # a default that this vocab does not have
            return None
        raise TokenizerError(f"{_KEY}{key}={value} is outside the vocabulary (size {n_vocab})")
    return value


class Tokenizer:
    """Build with Tokenizer.from_metadata(gguf_metadata). See the module docstring."""

    def __init__(self, *, model: str, tokens: list[str], token_types: list[int], pre: str | None,
                 merges: list[str] | None, scores: list[float] | None, bos_id: int | None,
                 eos_id: int | None, unk_id: int | None, pad_id: int | None, add_bos: bool,
                 add_eos: bool, add_space_prefix: bool, chat_template: str | None = None,
                 extra_eot_ids: tuple[int, ...] = (), rstrip_special: bool = False):
        self.model = model
        self.tokens = tokens
        self.token_types = [CONTROL if k in (NORMAL, USER_DEFINED) and t in _CONTROL_LOOKING else k
                            for t, k in zip(tokens, token_types)]
        self.n_vocab = len(tokens)
        self.bos_id, self.eos_id, self.unk_id, self.pad_id = bos_id, eos_id, unk_id, pad_id
        self.add_bos, self.add_eos, self.add_space_prefix = add_bos, add_eos, add_space_prefix
        self.chat_template = chat_template
        self.vocab = {t: i for i, t in enumerate(tokens)}
        if len(self.vocab) != len(tokens):
            # Duplicates exist in some vocabs (padding entries); the first id wins, as in llama.cpp.
            self.vocab = {}
            for i, t in enumerate(tokens):
                self.vocab.setdefault(t, i)
        self._bytes_cache: list[bytes | None] = [None] * self.n_vocab

        if model == "gpt2":
            if merges is None:
                raise TokenizerError(f"{_KEY}merges is missing for a byte-level BPE (model 'gpt2') vocab")
            self.pre = pre or "default"
            self._pretok = PreTokenizer(self.pre)
            self._bpe = ByteLevelBPE(self.vocab, merges, self._pretok.ignore_merges, unk_id)
        elif model == "llama":
            self.pre = None
            self._spm = SentencePieceBPE(self.vocab, scores if scores is not None else [0.0] * self.n_vocab,
                                         byte_token_ids(tokens), unk_id)
        else:
            raise UnsupportedModelError(f"unsupported tokenizer model {_KEY}model={model!r} (supported: gpt2, llama)")

        eot = {i for i, t in enumerate(tokens) if t in _END_OF_TURN}  # whatever their type, as llama.cpp
        eot.update(extra_eot_ids)
        if eos_id is not None:
            eot.add(eos_id)
        self.eot_ids: set[int] = eot
        self._special_rx = self._special_regex((UNKNOWN, CONTROL, USER_DEFINED))
        self._user_rx = self._special_regex((USER_DEFINED,))
        # Special tokens that swallow the whitespace after them (Phi-3's rstrip=True added tokens).
        self._rstrip: frozenset[str] = frozenset()
        if rstrip_special:
            special = {t for t, k in zip(tokens, self.token_types) if k in (UNKNOWN, CONTROL, USER_DEFINED)}
            self._rstrip = frozenset((special | ({"</s>"} & set(self.vocab))) - _NO_RSTRIP)

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_metadata(cls, meta: dict) -> "Tokenizer":
        """From a GGUF metadata dict (string arrays as list[str], numeric arrays as numpy or lists)."""
        model = meta.get(_KEY + "model")
        if model is None:
            raise TokenizerError(f"GGUF metadata has no {_KEY}model: the file carries no tokenizer")
        tokens = meta.get(_KEY + "tokens")
        if tokens is None or len(tokens) == 0:
            raise TokenizerError(f"GGUF metadata has no {_KEY}tokens")
        tokens = [str(t) for t in tokens]
        n = len(tokens)
        types = meta.get(_KEY + "token_type")
        types = [NORMAL] * n if types is None else [int(t) for t in types]
        if len(types) != n:
            raise TokenizerError(f"{_KEY}token_type has {len(types)} entries for {n} tokens")
        scores = meta.get(_KEY + "scores")
        if scores is not None:
            scores = [float(s) for s in scores]
            if len(scores) != n:
                raise TokenizerError(f"{_KEY}scores has {len(scores)} entries for {n} tokens")
        merges = meta.get(_KEY + "merges")
        merges = None if merges is None else [str(m) for m in merges]

        # llama.cpp's defaults when the file says nothing: SentencePiece vocabs use <unk>=0,
        # <s>=1, </s>=2, add BOS and a prefix space; byte-level ones add BOS only for LLaMA-3.
        spm = model == "llama"
        pre = meta.get(_KEY + "pre")
        add_bos_default = spm or pre in ("llama3", "llama-v3", "llama-bpe", "falcon3")
        extra_eot = tuple(int(meta[_KEY + k]) for k in ("eot_token_id", "eom_token_id")
                          if meta.get(_KEY + k) is not None and 0 <= int(meta[_KEY + k]) < n)
        name = str(meta.get("general.name", "")).lower()
        phi3 = "phi-3" in name or "phi3" in name or (spm and meta.get("general.architecture") == "phi3")
        return cls(
            model=str(model), tokens=tokens, token_types=types, pre=None if pre is None else str(pre),
            merges=merges, scores=scores,
            bos_id=_opt_id(meta, "bos_token_id", n, 1 if spm else None),
            eos_id=_opt_id(meta, "eos_token_id", n, 2 if spm else None),
            unk_id=_opt_id(meta, "unknown_token_id", n, 0 if spm else None),
            pad_id=_opt_id(meta, "padding_token_id", n),
            add_bos=bool(meta.get(_KEY + "add_bos_token", add_bos_default)),
            add_eos=bool(meta.get(_KEY + "add_eos_token", False)),
            add_space_prefix=bool(meta.get(_KEY + "add_space_prefix", spm)),
            chat_template=meta.get("tokenizer.chat_template"),
            extra_eot_ids=extra_eot,
            rstrip_special=phi3,
        )

    def _special_regex(self, kinds: tuple[int, ...]) -> re.Pattern | None:
        """Alternation of the texts of tokens of these types, longest first (so '<|im_start|>'
        wins over a shorter token that is its prefix)."""
        texts = {t for t, k in zip(self.tokens, self.token_types) if k in kinds and t}
        if not texts:
            return None
        return re.compile("|".join(re.escape(t) for t in sorted(texts, key=lambda t: (-len(t), t))))

    # ---------------------------------------------------------------- encode

    def encode(self, text: str, add_special: bool = True, parse_special: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TokenizerError(f"encode() takes str, got {type(text).__name__}")
        ids: list[int] = []
        if add_special and self.add_bos and self.bos_id is not None:
            ids.append(self.bos_id)
        rx = self._special_rx if parse_special else self._user_rx
        pos = 0
        if rx is not None:
            for m in rx.finditer(text):
                if m.start() < pos:        # inside whitespace an rstrip token swallowed
                    continue
                if m.start() > pos:
                    self._encode_fragment(text[pos:m.start()], ids)
                ids.append(self.vocab[m.group(0)])
                pos = m.end()
                if m.group(0) in self._rstrip:
                    while pos < len(text) and text[pos] in _RSTRIP_SPACE:
                        pos += 1
        if pos < len(text):
            self._encode_fragment(text[pos:], ids)
        if add_special and self.add_eos and self.eos_id is not None:
            ids.append(self.eos_id)
        return ids

    def _encode_fragment(self, fragment: str, out: list[int]) -> None:
        if self.model == "gpt2":
            encode_word = self._bpe.encode_word
            for word in self._pretok.split(self._pretok.normalize(fragment)):
                out.extend(encode_word(word))
        else:
            out.extend(self._spm.encode(" " + fragment if self.add_space_prefix else fragment))

    # ---------------------------------------------------------------- decode

    def is_control(self, token_id: int) -> bool:
        """Control or unknown token: it stands for no text of its own (BOS, <|im_end|>, <unk>)."""
        return self.token_types[self._check(token_id)] in (CONTROL, UNKNOWN)

    def id_of(self, piece: str) -> int | None:
        """Id of a token by its stored text ('<|im_end|>', 'Ġworld'), or by its plain text (' world')."""
        tid = self.vocab.get(piece)
        if tid is None and self.model == "gpt2":
            tid = self.vocab.get(spell(piece))
        elif tid is None:
            tid = self.vocab.get(piece.replace(" ", "\u2581"))
        return tid

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes a token stands for; b'' for control and unknown tokens."""
        cached = self._bytes_cache[self._check(token_id)]
        if cached is None:
            cached = self._bytes_cache[token_id] = self._compute_bytes(token_id)
        return cached

    def _compute_bytes(self, token_id: int) -> bytes:
        text, kind = self.tokens[token_id], self.token_types[token_id]
        if kind in (CONTROL, UNKNOWN):
            return b""
        if kind == USER_DEFINED:  # stored as plain text by llama.cpp's converter
            return text.encode("utf-8")
        if self.model == "gpt2":
            raw = unspell(text)
            return text.encode("utf-8") if raw is None else raw
        if kind == BYTE and len(text) == 6 and text.startswith("<0x"):
            return bytes([int(text[3:5], 16)])
        return text.replace("\u2581", " ").encode("utf-8")

    def _check(self, token_id) -> int:
        token_id = int(token_id)
        if not 0 <= token_id < self.n_vocab:
            raise TokenizerError(f"token id {token_id} is outside the vocabulary (size {self.n_vocab})")
        return token_id

    def _piece(self, token_id: int, skip_special: bool, first_text: bool) -> bytes:
        """What decode() writes for one token. Control tokens write their text unless skipped;
        with SentencePiece the first text piece drops the prefix space encode() added."""
        if self.is_control(token_id):
            return b"" if skip_special else self.tokens[token_id].encode("utf-8")
        piece = self.token_bytes(token_id)
        if first_text and self.add_space_prefix and self.model == "llama" and piece.startswith(b" "):
            piece = piece[1:]
        return piece

    def decode(self, ids, skip_special: bool = False) -> str:
        """Text of ids; invalid UTF-8 becomes U+FFFD. skip_special drops control tokens."""
        out, first_text = [], True
        for tid in ids:
            piece = self._piece(tid, skip_special, first_text)
            if not self.is_control(tid):
                first_text = False
            out.append(piece)
        return b"".join(out).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"Tokenizer(model={self.model!r}, pre={self.pre!r}, n_vocab={self.n_vocab})"
