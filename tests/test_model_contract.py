"""The contract every rating model honours, run on each entry of ``MODEL_FACTORIES``.

To put a new model under this suite, append ``(name, factory)`` to ``MODEL_FACTORIES``, where
``factory()`` returns a fresh, small, seeded, unfitted estimator that fits the toy data below
in well under a second.
"""

from __future__ import annotations

import json
import zipfile
from typing import Callable

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import ModelFileError, NotFittedError, RecsysError, UnknownIdError
from recsys.models.base import Estimator
from recsys.models.io import load_model
from recsys.models.baseline import BiasBaseline, GlobalMean
from recsys.models.bpr import BPR
from recsys.models.hybrid import HybridRecommender
from recsys.models.knn import KNNBaseline
from recsys.models.knnglobal import GlobalNeighbourhood
from recsys.models.mf import MatrixFactorization
from recsys.models.popularity import Popularity
from recsys.models.svdpp import SVDpp
from recsys.models.timebias import TimeAwareBaseline
from recsys.models.timesvdpp import TimeSVDpp

MODEL_FACTORIES: list[tuple[str, Callable[[], Estimator]]] = [
    ("GlobalMean", lambda: GlobalMean()),
    ("BiasBaseline", lambda: BiasBaseline(n_epochs=3)),
    ("MatrixFactorization", lambda: MatrixFactorization(n_factors=4, n_epochs=5, random_state=1)),
    ("FunkSVD", lambda: MatrixFactorization(n_factors=4, n_epochs=5, biased=False,
                                            lr=0.02, init_std=0.1, random_state=1)),
    ("HybridRecommender", lambda: HybridRecommender(
        hidden=(4,), n_epochs=2, n_folds=2, mf_factors=3, mf_epochs=20, mf_lr=0.03,
        ar_hidden=6, ar_steps=30, ar_lr=0.02, ar_reg=5.0, random_state=1)),
    ("TimeAwareBaseline", lambda: TimeAwareBaseline(n_epochs=10, random_state=1)),
    ("SVDpp", lambda: SVDpp(n_factors=4, n_epochs=5, random_state=1)),
    ("KNNBaseline", lambda: KNNBaseline(k=10, n_neighbors_kept=20)),
    ("GlobalNeighbourhood", lambda: GlobalNeighbourhood(k=10, n_epochs=5, random_state=1)),
    ("TimeSVDpp", lambda: TimeSVDpp(n_factors=4, n_epochs=5, random_state=1)),
    ("Popularity", lambda: Popularity()),
    ("BPR", lambda: BPR(n_factors=4, n_epochs=5, random_state=1)),
]


