"""Token masks over a vocabulary trie equal a brute-force check of every token's bytes, including
the subtrees taken whole where every byte below loops on the state (the inside of a string), and
tokens that end or start in the middle of a UTF-8 character."""

from __future__ import annotations

import numpy as np

from webinfer.grammar import Automaton, parse_gbnf
from webinfer.grammar.json_schema import json_object_gbnf
from webinfer.grammar.mask import TokenMasker, VocabTrie
from webinfer.grammar.matcher import DEAD

WORDS = ["{", "}", '{"', '"}', '":', '": "', ", ", ",\n", "\n  ", '"', "\\", '\\"', "name", " name", "na", "nam",
         "abc", "ab", "a", "1", "12", "123", ".5", "e3", "-", "true", "tru", "null", " ", "  ", "x\"", "\u00e9",
         "caf\u00e9", "\u4e16\u754c", '"\u00e9', "\u00e9\"", ": {", "[", "]", "[1", '["', "}}", '"}}', ""]


def vocab() -> list[bytes]:
    toks = [bytes([b]) for b in range(256)] + [w.encode() for w in WORDS]
    toks += ["\u00e9".encode()[:1] + b"a", "\u4e16".encode()[1:], "\u4e16".encode()[:2]]   # UTF-8 pieces
    return toks


def brute(a: Automaton, s: int, toks: list[bytes]):
    ids, ends = [], []
    for i, t in enumerate(toks):
        if t:
            e = a.run(s, t)
            if e != DEAD:
                ids.append(i)
                ends.append(a.dist[e])
    return np.array(ids), np.array(ends)


def test_masks_equal_brute_force_along_a_document():
    toks = vocab()
    a = Automaton(parse_gbnf(json_object_gbnf()))
    masker = TokenMasker(a, VocabTrie(toks))
    doc = '{"name": "caf\u00e9 \u4e16\u754c \\"q\\"", "n": [1, -2.5e3, true, null], "o": {"k": {}}}'.encode()
    s = a.start
    for b in doc:
        ids, ends = masker.allowed(s)
        want_ids, want_ends = brute(a, s, toks)
        assert np.array_equal(ids, want_ids) and np.array_equal(ends, want_ends)
        s = a.step(s, b)
        assert s != DEAD
    assert a.finished(s)


def test_a_state_inside_a_string_takes_whole_subtrees():
    toks = vocab()
    a = Automaton(parse_gbnf('root ::= "\\"" [a-z ]* "\\""'))
    trie = VocabTrie(toks)
    s = a.run(a.start, b'"')
    assert trie.below[trie.children[0][ord("n")]] & ~a.loop_bytes(s) == 0   # "name", "nam", ... all loop
    ids, _ = TokenMasker(a, trie).allowed(s)
    assert np.array_equal(ids, brute(a, s, toks)[0])


def test_bounded_repetition_states_share_the_star_mask_and_recheck_long_tokens():
    # a maxLength-30 string: one state per count; tokens up to 26 bytes long cross the cap
    toks = vocab() + [b"abcdefghijklmnopqrstuvwxyz", b"abcdefghijklmno", b'abcdefghijklmnop"', b"a" * 13]
    schema = json_object_gbnf().replace("root ::= object", 'root ::= "\\"" char{0,30} "\\""')
    a = Automaton(parse_gbnf(schema))
    masker = TokenMasker(a, VocabTrie(toks))
    assert a.g.chains
    s = a.run(a.start, b'"')
    for b in b"x" * 30 + b'"':
        ids, ends = masker.allowed(s)
        want_ids, want_ends = brute(a, s, toks)
        assert np.array_equal(ids, want_ids) and np.array_equal(ends, want_ends)
        s = a.step(s, b)
    assert a.finished(s)


def test_packed_ids_are_little_endian_bits_of_u32_words():
    from webinfer.device.gpu_sample import unpack_mask
    from webinfer.grammar.mask import mask_words, pack_ids
    w = pack_ids(np.array([0, 33, 63]), 2)
    assert w.dtype == np.uint32 and w.tolist() == [1, (1 << 1) | (1 << 31)]   # token i: bit i & 31 of word i >> 5
    rng = np.random.default_rng(0)
    for n in (1, 31, 32, 33, 257, 49152):
        ids = np.sort(rng.choice(n, max(1, n // 5), replace=False))
        words = pack_ids(ids, mask_words(n))
        assert words.size == -(-n // 32)
        assert np.array_equal(np.flatnonzero(unpack_mask(words, n)), ids)


class Vocab:
    """A tokenizer's two members the constraint reads: vocab()'s tokens, id 256 + len(WORDS) + 3 an end-of-turn."""

    def __init__(self):
        self.toks = vocab() + [b""]
        self.n_vocab = len(self.toks)

    def token_bytes(self, i):
        return self.toks[i]


def test_constraint_mask_words_are_its_allowed_ids_budget_and_end_of_turn_included():
    from webinfer.device.gpu_sample import unpack_mask
    from webinfer.errors import GrammarError
    from webinfer.grammar import Constraint
    tok = Vocab()
    eot = tok.n_vocab - 1
    c = Constraint('root ::= "{" [a-z]{0,6} "}"', tok, [eot])
    n_logits = tok.n_vocab + 40                      # an embedding padded past the tokenizer's vocabulary
    for b in b"{ab}":
        for remaining in (1, 2, 3, 50):
            try:
                want = c.allowed_ids(remaining)
            except GrammarError:
                continue                             # nothing fits that budget (allowed_ids says so)
            got = np.flatnonzero(unpack_mask(c.mask_words(remaining, n_logits), n_logits))
            assert np.array_equal(got, want), (b, remaining)
        c.advance(b)                                 # (single-byte tokens: id == byte)
    assert c.complete and eot in np.flatnonzero(unpack_mask(c.mask_words(5, n_logits), n_logits))
    more = Constraint("root ::= [a-z]+", tok, [eot])        # complete, and letters may still follow
    more.advance(ord("a"))
    got = np.flatnonzero(unpack_mask(more.mask_words(50, n_logits), n_logits))
    assert np.array_equal(got, more.allowed_ids(50)) and eot in got and ord("b") in got
