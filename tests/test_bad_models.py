"""Issue 6, models catalogue: unknown ids, odd shapes, bad settings, divergence.

Each bad input must end in one ``RecsysError`` subclass whose one-line message names what was
wrong (the id, the setting and its allowed range) and what to do.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import (
    DivergenceError,
    NotFittedError,
    ParameterError,
    RecsysError,
    UnknownIdError,
)
from recsys.models.autorec import AutoRec
from recsys.models.base import Estimator
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.hybrid import HybridRecommender
from recsys.models.mf import MatrixFactorization


def tiny_hybrid(**params) -> HybridRecommender:
    base = dict(hidden=(3,), n_epochs=2, n_folds=2, mf_factors=2, mf_epochs=5, mf_lr=0.02,
                ar_hidden=4, ar_steps=5, ar_lr=0.01, ar_reg=5.0, random_state=0)
    return HybridRecommender(**{**base, **params})


FACTORIES: list[tuple[str, Callable[[], Estimator]]] = [
    ("GlobalMean", GlobalMean),
    ("BiasBaseline", lambda: BiasBaseline(n_epochs=3)),
    ("MatrixFactorization", lambda: MatrixFactorization(n_factors=3, n_epochs=5, random_state=0)),
    ("HybridRecommender", tiny_hybrid),
]


def toy(seed: int = 0, n_users: int = 30, n_items: int = 20) -> Ratings:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.5)
    r = np.clip(np.rint(3 + rng.normal(0, 1, len(u))), 1, 5)
    return Ratings.from_arrays(100 + u, [f"m{j}" for j in i], r, rating_scale=(1, 5))


@pytest.fixture(scope="module")
def data() -> Ratings:
    return toy()


@pytest.fixture(scope="module", params=FACTORIES, ids=[n for n, _ in FACTORIES])
def fitted(request, data) -> Estimator:
    return request.param[1]().fit(data)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text and len(text) < 300
    return text


# ---------------------------------------------------------------- unknown users and items
def test_unknown_user_or_item_falls_back_and_says_so(fitted, data):
    user, item = data.user_ids[0], data.item_ids[0]
    pred, fell_back = fitted.predict([user, 424242, user, 424242], [item, item, "zz", "zz"],
                                     return_fallback=True)
    assert fell_back.tolist() == [False, True, True, True]
    assert np.all(np.isfinite(pred)) and np.all((pred >= 1) & (pred <= 5))


def test_recommend_for_an_unknown_user_names_the_id(fitted):
    with pytest.raises(UnknownIdError) as exc:
        fitted.recommend(424242, n=3)
    assert "unknown user 424242" in one_line(exc) and "cold_start=True" in str(exc.value)
    frame = fitted.recommend(424242, n=3, cold_start=True)
    assert frame.attrs["fallback"] and len(frame) == 3


def test_a_user_without_training_ratings_is_unknown_too(data):
    first = data.users == 0
    model = MatrixFactorization(n_factors=2, n_epochs=3, random_state=0).fit(
        data.subset(~first))
    user = data.user_ids[0]  # in the id map, but no training rating
    with pytest.raises(UnknownIdError, match=f"unknown user {user}"):
        model.recommend(user)
    assert model.predict([user], [data.item_ids[0]], return_fallback=True)[1].all()


def test_similar_items_for_an_unknown_item_names_it(data):
    model = MatrixFactorization(n_factors=3, n_epochs=3, random_state=0).fit(data)
    with pytest.raises(UnknownIdError) as exc:
        model.similar_items("no-such-movie")
    assert "unknown item 'no-such-movie'" in one_line(exc) and "title" in str(exc.value)
    with pytest.raises(UnknownIdError, match="unknown item '   '"):
        model.similar_items("   ")  # an empty query must not match every title


def test_similar_items_for_an_item_without_training_ratings(data):
    first = data.items == 0
    model = MatrixFactorization(n_factors=2, n_epochs=3, random_state=0).fit(
        data.subset(~first))
    with pytest.raises(UnknownIdError) as exc:
        model.similar_items(data.item_ids[0])
    assert "'m0' has no training ratings" in one_line(exc)


def test_similar_items_without_factors_says_which_models_have_them(data):
    with pytest.raises(RecsysError, match="BiasBaseline has no item factors.*matrix fact"):
        BiasBaseline(n_epochs=1).fit(data).similar_items(data.item_ids[0])


@pytest.mark.parametrize("call", [
    lambda m, d: m.recommend(d.user_ids[0], n=0),
    lambda m, d: m.recommend(d.user_ids[0], n=2.5),
    lambda m, d: m.recommend(d.user_ids[0], min_item_ratings=-1),
    lambda m, d: m.recommend_all(n=0),
    lambda m, d: m.similar_items(d.item_ids[0], n=0),
], ids=["n=0", "n=2.5", "min_item_ratings=-1", "recommend_all n=0", "similar n=0"])
def test_counts_below_one_are_refused(call, data):
    model = MatrixFactorization(n_factors=2, n_epochs=2, random_state=0).fit(data)
    with pytest.raises(ParameterError) as exc:
        call(model, data)
    assert "must be an integer >= 1" in one_line(exc)


# ---------------------------------------------------------------- shapes
def test_more_factors_than_users_works():
    ratings = toy(1, n_users=4, n_items=6)
    model = MatrixFactorization(n_factors=50, n_epochs=10, random_state=0).fit(ratings)
    assert model.user_factors_.shape == (4, 50)
    pred = model.predict_ratings(ratings)
    assert np.all(np.isfinite(pred)) and np.all((pred >= 1) & (pred <= 5))
    assert len(model.similar_items(ratings.item_ids[0], n=3)) == 3


# ---------------------------------------------------------------- settings
BAD_SETTINGS = [
    (MatrixFactorization, "n_epochs", 0, "an integer >= 1"),
    (MatrixFactorization, "n_factors", 2.5, "an integer from 1"),
    (MatrixFactorization, "n_factors", "10", "an integer from 1"),
    (MatrixFactorization, "n_factors", True, "an integer from 1"),
    (MatrixFactorization, "lr", 0.0, "a number > 0"),
    (MatrixFactorization, "lr", -0.01, "a number > 0"),
    (MatrixFactorization, "lr", "fast", "a number > 0"),
    (MatrixFactorization, "lr", float("nan"), "a number > 0"),
    (MatrixFactorization, "lr_bias", -1.0, "a number > 0"),
    (MatrixFactorization, "reg", -0.1, "a number >= 0"),
    (MatrixFactorization, "reg_bias", float("inf"), "a number >= 0"),
    (MatrixFactorization, "init_std", None, "a number >= 0"),
    (MatrixFactorization, "biased", "yes", "True or False"),
    (MatrixFactorization, "valid_size", 1.0, "a number > 0 and < 1"),
    (MatrixFactorization, "random_state", -3, "an integer >= 0"),
    (BiasBaseline, "n_epochs", 0, "an integer >= 1"),
    (BiasBaseline, "reg_user", -1.0, "a number >= 0"),
    (BiasBaseline, "reg_item", "10", "a number >= 0"),
    (AutoRec, "lr", 0, "a number > 0"),
    (AutoRec, "n_hidden", 0, "an integer from 1"),
    (HybridRecommender, "mf_lr", -0.5, "a number > 0"),
    (HybridRecommender, "mf_factors", 1.5, "an integer from 1"),
    (HybridRecommender, "n_epochs", 0, "an integer >= 1"),
    (HybridRecommender, "lr", 0.0, "a number > 0"),
    (HybridRecommender, "weight_decay", -1e-3, "a number >= 0"),
    (HybridRecommender, "hidden", (4, 0), "a list of integers"),
    (HybridRecommender, "hidden", "32", "a list of integers"),
    (HybridRecommender, "output", "relu", "one of 'linear', 'tanh'"),
    (HybridRecommender, "n_folds", 1, "an integer from 2"),
]


@pytest.mark.parametrize("cls, name, value, allowed", BAD_SETTINGS,
                         ids=[f"{c.__name__}-{n}={v!r}" for c, n, v, _ in BAD_SETTINGS])
def test_a_bad_setting_fails_at_fit_naming_it_and_the_range(cls, name, value, allowed, data):
    model = cls(**{name: value})  # __init__ only stores
    with pytest.raises(ParameterError) as exc:
        model.fit(data)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, RecsysError)
    text = one_line(exc)
    assert text.startswith(f"{cls.__name__}: {name} must be {allowed}"), text
    assert text.endswith(f"got {value!r}")
    assert not model.is_fitted


def test_integral_floats_are_accepted_as_integers(data):
    model = MatrixFactorization(n_factors=3.0, n_epochs=2.0, random_state=0).fit(data)
    assert model.user_factors_.shape[1] == 3 and model.n_epochs_ == 2


# ---------------------------------------------------------------- divergence
def test_a_diverging_learning_rate_names_the_setting_and_leaves_the_model_unfitted(data, tmp_path):
    model = MatrixFactorization(n_factors=8, n_epochs=10, lr=5.0, random_state=0)
    with pytest.raises(DivergenceError) as exc:
        model.fit(data)
    text = one_line(exc)
    assert "diverged" in text and "lower lr (now 5" in text and "raise reg" in text
    assert not model.is_fitted and not hasattr(model, "user_factors_")
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())


def test_a_failed_refit_discards_the_earlier_fit(data):
    model = MatrixFactorization(n_factors=2, n_epochs=2, random_state=0).fit(data)
    model.set_params(lr=50.0, n_epochs=20)
    with pytest.raises(DivergenceError):
        model.fit(data)
    assert not model.is_fitted
    with pytest.raises(NotFittedError):
        model.predict([data.user_ids[0]], [data.item_ids[0]])


def test_an_interrupted_fit_leaves_the_model_unfitted(data):
    def stop(epoch, history):
        raise KeyboardInterrupt

    model = MatrixFactorization(n_factors=2, n_epochs=5, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(data, callback=stop)
    assert not model.is_fitted


def test_hybrid_divergence_names_the_hybrid_setting(data):
    model = tiny_hybrid(mf_lr=40.0, mf_epochs=10)
    with pytest.raises(DivergenceError) as exc:
        model.fit(data)
    assert "HybridRecommender: its matrix factorisation diverged: lower mf_lr (now 40)" \
        in one_line(exc)
    assert not model.is_fitted
