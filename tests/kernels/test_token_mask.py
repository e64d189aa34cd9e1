"""The MASK variants of argmax.wgsl and sample.wgsl (a grammar's allowed tokens as a bit mask,
token_mask.wgsl) against their NumPy twins (device.gpu_sample: argmax_reference, sample_reference
with `mask`): awkward vocabulary sizes, ties among allowed and left-out tokens, a left-out token
that would win, one allowed token. The fused step's greedy pick under a mask: test_fused.py."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device.gpu_sample import argmax_reference, sample_reference
from webinfer.errors import DeviceError
from webinfer.grammar.mask import mask_words, pack_ids

VOCABS = [1, 31, 32, 33, 255, 256, 257, 2049, 49152]
PARAMS = [(1.0, 0, 1.0, 0.0), (0.7, 40, 0.95, 0.05), (0.9, 3, 0.0, 0.0), (1.3, 1000000, 0.5, 0.01)]


def _case(n, seed):
    """(2, n) logits with a big tie and the top logit left out, and a mask of about a fifth of them."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, n)) * 3).astype(np.float32)
    ids = np.sort(rng.choice(n, max(1, n // 5), replace=False))
    if n > 8:
        x[:, rng.choice(n, n // 3, replace=False)] = np.float32(0.5)   # ties among allowed and left-out ids
        out = np.setdiff1d(np.arange(n), ids)
        x[0, out[0]] = 50.0                                            # the best token is not allowed
    return x, ids, pack_ids(ids, mask_words(n))


@pytest.fixture
def masked(gdev):
    yield gdev
    gdev.token_mask(None)


@pytest.mark.parametrize("n", VOCABS)
def test_masked_argmax_matches_twin(masked, n):
    x, ids, words = _case(n, n)
    masked.token_mask(words)
    got = masked.read_sync(masked.argmax(masked.tensor(x))).reshape(-1)
    assert got.tolist() == argmax_reference(x, words).tolist()
    assert set(got.tolist()) <= set(ids.tolist())
    masked.token_mask(None)                                            # and every token again
    assert masked.read_sync(masked.argmax(masked.tensor(x))).reshape(-1).tolist() == argmax_reference(x).tolist()


@pytest.mark.parametrize("n", VOCABS)
def test_masked_sample_matches_twin(masked, n):
    x, ids, words = _case(n, n + 1)
    masked.token_mask(words)
    gx = masked.tensor(x)
    rng = np.random.default_rng(n)
    for prm in PARAMS:
        for u in (0.0, 0.999999, *rng.random(3)):
            got = masked.read_sync(masked.sample(gx, *prm, u)).reshape(-1)
            want = sample_reference(x, *prm, u, mask=words)
            assert set(got.tolist()) <= set(ids.tolist()), (n, prm, u, got)
            assert got.tolist() == want.tolist(), (n, prm, u, got, want)


def test_one_allowed_token_is_always_picked(masked):
    x = np.random.default_rng(1).standard_normal((1, 49152)).astype(np.float32)
    masked.token_mask(pack_ids(np.array([40000]), mask_words(49152)))
    gx = masked.tensor(x)
    assert int(masked.read_sync(masked.argmax(gx))[0, 0]) == 40000
    for u in (0.0, 0.5, 0.999999):
        assert int(masked.read_sync(masked.sample(gx, 2.0, 0, 1.0, 0.0, u))[0, 0]) == 40000


def test_a_mask_shorter_than_the_logits_is_refused(masked):
    masked.token_mask(pack_ids(np.array([3]), 1))                     # 32 tokens
    with pytest.raises(DeviceError, match="covers 32 tokens, not the logits' 33"):
        masked.argmax(masked.tensor(np.zeros((1, 33), np.float32)))
