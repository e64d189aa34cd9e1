"""A grammar constraint on one generation: the mask before each token, the state after it.

    c = make_constraint(tokenizer, eos_ids, response_format={"type": "json_object"})
    logits = c.mask(logits, remaining)   # -inf on every token the grammar (or the budget) forbids
    words = c.mask_words(remaining, n)   # or the same as a bit mask over n logits, for the GPU
    c.advance(token_id)                  # then c.finished: the output is whole, nothing may follow

The budget rule: with R tokens left (this one included) a token is allowed only if the grammar
can still be completed in R - 1 more bytes after it. Every byte has a token in a byte-level (or
byte-fallback) vocabulary, so that is always possible, and an output cut by max_tokens (or a
full context) still ends as a complete sentence of the grammar: a JSON value that parses. If
max_tokens is below the grammar's shortest output (in bytes), generate refuses it up front.
A generation whose budget forbade a token the grammar allowed ends with finish_reason "length"
(the value is whole, but shorter than the model may have made it); otherwise "stop".
End-of-turn tokens are allowed only where the grammar is complete.

The grammar sees each token's bytes (Tokenizer.token_bytes). One gap: a SentencePiece vocabulary
with add_space_prefix drops the leading space of the first text token when decoding, so a grammar
whose output may begin with a space can decode without it there (byte-level BPE vocabularies,
the shipped model's, have no such rule).

Compiled grammars (the DFA and the per-state mask cache) are shared by every constraint with
the same grammar text and tokenizer (a small LRU), so a repeated schema starts warm.

Not here: parsing (gbnf), schemas (json_schema), the mask walk (mask), the token loop (generate).
"""

from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from ..errors import GrammarError
from .gbnf import parse_gbnf
from .json_schema import json_object_gbnf, schema_to_gbnf
from .mask import TokenMasker, mask_words, pack_ids, vocab_trie
from .matcher import DEAD, Automaton

_COMPILED: OrderedDict = OrderedDict()
_KEEP = 8


def response_format_gbnf(response_format) -> str | None:
    """GBNF text for an OpenAI response_format (None for {"type": "text"})."""
    rf = response_format
    if isinstance(rf, str):
        rf = {"type": rf}
    if not isinstance(rf, dict) or "type" not in rf:
        raise GrammarError(f'response_format must be {{"type": "text" | "json_object" | "json_schema", ...}}, '
                           f"got {response_format!r}")
    kind = rf["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return json_object_gbnf()
    if kind == "json_schema":
        js = rf.get("json_schema")
        schema = js.get("schema") if isinstance(js, dict) else None
        if schema is None:
            raise GrammarError('response_format {"type": "json_schema"} needs "json_schema": {"schema": {...}}')
        return schema_to_gbnf(schema)
    raise GrammarError(f"response_format type {kind!r} is not one of text, json_object, json_schema")


def _compiled(text: str, tokenizer) -> tuple[Automaton, TokenMasker]:
    key = (text, id(tokenizer))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is tokenizer:
        _COMPILED.move_to_end(key)
        return hit[1], hit[2]
    a = Automaton(parse_gbnf(text))
    masker = TokenMasker(a, vocab_trie(tokenizer))
    _COMPILED[key] = (tokenizer, a, masker)
    while len(_COMPILED) > _KEEP:
        _COMPILED.popitem(last=False)
    return a, masker


class Constraint:
    def __init__(self, text: str, tokenizer, eos_ids):
        self.automaton, self.masker = _compiled(text, tokenizer)
        self.tokenizer = tokenizer
        self.eos_ids = np.array(sorted(int(t) for t in eos_ids), dtype=np.int32)
        self.state = self.automaton.start
        self.ended = False   # an end-of-turn token was taken
        self.cut = False     # the budget forbade a token the grammar allowed: the output was closed early

    @property
    def min_bytes(self) -> float:
        """Fewest bytes (so at most that many tokens) that complete the grammar from here."""
        return self.automaton.dist[self.state]

    @property
    def complete(self) -> bool:
        return self.automaton.complete[self.state]

    @property
    def finished(self) -> bool:
        """Nothing more may be generated: the grammar is complete and no byte can follow (or an
        end-of-turn token was taken)."""
        return self.ended or self.automaton.finished(self.state)

    def allowed_ids(self, remaining: int) -> np.ndarray:
        """Ascending ids allowed as the next token with `remaining` tokens left (this one included)."""
        ids, after = self.masker.allowed(self.state)
        if after.size and after.max() > remaining - 1:
            ids = ids[after <= remaining - 1]
            self.cut = True
        if self.complete:
            ids = np.union1d(ids, self.eos_ids)
        if ids.size == 0:
            raise GrammarError("no token of the vocabulary can continue the grammar here within the budget")
        return ids

    def mask(self, logits: np.ndarray, remaining: int) -> np.ndarray:
        """A copy of (n_vocab,) logits with -inf on every token not allowed."""
        ids = self.allowed_ids(remaining)
        out = np.full(logits.shape, -np.inf, dtype=np.float32)
        out[ids] = logits[ids]
        return out

    def mask_words(self, remaining: int, n_vocab: int) -> np.ndarray:
        """allowed_ids(remaining) as a bit mask over n_vocab logits (mask.pack_ids' layout: bit
        (i & 31) of u32 word i >> 5): the state's cached words, rebuilt only where the budget
        cuts, with the end-of-turn bits set where the grammar is complete."""
        n_words = mask_words(n_vocab)
        words, most = self.masker.packed(self.state, n_words)
        if most > remaining - 1 or not words.any():     # the budget cuts (or nothing: allowed_ids raises)
            return pack_ids(self.allowed_ids(remaining), n_words)
        if self.complete and self.eos_ids.size:
            words = words.copy()
            bits = np.left_shift(np.uint32(1), (self.eos_ids & 31).astype(np.uint32))
            np.bitwise_or.at(words, self.eos_ids >> 5, bits)
        return words

    def advance(self, token_id: int) -> None:
        if token_id in self.eos_ids:
            if not self.complete:
                raise GrammarError(f"end-of-turn token {token_id} before the grammar is complete")
            self.ended = True
            return
        t = self.automaton.run(self.state, self.tokenizer.token_bytes(token_id))
        if t == DEAD:
            raise GrammarError(f"token {token_id} ({self.tokenizer.token_bytes(token_id)!r}) breaks the grammar")
        self.state = t


def make_constraint(tokenizer, eos_ids, response_format=None, grammar=None) -> Constraint | None:
    """The Constraint for generate's response_format= / grammar= (GBNF text), or None for neither."""
    if response_format is not None and grammar is not None:
        raise GrammarError("give response_format or grammar, not both")
    if grammar is not None:
        if not isinstance(grammar, str):
            raise GrammarError(f"grammar must be GBNF text (str), got {type(grammar).__name__}")
        text = grammar
    elif response_format is not None:
        text = response_format_gbnf(response_format)
        if text is None:
            return None
    else:
        return None
    return Constraint(text, tokenizer, eos_ids)


