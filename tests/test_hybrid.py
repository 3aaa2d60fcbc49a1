"""The hybrid: contract, persistence, fallback and the leakage guards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import RecsysError
from recsys.models.io import load_model
from recsys.models.hybrid import HybridRecommender

GENRES = ["Action", "Comedy", "Drama"]


def _toy(seed=0, n_users=50, n_items=35):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n_users, 2))
    Q = rng.normal(size=(n_items, 2))
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.55)
    r = np.clip(np.rint(3 + (P[u] * Q[i]).sum(1) + rng.normal(0, 0.4, len(u))), 1, 5)
    item_info = pd.DataFrame(
        {"title": [f"m{j}" for j in range(n_items)],
         "genres": [GENRES[j % 3] + ("|" + GENRES[(j + 1) % 3] if j % 2 else "")
                    for j in range(n_items)],
         "year": 1980 + np.arange(n_items) % 30}, index=pd.Index(np.arange(n_items)))
    user_info = pd.DataFrame(
        {"age": 18 + np.arange(n_users) % 40, "gender": np.where(np.arange(n_users) % 2, "M", "F"),
         "occupation": np.array(["a", "b", "c"])[np.arange(n_users) % 3]},
        index=pd.Index(100 + np.arange(n_users)))
    data = Ratings.from_arrays(100 + u, i, r, rating_scale=(1, 5), item_info=item_info,
                               user_info=user_info)
    test = rng.random(len(data)) < 0.2
    return data.subset(~test), data.subset(test)


def small(**kw):
    params = dict(hidden=(6,), n_epochs=4, lr=0.01, n_folds=2, mf_factors=3, mf_epochs=30,
                  bases=("mf", "autorec"), use_side=True,
                  mf_lr=0.03, ar_hidden=8, ar_steps=40, ar_lr=0.02, ar_reg=5.0, random_state=0)
    params.update(kw)
    return HybridRecommender(**params)


@pytest.fixture(scope="module")
def split():
    return _toy()


@pytest.fixture(scope="module")
def fitted(split):
    return small().fit(split[0])


def _rmse(pred, truth):
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def test_fit_predict_in_range_and_better_than_global_mean(fitted, split):
    train, test = split
    pred = fitted.predict_ratings(test)
    assert pred.shape == (len(test),)
    assert np.all((pred >= 1) & (pred <= 5))
    assert _rmse(pred, test.ratings) < 0.8 * _rmse(np.full(len(test), train.global_mean),
                                                   test.ratings)
    assert len(fitted.history_["train_rmse"]) == fitted.n_epochs_ >= 1


def test_save_load_identical_predictions(fitted, split, tmp_path):
    test = split[1]
    path = fitted.save(tmp_path / "hybrid.npz")
    loaded = load_model(path)
    assert isinstance(loaded, HybridRecommender)
    np.testing.assert_array_equal(loaded.predict_ratings(test), fitted.predict_ratings(test))
    users = test.user_ids[test.users[:5]]
    np.testing.assert_array_equal(loaded.recommend_all(users, n=4)[0],
                                  fitted.recommend_all(users, n=4)[0])
    assert loaded.get_params() == fitted.get_params()
    assert len(loaded.net_.members) == fitted.n_nets
    assert all(len(net.weights_) == 2 for net in loaded.net_.members)


def test_unknown_ids_fall_back_to_mf_biases(fitted, split):
    item = split[0].item_ids[0]
    pred, fell_back = fitted.predict([999999, 100], [item, "no-such-item"], return_fallback=True)
    assert fell_back.tolist() == [True, True]
    i = fitted.encode([100], [item])[1][0]
    mf = fitted.mf_  # mu + b_i in MF's model units, mapped back through MF's and the hybrid's
    fallback = fitted.rating_map_.to_ratings(mf.rating_map_.to_ratings(mf.mu_ + mf.item_bias_[i]))
    assert pred[0] == pytest.approx(np.clip(fallback, 1, 5))
    assert np.all(np.isfinite(pred))
    frame = fitted.recommend(999999, n=3, cold_start=True)
    assert frame.attrs["fallback"] and len(frame) == 3


def _reads_the_ratings_it_predicts(model, pairs) -> bool:
    """Whether ``model.predict_ratings`` looks at the ratings of the container it is given
    (it must use only the pairs: the ratings are what it is asked to predict)."""
    shuffled = pairs.subset(np.arange(len(pairs)))
    shuffled.ratings = np.random.default_rng(1).permutation(pairs.ratings)
    return not np.array_equal(model.predict_ratings(shuffled), model.predict_ratings(pairs))


class _Leaky(HybridRecommender):
    """A hybrid that peeks at the ratings it is asked to predict (target leakage)."""

    def predict_ratings(self, ratings):
        return super().predict_ratings(ratings) + 0.1 * (ratings.ratings - 3.0)


def test_predictions_do_not_depend_on_test_ratings(fitted, split):
    test = split[1]
    assert not _reads_the_ratings_it_predicts(fitted, test)
    leaky = _Leaky(**fitted.get_params()).fit(split[0])
    assert _reads_the_ratings_it_predicts(leaky, test)  # the check catches a leak


def test_out_of_fold_rows_never_see_their_own_rating(split):
    """Changing the ratings of fold 0 leaves fold 0's network inputs unchanged."""
    train = split[0]
    model = small()
    model._remember_data(train)
    model.bases_ = ("mf", "autorec")
    model.user_logn_ = np.log1p(model.user_counts_).astype(np.float32)
    model.item_logn_ = np.log1p(model.item_counts_).astype(np.float32)
    from recsys.features import item_features, user_features
    model.user_side_, model.user_side_names_ = user_features(train)
    model.item_side_, model.item_side_names_ = item_features(train)
    fold = np.arange(len(train)) % 2
    seeds = np.arange(10)
    X, base = model._out_of_fold(train, fold, seeds)
    changed = train.subset(np.arange(len(train)))
    changed.ratings = np.where(fold == 0, 6.0 - train.ratings, train.ratings).astype(np.float32)
    X2, base2 = model._out_of_fold(changed, fold, seeds)
    np.testing.assert_allclose(X2[fold == 0], X[fold == 0])
    np.testing.assert_allclose(base2[fold == 0], base[fold == 0])
    assert not np.allclose(X2[fold == 1, 0], X[fold == 1, 0])  # the other fold did change


