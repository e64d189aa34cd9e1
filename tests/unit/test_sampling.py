"""webinfer.sampling: each step of the chain against hand-computed small cases, plus the draw."""

import math
import time

import numpy as np
import pytest

from webinfer.sampling import Sampler, SamplingParams, _top_p_mask

# A vocabulary of 8 with known probabilities, scattered over ids so that "the top 3" is not
# simply ids 0..2. P[i] is the probability of token i under softmax(LOGITS).
P = np.array([0.10, 0.02, 0.30, 0.12, 0.04, 0.20, 0.07, 0.15])
LOGITS = np.log(P).astype(np.float32)
# ids by descending probability: 2 (.30), 5 (.20), 7 (.15), 3 (.12), 0 (.10), 6 (.07), 4 (.04), 1 (.02)

OFF = dict(top_k=0, top_p=1.0, min_p=0.0)  # every filter disabled


def support(params, logits=LOGITS, history=()):
    """Sorted ids the sampler may draw from, and its final distribution (n_vocab,)."""
    s = Sampler(params, len(logits))
    s.sample(logits, history)
    probs = s.last_probs
    return sorted(np.flatnonzero(probs).tolist()), probs


def expected(ids, temperature=1.0, logits=LOGITS):
    """softmax(logits / T) restricted to ids, as an (n_vocab,) vector."""
    out = np.zeros(len(logits))
    z = logits[ids].astype(np.float64) / temperature
    e = np.exp(z - z.max())
    out[ids] = e / e.sum()
    return out


# -- greedy -----------------------------------------------------------------------------------


def test_greedy_equals_argmax():
    rng = np.random.default_rng(1)
    s = Sampler(SamplingParams(temperature=0.0), 1000)
    for _ in range(20):
        logits = rng.standard_normal(1000).astype(np.float32)
        assert s.sample(logits, []) == int(np.argmax(logits))
    assert s.last_probs is None


def test_greedy_ties_go_to_lowest_id():
    s = Sampler(SamplingParams(temperature=0.0), 5)
    assert s.sample(np.array([0.0, 3.0, 1.0, 3.0, 3.0], np.float32), []) == 1


def test_greedy_ignores_filters():
    # top_k=1 etc. must not change greedy's answer (greedy returns before the filters).
    s = Sampler(SamplingParams(temperature=0.0, top_k=1, top_p=0.1, min_p=0.9), 8)
    assert s.sample(LOGITS, []) == 2


# -- filters ----------------------------------------------------------------------------------


def test_no_filters_is_plain_softmax():
    ids, probs = support(SamplingParams(temperature=1.0, **OFF))
    assert ids == list(range(8))
    np.testing.assert_allclose(probs, P, rtol=1e-6)


@pytest.mark.parametrize("k, survivors", [(1, [2]), (3, [2, 5, 7]), (5, [0, 2, 3, 5, 7]), (8, list(range(8))), (100, list(range(8)))])
def test_top_k(k, survivors):
    ids, probs = support(SamplingParams(temperature=1.0, top_k=k, top_p=1.0, min_p=0.0))
    assert ids == survivors
    np.testing.assert_allclose(probs, expected(survivors), rtol=1e-6)


def test_top_k_keeps_ties_with_the_kth():
    logits = np.array([1.0, 2.0, 2.0, 0.0, 2.0], np.float32)
    ids, _ = support(SamplingParams(temperature=1.0, top_k=2, top_p=1.0, min_p=0.0), logits)
    assert ids == [1, 2, 4]


@pytest.mark.parametrize(
    "p, survivors",
    [
        (0.0, [2]),  # only the most likely token
        (0.25, [2]),  # .30 >= .25
        (0.45, [2, 5]),  # .30 + .20 = .50
        (0.55, [2, 5, 7]),  # .65
        (0.70, [2, 3, 5, 7]),  # .77
        (0.80, [0, 2, 3, 5, 7]),  # .87
        (0.99, list(range(8))),  # .98 < .99, so the last token is needed too
    ],
)
def test_top_p(p, survivors):
    ids, probs = support(SamplingParams(temperature=1.0, top_k=0, top_p=p, min_p=0.0))
    assert ids == survivors
    np.testing.assert_allclose(probs, expected(survivors), rtol=1e-6)


