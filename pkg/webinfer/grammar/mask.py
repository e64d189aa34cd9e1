"""Token masks: which vocabulary tokens a grammar state accepts, over a byte trie of the vocabulary.

The trie holds every token's bytes (``Tokenizer.token_bytes``; control tokens have none and are
never in it). For a state, a depth-first walk follows each trie edge through the Automaton's
cached byte transitions and prunes a branch as soon as the state dies, so a state that allows
few bytes (JSON punctuation) visits only a handful of nodes; at each node it iterates over the
smaller of the node's children and the state's live bytes. The result -- the accepted ids and
the fewest bytes that complete the grammar after each -- is cached per state: grammar states
recur (the inside of every string, the place after every comma), so most tokens cost a dict
lookup plus a NumPy filter for the budget.

Not here: the token budget and EOS policy (constraint), the grammar itself (matcher).
"""

from __future__ import annotations

import numpy as np

from .matcher import DEAD, Automaton


class VocabTrie:
    """children[node]: {byte: child}; tokens[node]: the ids whose bytes end at node. Node 0 is the root."""

    def __init__(self, token_bytes: list[bytes]):
        self.children: list[dict[int, int]] = [{}]
        self.tokens: list[list[int]] = [[]]
        for tid, data in enumerate(token_bytes):
            if not data:
                continue
            node = 0
            for b in data:
                nxt = self.children[node].get(b)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][b] = nxt
                    self.children.append({})
                    self.tokens.append([])
                node = nxt
            self.tokens[node].append(tid)


def vocab_trie(tokenizer) -> VocabTrie:
    """The tokenizer's trie, built once and kept on the tokenizer."""
    trie = getattr(tokenizer, "_grammar_trie", None)
    if trie is None:
        trie = VocabTrie([tokenizer.token_bytes(i) for i in range(tokenizer.n_vocab)])
        tokenizer._grammar_trie = trie
    return trie


class TokenMasker:
    """allowed(state) -> (ids, dist_after): int64 ids the state accepts (ascending) and, for each,
    the fewest bytes that complete the grammar after it (float64; inf where it cannot complete)."""

    def __init__(self, automaton: Automaton, trie: VocabTrie):
        self.a, self.trie = automaton, trie
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def allowed(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(state)
        if hit is None:
            hit = self._cache[state] = self._walk(state)
        return hit

    def _walk(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        a, children, tokens = self.a, self.trie.children, self.trie.tokens
        trans, live, dist = a.trans, a.live_bytes, a.dist
        ids: list[int] = []
        ends: list[float] = []
        todo = [(0, state)]
        while todo:
            node, s = todo.pop()
            kids, lb, tr = children[node], live(s), trans[s]
            if len(lb) < len(kids):
                pairs = [(b, kids[b]) for b in lb if b in kids]
            else:
                pairs = kids.items()
            for b, child in pairs:
                t = tr.get(b)
                if t is None:
                    t = a.step(s, b)
                if t == DEAD:
                    continue
                toks = tokens[child]
                if toks:
                    ids.extend(toks)
                    ends.extend([dist[t]] * len(toks))
                if children[child]:
                    todo.append((child, t))
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        return np.asarray(ids, dtype=np.int64)[order], np.asarray(ends, dtype=np.float64)[order]
