"""assert_close: the tolerance check every kernel test uses (prints the first mismatches)."""

from __future__ import annotations

import numpy as np
import pytest


def assert_close(got, want, atol, rtol, what=""):
    """|got - want| <= atol + rtol * |want| everywhere; on failure name the first mismatches."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    err = np.abs(got - want)
    bad = np.argwhere(~(err <= atol + rtol * np.abs(want)))
    if bad.size:
        first = ", ".join(f"{tuple(int(i) for i in ix)}: {got[tuple(ix)]:.6g} vs {want[tuple(ix)]:.6g}" for ix in bad[:6])
        pytest.fail(f"{what}: {len(bad)} of {want.size} values off (max err {err.max():.3g}); first: {first}")
