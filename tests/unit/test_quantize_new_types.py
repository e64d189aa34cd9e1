"""Quantizers of Q5_0, Q5_1 (formats/quants.py) and the K-quants and IQ4 (formats/kquants.py).

Q5_0 and Q5_1 are compared bit for bit with the ``gguf`` package's reference quantizers
(which equal ggml's ``quantize_row_q5_*_ref``) on random, zero, constant, huge and tiny rows.
The K-quants and IQ4 have no Python reference, so their tests check the round-trip error
against a bound per type, that the blocks are well formed, and that ``gguf``'s dequantizer
reads our blocks as ours does.
"""

from __future__ import annotations

import numpy as np
import pytest

from webinfer.formats.quants import DEQUANT_TYPES, QUANT_BY_NAME, QUANT_TYPES, Q5_0, Q5_1

gguf = pytest.importorskip("gguf")


def awkward_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    """(8, n) float32 rows: Gaussian, zeros, constant +/-, huge, tiny, mixed scale, ties."""
    rows = [rng.standard_normal(n), np.zeros(n), np.full(n, 0.75), np.full(n, -3.0),
            rng.standard_normal(n) * 3e4, rng.standard_normal(n) * 1e-6,
            rng.standard_normal(n) * np.exp(rng.uniform(-8, 8, n)),
            rng.integers(-16, 16, n) / 8.0]
    return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize("q", [Q5_0, Q5_1], ids=lambda q: q.name)
def test_q5_quantizers_match_gguf_bit_for_bit(q):
    assert QUANT_TYPES[q.ggml_type] is q
    rng = np.random.default_rng(5)
    x = awkward_rows(rng, 32 * 40)
    ours = q.quantize(x.reshape(-1))
    ref = gguf.quants.quantize(x, gguf.GGMLQuantizationType(q.ggml_type)).reshape(-1, q.type_size)
    bad = np.flatnonzero((ours != ref).any(axis=1))
    assert bad.size == 0, f"first differing blocks {bad[:5]}: ours {ours[bad[0]]} ref {ref[bad[0]]}"
    back = q.dequantize(ours).reshape(x.shape)
    assert np.all(back[1] == 0)


# ---- K-quants and IQ4: no Python reference, so error bounds, well-formed blocks, gguf reads them --

# Relative RMS error of dequantize(quantize(x)) on Gaussian rows, the bound and (in the comment)
# what the port measures on these 64 blocks of N(0, 1): a regression past the bound means a
# broken search, not noise. For scale: Q4_0 0.086, Q4_1 0.078, Q5_0 0.043, Q8_0 0.0053 on such rows.
KQ_BOUNDS = {
    "Q2_K": 0.33,     # 0.296
    "Q3_K": 0.18,     # 0.152
    "Q4_K": 0.085,    # 0.072
    "Q5_K": 0.045,    # 0.036
    "Q6_K": 0.022,    # 0.018
    "IQ4_NL": 0.09,   # 0.076
    "IQ4_XS": 0.09,   # 0.077
}
KQ = [QUANT_BY_NAME[name] for name in KQ_BOUNDS]


def rel_rms(q, x: np.ndarray) -> float:
    y = q.dequantize(q.quantize(x))
    return float(np.sqrt(np.mean((y - x) ** 2) / np.mean(x * x)))


@pytest.mark.parametrize("q", KQ, ids=lambda q: q.name)
def test_round_trip_error_within_the_types_bound(q):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(256 * 64).astype(np.float32)
    err = rel_rms(q, x)
    assert err < KQ_BOUNDS[q.name], f"{q.name}: relative RMS {err:.4f}"
    # Scale does not matter: the same rows times 1e-3 and 1e3 quantize as well.
    for s in (1e-3, 1e3):
        assert rel_rms(q, x * np.float32(s)) < KQ_BOUNDS[q.name]
    # Nor does a row whose mean is far from zero (the types with a min must use it).
    assert rel_rms(q, x + np.float32(3)) < KQ_BOUNDS[q.name] * 0.8 + 0.01


