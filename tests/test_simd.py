"""The explicitly vectorised row dot product of the SGD kernels (recsys.models._simd)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from recsys.models._simd import row_dot, row_step_dot


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


def _compiled_step(k: int):
    namespace = {"numba": numba, "row_step_dot": row_step_dot}
    exec(f"@numba.njit\ndef f(P, u, Q, i, j, s, e):\n"
         f"    return row_step_dot(P, u, Q, i, j, s, e, {k})", namespace)
    return namespace["f"]


@numba.njit
def _generic_step(P, u, Q, i, j, s, e, k):
    return row_step_dot(P, u, Q, i, j, s, e, k)


@pytest.mark.parametrize("k", [1, 4, 5, 8, 13, 100])
@pytest.mark.parametrize("literal", [True, False])
def test_step_then_next_dot(k, literal):
    rng = np.random.default_rng(k)
    P = rng.standard_normal((4, k)).astype(np.float32)
    Q = rng.standard_normal((5, k)).astype(np.float32)
    shrink, step = np.float32(0.999), np.float32(0.03)
    new_p = shrink * P[2] + step * Q[3]
    new_q = shrink * Q[3] + step * P[2]
    want = float(new_p.astype(np.float64) @ Q[1].astype(np.float64))
    P2, Q2 = P.copy(), Q.copy()
    if literal:
        got = _compiled_step(k)(P2, np.uint64(2), Q2, np.uint64(3), np.uint64(1), shrink, step)
    else:
        got = _generic_step(P2, 2, Q2, 3, 1, shrink, step, k)
    assert np.allclose(P2[2], new_p, rtol=1e-6, atol=1e-7)
    assert np.allclose(Q2[3], new_q, rtol=1e-6, atol=1e-7)
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5 * k)
    # every other row untouched
    assert np.array_equal(np.delete(P2, 2, axis=0), np.delete(P, 2, axis=0))
    assert np.array_equal(np.delete(Q2, 3, axis=0), np.delete(Q, 3, axis=0))


def test_step_with_the_same_item_next_takes_the_new_rows():
    rng = np.random.default_rng(3)
    P = rng.standard_normal((2, 100)).astype(np.float32)
    Q = rng.standard_normal((2, 100)).astype(np.float32)
    shrink, step = np.float32(0.99), np.float32(0.1)
    new_p = shrink * P[0] + step * Q[1]
    new_q = shrink * Q[1] + step * P[0]
    got = _compiled_step(100)(P, np.uint64(0), Q, np.uint64(1), np.uint64(1), shrink, step)
    assert np.allclose(P[0], new_p, rtol=1e-6) and np.allclose(Q[1], new_q, rtol=1e-6)
    # j == i: the dot product of the new rows, as the plain loop gives it
    assert got == pytest.approx(float(new_p.astype(np.float64) @ new_q), rel=1e-5)
    P2, Q2 = P.copy(), Q.copy()
    got = _generic_step(P2, 0, Q2, 1, 1, shrink, step, 100)
    assert got == pytest.approx(float(P2[0].astype(np.float64) @ Q2[1]), rel=1e-5)
