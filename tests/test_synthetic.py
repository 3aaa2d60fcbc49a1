"""The planted low-rank generator: sizes, uniqueness, seeds, noise level, popularity skew."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.data.synthetic import PlantedTruth, make_planted, make_planted_with_truth
from recsys.errors import DataError


def _keys(r: Ratings) -> np.ndarray:
    return r.users.astype(np.int64) * r.n_items + r.items


@pytest.fixture(scope="module")
def planted() -> tuple[Ratings, PlantedTruth]:
    return make_planted_with_truth(n_users=400, n_items=200, n_ratings=20_000, random_state=3)


def test_sizes_types_and_ids(planted):
    r, truth = planted
    assert isinstance(r, Ratings)
    assert (len(r), r.n_users, r.n_items) == (20_000, 400, 200)
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.ratings.dtype == np.float32 and r.timestamps.dtype == np.int64
    assert r.users.min() >= 0 and r.users.max() < 400
    assert r.items.min() >= 0 and r.items.max() < 200
    np.testing.assert_array_equal(r.user_ids, np.arange(1, 401))
    np.testing.assert_array_equal(r.item_ids, np.arange(1, 201))
    assert truth.user_factors.shape == (400, 10) and truth.item_factors.shape == (200, 10)
    assert truth.user_bias.shape == (400,) and truth.item_bias.shape == (200,)


def test_no_duplicate_pairs_and_everyone_rated(planted):
    r, _ = planted
    assert np.unique(_keys(r)).size == len(r)
    assert r.user_counts().min() >= 5  # the floor min(5, n_items, n_ratings // n_users)
    assert r.item_counts().min() >= 1


def test_make_planted_returns_the_same_ratings_as_with_truth():
    a = make_planted(n_users=60, n_items=40, n_ratings=900, random_state=5)
    b, _ = make_planted_with_truth(n_users=60, n_items=40, n_ratings=900, random_state=5)
    np.testing.assert_array_equal(a.ratings, b.ratings)


def test_same_seed_identical_different_seed_different():
    kw = dict(n_users=80, n_items=50, n_ratings=1500)
    a, b = make_planted(random_state=7, **kw), make_planted(random_state=7, **kw)
    c = make_planted(random_state=8, **kw)
    for name in ("users", "items", "ratings", "timestamps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert not np.array_equal(_keys(a), _keys(c))


def test_residual_of_truth_is_the_noise(planted):
    r, truth = planted
    residual = r.ratings - truth.predict(r.users, r.items)
    assert abs(residual.mean()) < 0.03
    assert 0.47 < residual.std() < 0.53  # noise = 0.5, n = 20,000: sd of the estimate ~0.0025
    # continuous, unclipped ratings; the scale is their range
    assert np.unique(r.ratings).size > 0.99 * len(r)
    assert r.rating_scale == (float(r.ratings.min()), float(r.ratings.max()))


@pytest.mark.parametrize("noise", [0.0, 0.2, 1.0])
def test_noise_parameter_sets_the_best_rmse(noise):
    r, truth = make_planted_with_truth(
        n_users=200, n_items=100, n_ratings=8000, noise=noise, random_state=1
    )
    rmse = np.sqrt(np.mean((r.ratings - truth.predict(r.users, r.items)) ** 2))
    assert noise * 0.93 - 1e-5 <= rmse <= noise * 1.07 + 1e-5


def test_signal_is_low_rank_and_larger_than_noise(planted):
    r, truth = planted
    clean = truth.predict(r.users, r.items)
    interaction = clean - truth.mean - truth.user_bias[r.users] - truth.item_bias[r.items]
    assert 0.7 < interaction.std() < 1.3  # default factor_scale gives unit variance
    assert 1.1 < r.ratings.std() < 1.6
    assert 3.2 < r.global_mean < 3.8


def test_popularity_skew_visible():
    skewed = make_planted(n_users=500, n_items=300, n_ratings=15_000, random_state=2)
    flat = make_planted(
        n_users=500, n_items=300, n_ratings=15_000, popularity_skew=0.0, user_skew=0.0,
        random_state=2,
    )
    top = lambda r: np.sort(r.item_counts())[::-1][:30].sum() / len(r)  # noqa: E731
    assert top(skewed) > 0.25  # the 10% most popular items hold a large share
    assert top(flat) < 0.15  # uniform: about 10% (+ sampling noise)
    # popularity follows the planted weights
    _, truth = make_planted_with_truth(n_users=500, n_items=300, n_ratings=15_000, random_state=2)
    corr = np.corrcoef(np.log(truth.item_popularity), np.log(skewed.item_counts()))[0, 1]
    assert corr > 0.8


def test_timestamps_increase_and_can_be_off(planted):
    r, _ = planted
    assert np.all(np.diff(r.timestamps) >= 0)
    assert r.timestamps[-1] > r.timestamps[0]
    bare = make_planted(n_users=20, n_items=10, n_ratings=100, with_timestamps=False)
    assert bare.timestamps is None


def test_dense_and_edge_shapes():
    full = make_planted(n_users=12, n_items=9, n_ratings=108, random_state=0)
    assert np.unique(_keys(full)).size == 108
    dense = make_planted(n_users=30, n_items=20, n_ratings=400, random_state=0)  # 2/3 dense
    assert np.unique(_keys(dense)).size == 400 and dense.item_counts().min() >= 1
    thin = make_planted(n_users=10, n_items=40, n_ratings=40, random_state=0)  # matching only
    assert thin.item_counts().min() == 1 and thin.user_counts().min() >= 1
    biases_only = make_planted(n_users=20, n_items=10, n_ratings=150, n_factors=0)
    assert len(biases_only) == 150


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_ratings=5),  # fewer ratings than users
        dict(n_users=10, n_items=10, n_ratings=101),  # more than the matrix holds
        dict(noise=-1.0),
        dict(n_users=0),
        dict(n_factors=2.5),
        dict(popularity_skew=float("nan")),
    ],
)
def test_bad_arguments_raise_data_error(kwargs):
    base = dict(n_users=50, n_items=20, n_ratings=500)
    with pytest.raises(DataError):
        make_planted(**{**base, **kwargs})


def test_truth_predict_shape_check(planted):
    _, truth = planted
    with pytest.raises(ValueError):
        truth.predict(np.arange(3), np.arange(4))
