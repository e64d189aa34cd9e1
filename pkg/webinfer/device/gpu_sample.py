"""Sampling on the device: the NumPy twin of shaders/sample.wgsl, and when generate may use it.

A device with a ``sample(logits, temperature, top_k, top_p, min_p, u)`` op (WebGPU) draws the
next token where the logits are, so only the 4-byte id comes back instead of the whole
(1, n_vocab) row. ``u`` is one uniform number in [0, 1) from the sequence's seeded
``numpy.random.Generator(PCG64(seed))`` -- the same stream webinfer.sampling.Sampler draws
from, so a seed gives the same tokens on either path (up to float rounding at a boundary).

``sample_reference`` is the definition of the kernel's math, written the way the kernel
computes it (order-preserving u32 keys, value thresholds, one inverse-CDF draw over ascending
ids); tests/kernels/test_sample.py holds the kernel to it. The distribution is the one
webinfer.sampling.Sampler draws from: top-k, then top-p over the top-k survivors'
renormalised probabilities, then min-p, then temperature, all before any draw.

A grammar constraint's allowed tokens enter both kernels (and the fused decode step's greedy
pick) as a bit mask, ``mask``: u32 words, bit (i & 31) of word i >> 5 for token i
(grammar.mask.pack_ids). A token it leaves out is as a logit of -inf: never the argmax, key 0
and weight 0 in the draw (``unpack_mask``, ``argmax_reference``).

Not here: logit_bias and the penalties, which need the token history: those stay on the CPU
sampler (``device_sampling`` says no), as does greedy decoding (argmax).
"""

from __future__ import annotations

import numpy as np


def device_sampling(params) -> bool:
    """True when params are pure filters + temperature (what sample.wgsl implements)."""
    return (params.temperature > 0 and not params.logit_bias and params.repetition_penalty == 1.0
            and params.presence_penalty == 0 and params.frequency_penalty == 0)


def float_keys(x: np.ndarray) -> np.ndarray:
    """uint32 keys with the order of the float32 values (sample.wgsl's key()): flip every bit of
    a negative, only the sign bit of a positive. -0.0 sorts just below +0.0, as on the GPU."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return np.where(b & 0x80000000, ~b, b | 0x80000000).astype(np.uint32)


def unpack_mask(words: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: which of n tokens the bit mask `words` (token_mask.wgsl's layout) allows."""
    b = np.ascontiguousarray(words, dtype="<u4").view(np.uint8)
    return np.unpackbits(b, bitorder="little")[:n].astype(bool)


def argmax_reference(logits: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """argmax.wgsl's token of each row (the first of the largest), among the allowed ones with a mask."""
    x2 = np.atleast_2d(np.asarray(logits, dtype=np.float32))
    if mask is not None:
        x2 = np.where(unpack_mask(mask, x2.shape[1]), x2, np.float32(-np.inf))
    return np.argmax(x2, axis=1).astype(np.int32)


def sample_reference(logits: np.ndarray, temperature: float, top_k: int, top_p: float, min_p: float,
                     u: float, mask: np.ndarray | None = None) -> np.ndarray:
    """(n, n_vocab) float32 logits -> (n,) int32 token ids, one draw per row with the same u; only
    tokens the bit mask allows where one is given (sample.wgsl MASK)."""
    x2 = np.atleast_2d(np.asarray(logits, dtype=np.float32))
    ok = unpack_mask(mask, x2.shape[1]) if mask is not None else None
    return np.array([_sample_row(r, float(temperature), int(top_k), float(top_p), float(min_p), np.float32(u), ok)
                     for r in x2], dtype=np.int32)


def _sample_row(x, temperature, top_k, top_p, min_p, u, ok=None) -> int:
    n = x.size
    keys = float_keys(x)                                   # (n,) uint32
    if ok is not None:                                     # MASK: key 0 and exp 0 where left out
        keys = np.where(ok, keys, np.uint32(0))
        m = x[ok].max() if ok.any() else np.float32(-3.4e38)
        x = np.where(ok, x, m)                             # (their weights are 0 below: no overflow)
        e = np.where(ok, np.exp(x - m), np.float32(0.0))
    else:
        m = x.max()
        e = np.exp(x - m)                                  # (n,) float32, untempered p * Z
    kk = np.uint32(0)
    if 0 < top_k < n:
        kk = np.partition(keys, n - top_k)[n - top_k]      # the k-th largest key
    thr = kk
    if top_p < 1.0:
        surv = keys >= kk
        z = e[surv].astype(np.float64).sum()
        # mass of each distinct surviving key, largest first; the threshold is the largest key
        # whose mass at-or-above reaches top_p * z
        uk, inv = np.unique(keys[surv], return_inverse=True)
        mass = np.bincount(inv.reshape(-1), weights=e[surv].astype(np.float64), minlength=uk.size)
        cum = np.cumsum(mass[::-1])                        # descending keys
        j = min(int(np.searchsorted(cum, np.float32(top_p) * z, side="left")), uk.size - 1)
        thr = max(uk[::-1][j], kk)
    keep = (keys >= thr) & (e >= np.float32(min_p))
    if ok is not None:
        keep &= ok
    w = np.where(keep, np.exp((x - m) / np.float32(temperature)), np.float32(0.0))   # (n,) float32
    cum = np.cumsum(w.astype(np.float64))
    i = int(np.searchsorted(cum, float(u) * cum[-1], side="right"))
    if i >= n:   # u * total rounded up to total: the last id with weight
        nz = np.flatnonzero(w > 0)
        i = int(nz[-1]) if nz.size else 0
    return i
