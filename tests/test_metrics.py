"""Metrics: hand-computed cases, input errors, and Hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.data.ratings import Ratings
from recsys.errors import DataError
from recsys.metrics import (
    Relevant,
    as_relevant,
    catalogue_coverage,
    hit_rate_at_k,
    mae,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    relevant_from_ratings,
    rmse,
    topn_metrics,
    topn_per_user,
)

L3 = math.log2(3)  # discount of position 2 is 1 / log2(3)
L4 = 2.0  # log2(4)


# ---------------------------------------------------------------------------- RMSE / MAE
def test_rmse_mae_by_hand():
    # errors 1, -2, 0, 3: squares 1 + 4 + 0 + 9 = 14 -> sqrt(14 / 4); abs 1 + 2 + 0 + 3 = 6 -> 1.5
    y, p = [1.0, 4.0, 3.0, 2.0], [2.0, 2.0, 3.0, 5.0]
    assert rmse(y, p) == pytest.approx(math.sqrt(3.5))
    assert mae(y, p) == pytest.approx(1.5)
    assert rmse(np.array([[1.0, 2.0]]), np.array([[1.0, 2.0]])) == 0.0


@pytest.mark.parametrize("func", [rmse, mae])
def test_rmse_mae_input_errors(func):
    with pytest.raises(DataError, match="must match"):
        func([1.0, 2.0], [1.0])
    with pytest.raises(DataError, match="empty"):
        func([], [])
    with pytest.raises(DataError, match="NaN"):
        func([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(ValueError):  # DataError is a ValueError
        func([1.0], [1.0, 2.0])


finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=50))
def test_rmse_ge_mae_ge_zero(pairs):
    y, p = np.array(pairs).T
    r, m = rmse(y, p), mae(y, p)
    assert r >= m - 1e-9 and m >= 0.0
    assert rmse(y, y) == 0.0 and mae(p, p) == 0.0
    assert r == pytest.approx(rmse(p, y)) and r <= np.abs(y - p).max() + 1e-9


# ---------------------------------------------------------------------------- top-N by hand
REC = np.array([[1, 2, 3], [4, 5, -1], [0, 1, 2], [7, 8, 9]])
REL = [[2, 9], [4, 5], [], [0]]


def test_topn_by_hand():
    per = topn_per_user(REC, REL)
    # row 0: hit at position 2 only -> precision 1/3, recall 1/2,
    #        DCG = 1/log2(3), IDCG = 1 + 1/log2(3) (two relevant items)
    # row 1: hits at positions 1 and 2 of a padded list -> precision 2/3, recall 1, NDCG 1
    # row 2: no relevant items -> NaN, left out of the means
    # row 3: no hit -> 0 everywhere
    np.testing.assert_allclose(per["precision"], [1 / 3, 2 / 3, np.nan, 0.0])
    np.testing.assert_allclose(per["recall"], [0.5, 1.0, np.nan, 0.0])
    np.testing.assert_allclose(per["ndcg"], [(1 / L3) / (1 + 1 / L3), 1.0, np.nan, 0.0])
    np.testing.assert_allclose(per["hit"], [1.0, 1.0, np.nan, 0.0])
    out = topn_metrics(REC, REL, n_items=10)
    assert out["precision"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert out["recall"] == pytest.approx(1.5 / 3)
    assert out["hit_rate"] == pytest.approx(2 / 3)
    # coverage: items {0,1,2,3,4,5,7,8,9} = 9 of 10
    assert out["coverage"] == pytest.approx(0.9)
    assert (out["k"], out["n_users"], out["n_skipped"]) == (3, 3, 1)
    assert precision_at_k(REC, REL) == pytest.approx(out["precision"])
    assert recall_at_k(REC, REL) == pytest.approx(out["recall"])
    assert ndcg_at_k(REC, REL) == pytest.approx(out["ndcg"])
    assert hit_rate_at_k(REC, REL) == pytest.approx(out["hit_rate"])


def test_topn_at_smaller_k():
    # k = 1: row 0 item 1 (miss), row 1 item 4 (hit), row 3 item 7 (miss)
    assert precision_at_k(REC, REL, k=1) == pytest.approx(1 / 3)
    # row 1 recall 1/2; rows 0, 3: 0 -> mean 1/6
    assert recall_at_k(REC, REL, k=1) == pytest.approx(1 / 6)
    # row 1 NDCG@1: DCG 1, IDCG = 1 (min(k, |T|) = 1) -> 1; mean 1/3
    assert ndcg_at_k(REC, REL, k=1) == pytest.approx(1 / 3)
    # coverage@1: items {1, 4, 0, 7} -> 4 of 10
    assert catalogue_coverage(REC, 10, k=1) == pytest.approx(0.4)


def test_ndcg_by_hand_two_hits():
    # relevant {a, b, c}; list [a, x, b, y]: DCG = 1 + 1/log2(4) = 1.5,
    # IDCG (3 relevant, k = 4) = 1 + 1/log2(3) + 1/log2(4)
    rec = np.array([[0, 5, 1, 6]])
    value = ndcg_at_k(rec, [[0, 1, 2]], k=4)
    assert value == pytest.approx(1.5 / (1 + 1 / L3 + 1 / L4))


def test_relevant_from_ratings():
    # users 0..3, items 0..4; ratings >= 4 are relevant
    r = Ratings(
        users=np.array([2, 0, 0, 2, 2, 3]),
        items=np.array([1, 3, 0, 4, 0, 2]),
        ratings=np.array([5.0, 4.0, 2.0, 4.5, 3.9, 1.0]),
        user_ids=np.array([10, 11, 12, 13]),
        item_ids=np.arange(5),
    )
    rel = relevant_from_ratings(r, threshold=4.0)
    np.testing.assert_array_equal(rel.users, [0, 2, 3])  # user 1 has no test rating
    np.testing.assert_array_equal(rel.user_ids, [10, 12, 13])
    np.testing.assert_array_equal(rel.indptr, [0, 1, 3, 3])
    np.testing.assert_array_equal(rel.indices, [3, 1, 4])
    assert rel.n_items == 5 and len(rel) == 3
    np.testing.assert_array_equal(rel.items_of(1), [1, 4])
    everything = relevant_from_ratings(r, threshold=None, users=[3, 1, 0])
    np.testing.assert_array_equal(everything.counts(), [1, 0, 2])
    np.testing.assert_array_equal(everything.items_of(2), [0, 3])
    # wired into the metrics: coverage uses rel.n_items
    out = topn_metrics(np.array([[3, 0], [4, 1], [2, -1]]), rel)
    assert out["precision"] == pytest.approx((0.5 + 1.0) / 2) and out["n_skipped"] == 1
    assert out["coverage"] == pytest.approx(1.0)
    with pytest.raises(DataError):
        relevant_from_ratings(r, users=[0, 0])
    with pytest.raises(DataError):
        relevant_from_ratings(r, users=[9])


# ---------------------------------------------------------------------------- input errors
@pytest.mark.parametrize(
    "rec, rel, k, match",
    [
        (np.array([1, 2, 3]), [[1]], None, "2-D"),
        (np.zeros((0, 3), dtype=int), [], None, "empty"),
        (np.array([[1.0, 2.0]]), [[1]], None, "integer"),
        (np.array([[1, 2]]), [[1], [2]], None, "aligned"),
        (np.array([[1, 2]]), [[1]], 3, "k=3"),
        (np.array([[1, 2]]), [[1]], 0, "k=0"),
        (np.array([[1, -2]]), [[1]], None, ">= 0"),
        (np.array([[1, 1]]), [[1]], None, "twice"),
        (np.array([[1, 2]]), [[]], None, "no user has a relevant item"),
        (np.array([[1, 2]]), [[-3]], None, ">= 0"),
    ],
)
def test_topn_input_errors(rec, rel, k, match):
    with pytest.raises(DataError, match=match):
        topn_metrics(rec, rel, k=k)


def test_coverage_errors():
    with pytest.raises(DataError, match="outside a catalogue"):
        catalogue_coverage(np.array([[0, 5]]), 5)
    with pytest.raises(DataError, match="n_items"):
        catalogue_coverage(np.array([[0, 1]]), 0)


def test_relevant_matrix_rejected():
    with pytest.raises(DataError, match="not a matrix"):
        as_relevant(np.array([[1, 2], [3, 4]]))


# ---------------------------------------------------------------------------- properties
@st.composite
def topn_case(draw):
    n_items = draw(st.integers(2, 15))
    n_rows = draw(st.integers(1, 8))
    width = draw(st.integers(1, n_items))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    rec = np.stack([rng.permutation(n_items)[:width] for _ in range(n_rows)])
    pad = rng.random(rec.shape) < 0.2
    pad = np.sort(pad, axis=1)  # padding at the end of a row
    rec[pad] = -1
    rel = [
        rng.choice(n_items, size=rng.integers(0, n_items + 1), replace=False)
        for _ in range(n_rows)
    ]
    rel[0] = rng.choice(n_items, size=rng.integers(1, n_items + 1), replace=False)  # >= 1 valid row
    return rec, rel, n_items


@settings(max_examples=120, deadline=None)
@given(topn_case())
def test_metrics_in_unit_interval(case):
    rec, rel, n_items = case
    out = topn_metrics(rec, rel, n_items=n_items)
    for name in ("precision", "recall", "ndcg", "hit_rate", "coverage"):
        assert 0.0 <= out[name] <= 1.0 + 1e-12
    assert out["precision"] <= out["hit_rate"] + 1e-12  # a hit fraction implies a hit
    assert out["ndcg"] <= out["hit_rate"] + 1e-12


@settings(max_examples=120, deadline=None)
@given(topn_case(), st.integers(0, 2**16))
def test_permutation_of_users_changes_nothing(case, seed):
    rec, rel, n_items = case
    perm = np.random.default_rng(seed).permutation(len(rel))
    a = topn_metrics(rec, rel, n_items=n_items)
    b = topn_metrics(rec[perm], [rel[j] for j in perm], n_items=n_items)
    for name in a:
        assert a[name] == pytest.approx(b[name])


@settings(max_examples=120, deadline=None)
@given(topn_case())
def test_perfect_ranking_has_ndcg_one(case):
    rec, rel, n_items = case
    k = rec.shape[1]
    # put each row's relevant items first, then the rest
    perfect = np.full_like(rec, -1)
    for r, items in enumerate(rel):
        others = np.setdiff1d(np.arange(n_items), items)
        perfect[r] = np.concatenate([items, others])[:k]
    per = topn_per_user(perfect, rel)
    valid = per["n_relevant"] > 0
    np.testing.assert_allclose(per["ndcg"][valid], 1.0)
    np.testing.assert_allclose(per["hit"][valid], 1.0)
    # recall@k is min(k, |T|) / |T| and precision min(k, |T|) / k for a perfect list
    n_rel = per["n_relevant"][valid]
    np.testing.assert_allclose(per["recall"][valid], np.minimum(k, n_rel) / n_rel)
    np.testing.assert_allclose(per["precision"][valid], np.minimum(k, n_rel) / k)


@settings(max_examples=120, deadline=None)
@given(topn_case())
def test_growing_k_monotone_facts(case):
    rec, rel, _ = case
    width = rec.shape[1]
    per = [topn_per_user(rec, rel, k=k) for k in range(1, width + 1)]
    valid = per[0]["n_relevant"] > 0
    for small, large in zip(per, per[1:]):
        # hits only accumulate: recall and hit rate never fall as k grows
        assert np.all(large["recall"][valid] >= small["recall"][valid] - 1e-12)
        assert np.all(large["hit"][valid] >= small["hit"][valid])
    # hits@k = precision@k * k is non-decreasing in k
    counts = np.array([p["precision"][valid] * (j + 1) for j, p in enumerate(per)])
    assert np.all(np.diff(counts, axis=0) >= -1e-9)


@settings(max_examples=60, deadline=None)
@given(topn_case())
def test_list_and_csr_inputs_agree(case):
    rec, rel, n_items = case
    csr = as_relevant(rel, n_items=n_items)
    assert isinstance(csr, Relevant)
    a, b = topn_metrics(rec, rel, n_items=n_items), topn_metrics(rec, csr)
    for name in a:
        assert a[name] == pytest.approx(b[name])
