"""Token sampling on the CPU: one logits vector in, one token id out.

The chain, in order (the same order as llama.cpp's common sampler chain):

    1. logit_bias      add the user's per-token bias; -inf bans a token
    2. penalties       repetition (divide positive / multiply negative logits), then
                       presence and frequency (subtract), over the last ``repetition_window``
                       ids of the history (prompt + generated)
    3. greedy          if temperature == 0: argmax (ties -> lowest id), stop here
    4. top_k           keep the k largest logits
    5. top_p           keep the smallest set of most likely tokens whose probability sums to >= p
    6. min_p           keep tokens with p >= min_p * p_max
    7. temperature     divide the surviving logits by T
    8. softmax + draw  one uniform from numpy's Generator(PCG64(seed))

Steps 4-6 look at untempered probabilities (softmax of the logits after step 2), as
llama.cpp does: temperature only reshapes what the filters let through. Every filter is a
*value threshold*: a token tied with the last one kept is kept too (Hugging Face's top-k
does the same), so which tokens survive never depends on sort order or on ids.

Cost per token is O(n_vocab) NumPy with no Python loop over the vocabulary: top-k is a
partition, only survivors are sorted, and top-p without top-k first drops the tokens that
provably cannot be in the nucleus (p_i <= (1 - top_p) / n) before its single sort.

Not here: GPU-side sampling (the device backends do argmax / top-k on the GPU), stop strings
(``webinfer.stops``), or decoding ids to text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class SamplingParams:
    """How to turn logits into a token. Defaults follow llama.cpp's, except the penalties (off)."""

    temperature: float = 0.7  # 0 -> greedy (argmax, ties -> lowest id)
    top_k: int = 40  # 0 -> disabled; ties with the k-th logit are kept
    top_p: float = 0.95  # 1.0 -> disabled; 0.0 keeps only the most likely token (and its ties)
    min_p: float = 0.05  # 0 -> disabled (keep tokens with p >= min_p * p_max)
    repetition_penalty: float = 1.0  # llama.cpp/HF: divide positive logits, multiply negative ones
    repetition_window: int = 64  # last N ids (prompt + generated) seen by the penalties; 0 -> none
    presence_penalty: float = 0.0  # OpenAI: subtract once if the token appeared in the window
    frequency_penalty: float = 0.0  # OpenAI: subtract count * penalty
    logit_bias: dict[int, float] | None = None  # added before everything else; -inf bans
    seed: int | None = None  # reproducible sampling; None -> OS entropy

    def validate(self, n_vocab: int) -> None:
        """Raise ValueError naming the first field that is out of range for a vocabulary of n_vocab."""
        if not _is_int(n_vocab) or n_vocab < 1:
            raise ValueError(f"n_vocab must be a positive integer, got {n_vocab!r}")
        _check_real("temperature", self.temperature, lo=0.0)
        if not _is_int(self.top_k) or self.top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0 disables it), got {self.top_k!r}")
        _check_real("top_p", self.top_p, lo=0.0, hi=1.0)
        _check_real("min_p", self.min_p, lo=0.0, hi=1.0)
        _check_real("repetition_penalty", self.repetition_penalty)
        if self.repetition_penalty <= 0.0:
            raise ValueError(f"repetition_penalty must be > 0 (1.0 disables it), got {self.repetition_penalty!r}")
        if not _is_int(self.repetition_window) or self.repetition_window < 0:
            raise ValueError(f"repetition_window must be an integer >= 0, got {self.repetition_window!r}")
        _check_real("presence_penalty", self.presence_penalty)
        _check_real("frequency_penalty", self.frequency_penalty)
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ValueError(f"seed must be None or an integer >= 0, got {self.seed!r}")
        if self.logit_bias is not None:
            _check_logit_bias(self.logit_bias, n_vocab)


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_real(name: str, v: object, lo: float | None = None, hi: float | None = None) -> None:
    """A finite real number within [lo, hi] (either bound optional)."""
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ValueError(f"{name} must be in [{lo_s}, {hi_s}], got {v!r}")


def _check_logit_bias(bias: dict, n_vocab: int) -> None:
    if not isinstance(bias, dict):
        raise ValueError(f"logit_bias must be a dict {{token_id: bias}}, got {type(bias).__name__}")
    for tok, b in bias.items():
        if not _is_int(tok) or not 0 <= tok < n_vocab:
            raise ValueError(f"logit_bias token id {tok!r} is not in [0, {n_vocab})")
        if not isinstance(b, (int, float, np.integer, np.floating)) or isinstance(b, (bool, np.bool_)):
            raise ValueError(f"logit_bias[{tok}] must be a number, got {b!r}")
        # -inf is the documented ban; +inf or nan would poison the softmax.
        if math.isnan(b) or b == math.inf:
            raise ValueError(f"logit_bias[{tok}] must be finite or -inf, got {b!r}")


