"""Scale-free learning: fitting the same ratings in other units gives the same predictions in
those units (``r -> a + b r``, ``b > 0``), for every model, with the same seed.

To put a new model under this property, add it to ``FACTORIES``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.models.autorec import AutoRec
from recsys.models.base import Estimator
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.hybrid import HybridRecommender
from recsys.models.knn import KNNBaseline
from recsys.models.knnglobal import GlobalNeighbourhood
from recsys.models.mf import MatrixFactorization
from recsys.models.mlp import MLP
from recsys.models.scaling import RatingMap
from recsys.models.svdpp import SVDpp
from recsys.models.timebias import TimeAwareBaseline
from recsys.models.timesvdpp import TimeSVDpp

FACTORIES: list[tuple[str, Callable[[], Estimator]]] = [
    ("GlobalMean", lambda: GlobalMean()),
    ("BiasBaseline", lambda: BiasBaseline(n_epochs=5)),
    ("MatrixFactorization", lambda: MatrixFactorization(
        n_factors=4, n_epochs=8, n_threads=1, random_state=3)),
    ("FunkSVD", lambda: MatrixFactorization(
        n_factors=4, n_epochs=8, biased=False, lr=0.02, n_threads=1, random_state=3)),
    ("MF with early stopping", lambda: MatrixFactorization(
        n_factors=4, n_epochs=30, patience=2, n_threads=1, random_state=3)),
    ("AutoRec", lambda: AutoRec(n_hidden=6, reg=5.0, n_steps=30, lr=0.02, eval_every=10,
                                random_state=3)),
    ("HybridRecommender", lambda: HybridRecommender(
        hidden=(4,), n_epochs=3, n_folds=2, mf_factors=3, mf_epochs=10, mf_lr=0.03,
        ar_hidden=5, ar_steps=15, ar_lr=0.02, ar_reg=5.0, random_state=3)),
    ("TimeAwareBaseline", lambda: TimeAwareBaseline(n_epochs=10, random_state=3)),
    ("TimeAwareBaseline with early stopping", lambda: TimeAwareBaseline(
        n_epochs=30, patience=2, random_state=3)),
    ("SVDpp", lambda: SVDpp(n_factors=4, n_epochs=8, random_state=3)),
    ("SVDpp with early stopping", lambda: SVDpp(
        n_factors=4, n_epochs=30, patience=2, random_state=3)),
    ("KNNBaseline", lambda: KNNBaseline(k=10, n_neighbors_kept=20)),
    ("GlobalNeighbourhood", lambda: GlobalNeighbourhood(k=10, n_epochs=8, random_state=3)),
    ("GlobalNeighbourhood with early stopping", lambda: GlobalNeighbourhood(
        k=10, n_epochs=30, patience=2, random_state=3)),
    ("TimeSVDpp", lambda: TimeSVDpp(n_factors=4, n_epochs=8, random_state=3)),
    ("TimeSVDpp with early stopping", lambda: TimeSVDpp(
        n_factors=4, n_epochs=30, patience=2, random_state=3)),
]

# (a, b): 1-5 stars as 0-100 points, as quarter points around 10, shifted below zero, and a
# map whose ratings float32 cannot hold exactly
MAPS = [(-25.0, 25.0), (10.0, 0.25), (-7.0, 3.0), (0.3, 1.37)]

# float32 ratings in other units round differently; a few epochs of SGD carry that along
RTOL = 2e-4


def toy(seed: int = 0) -> Ratings:
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    P, Q = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    r = np.clip(np.rint(3 + (P[u] * Q[i]).sum(1) + rng.normal(0, 0.5, len(u))), 1, 5)
    stamps = 1_000_000_000 + rng.integers(0, 200 * 86_400, len(u))  # for time-aware models
    return Ratings.from_arrays(u, i, r, rating_scale=(1, 5), timestamps=stamps)


def in_other_units(data: Ratings, a: float, b: float) -> Ratings:
    low, high = data.rating_scale
    return Ratings.from_arrays(data.user_ids[data.users], data.item_ids[data.items],
                               a + b * data.ratings.astype(np.float64),
                               rating_scale=(a + b * low, a + b * high),
                               timestamps=data.timestamps)


def worst_relative_deviation(expected: np.ndarray, got: np.ndarray, b: float) -> float:
    """The largest gap, as a share of the rating range in the new units."""
    return float(np.max(np.abs(got - expected)) / (4.0 * b))


@pytest.mark.parametrize("a, b", MAPS, ids=["0-100", "quarters", "shifted", "inexact"])
@pytest.mark.parametrize("name, make", FACTORIES, ids=[n for n, _ in FACTORIES])
def test_predictions_follow_a_change_of_units(name, make, a, b):
    data = toy()
    test = np.random.default_rng(1).random(len(data)) < 0.2
    train, held = data.subset(~test), data.subset(test)
    base = make().fit(train)
    other = make().fit(in_other_units(train, a, b))
    expected = a + b * base.predict_ratings(held)
    got = other.predict(held.user_ids[held.users], held.item_ids[held.items],
                        held.timestamps)
    assert worst_relative_deviation(expected, got, b) < RTOL
    # the learning curves follow too (errors scale by b)
    for key in ("train_rmse", "valid_rmse"):
        if key in base.history_:
            np.testing.assert_allclose(other.history_[key], b * np.asarray(base.history_[key]),
                                       rtol=1e-3)
    # recommendations are the same items
    user = train.user_ids[0]
    assert base.recommend(user, n=5)["item"].tolist() == other.recommend(user, n=5)["item"].tolist()


@pytest.mark.parametrize("a, b", MAPS, ids=["0-100", "quarters", "shifted", "inexact"])
def test_the_network_alone_follows_a_change_of_units(a, b):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 3.0
    make = lambda: MLP(hidden=(8,), lr=0.01, n_epochs=15, random_state=0)  # noqa: E731
    base = make().fit(X, y)
    other = make().fit(X, a + b * y)
    np.testing.assert_allclose(other.predict(X), a + b * base.predict(X), rtol=1e-6,
                               atol=1e-6 * b)
    np.testing.assert_allclose(other.history_["train_mse"],
                               b ** 2 * np.asarray(base.history_["train_mse"]), rtol=1e-6)


def test_a_1_to_100_scale_with_the_default_settings_does_not_diverge():
    """The defaults were tuned on 1-5 stars; on 1-100 they used to diverge at epoch 2."""
    data = in_other_units(toy(), -4.0, 20.8)  # 1..5 -> 16.8..100
    model = MatrixFactorization(random_state=0).fit(data)
    pred = model.predict_ratings(data)
    assert np.isfinite(pred).all() and pred.min() >= 16.8 - 1e-6 and pred.max() <= 100 + 1e-6
    assert np.sqrt(np.mean((pred - data.ratings) ** 2)) < np.std(data.ratings)


def test_the_map_is_a_quarter_of_the_range_around_the_mean():
    data = toy()
    mapping = RatingMap.of(data)
    assert mapping.spread == 1.0 and mapping.center == pytest.approx(data.ratings.mean())
    other = RatingMap.of(in_other_units(data, 0.0, 20.0))
    assert other.spread == 20.0 and other.center == pytest.approx(20 * mapping.center)
    z = mapping.apply(data)
    assert abs(float(z.ratings.mean())) < 1e-6 and z.rating_scale == pytest.approx(
        (1 - mapping.center, 5 - mapping.center))
    constant = Ratings.from_arrays([1, 2], [1, 1], [3.0, 3.0], rating_scale=(3, 3))
    assert RatingMap.of(constant).spread == 1.0


def test_a_range_stretched_by_outliers_is_capped_at_one_and_a_quarter_sds():
    rng = np.random.default_rng(8)
    scores = rng.normal(2.0, 1.5, 4000)
    scores[:3] = [-14.0, 19.0, 25.0]  # three extreme scores set the range
    data = Ratings.from_arrays(rng.integers(0, 200, 4000), rng.integers(0, 100, 4000),
                               scores.astype(np.float32))
    mapping = RatingMap.of(data)
    std = float(np.std(data.ratings.astype(np.float64)))
    assert (data.rating_scale[1] - data.rating_scale[0]) / 4 > 2 * std
    assert mapping.spread == pytest.approx(1.25 * std, rel=1e-9)
    # still scale-free: a change of units moves the cap with the ratings
    other = RatingMap.of(in_other_units(data, 3.0, 7.0))
    assert other.spread == pytest.approx(7.0 * mapping.spread, rel=1e-6)
    assert RatingMap.from_summary((1.0, 5.0), 3.0, 0.0).spread == 1.0  # no spread: the range
    assert RatingMap.from_summary((3.0, 3.0), 3.0, 0.0).spread == 1.0


def test_mf_defaults_fit_unbounded_scores_with_outliers():
    """Planted scores with no rating scale, a few far outliers: the defaults used to divide by
    a quarter of the outliers' range and regularise the tastes away (RMSE near the spread)."""
    from recsys.data.synthetic import make_planted

    data = make_planted(n_users=600, n_items=300, n_ratings=40_000, n_factors=4, noise=0.3,
                        factor_scale=0.6, random_state=5, with_timestamps=False)
    values = data.ratings.copy()
    values[:5] = values.mean() + np.array([-12, 14, 16, -15, 13]) * values.std()
    data = Ratings(users=data.users, items=data.items, ratings=values,
                   user_ids=data.user_ids, item_ids=data.item_ids,
                   rating_scale=(float(values.min()), float(values.max())), name="outliers")
    test = np.random.default_rng(0).random(len(data)) < 0.1
    test[:5] = False
    train, held = data.subset(~test), data.subset(test)
    model = MatrixFactorization(n_factors=16, n_epochs=40, random_state=0, n_threads=1)
    model.fit(train)
    rmse = float(np.sqrt(np.mean((model.predict_ratings(held) - held.ratings) ** 2)))
    assert model.rating_map_.spread < 0.5 * (values.max() - values.min()) / 4
    assert rmse < 0.5 * float(np.std(held.ratings))  # 0.35 here; 0.75 uncapped
