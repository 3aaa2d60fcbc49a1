"""BPR: the per-triple step is the gradient of its objective, it recovers planted tastes, and it
is a full estimator (progress, stop request, early stopping, files, one-line errors)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import ParameterError
from recsys.models._bpr_sgd import bpr_objective, triple_step
from recsys.models.bpr import BPR
from recsys.models.io import load_model
from recsys.models.progress import FitStopped
from recsys.models.registry import make_model


def planted(seed: int = 0, n_users: int = 120, n_items: int = 60, n_groups: int = 3):
    """Users of group g rate mostly items of group g (and a few others), ratings 1..5."""
    rng = np.random.default_rng(seed)
    ug = rng.integers(0, n_groups, n_users)
    ig = np.arange(n_items) % n_groups
    prob = np.where(ug[:, None] == ig[None, :], 0.45, 0.03)
    u, i = np.nonzero(rng.random((n_users, n_items)) < prob)
    r = np.where(ug[u] == ig[i], rng.integers(3, 6, len(u)), rng.integers(1, 4, len(u)))
    return Ratings.from_arrays(u, i, r.astype(float), rating_scale=(1, 5)), ug, ig


@pytest.fixture(scope="module")
def data():
    return planted()


def test_the_step_follows_the_gradient_of_the_triple_objective():
    rng = np.random.default_rng(3)
    P, Q = rng.normal(0, 0.5, (3, 4)), rng.normal(0, 0.5, (5, 4))
    b = rng.normal(0, 0.5, 5)
    u, i, j, reg, reg_b, lr = 1, 2, 4, 0.03, 0.07, 1e-7
    P1, Q1, b1 = P.copy(), Q.copy(), b.copy()
    before = triple_step(P1, Q1, b1, u, i, j, lr, reg, reg_b)
    assert before == pytest.approx(bpr_objective(P, Q, b, u, i, j, 0.0, 0.0), rel=1e-9)
    eps = 1e-6
    for name, arr, moved in (("P", P, P1), ("Q", Q, Q1), ("b", b, b1)):
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args = {"P": P, "Q": Q, "b": b}
            f = [bpr_objective(**{**args, name: a}, u=u, i=i, j=j, reg=reg, reg_bias=reg_b)
                 for a in (plus, minus)]
            numeric[idx] = (f[0] - f[1]) / (2 * eps)
        step = (moved - arr) / lr  # ascent: the step is lr times the gradient
        np.testing.assert_allclose(step, numeric, atol=1e-5, err_msg=name)
    assert np.array_equal(P1[[0, 2]], P[[0, 2]]) and np.array_equal(Q1[[0, 1, 3]], Q[[0, 1, 3]])


def held_out_auc(model: BPR, train: Ratings, test: Ratings) -> float:
    """Share of (held-out positive, random unrated item) pairs BPR orders right."""
    rng = np.random.default_rng(0)
    x = model._relevance_of(np.arange(train.n_users))
    seen = np.zeros((train.n_users, train.n_items), dtype=bool)
    seen[train.users, train.items] = True
    seen[test.users, test.items] = True
    wins = []
    for u, i in zip(test.users, test.items):
        j = rng.choice(np.flatnonzero(~seen[u]))
        wins.append(x[u, i] > x[u, j])
    return float(np.mean(wins))


def test_planted_positives_rank_above_random_items(data):
    ratings, _, _ = data
    mask = np.random.default_rng(1).random(len(ratings)) < 0.2
    train, test = ratings.subset(~mask), ratings.subset(mask)
    model = BPR(n_factors=8, n_epochs=30, lr=0.05, random_state=0).fit(train)
    assert held_out_auc(model, train, test) > 0.8
    untrained = BPR(n_factors=8, n_epochs=1, lr=1e-6, reg_bias=0.0, random_state=0).fit(train)
    assert held_out_auc(untrained, train, test) < 0.7  # the test can fail
    assert model.history_["train_loss"][-1] < model.history_["train_loss"][0]


def test_estimator_contract(data, tmp_path):
    ratings, _, _ = data
    seen_epochs = []
    model = make_model("bpr", n_factors=4, n_epochs=5, random_state=2).fit(
        ratings, callback=lambda epoch, history: seen_epochs.append(epoch))
    assert seen_epochs == [0, 1, 2, 3, 4]
    pred = model.predict(ratings.user_ids[:20], ratings.item_ids[ratings.items[:20]])
    assert np.all((pred >= 1) & (pred <= 5))  # the rating part, on the rating scale
    frame = model.recommend(ratings.user_ids[0], n=5)
    assert frame.attrs["rank_by"] == "relevance" and list(frame.columns)[-1] == "relevance"
    assert np.all(np.diff(frame["relevance"].to_numpy()) <= 1e-12)
    assert len(model.similar_items(ratings.item_ids[0], n=3)) == 3
    loaded = load_model(model.save(tmp_path / "bpr.npz"))
    assert loaded.recommend(ratings.user_ids[0], n=5).equals(frame)
    again = BPR(n_factors=4, n_epochs=5, random_state=2).fit(ratings)
    assert np.array_equal(again.user_factors_, model.user_factors_)


def test_early_stopping_on_validation_ndcg_and_refit_settings(data):
    ratings, _, _ = data
    mask = np.random.default_rng(2).random(len(ratings)) < 0.15
    model = BPR(n_factors=4, n_epochs=40, lr=0.5, patience=2, random_state=0).fit(
        ratings.subset(~mask), validation=ratings.subset(mask))
    ndcg = model.history_["valid_ndcg"]
    assert 0.0 < max(ndcg) <= 1.0 and model.n_epochs_ <= 40
    assert model.best_epoch_ == int(np.argmax(ndcg))
    assert model.refit_settings() == {"n_epochs": model.best_epoch_ + 1, "patience": None}
    assert BPR(n_epochs=7).validation_settings()["n_epochs"] == 21


def test_a_stop_request_leaves_the_model_unfitted(data):
    ratings, _, _ = data
    model = BPR(n_factors=4, n_epochs=50)
    with pytest.raises(FitStopped):
        model.fit(ratings, should_stop=lambda: True)
    assert not model.is_fitted


@pytest.mark.parametrize("params, message", [
    ({"n_factors": 0}, "BPR: n_factors must be an integer from 1"),
    ({"lr": -1}, "BPR: lr must be a number > 0"),
    ({"reg": "x"}, "BPR: reg must be a number >= 0"),
    ({"patience": 0}, "BPR: patience must be None"),
])
def test_bad_settings_are_one_line(data, params, message):
    with pytest.raises(ParameterError, match=message) as info:
        BPR(**params).fit(data[0])
    assert "\n" not in str(info.value)
