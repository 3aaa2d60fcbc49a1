"""The explicitly vectorised row dot product of the SGD kernels (recsys.models._simd)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from recsys.models._simd import row_dot


def _compiled(k: int):
    """A kernel that calls row_dot with the literal factor count ``k``, as the epoch kernels
    do (compiled per factor count)."""
    namespace = {"numba": numba, "row_dot": row_dot}
    exec(f"@numba.njit\ndef f(P, u, Q, i):\n    return row_dot(P, u, Q, i, {k})", namespace)
    return namespace["f"]


@numba.njit
def _generic(P, u, Q, i, k):
    return row_dot(P, u, Q, i, k)


@pytest.mark.parametrize("k", [1, 3, 4, 7, 8, 9, 15, 16, 31, 32, 33, 40, 64, 100, 130])
def test_literal_factor_counts_match_numpy(k):
    rng = np.random.default_rng(k)
    P = rng.standard_normal((6, k)).astype(np.float32)
    Q = rng.standard_normal((5, k)).astype(np.float32)
    f = _compiled(k)
    for u, i in ((0, 0), (5, 4), (3, 1)):
        want = float(P[u].astype(np.float64) @ Q[i].astype(np.float64))
        got = f(P, np.uint64(u), Q, np.uint64(i))
        assert got == pytest.approx(want, rel=1e-5, abs=1e-5 * k)
        # the rows differ: a row offset error would pick another row's sum
        assert f(P, np.uint64(u), Q, np.uint64(i)) != pytest.approx(
            float(P[(u + 1) % 6] @ Q[i]), rel=1e-3)


def test_literal_path_is_the_vector_code():
    P = np.ones((2, 100), dtype=np.float32)
    f = _compiled(100)
    f(P, np.uint64(0), P, np.uint64(1))
    llvm = next(iter(f.inspect_llvm().values()))
    assert "llvm.fma.v8f32" in llvm  # the intrinsic's 8-wide FMAs, not the plain loop


def test_non_literal_count_and_float64_fall_back_to_the_loop():
    rng = np.random.default_rng(0)
    P = rng.standard_normal((4, 37))
    Q = rng.standard_normal((3, 37))
    assert _generic(P, 2, Q, 1, 37) == pytest.approx(float(P[2] @ Q[1]))
    P32, Q32 = P.astype(np.float32), Q.astype(np.float32)
    assert _generic(P32, 2, Q32, 1, 37) == pytest.approx(float(P32[2] @ Q32[1]), rel=1e-5)
    assert _compiled(37)(P, 2, Q, 1) == pytest.approx(float(P[2] @ Q[1]))


def test_a_nan_in_a_row_reaches_the_sum():
    P = np.ones((1, 100), dtype=np.float32)
    Q = np.ones((1, 100), dtype=np.float32)
    Q[0, 97] = np.nan  # in the scalar-free 4-wide tail
    assert np.isnan(_compiled(100)(P, np.uint64(0), Q, np.uint64(0)))
