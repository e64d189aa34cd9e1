"""Stop strings over a stream of text deltas: emit what is safe, hold back what might start a stop.

A generator decodes tokens into text deltas and feeds each one to ``StopMatcher.push``. The
matcher returns the text that can be shown now. It holds back the longest tail of the text
that is still a proper prefix of some stop string (so a stop split across tokens, or across
many deltas, is never half-shown), and releases that tail as soon as the next delta rules
the stop out, or through ``flush()`` at the end of generation.

When several stop strings could match, the one that *completes first* in the text wins (and
among those ending at the same place, the one starting earliest), so the answer does not
depend on how the text was cut into deltas. Everything from that stop string's first
character on is dropped, the stop string included.

Not here: stop *tokens* (end-of-generation ids are the generator's business) or decoding
bytes to text (deltas arrive as complete str; see the incremental detokenizer).
"""

from __future__ import annotations


class StopMatcher:
    """Streaming matcher for a fixed list of stop strings. One per generation."""

    def __init__(self, stop_strings: list[str]):
        stops = list(stop_strings)
        for s in stops:
            if not isinstance(s, str):
                raise ValueError(f"stop strings must be str, got {s!r}")
            if s == "":
                raise ValueError("stop strings must be non-empty, got ''")
        self.stop_strings = list(dict.fromkeys(stops))  # dedupe, keep order
        self._held = ""  # tail of the text that is a proper prefix of some stop string
        self._done = False  # a stop string was hit: everything after it is dropped
        self.matched: str | None = None  # ... and which one

    def push(self, text_delta: str) -> tuple[str, bool]:
        """Feed the next delta; return (text safe to emit now, whether a stop string completed)."""
        if self._done:
            return "", True
        buf = self._held + text_delta
        cut = self._first_stop(buf)
        if cut is not None:
            self._held, self._done = "", True
            return buf[:cut], True
        hold = self._hold_length(buf)
        self._held = buf[len(buf) - hold :]
        return buf[: len(buf) - hold], False

    def flush(self) -> str:
        """At the end of generation: the held-back text ('' after a stop was hit)."""
        out, self._held = self._held, ""
        return out

    def _first_stop(self, buf: str) -> int | None:
        """Start index of the stop string that completes earliest in buf, or None.

        buf is the held tail plus one delta. No stop lies wholly inside the held tail (it
        would have been caught by an earlier push), and any stop that started in text
        already emitted would have kept that text held, so scanning buf sees every match.
        """
        best: tuple[int, int, str] | None = None  # (end, start, s): earliest end, then earliest start
        for s in self.stop_strings:
            start = buf.find(s)  # first occurrence = earliest end for a fixed length
            if start >= 0:
                key = (start + len(s), start, s)
                if best is None or key[:2] < best[:2]:
                    best = key
        if best is None:
            return None
        self.matched = best[2]
        return best[1]

    def _hold_length(self, buf: str) -> int:
        """Length of the longest suffix of buf that is a proper prefix of some stop string."""
        longest = max((len(s) for s in self.stop_strings), default=0)
        # Longest first: the first suffix that matches is the answer. At most longest-1
        # suffixes, each compared against each stop: tiny next to decoding a token.
        for n in range(min(len(buf), longest - 1), 0, -1):
            tail = buf[-n:]
            if any(s.startswith(tail) for s in self.stop_strings):
                return n
        return 0