@pytest.mark.parametrize("q", KQ, ids=lambda q: q.name)
def test_blocks_are_well_formed_and_zeros_stay_zero(q):
    rng = np.random.default_rng(8)
    x = awkward_rows(rng, 256 * 4)
    with np.errstate(divide="raise", invalid="raise"):   # no inf/nan on zero or constant rows
        blocks = q.quantize(x[[0, 1, 2, 3, 5, 6, 7]].reshape(-1))
    assert blocks.shape == (7 * 4 * 256 // q.block_size, q.type_size) and blocks.dtype == np.uint8
    back = q.dequantize(blocks).reshape(7, -1)
    assert np.all(np.isfinite(back))
    assert np.all(back[1] == 0), "a row of zeros must come back as zeros"
    if q.name == "Q6_K":                      # an all-zero block is all zero bytes, as ggml writes it
        assert not blocks[4 * 256 // q.block_size:2 * 4 * 256 // q.block_size].any()
    # A constant row comes back close to its constant.
    np.testing.assert_allclose(back[2], 0.75, rtol=0.1)
    np.testing.assert_allclose(back[3], -3.0, rtol=0.1)
    # Huge values: the f16 scales stay finite for values f16 can hold.
    big = q.dequantize(q.quantize(x[4].reshape(-1) * np.float32(1e-1)))
    assert np.all(np.isfinite(big))


@pytest.mark.parametrize("q", KQ, ids=lambda q: q.name)
def test_gguf_dequantizes_our_blocks_as_we_do(q):
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((4, 512)) * np.exp(rng.uniform(-3, 3, (4, 1)))).astype(np.float32)
    blocks = q.quantize(x.reshape(-1))
    ref = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType(q.ggml_type)).reshape(-1)
    np.testing.assert_array_equal(q.dequantize(blocks), ref)


# SHA-256 (first 16 hex digits) of the blocks that a C transliteration of ggml's
# quantize_row_q2_K_ref .. q6_K_ref, quantize_iq4_nl and quantize_iq4_xs (gcc, -ffp-contract=off)
# wrote for GOLDEN_ROWS(); the NumPy ports give the same bytes.
GOLDEN_C = {
    "Q2_K": "cd1ebe6d41502649",
    "Q3_K": "ced41233ef856692",
    "Q4_K": "28c8fba747865e4f",
    "Q5_K": "c4b0502b31561e17",
    "Q6_K": "917bc29f1fa3b8ba",
    "IQ4_NL": "ff04242181add9f6",
    "IQ4_XS": "9d1886b171efbb26",
}


def golden_rows() -> np.ndarray:
    """8 rows of 512: Gaussian, tiny with an offset, offset, wide dynamic range, zeros,
    constant, a coarse grid (ties), heavy tails."""
    rng = np.random.default_rng(12)
    n = 512
    return np.concatenate([rng.standard_normal(n), rng.standard_normal(n) * 1e-3 + 0.01,
                           rng.standard_normal(n) + 2.5, rng.standard_normal(n) * np.exp(rng.uniform(-4, 4, n)),
                           np.zeros(n), np.full(n, 0.5), rng.integers(-8, 8, n) / 4.0,
                           rng.laplace(size=n)]).astype(np.float32)


@pytest.mark.parametrize("q", KQ, ids=lambda q: q.name)
def test_blocks_equal_ggml_reference_c(q):
    import hashlib
    assert hashlib.sha256(q.quantize(golden_rows()).tobytes()).hexdigest()[:16] == GOLDEN_C[q.name]


def test_every_computable_type_quantizes():
    assert set(QUANT_TYPES) == set(DEQUANT_TYPES)


# ---- webinfer quantize: llama.cpp's per-tensor rules, and a re-quantized model still answers ----

def test_mix_rules_follow_llama_cpp():
    from webinfer.quantize import tensor_type, use_more_bits
    # SmolLM2's 30 layers: the first and last eighth and every third layer between (15 of 30).
    more = [i for i in range(30) if use_more_bits(i, 30)]
    assert more == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]
    t = lambda name, shape=(512, 256), mix="Q4_K_M", tied=False: tensor_type(name, shape, mix, 30, not tied)
    assert t("blk.0.attn_v.weight") == t("blk.29.ffn_down.weight") == "Q6_K"
    assert t("blk.3.attn_v.weight") == t("blk.4.ffn_down.weight") == t("blk.5.attn_q.weight") == "Q4_K"
    assert t("output.weight") == "Q6_K" and t("token_embd.weight") == "Q4_K"
    assert t("token_embd.weight", tied=True) == "Q6_K"                   # tied: token_embd is the output
    assert t("blk.0.attn_norm.weight", (256,)) == "F32"
    assert t("blk.3.attn_v.weight", mix="Q5_K_M") == "Q5_K" and t("blk.2.attn_v.weight", mix="Q5_K_M") == "Q6_K"
    assert t("output.weight", mix="Q8_0") == "Q8_0" and t("output.weight", mix="Q4_0") == "Q6_K"
    assert t("blk.0.attn_v.weight", mix="Q4_0") == "Q4_0" and t("output.weight", mix="F16") == "F16"
    # rows that are not a multiple of 256, then not of 32
    assert t("blk.3.attn_q.weight", (64, 576)) == "Q5_0" and t("output.weight", (300, 576)) == "Q8_0"
    assert t("blk.3.attn_q.weight", (64, 576), "Q5_K_M") == "Q5_1"
    assert t("blk.3.attn_q.weight", (64, 576), "IQ4_XS") == "IQ4_NL"
    assert t("blk.3.attn_q.weight", (64, 48)) == "F16"