@pytest.mark.parametrize(
    "m, survivors",
    [
        (0.9, [2]),  # threshold .27
        (0.45, [2, 5, 7]),  # threshold .135: .15 stays, .12 goes
        (0.3, [0, 2, 3, 5, 7]),  # threshold .09
        (0.05, list(range(8))),  # threshold .015
    ],
)
def test_min_p(m, survivors):
    ids, probs = support(SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=m))
    assert ids == survivors
    np.testing.assert_allclose(probs, expected(survivors), rtol=1e-6)


def test_filters_chain_in_order():
    # top_k=5 keeps {2,5,7,3,0} (mass .87). top_p=0.8 over their renormalised probabilities
    # (.345, .230, .172, .138, .115; cumulative .345 .575 .747 .885) keeps 4: {2,5,7,3}.
    # min_p=0.45 then needs p >= .45 * p_max: .15/.30 = .5 stays, .12/.30 = .4 goes.
    # temperature 0.5 reshapes what is left.
    params = SamplingParams(temperature=0.5, top_k=5, top_p=0.8, min_p=0.45)
    ids, probs = support(params)
    assert ids == [2, 5, 7]
    np.testing.assert_allclose(probs, expected([2, 5, 7], temperature=0.5), rtol=1e-6)
    # By hand: p^(1/T) = p^2 -> .09, .04, .0225 over a total of .1525.
    np.testing.assert_allclose(probs[[2, 5, 7]], [0.09 / 0.1525, 0.04 / 0.1525, 0.0225 / 0.1525], rtol=1e-5)


def test_temperature_applies_after_the_filters():
    # With T large the filters still use untempered probabilities: top_p=0.45 keeps {2, 5}
    # even though softmax(logits / 10) is nearly flat.
    ids, probs = support(SamplingParams(temperature=10.0, top_k=0, top_p=0.45, min_p=0.0))
    assert ids == [2, 5]
    np.testing.assert_allclose(probs, expected([2, 5], temperature=10.0), rtol=1e-6)


