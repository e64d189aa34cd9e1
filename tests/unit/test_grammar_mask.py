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