def test_standardisation_comes_from_training_rows_only(split):
    train, test = split
    a = small(n_epochs=1).fit(train)
    b = small(n_epochs=1).fit(train, validation=test)
    np.testing.assert_array_equal(a.scaler_.mean_, b.scaler_.mean_)
    np.testing.assert_array_equal(a.scaler_.scale_, b.scaler_.scale_)
    assert "valid_rmse" in b.history_ and len(b.history_["valid_rmse"]) == 1


def test_options_tanh_output_factors_no_autorec_and_callback(split):
    train, test = split
    seen = []
    model = small(output="tanh", use_factors=True, bases=("mf",), use_side=False,
                  hidden=(4, 3)).fit(train, callback=lambda e, h: seen.append(e))
    assert seen == list(range(model.n_epochs_))
    assert model.ar_ is None
    names = model._header_extra()["feature_names"]
    assert "autorec_pred" not in names and "pq0" in names and len(names) == 4 + 9 + 1
    assert np.all(np.isfinite(model.predict_ratings(test)))


@pytest.mark.parametrize("bad", [dict(n_folds=1), dict(output="relu"), dict(hidden=(0,)),
                                 dict(valid_size=1.5)])
def test_bad_parameters_raise_recsys_error(split, bad):
    with pytest.raises(RecsysError):
        small(**bad).fit(split[0])


def test_autorec_alone_learns_saves_and_falls_back(split, tmp_path):
    from recsys.models.autorec import AutoRec

    train, test = split
    model = AutoRec(n_hidden=8, reg=5.0, n_steps=40, lr=0.02, eval_every=20,
                    random_state=0).fit(train, validation=test)
    assert model.history_["step"] == [20, 40]
    pred = model.predict_ratings(test)
    assert _rmse(pred, test.ratings) < 0.9 * _rmse(np.full(len(test), train.global_mean),
                                                   test.ratings)
    loaded = load_model(model.save(tmp_path / "autorec.npz"))
    np.testing.assert_array_equal(loaded.predict_ratings(test), pred)
    item = train.item_ids[train.items[0]]
    value, fell_back = model.predict([424242], [item], return_fallback=True)
    assert fell_back[0]
    i = model.encode([100], [item])[1][0]
    assert value[0] == pytest.approx(np.clip(model.global_mean_ + model.item_bias_[i], 1, 5))
    scores = model._score_users(np.array([train.users[0], -1]))
    assert scores.shape == (2, train.n_items) and np.isfinite(scores).all()


def test_a_stop_request_is_honoured_within_one_base_model_epoch(split):
    """``should_stop`` is asked after every epoch of every stage: a request made during the
    first out-of-fold fit (long before the network's first epoch) ends the fit at the end of
    the base model's epoch that is running, and leaves the hybrid unfitted."""
    from recsys.models.progress import FitStopped

    train = split[0]
    asked = []
    network_epochs = []

    def should_stop() -> bool:
        asked.append(len(asked))
        return len(asked) >= 5  # during the first fold's matrix factorisation (mf_epochs=30)

    model = small()
    with pytest.raises(FitStopped):
        model.fit(train, callback=lambda e, h: network_epochs.append(e), should_stop=should_stop)
    assert len(asked) == 5  # stopped at the first check that said yes: nothing ran after it
    assert network_epochs == []  # it stopped inside the out-of-fold stage
    assert not model.is_fitted


# small(): per fold, MF asks 30 times and AutoRec 50 (its bias baseline's 10 sweeps and 40
# steps); two folds, then the final MF and AutoRec, then the network's epochs (from check 241)
@pytest.mark.parametrize("stop_at, stage", [(20, "fold 1 MF"), (95, "fold 2 MF"),
                                            (150, "fold 2 AutoRec"), (175, "final MF"),
                                            (200, "final AutoRec"), (241, "network")])
