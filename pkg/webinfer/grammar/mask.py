"""Token masks: which vocabulary tokens a grammar state accepts, over a byte trie of the vocabulary.

The trie holds every token's bytes (``Tokenizer.token_bytes``; control tokens have none and are
never in it). For a state, a depth-first walk follows each trie edge through the Automaton's
cached byte transitions and prunes a branch as soon as the state dies, so a state that allows
few bytes (JSON punctuation) visits only a handful of nodes; at each node it iterates over the
smaller of the node's children and the state's live bytes. Where every byte below a trie node
loops on the state reached there (the inside of a JSON string: letters keep the state as it is),
the whole subtree is accepted without descending: the trie numbers its tokens in depth-first
order, so a subtree's tokens are one slice. The result -- the accepted ids and
the fewest bytes that complete the grammar after each -- is cached per state: grammar states
recur (the inside of every string, the place after every comma), so most tokens cost a dict
lookup plus a NumPy filter for the budget.

A bounded repetition (`x{0,40}`, a maxLength) makes one state per count, none looping on
itself. For the mask, a position inside such a chain is that position in `x*` as long as the
token is too short to use up the items left: such a state is mapped to its canonical state (the
same stacks, chain positions replaced by the star rule's), whose cached mask is a superset of
its own; the tokens in it that are short enough (at most `cap` bytes: items left times the
fewest bytes an item takes) are accepted with the same bytes-to-complete, and the few longer
ones are re-checked byte by byte from the real state. Near a chain's end (cap < MIN_CAP) the
state is walked itself.

For a device that applies the mask where the logits are (WebGPU), a state's ids are also kept
packed as a bit mask (``pack_ids``: ceil(n_vocab / 32) little-endian u32 words, ~6 KB for 49k
tokens, shaders/token_mask.wgsl's layout), built once per state, so the host sends those words
instead of reading the logits back.

Not here: the token budget and EOS policy (constraint), the grammar itself (matcher).
"""

from __future__ import annotations

import numpy as np

from .gbnf import END
from .matcher import DEAD, Automaton

MIN_CAP = 12   # below this many bytes left in a chain, a state's own walk is cheaper than re-checking