def reference_top_p(xc, top_p):
    """Straightforward nucleus: full stable sort, first prefix reaching top_p, ties kept."""
    probs = np.exp(xc.astype(np.float64) - xc.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    cum = np.cumsum(probs[order])
    last = min(int(np.searchsorted(cum, top_p, side="left")), len(order) - 1)
    return xc >= xc[order[last]]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("top_p", [0.0, 0.3, 0.9, 0.95, 0.999])
def test_top_p_pruned_sort_matches_full_sort(seed, top_p):
    rng = np.random.default_rng(seed)
    n = [5, 100, 4096, 49152, 7, 1000][seed]
    scale = [0.1, 1.0, 3.0, 5.0, 10.0, 0.01][seed]
    xc = (rng.standard_normal(n) * scale).astype(np.float32)
    xc[rng.integers(0, n, size=n // 5)] = xc[0]  # plenty of exact ties
    np.testing.assert_array_equal(_top_p_mask(xc, top_p), reference_top_p(xc, top_p))


def test_top_p_uniform_keeps_all_ties():
    assert _top_p_mask(np.zeros(10, np.float32), 0.5).all()


# -- penalties --------------------------------------------------------------------------------


def test_penalties_by_hand():
    logits = np.array([2.0, -1.0, 0.5, 3.0, -2.0], np.float32)
    history = [4, 4, 4, 0, 1, 1, 3, 3, 3]  # window 6 drops the three 4s
    params = SamplingParams(
        temperature=1.0, **OFF, repetition_penalty=2.0, repetition_window=6, presence_penalty=0.5, frequency_penalty=0.25
    )
    # token 0 (seen 1x):  2/2 - 1*.25 - .5 = 0.25
    # token 1 (seen 2x): -1*2 - 2*.25 - .5 = -3.0
    # token 2 (unseen):   0.5
    # token 3 (seen 3x):  3/2 - 3*.25 - .5 = 0.25
    # token 4 (outside the window): -2.0
    want = np.array([0.25, -3.0, 0.5, 0.25, -2.0])
    _, probs = support(params, logits, history)
    np.testing.assert_allclose(probs, np.exp(want) / np.exp(want).sum(), rtol=1e-6)


def test_repetition_penalty_changes_greedy_choice():
    logits = np.array([1.0, 1.5, 0.2], np.float32)
    s = Sampler(SamplingParams(temperature=0.0, repetition_penalty=2.0), 3)
    assert s.sample(logits, []) == 1
    assert s.sample(logits, [1]) == 0  # 1.5 / 2 = 0.75 < 1.0


def test_window_zero_disables_penalties():
    logits = np.array([1.0, 1.5, 0.2], np.float32)
    s = Sampler(SamplingParams(temperature=0.0, repetition_penalty=100.0, presence_penalty=9.0, repetition_window=0), 3)
    assert s.sample(logits, [1, 1, 1]) == 1


def test_history_ids_out_of_range():
    s = Sampler(SamplingParams(repetition_penalty=1.1), 8)
    with pytest.raises(ValueError, match="history token id 8"):
        s.sample(LOGITS, [1, 8])
    with pytest.raises(ValueError, match="history token id -1"):
        s.sample(LOGITS, [-1])


# -- logit bias -------------------------------------------------------------------------------


def test_logit_bias_ban_and_boost():
    s = Sampler(SamplingParams(temperature=0.0, logit_bias={2: -math.inf}), 8)
    assert s.sample(LOGITS, []) == 5  # the best token is banned: the next best wins
    s = Sampler(SamplingParams(temperature=0.0, logit_bias={1: 10.0}), 8)
    assert s.sample(LOGITS, []) == 1


def test_banned_tokens_are_never_drawn():
    params = SamplingParams(temperature=1.5, **OFF, seed=3, logit_bias={2: -math.inf, 5: -math.inf})
    s = Sampler(params, 8)
    draws = {s.sample(LOGITS, []) for _ in range(2000)}
    assert draws == {0, 1, 3, 4, 6, 7}


def test_minus_inf_logits_are_never_drawn_even_when_top_k_exceeds_them():
    logits = np.full(8, -np.inf, np.float32)
    logits[[3, 6]] = [0.0, 0.5]
    s = Sampler(SamplingParams(temperature=1.0, top_k=5, top_p=1.0, min_p=0.0, seed=0), 8)
    assert {s.sample(logits, []) for _ in range(500)} == {3, 6}


def test_all_banned_raises():
    s = Sampler(SamplingParams(logit_bias={i: -math.inf for i in range(8)}), 8)
    with pytest.raises(ValueError, match="every token is banned"):
        s.sample(LOGITS, [])


# -- the draw ---------------------------------------------------------------------------------


def test_same_seed_same_sequence_and_different_seeds_differ():
    def run(seed):
        s = Sampler(SamplingParams(temperature=1.0, **OFF, seed=seed), 8)
        return [s.sample(LOGITS, []) for _ in range(200)]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_empirical_distribution_matches_filtered_softmax():
    # top_k=6 drops tokens 4 and 1; min_p=0.3 then drops 6 (.07/.30 < .3); T=0.8.
    params = SamplingParams(temperature=0.8, top_k=6, top_p=1.0, min_p=0.3, seed=1234)
    s = Sampler(params, 8)
    n = 40_000
    counts = np.bincount([s.sample(LOGITS, []) for _ in range(n)], minlength=8)
    survivors = [0, 2, 3, 5, 7]
    want = expected(survivors, temperature=0.8)
    assert counts[[1, 4, 6]].sum() == 0
    chi2 = float((((counts - n * want) ** 2)[survivors] / (n * want[survivors])).sum())
    # 4 degrees of freedom: P(chi2 > 18.47) = 0.001 for a correct sampler.
    assert chi2 < 18.47, (chi2, counts, n * want)


def test_sampling_is_fast_on_a_real_vocabulary():
    n_vocab = 49152
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(n_vocab) * 3).astype(np.float32)
    history = rng.integers(0, n_vocab, 200).tolist()
    for params in [
        SamplingParams(seed=0, repetition_penalty=1.1),  # defaults: top_k=40
        SamplingParams(seed=0, top_k=0, top_p=0.95),  # nucleus over the whole vocabulary
        SamplingParams(seed=0, top_k=0, top_p=1.0, min_p=0.05),
    ]:
        s = Sampler(params, n_vocab)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            s.sample(logits, history)
            times.append(time.perf_counter() - t0)
        # ~0.3-0.6 ms here; the bound leaves room for slow CI machines.
        assert np.median(times) < 0.010, (params, np.median(times))


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", -0.1, "temperature"),
        ("temperature", math.nan, "temperature"),
        ("temperature", math.inf, "temperature"),
        ("top_k", -1, "top_k"),
        ("top_k", 2.5, "top_k"),
        ("top_k", True, "top_k"),
        ("top_p", 1.5, "top_p"),
        ("top_p", -0.1, "top_p"),
        ("min_p", 1.01, "min_p"),
        ("min_p", "0.1", "min_p"),
        ("repetition_penalty", 0.0, "repetition_penalty"),
        ("repetition_penalty", -1.0, "repetition_penalty"),
        ("repetition_window", -1, "repetition_window"),
        ("presence_penalty", math.inf, "presence_penalty"),
        ("frequency_penalty", math.nan, "frequency_penalty"),
        ("seed", -5, "seed"),
        ("seed", 1.5, "seed"),
        ("logit_bias", {8: 1.0}, "token id 8"),
        ("logit_bias", {-1: 1.0}, "token id -1"),
        ("logit_bias", {"a": 1.0}, "token id 'a'"),
        ("logit_bias", {3: math.inf}, r"logit_bias\[3\]"),
        ("logit_bias", {3: math.nan}, r"logit_bias\[3\]"),
        ("logit_bias", [(3, 1.0)], "logit_bias must be a dict"),
    ],
)
def test_validation_errors_name_the_field(field, value, message):
    params = SamplingParams(**{field: value})
    with pytest.raises(ValueError, match=message):
        params.validate(8)
    with pytest.raises(ValueError, match=message):
        Sampler(params, 8)


def test_validation_accepts_edges():
    SamplingParams(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, seed=0, logit_bias={0: -math.inf, 7: 2}).validate(8)
    SamplingParams(top_p=0.0, min_p=1.0, top_k=10**6, seed=np.int64(3)).validate(8)


def test_bad_n_vocab_and_bad_logits():
    with pytest.raises(ValueError, match="n_vocab"):
        SamplingParams().validate(0)
    s = Sampler(SamplingParams(), 8)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        s.sample(np.zeros(9, np.float32), [])
    bad = LOGITS.copy()
    bad[4] = np.nan
    with pytest.raises(ValueError, match="token 4"):
        s.sample(bad, [])
    bad[4] = np.inf
    with pytest.raises(ValueError, match="token 4"):
        s.sample(bad, [])


def test_sample_does_not_modify_the_callers_logits():
    logits = LOGITS.copy()
    s = Sampler(SamplingParams(repetition_penalty=2.0, logit_bias={0: -math.inf}, seed=0), 8)
    s.sample(logits, [1, 2, 3])
    np.testing.assert_array_equal(logits, LOGITS)