def toy_ratings(seed: int = 0) -> Ratings:
    """About 1,400 ratings on 1..5 from a rank-2 structure, raw ids 1000+ / 'm0'.."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 60, 40
    users = rng.normal(size=(n_users, 2))
    items = rng.normal(size=(n_items, 2))
    u, i = np.nonzero(rng.random((n_users, n_items)) < 0.6)
    r = np.clip(np.rint(3 + (users[u] * items[i]).sum(1) + rng.normal(0, 0.5, len(u))), 1, 5)
    stamps = 1_000_000_000 + rng.integers(0, 200 * 86_400, len(u))  # for time-aware models
    return Ratings.from_arrays(1000 + u, [f"m{j}" for j in i], r, rating_scale=(1, 5),
                               timestamps=stamps)


@pytest.fixture(scope="module")
def data() -> Ratings:
    return toy_ratings()


@pytest.fixture(params=MODEL_FACTORIES, ids=[name for name, _ in MODEL_FACTORIES])
def factory(request) -> Callable[[], Estimator]:
    return request.param[1]


@pytest.fixture
def fitted(factory, data) -> Estimator:
    return factory().fit(data)


def some_pairs(data: Ratings, n: int = 50):
    return data.user_ids[data.users[:n]], data.item_ids[data.items[:n]]


def test_fit_returns_self_and_learns_state(factory, data):
    model = factory()
    assert not model.is_fitted
    assert model.fit(data) is model
    assert model.is_fitted
    assert isinstance(model.history_, dict)
    # a rating model's training RMSE per epoch; a ranking model's (BPR) training loss
    assert model.history_.get("train_rmse") or model.history_.get("train_loss")
    pred = model.predict(*some_pairs(data))
    assert pred.shape == (50,) and np.all(np.isfinite(pred))
    assert np.all((pred >= 1) & (pred <= 5))


def test_beats_nothing_less_than_a_constant(fitted, data):
    """In sample, the best constant is the mean (its RMSE is the ratings' spread): the global
    mean model must be exactly that constant, and every model that learns more must fit its
    training ratings better."""
    pred = fitted.predict_ratings(data)
    spread = float(np.std(data.ratings))
    if type(fitted) is GlobalMean:
        np.testing.assert_allclose(pred, data.ratings.astype(np.float64).mean(), rtol=1e-6)
    else:
        assert np.sqrt(np.mean((pred - data.ratings) ** 2)) < 0.99 * spread


def test_same_seed_same_results(factory, data):
    a, b = factory().fit(data), factory().fit(data)
    users, items = some_pairs(data, len(data))
    assert np.array_equal(a.predict(users, items), b.predict(users, items))
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        if hasattr(a, name):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_save_load_identical(fitted, data, tmp_path):
    path = fitted.save(tmp_path / "model.npz")
    loaded = load_model(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    users, items = some_pairs(data, len(data))
    assert np.array_equal(loaded.predict(users, items), fitted.predict(users, items))
    user = data.user_ids[0]
    assert fitted.recommend(user, n=5).equals(loaded.recommend(user, n=5))
    assert type(fitted).load(path).is_fitted
    assert not list(tmp_path.glob("*.tmp"))  # written atomically, nothing left behind


def test_unknown_ids_fall_back(fitted, data):
    known_user, known_item = data.user_ids[0], data.item_ids[0]
    pred, fell_back = fitted.predict(
        [known_user, 999_999, known_user, 999_999], [known_item, known_item, "nope", "nope"],
        return_fallback=True,
    )
    assert fell_back.tolist() == [False, True, True, True]
    assert np.all(np.isfinite(pred)) and np.all((pred >= 1) & (pred <= 5))
    # both unknown: the global mean
    assert pred[3] == pytest.approx(np.clip(fitted.global_mean_, 1, 5), abs=1e-5)
    with pytest.raises(UnknownIdError, match="unknown user 999999.*cold_start=True"):
        fitted.recommend(999_999, n=3)
    frame = fitted.recommend(999_999, n=3, cold_start=True)
    assert frame.attrs["fallback"] and len(frame) == 3


def test_recommend_excludes_seen_and_ranks(fitted, data):
    user = data.user_ids[data.users[0]]
    frame = fitted.recommend(user, n=5)
    seen = set(data.item_ids[data.items[data.users == data.users[0]]])
    assert len(frame) == min(5, data.n_items - len(seen))
    assert not set(frame["item"]) & seen
    ranked = frame["relevance"] if "relevance" in frame else frame["prediction"]
    assert np.all(np.diff(ranked.to_numpy()) <= 1e-12)
    by_rating = fitted.recommend(user, n=5, rank_by="rating")
    assert np.all(np.diff(by_rating["prediction"].to_numpy()) <= 1e-12)
    items, scores = fitted.recommend_all(n=4, batch_size=7)
    assert items.shape == (data.n_users, 4) and scores.shape == (data.n_users, 4)


def test_params_round_trip(factory):
    model = factory()
    params = model.get_params()
    clone = type(model)(**params)
    assert clone.get_params() == params
    assert clone.set_params(**params) is clone
    with pytest.raises(ValueError):
        clone.set_params(no_such_parameter=1)
    json.dumps(params)  # parameters must fit in the JSON header


def test_unfitted_raises(factory, tmp_path):
    model = factory()
    with pytest.raises(NotFittedError):
        model.predict([1], [1])
    with pytest.raises(NotFittedError):
        model.recommend(1)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m.npz")


def test_similar_items_or_clear_error(fitted, data):
    if not fitted._has_item_similarities():
        with pytest.raises(RecsysError):
            fitted.similar_items(data.item_ids[0])
        return
    frame = fitted.similar_items(data.item_ids[0], n=5)
    assert len(frame) == 5 and data.item_ids[0] not in set(frame["item"])
    assert np.all(np.diff(frame["similarity"].to_numpy()) <= 1e-12)


def test_bad_model_files_raise_model_file_error(fitted, tmp_path):
    good = fitted.save(tmp_path / "good.npz").read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    text = tmp_path / "text.npz"
    text.write_text("not a model")
    newer = tmp_path / "newer.npz"
    with zipfile.ZipFile(tmp_path / "good.npz") as src:
        header = json.loads(str(np.load(tmp_path / "good.npz")["header"]))
        header["format_version"] = 999
        arrays = {n[:-4]: np.load(tmp_path / "good.npz")[n[:-4]] for n in src.namelist()}
    arrays["header"] = np.array(json.dumps(header))
    np.savez(newer, **arrays)
    for path in (truncated, foreign, text, newer, tmp_path / "missing.npz"):
        with pytest.raises(ModelFileError):
            load_model(path)
    with pytest.raises(ModelFileError, match="newer"):
        load_model(newer)
