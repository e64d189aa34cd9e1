"""sample.wgsl against its NumPy twin (device.gpu_sample.sample_reference), and the twin against
the CPU sampler's distribution: awkward vocab sizes, ties, every filter alone and together."""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.device.gpu_sample import float_keys, sample_reference
from webinfer.sampling import Sampler, SamplingParams

# (temperature, top_k, top_p, min_p)
PARAMS = [(1.0, 0, 1.0, 0.0), (0.7, 40, 0.95, 0.05), (1.3, 5, 1.0, 0.0), (0.5, 0, 0.8, 0.0),
          (1.0, 0, 1.0, 0.2), (0.9, 3, 0.0, 0.0), (2.0, 1000000, 0.5, 0.01)]
VOCABS = [1, 31, 32, 33, 255, 256, 257, 1000, 49152]


def _logits(rng, n, ties):
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    if ties and n > 8:
        x[rng.choice(n, 6, replace=False)] = x.max()                 # a tie at the top
        x[rng.choice(n, n // 4, replace=False)] = np.float32(0.5)    # a big tie in the middle
    return x


def _explained(x, prm, u, tok):
    """A mismatch is only acceptable on a rounding boundary: nudging u or top_p gives the GPU's token."""
    t, k, p, mp = prm
    for du in (-2e-5, 2e-5):
        for dp in (0.0, -2e-5, 2e-5):
            pp = min(max(p + dp, 0.0), 1.0) if p < 1.0 else p
            if sample_reference(x, t, k, pp, mp, min(max(u + du, 0.0), 0.9999999))[0] == tok:
                return True
    return False


@pytest.mark.parametrize("n", VOCABS)
@pytest.mark.parametrize("ties", [False, True])
def test_sample_kernel_matches_twin(gdev, n, ties):
    rng = np.random.default_rng(n * 2 + ties)
    x = _logits(rng, n, ties)
    gx = gdev.tensor(x[None, :])
    for prm in PARAMS:
        for u in [0.0, 0.999999, *rng.random(6)]:
            got = int(gdev.read_sync(gdev.sample(gx, *prm, u))[0, 0])
            want = int(sample_reference(x, *prm, u)[0])
            assert 0 <= got < n
            assert got == want or _explained(x, prm, u, got), (n, ties, prm, u, got, want)


def test_sample_kernel_rows_are_independent(gdev):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 257)) * 2).astype(np.float32)
    got = gdev.read_sync(gdev.sample(gdev.tensor(x), 0.8, 10, 0.9, 0.0, 0.37)).reshape(-1)
    assert got.tolist() == sample_reference(x, 0.8, 10, 0.9, 0.0, 0.37).tolist()


def test_float_keys_keep_float_order():
    v = np.array([-np.inf, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, np.inf], np.float32)
    k = float_keys(v)
    assert (np.diff(k.astype(np.int64)) > 0).all()


@pytest.mark.parametrize("prm", PARAMS)
def test_twin_draws_what_the_cpu_sampler_draws(prm):
    """Same seed, same uniform stream: the twin picks the CPU Sampler's token (its survivors and
    inverse-CDF order are the same; only float rounding at a boundary could split them)."""
    t, k, p, mp = prm
    rng = np.random.default_rng(7)
    cpu = Sampler(SamplingParams(temperature=t, top_k=k, top_p=p, min_p=mp, seed=3), 500)
    us = np.random.Generator(np.random.PCG64(3))
    same = 0
    for _ in range(40):
        x = _logits(rng, 500, ties=True)
        same += cpu.sample(x) == sample_reference(x, t, k, p, mp, us.random())[0]
    assert same >= 39, same