def test_every_stage_asks_whether_to_stop(split, stop_at, stage):
    """The out-of-fold fits, the final base models and the network each ask after every
    epoch: a request at any point stops the fit right there and leaves it unfitted."""
    from recsys.models.progress import FitStopped

    train = split[0]
    asked, network_epochs = [], []
    model = small()
    with pytest.raises(FitStopped):
        model.fit(train, callback=lambda e, h: network_epochs.append(e),
                  should_stop=lambda: asked.append(1) or len(asked) >= stop_at)
    assert len(asked) == stop_at and not model.is_fitted
    assert (network_epochs == [0]) == (stage == "network")


# ---------------------------------------------------------------- the blend of many bases
def _timed(split):
    """The toy split with timestamps (a year of days), for the time-aware base."""
    rng = np.random.default_rng(7)
    out = []
    for part in split:
        stamps = 1_200_000_000 + rng.integers(0, 365 * 86_400, len(part))
        out.append(Ratings.from_arrays(part.user_ids[part.users], part.item_ids[part.items],
                                       part.ratings, rating_scale=part.rating_scale,
                                       timestamps=stamps))
    return out


def blend(**kw):
    fast = {"svdpp": {"n_factors": 4, "n_epochs": 20}, "timebias": {"n_epochs": 20}}
    return small(bases=None, base_params=fast, **kw)


@pytest.fixture(scope="module")
def blended(split):
    train, _ = _timed(split)
    return blend().fit(train)


def test_the_default_blend_takes_every_base_the_data_allows(blended, split):
    assert blended.bases_ == ("mf", "autorec", "svdpp", "knn", "timebias")
    names = blended._header_extra()["feature_names"]
    assert names[:5] == ["mf_pred", "autorec_pred", "svdpp_pred", "knn_pred", "timebias_pred"]
    assert blended.base_models_["svdpp"].n_factors == 4  # base_params reached the base
    assert set(blended.stage_seconds_) == {"out_of_fold", "final_bases", "network"}
    # without timestamps the time-aware base is left out, not an error
    untimed = blend(n_epochs=1).fit(split[0])
    assert untimed.bases_ == ("mf", "autorec", "svdpp", "knn")


def test_the_blend_predicts_at_the_ratings_times_and_round_trips(blended, split, tmp_path):
    _, test = _timed(split)
    at_times = blended.predict_ratings(test)
    assert np.all(np.isfinite(at_times)) and at_times.min() >= 1 and at_times.max() <= 5
    assert _rmse(at_times, test.ratings) < 0.9 * _rmse(
        np.full(len(test), blended.global_mean_), test.ratings)
    users, items = test.user_ids[test.users], test.item_ids[test.items]
    np.testing.assert_allclose(blended.predict(users, items, test.timestamps), at_times)
    now = blended.predict(users, items)  # "now": the time-aware base at its last day
    assert not np.allclose(now, at_times)
    loaded = load_model(blended.save(tmp_path / "blend.npz"))
    assert loaded.bases_ == blended.bases_ and loaded.get_params() == blended.get_params()
    np.testing.assert_array_equal(loaded.predict_ratings(test), at_times)


def test_a_file_of_the_two_base_hybrid_still_loads(fitted, split, tmp_path):
    """Files written before ``bases`` said ``use_autorec``: they load as MF + AutoRec."""
    import json
    import zipfile

    path = fitted.save(tmp_path / "two.npz")
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    header = json.loads(np.load(path)["header"].item())
    params = header["params"]
    params.pop("bases"), params.pop("base_params")
    params["use_autorec"] = True
    header["extra"].pop("bases")
    old = tmp_path / "old.npz"
    text = np.array(json.dumps(header))
    from io import BytesIO
    buffer = BytesIO()
    np.save(buffer, text)
    members["header.npy"] = buffer.getvalue()
    with zipfile.ZipFile(old, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    loaded = load_model(old)
    assert loaded.bases == ["mf", "autorec"] or loaded.bases == ("mf", "autorec")
    assert loaded.bases_ == ("mf", "autorec")
    np.testing.assert_array_equal(loaded.predict_ratings(split[1]),
                                  fitted.predict_ratings(split[1]))


@pytest.mark.parametrize("bad, words", [
    (dict(bases=("autorec",)), "must include 'mf'"),
    (dict(bases=("mf", "nope")), "no base model 'nope'"),
    (dict(bases=("mf", "mf")), "twice"),
    (dict(bases="mf"), "non-empty list"),
    (dict(base_params={"svdpp": {"n_factor": 3}}), "no setting 'n_factor'"),
    (dict(base_params={"zzz": {}}), "no base model 'zzz'"),
    (dict(base_params={"svdpp": 3}), "must map settings"),
])
def test_bad_bases_are_one_line_errors(split, bad, words):
    with pytest.raises(RecsysError, match=words) as info:
        small(**bad).fit(split[0])
    assert "\n" not in str(info.value)


def test_a_time_aware_base_on_untimed_data_says_so(split):
    with pytest.raises(RecsysError, match="needs timestamps"):
        small(bases=("mf", "timebias")).fit(split[0])
