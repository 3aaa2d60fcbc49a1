"""Fold-in of new users (MatrixFactorization, BiasBaseline): the solve, the API, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pathlib import Path

from recsys.data import load_predefined_split
from recsys.data.ratings import Ratings
from recsys.data.synthetic import make_planted
from recsys.errors import ParameterError, RecsysError, UnknownIdError
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.foldin import (
    FOLD_IN_MODELS, UserProfile, parse_rate, read_user_ratings, ridge_user, sgd_penalties,
    step_sum)
from recsys.models.mf import MatrixFactorization
from recsys.models.registry import MODELS, model_class

from _cli import assert_one_clean_error, run

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"
SMALL = dict(n_factors=3, n_epochs=60, lr=0.01, lr_bias=0.01, lr_decay=0.0, reg=0.02,
             reg_bias=0.02, init_std=0.1, random_state=0)


@pytest.fixture(scope="module")
def data() -> Ratings:
    return make_planted(n_users=300, n_items=200, n_ratings=36_000, n_factors=3, noise=0.5,
                        random_state=0)


@pytest.fixture(scope="module")
def mf(data):
    return MatrixFactorization(**SMALL).fit(data)


def user_ratings(data: Ratings, u: int) -> dict:
    mask = data.users == u
    return dict(zip(data.item_ids[data.items[mask]], data.ratings[mask].astype(float)))


def objective(X, y, w, d):
    return float(np.sum((y - X @ w) ** 2) + np.sum(d * w ** 2))


@pytest.mark.parametrize("n", [3, 40])  # dual (n < k+1) and primal forms
def test_ridge_solve_is_the_minimum_of_its_objective(n):
    rng = np.random.default_rng(n)
    Q, y = rng.normal(size=(n, 8)), rng.normal(size=n)
    b, p = ridge_user(Q, y, 0.3, 0.7)
    X, w, d = np.hstack([np.ones((n, 1)), Q]), np.concatenate([[b], p]), np.r_[0.7, [0.3] * 8]
    grad = -2 * X.T @ (y - X @ w) + 2 * d * w  # analytic gradient vanishes at the minimum
    assert np.abs(grad).max() < 1e-8
    # and a numerical gradient agrees with the analytic one away from it
    w2 = w + 0.1
    num = np.array([(objective(X, y, w2 + e, d) - objective(X, y, w2 - e, d)) / 2e-6
                    for e in np.eye(9) * 1e-6])
    assert np.allclose(num, -2 * X.T @ (y - X @ w2) + 2 * d * w2, atol=1e-4)
    for _ in range(5):
        assert objective(X, y, w + rng.normal(scale=1e-3, size=9), d) > objective(X, y, w, d)


def test_mf_fold_in_of_a_training_user_recovers_its_learned_factors(data, mf):
    for u in (3, 17, 120):
        profile = mf.fold_in(user_ratings(data, u))
        pred = mf.predict(items=data.item_ids, profile=profile)
        learned = mf.predict([data.user_ids[u]] * data.n_items, data.item_ids)
        assert np.abs(pred - learned).mean() < 0.1 and np.abs(pred - learned).max() < 0.3
        assert profile.n_ratings == mf.user_counts_[u] and profile.factors.shape == (3,)


def test_mf_fold_in_of_a_new_user_beats_the_item_biases(data):
    new = np.isin(data.users, np.arange(30))
    model = MatrixFactorization(**SMALL).fit(data.subset(~new))
    personal, plain = [], []
    for u in range(30):
        mine = user_ratings(data, u)
        items = list(mine)
        given = {i: mine[i] for i in items[:40]}
        rest = np.array(items[40:])
        truth = np.array([mine[i] for i in rest])
        personal.append(model.predict(items=rest, ratings=given) - truth)
        plain.append(model.predict(np.full(len(rest), -1), rest) - truth)
    rmse = lambda e: float(np.sqrt(np.mean(np.concatenate(e) ** 2)))  # noqa: E731
    assert rmse(personal) < 0.85 * rmse(plain)
    assert rmse(personal) < 0.75  # noise 0.5


def test_mf_penalty_is_per_rating_decay_plus_the_early_stopping_term(data, mf):
    mine = dict(list(user_ratings(data, 5).items())[:4])
    profile = mf.fold_in(mine)
    T = step_sum(SMALL["lr"], SMALL["lr_decay"], 60)
    assert T == pytest.approx(0.6)
    y = profile.values - mf.mu_ - mf.item_bias_[profile.items]
    b, p = ridge_user(mf.item_factors_[profile.items], y, 4 * 0.02 + 1 / T, 4 * 0.02 + 1 / T)
    assert profile.bias == pytest.approx(b) and np.allclose(profile.factors, p)


def test_baseline_fold_in_is_the_fits_own_user_step(data):
    model = BiasBaseline(n_epochs=3).fit(data)
    for u in (0, 9):
        assert model.fold_in(user_ratings(data, u)).bias == pytest.approx(
            float(model.user_bias_[u]), abs=1e-5)
    top = model.recommend(ratings=user_ratings(data, 0), n=5, min_item_ratings=1)
    assert len(top) == 5 and not set(top.item) & set(user_ratings(data, 0))


def test_recommend_and_predict_with_ratings_or_profile(data, mf):
    mine = dict(list(user_ratings(data, 8).items())[:10])
    profile = mf.fold_in(mine)
    a = mf.recommend(ratings=mine, n=7)
    b = mf.recommend(profile=profile, n=7)
    assert list(a.item) == list(b.item) and not set(a.item) & set(mine)
    assert np.allclose(a.prediction, mf.predict(items=a.item.to_numpy(), profile=profile))
    assert np.all(np.diff(a.relevance) <= 1e-12)
    assert np.all(np.diff(mf.recommend(profile=profile, n=7, rank_by="rating").prediction)
                  <= 1e-12)
    seen = mf.recommend(profile=profile, n=200, exclude_seen=False)
    assert set(mine) <= set(seen.item)
    pred, fell = mf.predict(items=[data.item_ids[0], 99999], profile=profile,
                            return_fallback=True)
    assert list(fell) == [False, True]
    assert pred[1] == pytest.approx(mf.clip(mf.rating_map_.to_ratings(mf.mu_ + profile.bias)))
    assert mf.recommend(data.user_ids[0], 3).shape[0] == 3  # the old call still works
    assert mf.predict(data.user_ids[0], data.item_ids[1]).shape == (1,)


def test_scale_free(data):
    frame = pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items],
                          "rating": data.ratings})
    low, high = data.rating_scale
    scaled = frame.assign(rating=10 + 20 * frame.rating)
    a = MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(
        Ratings.from_dataframe(frame, timestamp=None, rating_scale=(low, high)))
    b = MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(
        Ratings.from_dataframe(scaled, timestamp=None,
                               rating_scale=(10 + 20 * low, 10 + 20 * high)))
    mine = dict(list(user_ratings(data, 2).items())[:6])
    pa = a.predict(items=data.item_ids[:20], ratings=mine)
    pb = b.predict(items=data.item_ids[:20], ratings={k: 10 + 20 * v for k, v in mine.items()})
    assert np.allclose(10 + 20 * pa, pb, rtol=1e-4)


def test_saved_model_folds_in_the_same(data, mf, tmp_path):
    from recsys.models.io import load_model

    mine = dict(list(user_ratings(data, 4).items())[:5])
    loaded = load_model(mf.save(tmp_path / "m.npz"))
    assert np.allclose(loaded.fold_in(mine).factors, mf.fold_in(mine).factors)


@pytest.fixture(scope="module")
def titled() -> Ratings:
    rng = np.random.default_rng(0)
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)", "Wave, The (1990)",
              "Alien (1979)", "Aliens (1986)"]
    frame = pd.DataFrame({"user": rng.integers(0, 30, 600), "item": rng.integers(1, 7, 600),
                          "rating": rng.integers(1, 6, 600).astype(float)})
    frame = frame.drop_duplicates(["user", "item"])
    info = pd.DataFrame({"title": titles}, index=pd.Index(range(1, 7), name="item"))
    return Ratings.from_dataframe(frame, timestamp=None, rating_scale=(1, 5), item_info=info)


def test_titles_match_exactly_then_without_year_then_in_part(titled):
    model = BiasBaseline().fit(titled)
    assert list(model.fold_in({"toy story": 5, "Aliens": 2, "wave": 3}).items) == [0, 3, 5]
    assert list(model.fold_in({"heat": 4}).items) == [2]
    assert list(model.fold_in({"The Wave": 4}).items) == [3]  # MovieLens's "Wave, The"
    assert model.fold_in({"1990": 4, 1: 3}, unknown="ignore").skipped == ("1990",)  # no year
    with pytest.raises(UnknownIdError, match=r"ambiguous.*Toy Story 2.*Toy Story \(1995\)|"
                                             r"ambiguous.*Toy Story \(1995\).*Toy Story 2"):
        model.fold_in({"toy": 4})
    with pytest.raises(UnknownIdError, match="unknown item 'Jaws'"):
        model.fold_in({"Jaws": 4})
    assert model.fold_in({"Jaws": 4, 1: 5}, unknown="ignore").skipped == ("Jaws",)


@pytest.mark.parametrize("ratings, message", [
    ({1: 7}, "within the model's rating scale 1-5"),
    ({1: "good"}, "must be a number"),
    ({1: float("nan")}, "within the model's rating scale"),
    ({}, "no usable rating"),
    ({1: 4, "Toy Story (1995)": 3}, "rated twice"),
    ([(1, 4)], "must be a mapping"),
])
def test_bad_ratings_are_one_line_errors(titled, ratings, message):
    model = BiasBaseline().fit(titled)
    with pytest.raises(ParameterError, match=message) as info:
        model.fold_in(ratings)
    assert "\n" not in str(info.value)


def test_api_misuse_and_unsupported_models(titled):
    model = BiasBaseline().fit(titled)
    with pytest.raises(ParameterError, match="only one of user, ratings"):
        model.recommend(titled.user_ids[0], ratings={1: 4})
    with pytest.raises(ParameterError, match="give a user id"):
        model.recommend()
    other = MatrixFactorization(**{**SMALL, "n_epochs": 2}).fit(titled)
    with pytest.raises(ParameterError, match="UserProfile made by this BiasBaseline"):
        model.recommend(profile=other.fold_in({1: 4}))
    with pytest.raises(RecsysError, match=r"GlobalMean cannot fold in.*mf \(Matrix"):
        GlobalMean().fit(titled).fold_in({1: 4})


def test_fold_in_models_list_matches_the_models():
    for name in MODELS:
        cls = model_class(name)
        assert (name in FOLD_IN_MODELS) == cls._supports_fold_in(), name
        if name in FOLD_IN_MODELS:
            assert FOLD_IN_MODELS[name] == cls.__name__


def test_parse_rate_and_ratings_files(tmp_path):
    assert parse_rate("Toy Story=5") == ("Toy Story", 5.0)
    assert parse_rate("a=b=4.5") == ("a=b", 4.5)
    for bad, message in (("Toy Story", "expected ITEM=RATING"), ("=4", "expected ITEM"),
                         ("x=good", "not a number")):
        with pytest.raises(ParameterError, match=message):
            parse_rate(bad)
    two = tmp_path / "two.csv"
    two.write_text("item,rating\n1,4\nHeat,3.5\n")
    assert read_user_ratings(two) == {"1": 4.0, "Heat": 3.5}
    usual = tmp_path / "u.data"
    usual.write_text("7\t1\t4\t881250949\n7\t3\t2\t881250950\n")
    assert read_user_ratings(usual) == {"1": 4.0, "3": 2.0}
    many = tmp_path / "many.csv"
    many.write_text("7,1,4\n8,3,2\n")
    with pytest.raises(RecsysError, match="2 users"):
        read_user_ratings(many)


@pytest.fixture(scope="module")
def model_file(titled, tmp_path_factory):
    path = tmp_path_factory.mktemp("foldin") / "mf.npz"
    return MatrixFactorization(**{**SMALL, "n_epochs": 5}).fit(titled).save(path)


def test_cli_recommend_for_a_new_user(model_file, tmp_path):
    result = run("recommend", "-m", model_file, "--rate", "Toy Story=5", "--rate", "5=1",
                 "--min-ratings", "1", "--format", "csv")
    assert result.exit_code == 0, result.output
    items = pd.read_csv(pd.io.common.StringIO(result.stdout)).item.tolist()
    assert len(items) == 4 and 1 not in items and 5 not in items
    mine = tmp_path / "mine.csv"
    mine.write_text("item,rating\n1,5\n5,1\n999,3\n")
    result = run("recommend", "-m", model_file, "--ratings", mine, "--min-ratings", "1",
                 "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "left out 1 rating" in result.stderr
    assert pd.read_csv(pd.io.common.StringIO(result.stdout)).item.tolist() == items


@pytest.mark.parametrize("args, words", [
    (("--rate", "Toy Story"), ("expected ITEM=RATING",)),
    (("--rate", "Toy Story=nice"), ("not a number",)),
    (("--rate", "Toy Story=9"), ("rating scale",)),
    (("--rate", "toy=4"), ("ambiguous", "Toy Story 2")),
    (("--rate", "Jaws=4"), ("unknown item",)),
    (("--rate", "1=4", "--user", "3"), ("one of --user",)),
])
def test_cli_bad_rate_is_one_line(model_file, args, words):
    result = run("recommend", "-m", model_file, *args)
    assert_one_clean_error(result, 2 if "--user" in args else 1, *words)


def test_svdpp_fold_in_recovers_a_training_user_and_helps_a_new_one(data):
    from recsys.models.svdpp import SVDpp

    settings = dict(n_factors=3, n_epochs=40, lr=0.01, lr_decay=0.0, reg=0.02,
                    reg_implicit=0.01, init_std=0.1, random_state=0)
    model = SVDpp(**settings).fit(data)
    u = 11
    pred = model.predict(items=data.item_ids, ratings=user_ratings(data, u))
    learned = model.predict([data.user_ids[u]] * data.n_items, data.item_ids)
    assert np.abs(pred - learned).mean() < 0.2
    # the implicit part: z_u from the given items' y_j, (b_u, p_u) solved on what it leaves
    mine = dict(list(user_ratings(data, 3).items())[:5])
    model.implicit_factors_ = model.implicit_factors_ * 100  # small here: make it count
    profile = model.fold_in(mine)
    idx = profile.items
    z_u = model.implicit_factors_[idx].astype(float).sum(axis=0) / np.sqrt(5)
    Q = model.item_factors_[idx].astype(float)
    y = profile.values - model.mu_ - model.item_bias_[idx] - Q @ z_u
    b, p = ridge_user(Q, y, *sgd_penalties(model, 5))
    assert profile.bias == pytest.approx(b) and np.allclose(profile.factors, p + z_u)
    assert np.abs(z_u).max() > 0.1
    new = np.isin(data.users, np.arange(20))
    reduced = SVDpp(**settings).fit(data.subset(~new))
    errors, plain = [], []
    for u in range(20):
        items = list(user_ratings(data, u).items())
        rest = np.array([i for i, _ in items[30:]])
        truth = np.array([r for _, r in items[30:]])
        errors.append(reduced.predict(items=rest, ratings=dict(items[:30])) - truth)
        plain.append(reduced.predict(np.full(len(rest), -1), rest) - truth)
    rmse = lambda e: float(np.sqrt(np.mean(np.concatenate(e) ** 2)))  # noqa: E731
    assert rmse(errors) < 0.85 * rmse(plain)


@pytest.mark.skipif(not ML100K.exists(), reason="needs ../shared/datasets/ml-100k")
def test_ml100k_fold_in_is_close_to_a_refit():
    """40 u1.test users made new; 10 of their test ratings folded in vs refitted (MF defaults,
    fewer epochs to stay fast); the rest scored (bench/bench_foldin.py is the full run)."""
    train, test = load_predefined_split(ML100K, "u1")
    tr = pd.DataFrame({"user": train.user_ids[train.users], "item": train.item_ids[train.items],
                       "rating": train.ratings.astype(float)})
    te = pd.DataFrame({"user": test.user_ids[test.users], "item": test.item_ids[test.items],
                       "rating": test.ratings.astype(float)})
    counts = te.groupby("user").size()
    users = np.random.default_rng(0).choice(counts.index[counts >= 25], 40, replace=False)
    base = tr[~tr.user.isin(users)]
    mine = te[te.user.isin(users) & te.item.isin(set(base.item))].groupby("user").head(10)
    rest = te[te.user.isin(users)].drop(mine.index)

    def fit(frame):
        data = Ratings.from_dataframe(frame, timestamp=None, rating_scale=(1, 5))
        return MatrixFactorization(n_factors=64, n_epochs=25, random_state=0).fit(data)

    model = fit(base)
    fold = np.concatenate([model.predict(items=rest.item[rest.user == u].to_numpy(),
                                         ratings=dict(zip(g.item, g.rating)))
                           for u, g in mine.groupby("user")])
    truth = np.concatenate([rest.rating[rest.user == u].to_numpy() for u, _ in
                            mine.groupby("user")])
    refit = fit(pd.concat([base, mine]))
    refit_pred = np.concatenate([refit.predict(u, rest.item[rest.user == u].to_numpy())
                                 for u, _ in mine.groupby("user")])
    plain = model.predict(np.full(len(truth), -1), np.concatenate(
        [rest.item[rest.user == u].to_numpy() for u, _ in mine.groupby("user")]))
    rmse = lambda p: float(np.sqrt(np.mean((p - truth) ** 2)))  # noqa: E731
    assert rmse(fold) < 1.03 * rmse(refit_pred)
    assert rmse(fold) < 0.99 * rmse(plain)
