"""Fold-in for the neighbourhood model, the time-aware models, I-AutoRec and the hybrid blend."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.data.synthetic import make_planted
from recsys.models.autorec import AutoRec
from recsys.models.foldin import UserProfile, bias_penalty, ridge_user
from recsys.models.hybrid import HybridRecommender
from recsys.models.io import load_model
from recsys.models.knn import KNNBaseline
from recsys.models.timebias import TimeAwareBaseline
from recsys.models.timesvdpp import TimeSVDpp

NEW = 25  # users 0..NEW-1 are left out of the fit and folded in


@pytest.fixture(scope="module")
def data() -> Ratings:
    return make_planted(n_users=300, n_items=150, n_ratings=30_000, n_factors=3, noise=0.4,
                        random_state=1)


@pytest.fixture(scope="module")
def reduced(data) -> Ratings:
    return data.subset(~np.isin(data.users, np.arange(NEW)))


def user_ratings(data: Ratings, u: int) -> list[tuple]:
    mask = data.users == u
    return list(zip(data.item_ids[data.items[mask]], data.ratings[mask].astype(float)))


def rmse(errors) -> float:
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def new_user_errors(model, data: Ratings, given: int = 30) -> tuple[float, float]:
    """RMSE of the held-out users' other ratings: folded in from ``given`` of theirs, and
    with the unknown-user fallback."""
    personal, plain = [], []
    for u in range(NEW):
        items = user_ratings(data, u)
        rest = np.array([i for i, _ in items[given:]])
        truth = np.array([r for _, r in items[given:]])
        personal.append(model.predict(items=rest, ratings=dict(items[:given])) - truth)
        plain.append(model.predict(np.full(len(rest), -1), rest) - truth)
    return rmse(personal), rmse(plain)


FAST = {
    "knn": lambda: KNNBaseline(k=20),
    "timebias": lambda: TimeAwareBaseline(n_epochs=15, random_state=0),
    "timesvdpp": lambda: TimeSVDpp(n_factors=3, n_epochs=25, init_std=0.1, random_state=0),
    "autorec": lambda: AutoRec(n_hidden=24, n_steps=200, lr=0.006, reg=50.0, random_state=0),
}


@pytest.fixture(scope="module")
def fitted(reduced):
    return {name: make().fit(reduced) for name, make in FAST.items()}


@pytest.mark.parametrize("name", list(FAST))
def test_new_users_folded_in_beat_the_fallback(fitted, data, name):
    personal, plain = new_user_errors(fitted[name], data)
    limit = {"knn": 0.97, "timebias": 0.97, "autorec": 0.93}.get(name, 0.9)  # biases gain less
    assert personal < limit * plain, (personal, plain)


def test_knn_fold_in_of_a_training_user_gives_its_own_predictions(reduced):
    model = KNNBaseline(k=20, bias_epochs=30).fit(reduced)  # converged biases
    for u in (40, 77):
        items = user_ratings(reduced, u)
        profile = model.fold_in(dict(items))
        assert profile.bias == pytest.approx(float(model.user_bias_[u]), abs=1e-3)
        mine = model.predict(items=reduced.item_ids, profile=profile)
        learned = model.predict([reduced.user_ids[u]] * reduced.n_items, reduced.item_ids)
        assert np.abs(mine - learned).max() < 5e-3


def test_time_aware_fold_in_solves_the_stated_ridge(fitted):
    model = fitted["timebias"]
    profile = model.fold_in({model.item_ids_[3]: 5.0, model.item_ids_[8]: 2.0})
    i = profile.items
    resid = profile.values - model.mu_ - model.item_bias_[i] - model.bin_bias_[i, -1]
    penalty = bias_penalty(model, 2, model.reg_user, model.lr_user)
    assert profile.bias == pytest.approx(resid.sum() / (2 + penalty))
    tsvd = fitted["timesvdpp"]
    given = {tsvd.item_ids_[k]: float(r) for k, r in ((1, 4.0), (5, 1.0), (9, 3.5))}
    profile = tsvd.fold_in(given)
    i = profile.items
    implicit = tsvd.implicit_factors_[i].astype(float).sum(axis=0) / np.sqrt(3)
    Q = tsvd.item_factors_[i].astype(float)
    y = profile.values - tsvd.mu_ - tsvd.item_bias_[i] - tsvd.bin_bias_[i, -1] - Q @ implicit
    b, p = ridge_user(Q, y, bias_penalty(tsvd, 3, tsvd.reg, tsvd.lr),
                      bias_penalty(tsvd, 3, tsvd.reg_user, tsvd.lr_user))
    assert profile.bias == pytest.approx(b) and np.allclose(profile.factors, p + implicit)


def test_autorec_fold_in_is_a_decoder_column_for_the_user(fitted, reduced):
    model = fitted["autorec"]
    u = 60
    items = user_ratings(reduced, u)
    profile = model.fold_in(dict(items))
    assert profile.factors.shape == (model.n_hidden + 1,)
    mine = model.predict(items=reduced.item_ids, profile=profile)
    learned = model.predict([reduced.user_ids[u]] * reduced.n_items, reduced.item_ids)
    # the solved column fits the user's ratings about as well as the trained one does
    idx = np.searchsorted(reduced.item_ids, [i for i, _ in items])
    truth = np.array([r for _, r in items])
    assert np.sqrt(np.mean((mine[idx] - truth) ** 2)) < np.sqrt(
        np.mean((learned[idx] - truth) ** 2)) + 0.05
    assert np.corrcoef(mine, learned)[0, 1] > 0.8


def small_hybrid(**kw) -> HybridRecommender:
    params = dict(hidden=(6,), n_epochs=4, lr=0.01, n_folds=2, mf_factors=3, mf_epochs=30,
                  mf_lr=0.03, ar_hidden=24, ar_steps=100, ar_lr=0.006, ar_reg=50.0,
                  bases=("mf", "autorec", "knn", "timebias"), random_state=0,
                  base_params={"timebias": {"n_epochs": 10}, "knn": {"k": 20}})
    params.update(kw)
    return HybridRecommender(**params)


@pytest.fixture(scope="module")
def hybrid(reduced):
    return small_hybrid().fit(reduced)


def test_hybrid_folds_in_through_every_base(hybrid, data):
    items = user_ratings(data, 3)
    profile = hybrid.fold_in(dict(items[:20]))
    assert set(profile.parts) == set(hybrid.bases_)
    assert all(isinstance(p, UserProfile) for p in profile.parts.values())
    personal, plain = new_user_errors(hybrid, data)
    assert personal < 0.9 * plain, (personal, plain)


def test_hybrid_profile_scores_match_its_network_on_a_training_user(hybrid, reduced):
    """A training user's own ratings folded in: the blend's inputs are near that user's, so
    its predictions are too (the bases' fold-ins recover their users)."""
    u = 90
    mine = hybrid.predict(items=reduced.item_ids, ratings=dict(user_ratings(reduced, u)))
    learned = hybrid.predict([reduced.user_ids[u]] * reduced.n_items, reduced.item_ids)
    assert np.abs(mine - learned).mean() < 0.15
    assert np.corrcoef(mine, learned)[0, 1] > 0.9


def test_hybrid_recommend_predict_and_saved_file_agree(hybrid, data, tmp_path):
    given = dict(user_ratings(data, 5)[:15])
    top = hybrid.recommend(ratings=given, n=6)
    assert len(top) == 6 and not set(top.item) & set(given)
    assert np.allclose(top.prediction, hybrid.predict(items=top.item.to_numpy(), ratings=given))
    path = hybrid.save(tmp_path / "h.npz")
    again = load_model(path)
    assert list(again.recommend(ratings=given, n=6).item) == list(top.item)
    pred, fell = hybrid.predict(items=[top.item.iloc[0], 10**6], ratings=given,
                                return_fallback=True)
    assert list(fell) == [False, True] and np.isfinite(pred).all()


def test_hybrid_with_side_inputs_folds_in(reduced, data):
    model = small_hybrid(bases=("mf", "knn"), use_side=True, use_factors=True,
                         base_params={"knn": {"k": 20}}).fit(reduced)
    personal, plain = new_user_errors(model, data)
    assert personal < 0.9 * plain