class Sampler:
    """Samples one token per call with fixed params. Holds the RNG, so one Sampler per sequence."""

    def __init__(self, params: SamplingParams, n_vocab: int):
        params.validate(n_vocab)
        self.params = params
        self.n_vocab = int(n_vocab)
        self._rng = np.random.Generator(np.random.PCG64(params.seed))
        bias = params.logit_bias or {}
        # Precomputed once: (n_bias,) ids and values, scattered into each token's logits.
        self._bias_ids = np.fromiter((int(t) for t in bias), dtype=np.int64, count=len(bias))
        self._bias_vals = np.fromiter((float(b) for b in bias.values()), dtype=np.float32, count=len(bias))
        # What the last non-greedy draw chose from: (n_cand,) ids and their final probabilities.
        self._last: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def last_probs(self) -> np.ndarray | None:
        """(n_vocab,) float64: the distribution of the last draw (zeros where filtered); None after greedy."""
        if self._last is None:
            return None
        ids, probs = self._last
        full = np.zeros(self.n_vocab, dtype=np.float64)
        full[ids] = probs
        return full

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> int:
        """One token id from (n_vocab,) logits; history is every id so far (prompt + generated)."""
        x = self._adjusted_logits(logits, history)  # (n_vocab,) float32, -inf = banned
        if self.params.temperature == 0.0:
            self._last = None
            return int(np.argmax(x))  # first maximum -> lowest id among ties
        ids, xc = self._filter(x)  # (n_cand,) ascending ids and their logits
        probs = _softmax((xc - xc.max()) / self.params.temperature)
        self._last = (ids, probs)
        return int(ids[self._draw(probs)])

    # -- steps 1-2: bias and penalties -------------------------------------------------------

    def _adjusted_logits(self, logits: np.ndarray, history: Sequence[int]) -> np.ndarray:
        x = np.array(logits, dtype=np.float32, copy=True)
        if x.shape != (self.n_vocab,):
            raise ValueError(f"logits must have shape ({self.n_vocab},), got {x.shape}")
        # One pass catches nan and +inf (nan < inf is False); -inf is a legitimate ban.
        if not (x < np.inf).all():
            bad = int(np.flatnonzero(~(x < np.inf))[0])
            raise ValueError(f"logits must be finite or -inf, got {x[bad]} at token {bad}")
        if self._bias_ids.size:
            x[self._bias_ids] += self._bias_vals
        self._apply_penalties(x, history)
        if x.max() == -np.inf:
            raise ValueError("every token is banned (all logits are -inf after logit_bias and penalties)")
        return x

    def _apply_penalties(self, x: np.ndarray, history: Sequence[int]) -> None:
        p = self.params
        if p.repetition_window == 0 or (
            p.repetition_penalty == 1.0 and p.presence_penalty == 0.0 and p.frequency_penalty == 0.0
        ):
            return
        window = np.asarray(list(history[-p.repetition_window :]), dtype=np.int64)  # (<= window,)
        if window.size == 0:
            return
        if window.min() < 0 or window.max() >= self.n_vocab:
            bad = int(window[(window < 0) | (window >= self.n_vocab)][0])
            raise ValueError(f"history token id {bad} is not in [0, {self.n_vocab})")
        seen, counts = np.unique(window, return_counts=True)  # (n_seen,) each
        v = x[seen]
        if p.repetition_penalty != 1.0:
            v = np.where(v > 0, v / p.repetition_penalty, v * p.repetition_penalty)
        # llama.cpp: logit -= count * freq + (count > 0) * presence; -inf stays -inf.
        x[seen] = v - counts * p.frequency_penalty - p.presence_penalty

    # -- steps 4-6: filters ------------------------------------------------------------------

    def _filter(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply top_k, top_p, min_p; return (n_cand,) ascending ids and their logits.

        With top_k on, the k survivors are gathered first and the rest works on k values.
        Without it, top_p and min_p build a (n_vocab,) mask and the gather happens once at
        the end: a gather of 49152 floats costs as much as the arithmetic, so do it once.
        """
        p = self.params
        if 0 < p.top_k < self.n_vocab:
            kth = np.partition(x, self.n_vocab - p.top_k)[self.n_vocab - p.top_k]  # k-th largest
            ids = np.flatnonzero((x >= kth) & (x > -np.inf))  # ties with the k-th stay
            xc = x[ids]
        else:
            ids, xc = None, x
        keep = xc > -np.inf
        if p.top_p < 1.0:
            keep &= _top_p_mask(xc, p.top_p)
        if p.min_p > 0.0:
            # p_i >= min_p * p_max  <=>  exp(x_i - x_max) >= min_p (normalisation cancels).
            keep &= np.exp(xc - xc.max()) >= p.min_p
        sel = np.flatnonzero(keep)
        return (sel if ids is None else ids[sel]), xc[sel]

    # -- step 8: draw ------------------------------------------------------------------------

    def _draw(self, probs: np.ndarray) -> int:
        """Inverse-CDF draw: index i with P(i) = probs[i]; never an index with probability 0."""
        cum = np.cumsum(probs)
        i = int(np.searchsorted(cum, self._rng.random() * cum[-1], side="right"))
        if i >= cum.size:  # u * total rounded up to total: take the last index with mass
            i = int(np.searchsorted(cum, cum[-1], side="left"))
        return i


def _softmax(z: np.ndarray) -> np.ndarray:
    """float64 softmax of z, whose max must already be 0 (so exp never overflows)."""
    e = np.exp(z.astype(np.float64))
    return e / e.sum()


def _top_p_mask(xc: np.ndarray, top_p: float) -> np.ndarray:
    """(n_cand,) bool: the nucleus of logits xc, plus any token tied with its last member."""
    probs = _softmax(xc - xc.max())
    # Tokens with p <= (1 - top_p) / n hold at most 1 - top_p together, so the tokens above
    # that bound already reach top_p: the nucleus lies inside them. Sorting only those turns
    # a 49152-long sort into a few hundred on a real model's distribution.
    pool = np.flatnonzero(probs > (1.0 - top_p) / probs.size)
    if pool.size == 0:  # only when every p is exactly equal: all of them tie, keep them all
        return np.ones(xc.size, dtype=bool)
    order = pool[np.argsort(-probs[pool])]  # descending; tie order is irrelevant (ties kept)
    cum = np.cumsum(probs[order])
    last = min(int(np.searchsorted(cum, top_p, side="left")), order.size - 1)
    return xc >= xc[order[last]]
