"""Running a Grammar over bytes: a pushdown automaton of rule positions, built lazily into a DFA.

A *stack* is a tuple of program positions: the last one points at the BYTES element to match
next, the ones below are where to return when a rule ends (the element after its reference; a
reference that ends its alternative pushes nothing -- llama.cpp's tail call, so `x*` and other
right recursion never grow the stack). A *state* is the set of stacks the input so far allows
(the grammar may be ambiguous); the empty stack means "the input may end here". States are
interned as ints and their byte transitions cached, so a state met again costs one dict lookup
per byte: the Automaton is the DFA of the reachable part of the grammar, built as it is used.

``dist[state]``: the fewest bytes that complete the grammar from the state (0: complete); the
token masks use it to keep every output completable within the token budget.

Matcher is a cursor on an Automaton: advance(bytes), accepts(bytes), is_complete(), is_finished().

Not here: parsing (gbnf), token ids and masks (mask).
"""

from __future__ import annotations

from ..errors import GrammarError
from .gbnf import BYTES, END, REF, Grammar

DEAD = -1
MAX_STATES = 200_000   # a guard against a grammar whose reachable stack sets explode


class Automaton:
    """The lazily built DFA of a Grammar: states are ints, state 0 is the start."""

    def __init__(self, grammar: Grammar):
        self.g = grammar
        self._ids: dict[frozenset, int] = {}
        self.stacks: list[frozenset] = []
        self.trans: list[dict[int, int]] = []   # trans[s][byte] -> state or DEAD (cached)
        self.dist: list[float] = []
        self.complete: list[bool] = []
        self.live: list[list[int] | None] = []  # bytes with a live transition, computed on demand
        self.loops: list[int | None] = []       # bytes that lead back to the same state (a 256-bit set)
        out: set = set()
        for p in grammar.alts[grammar.root]:
            self._expand((p,), out)
        self.start = self._intern(frozenset(out))

    def _expand(self, stack: tuple, out: set) -> None:
        """Add to out every stack reachable from stack without consuming a byte, each with a BYTES
        top (or empty: the end)."""
        g = self.g
        while True:
            if not stack:
                out.add(stack)
                return
            pos = stack[-1]
            k = g.kind[pos]
            if k == BYTES:
                out.add(stack)
                return
            if k == END:
                stack = stack[:-1]
                continue
            rest = stack[:-1] if g.kind[pos + 1] == END else stack[:-1] + (pos + 1,)
            for start in g.alts[g.arg[pos]]:
                self._expand(rest + (start,), out)
            return

    def _intern(self, stacks: frozenset) -> int:
        sid = self._ids.get(stacks)
        if sid is None:
            if not stacks:
                return DEAD
            if len(self.stacks) >= MAX_STATES:
                raise GrammarError(f"the grammar reached {MAX_STATES} distinct parser states: it is too "
                                   f"ambiguous or deeply nested to constrain decoding")
            sid = self._ids[stacks] = len(self.stacks)
            self.stacks.append(stacks)
            self.trans.append({})
            rest = self.g.min_rest
            self.dist.append(min(sum(rest[p] for p in st) for st in stacks))
            self.complete.append(() in stacks)
            self.live.append(None)
            self.loops.append(None)
        return sid

    def step(self, s: int, b: int) -> int:
        """The state after byte b from state s (DEAD when the grammar rejects it)."""
        t = self.trans[s].get(b)
        if t is None:
            g, out = self.g, set()
            for st in self.stacks[s]:
                if st and (g.arg[st[-1]] >> b) & 1:
                    self._expand(st[:-1] + (st[-1] + 1,), out)
            t = self.trans[s][b] = self._intern(frozenset(out))
        return t

    def live_bytes(self, s: int) -> list[int]:
        """The bytes that do not kill state s, ascending."""
        lb = self.live[s]
        if lb is None:
            m = 0
            for st in self.stacks[s]:
                if st:
                    m |= self.g.arg[st[-1]]
            lb = self.live[s] = [b for b in range(256) if (m >> b) & 1 and self.step(s, b) != DEAD]
        return lb

    def loop_bytes(self, s: int) -> int:
        """The bytes b with step(s, b) == s, as a 256-bit set."""
        m = self.loops[s]
        if m is None:
            m = 0
            for b in self.live_bytes(s):
                if self.step(s, b) == s:
                    m |= 1 << b
            self.loops[s] = m
        return m

    def run(self, s: int, data: bytes) -> int:
        for b in data:
            if s == DEAD:
                break
            s = self.step(s, b)
        return s

    def finished(self, s: int) -> bool:
        """Complete, and no byte may follow: the output is over."""
        return self.complete[s] and len(self.stacks[s]) == 1


class Matcher:
    """A position in a grammar's language: m.advance(b"..."), m.is_complete()."""

    def __init__(self, grammar_or_automaton):
        a = grammar_or_automaton
        self.automaton = a if isinstance(a, Automaton) else Automaton(a)
        self.state = self.automaton.start

    def accepts(self, data: bytes) -> bool:
        """Whether data may come next (a prefix of a sentence continuing the input so far)."""
        return self.automaton.run(self.state, data) != DEAD

    def advance(self, data: bytes) -> None:
        """Consume data; GrammarError (the state unchanged) if the grammar rejects it."""
        t = self.automaton.run(self.state, data)
        if t == DEAD:
            raise GrammarError(f"the grammar does not accept {data!r} here")
        self.state = t

    def is_complete(self) -> bool:
        """The input so far is a whole sentence of the grammar."""
        return self.automaton.complete[self.state]

    def is_finished(self) -> bool:
        """Complete and nothing more may follow."""
        return self.automaton.finished(self.state)

    def min_bytes_to_complete(self) -> float:
        return self.automaton.dist[self.state]