def mask_words(n_vocab: int) -> int:
    """u32 words of a bit mask over n_vocab tokens."""
    return -(-n_vocab // 32)


def pack_ids(ids: np.ndarray, n_words: int) -> np.ndarray:
    """(n_words,) uint32: bit (i & 31) of word i >> 5 set for each token id i in ids (every id <
    32 * n_words). The bits are numpy.packbits' little-endian order, and the bytes are read as
    little-endian u32: the layout shaders/token_mask.wgsl reads, on any host."""
    flags = np.zeros(32 * n_words, dtype=bool)
    flags[ids] = True
    return np.packbits(flags, bitorder="little").view("<u4").astype(np.uint32, copy=False)


class VocabTrie:
    """children[node]: {byte: child}; tokens[node]: the ids whose bytes end at node. Node 0 is the root."""

    def __init__(self, token_bytes: list[bytes]):
        self.children: list[dict[int, int]] = [{}]
        self.tokens: list[list[int]] = [[]]
        self.token_bytes = token_bytes
        self.length = np.array([len(t) for t in token_bytes], dtype=np.int64)   # bytes per token id
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
        self._order()

    def _order(self) -> None:
        """order: token ids in depth-first pre-order; a node's tokens and its subtree's are
        order[lo[node]:hi[node]]. below[node]: the set (a 256-bit int) of bytes on edges under node."""
        n = len(self.children)
        self.lo, self.hi, self.below = [0] * n, [0] * n, [0] * n
        order: list[int] = []
        todo = [(0, False)]
        while todo:
            node, done = todo.pop()
            if done:
                self.hi[node] = len(order)
                m = 0
                for b, c in self.children[node].items():
                    m |= (1 << b) | self.below[c]
                self.below[node] = m
                continue
            self.lo[node] = len(order)
            order.extend(self.tokens[node])
            todo.append((node, True))
            todo.extend((c, False) for c in self.children[node].values())
        self.order = np.asarray(order, dtype=np.int32)


def vocab_trie(tokenizer) -> VocabTrie:
    """The tokenizer's trie, built once and kept on the tokenizer."""
    trie = getattr(tokenizer, "_grammar_trie", None)
    if trie is None:
        trie = VocabTrie([tokenizer.token_bytes(i) for i in range(tokenizer.n_vocab)])
        tokenizer._grammar_trie = trie
    return trie


class TokenMasker:
    """allowed(state) -> (ids, dist_after): int32 ids the state accepts (ascending) and, for each,
    the fewest bytes that complete the grammar after it (float32; inf where it cannot complete).
    Cached per state (up to 49k ids: 400 KB for a string body's state), shared where equal."""

    def __init__(self, automaton: Automaton, trie: VocabTrie):
        self.a, self.trie = automaton, trie
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._canon_state: dict[int, tuple[int, float]] = {}
        self._canon, self._cap = self._canonical_positions()
        self._packed: dict[tuple[int, int], tuple[np.ndarray, float]] = {}

    def packed(self, state: int, n_words: int) -> tuple[np.ndarray, float]:
        """(allowed(state)'s ids as pack_ids' words, the most bytes to complete after any of them),
        cached per state. The words are shared: copy before changing them."""
        hit = self._packed.get((state, n_words))
        if hit is None:
            ids, after = self.allowed(state)
            hit = self._packed[(state, n_words)] = (pack_ids(ids, n_words), float(after.max()) if after.size else 0.0)
        return hit

    def _canonical_positions(self):
        """canon[pos]: the star rule's position for a position inside a chain rule; cap[pos]: the
        bytes a token may take there and stay inside the chain (items left after the current one
        times the fewest bytes an item takes); inf outside chains."""
        g = self.a.g
        canon, cap, changed = list(range(len(g.kind))), [float("inf")] * len(g.kind), False
        for r, (star, j) in g.chains.items():
            item_min = g.min_rest[g.alts[r][0]]
            if item_min < 1:
                continue
            for k, start in enumerate(g.alts[r]):
                o = 0
                while True:
                    canon[start + o] = g.alts[star][k] + o
                    cap[start + o] = (j - 1) * item_min
                    changed = True
                    if g.kind[start + o] == END:
                        break
                    o += 1
        return (canon, cap) if changed else (None, None)

    def canonical(self, state: int) -> tuple[int, float]:
        """(the canonical state, the longest token its mask holds for state unchanged)."""
        hit = self._canon_state.get(state)
        if hit is None:
            if self._canon is None:
                hit = (state, float("inf"))
            else:
                canon, cap, stacks = self._canon, self._cap, self.a.stacks[state]
                c = self.a._intern(frozenset(tuple(canon[p] for p in st) for st in stacks))
                hit = (c, min((cap[p] for st in stacks for p in st), default=float("inf")))
            self._canon_state[state] = hit
        return hit

    def allowed(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        hit = self._cache.get(state)
        if hit is not None:
            return hit
        key, cap = self.canonical(state)
        if key == state or cap < MIN_CAP:
            hit = self._cache[state] = self._walk(state)
            return hit
        sup = self._cache.get(key)
        if sup is None:
            sup = self._cache[key] = self._walk(key)
        ids, ends = sup
        longer = np.flatnonzero(self.trie.length[ids] > cap)
        if longer.size:
            keep = np.ones(ids.size, dtype=bool)
            new_ends = ends.copy()
            run, dist, tb = self.a.run, self.a.dist, self.trie.token_bytes
            for i in longer.tolist():
                t = run(state, tb[ids[i]])
                if t == DEAD:
                    keep[i] = False
                else:
                    new_ends[i] = dist[t]
            if not keep.all() or not np.array_equal(new_ends, ends):   # else share the superset's arrays
                ids, ends = ids[keep], new_ends[keep]
        hit = self._cache[state] = (ids, ends)
        return hit

    def _walk(self, state: int) -> tuple[np.ndarray, np.ndarray]:
        tr_ = self.trie
        a, children, tokens, below = self.a, tr_.children, tr_.tokens, tr_.below
        trans, live, dist, loops = a.trans, a.live_bytes, a.dist, a.loop_bytes
        ids: list[int] = []
        ends: list[float] = []
        slices: list[tuple[int, int, float]] = []   # whole subtrees: order[lo:hi], all ending in one state
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
                if below[child] & ~loops(t) == 0:   # nothing below child leaves state t
                    slices.append((tr_.lo[child], tr_.hi[child], dist[t]))
                    continue
                toks = tokens[child]
                if toks:
                    ids.extend(toks)
                    ends.extend([dist[t]] * len(toks))
                if children[child]:
                    todo.append((child, t))
        id_parts = [np.asarray(ids, dtype=np.int32)] + [tr_.order[lo:hi] for lo, hi, _ in slices]
        end_parts = [np.asarray(ends, dtype=np.float32)] + [np.full(hi - lo, d, dtype=np.float32) for lo, hi, d in slices]
        all_ids, all_ends = np.concatenate(id_parts), np.concatenate(end_parts)
        order = np.argsort(all_ids, kind="stable")
        return all_ids[order], all_ends[order]
