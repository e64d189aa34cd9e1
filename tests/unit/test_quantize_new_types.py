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

from webinfer.formats.quants import QUANT_TYPES, Q5_0, Q5_1

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