TINY_K = {"n_layers": 4, "d_model": 256, "n_heads": 4, "n_kv_heads": 2, "d_ff": 512, "n_vocab": 300, "n_ctx": 128}


@pytest.fixture(scope="module")
def tiny_k(tmp_path_factory):
    from synthetic_model import build_synthetic_model
    return build_synthetic_model(tmp_path_factory.mktemp("q") / "tiny.gguf", seed=3, shapes=TINY_K)


def last_logits(path, ids):
    import asyncio

    import webinfer
    m = webinfer.load(path, device="numpy")
    logits, _ = m.prefill(ids)
    return np.asarray(asyncio.run(m.device.read(logits))).reshape(-1)


# Relative logit error (|dlogits| / |logits - mean|) of the re-quantized tiny model, measured
# 0.013 (Q8_0), 0.052 (Q6_K), 0.065 (Q5_K_M), 0.061 (Q4_K_M), 0.19 (IQ4_XS) on the second prompt.
# The source layers are Q4_1, which Q4_K (also 16 levels and a min per 32) nearly reproduces
# (1.7% RMS) and IQ4's fixed non-uniform levels cannot (8%); the tied embedding, Q6_K in the K
# mixes, dominates the rest. Random weights give near-tied logits (a 0.05 top-2 margin after
# [1, 5, 9, 20, 33, 7, 257], which Q6_K flips), so greedy agreement is asserted only where the
# float model's margin exceeds twice the largest logit error.
LOGIT_BOUNDS = {"Q8_0": 0.03, "Q6_K": 0.1, "Q5_K_M": 0.1, "Q4_K_M": 0.1, "IQ4_XS": 0.25}


@pytest.mark.parametrize("mix", list(LOGIT_BOUNDS))
def test_requantized_model_loads_and_keeps_its_answers(tiny_k, tmp_path, mix):
    from webinfer.formats.gguf import read_gguf
    from webinfer.quantize import quantize_gguf
    out = tmp_path / f"{mix}.gguf"
    chosen = quantize_gguf(tiny_k, out, mix)
    with read_gguf(out) as g:
        assert {n: t.type_name for n, t in g.tensors.items()} == chosen
        assert g.metadata["general.architecture"] == "llama" and g.metadata["tokenizer.ggml.tokens"][5] == "<t5>"
    assert chosen["token_embd.weight"] == ("Q8_0" if mix == "Q8_0" else "Q6_K")   # tied embedding
    for ids in ([1, 5, 9, 20, 33, 7], [1, 5, 9, 20, 33, 7, 257, 29], [3, 141, 59, 26]):
        ref, got = last_logits(tiny_k, ids), last_logits(out, ids)
        err = np.linalg.norm(got - ref) / np.linalg.norm(ref - ref.mean())
        assert err < LOGIT_BOUNDS[mix], f"{mix}: relative logit error {err:.3f}"
        # Greedy keeps its token wherever the float model's margin exceeds the logit error.
        top2 = np.sort(ref)[-2:]
        if top2[1] - top2[0] > 2 * np.abs(got - ref).max():
            assert got.argmax() == ref.argmax()


@pytest.mark.slow
def test_real_model_requantized_to_q8_0_keeps_the_golden_greedy_tokens(model_path, goldens, tmp_path):
    """SmolLM2-135M Q4_1 -> Q8_0 keeps the recorded greedy tokens up to the first step whose
    golden top-2 margin is under 0.1 logit. Tokens equal to the golden's, of the first 16 of these
    four cases: Q8_0 15 (the 16th step has margin 0.03), 16, 16, 16; for comparison Q6_K 16, 4,
    16, 16; Q4_K_M 4, 1, 8, 16 (Q6_K's and Q4_K_M's first divergences all at golden margins
    under 0.5 logit); Q4_0, ggml's reference quantizer bit for bit, 0, 0, 4, 11."""
    import webinfer
    from webinfer.quantize import quantize_gguf
    out = tmp_path / "q8.gguf"
    quantize_gguf(model_path, out, "Q8_0")
    m = webinfer.load(out, device="numpy")
    for case in goldens["cases"][:4]:
        margins = case["greedy_margins"][:16]
        n = next((i for i, g in enumerate(margins) if g < 0.1), len(margins))
        got = m.complete(case["prompt_ids"], max_tokens=n, temperature=0, add_special=False).token_ids
        assert got == case["generated_ids"][:n], case["name"]
