"""KNNBaseline: similarities against their definition, the prediction rule, shrinkage, the k
limit, planted neighbourhoods, fallbacks, saving, scale-free learning, bad settings and
ML-100k (the shared contract is in test_model_contract.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.data.ratings import Ratings
from recsys.errors import ParameterError
from recsys.models import _knn_kernels as kernels
from recsys.models.baseline import BiasBaseline
from recsys.models.io import load_model
from recsys.models.knn import KNNBaseline
from recsys.models.progress import FitStopped

ML100K = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ml-100k"


def tiny(seed: int = 0, n_users: int = 40, n_items: int = 15, density: float = 0.5) -> Ratings:
    rng = np.random.default_rng(seed)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = rng.integers(1, 6, len(u)).astype(np.float64)
    return Ratings.from_arrays(u, i, r, rating_scale=(1, 5))


def clustered(seed: int = 0, n_users: int = 300, n_items: int = 120, n_clusters: int = 6,
              density: float = 0.3, noise: float = 0.3) -> Ratings:
    """Ratings whose structure only neighbours see: each item belongs to a cluster and each
    user has a taste for each cluster (besides user and item biases), plus noise."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, n_clusters, n_items)
    taste = rng.normal(0, 1.0, (n_users, n_clusters))
    b_u, b_i = rng.normal(0, 0.3, n_users), rng.normal(0, 0.3, n_items)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    r = 3 + b_u[u] + b_i[i] + taste[u, cluster[i]] + rng.normal(0, noise, len(u))
    return Ratings.from_arrays(u, i, np.clip(r, 1, 5), rating_scale=(1, 5))


def rmse(model, data: Ratings) -> float:
    return float(np.sqrt(np.mean((model.predict_ratings(data) - data.ratings) ** 2)))


def holdout(data: Ratings, fraction: float = 0.2, seed: int = 1):
    test = np.random.default_rng(seed).random(len(data)) < fraction
    return data.subset(~test), data.subset(test)


def dense_similarities(model: KNNBaseline) -> np.ndarray:
    """The model's kept similarities as a dense item x item matrix (0 where not kept)."""
    S = np.zeros((model.n_items_, model.n_items_))
    for i in range(model.n_items_):
        items, sims = model.item_neighbours(i)
        S[i, items] = sims
    return S


def model_residuals(model: KNNBaseline) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, residuals) of the training ratings, as the model holds them."""
    users = np.repeat(np.arange(model.n_users_), model.user_counts_)
    return users, model.seen_items_.astype(np.int64), model.residuals_.astype(np.float64)


# ------------------------------------------------------------------ similarities
@pytest.mark.parametrize("shrinkage, min_support", [(0.0, 1), (10.0, 1), (100.0, 5)])
def test_similarities_match_their_definition(shrinkage, min_support):
    """The gradient check's analogue: every kept similarity equals a brute-force numpy
    computation over each pair's common raters, and every positive one is kept."""
    data = tiny()
    model = KNNBaseline(shrinkage=shrinkage, min_support=min_support, k=5,
                        n_neighbors_kept=200).fit(data)
    users, items, res = model_residuals(model)
    # residuals are the ratings less the fitted biases
    z = model.rating_map_.to_model(data.ratings.astype(np.float64))
    order = np.lexsort((data.items, data.users))
    np.testing.assert_allclose(
        res, z[order] - model.mu_ - model.user_bias_[users] - model.item_bias_[items],
        atol=1e-6)
    expected = kernels.brute_force_similarities(users, items, res, model.n_items_, shrinkage,
                                                min_support)
    got = dense_similarities(model)
    np.testing.assert_allclose(got, np.where(expected > 0, expected, 0.0), rtol=1e-5, atol=1e-7)
    assert (expected > 0).sum() > 20 and (expected < 0).sum() > 20  # both signs occurred


def test_neighbour_lists_are_sorted_and_capped():
    data = tiny(n_items=30, density=0.7)
    full = KNNBaseline(k=3, shrinkage=5.0, n_neighbors_kept=100).fit(data)
    capped = KNNBaseline(k=3, shrinkage=5.0, n_neighbors_kept=4).fit(data)
    for i in range(data.n_items):
        items, sims = full.item_neighbours(i)
        assert np.all(np.diff(sims) <= 0) and np.all(sims > 0) and i not in items
        top_items, top_sims = capped.item_neighbours(i)
        assert len(top_items) == min(4, len(items))
        np.testing.assert_array_equal(top_sims, sims[:len(top_sims)])


def test_shrinkage_scales_each_correlation_by_its_support():
    """s_ij(lambda) = (n_ij - 1) / (n_ij - 1 + lambda) * s_ij(0): a pair with fewer common
    raters shrinks more, and larger shrinkage never raises a similarity."""
    data = tiny(n_items=12, density=0.6)
    raw = dense_similarities(KNNBaseline(shrinkage=0.0).fit(data))
    shrunk = dense_similarities(KNNBaseline(shrinkage=25.0).fit(data))
    rated = np.zeros((data.n_users, data.n_items))
    rated[data.users, data.items] = 1
    n = rated.T @ rated
    factor = np.where(n > 1, (n - 1) / (n - 1 + 25.0), 0.0)
    np.testing.assert_allclose(shrunk, raw * factor, rtol=1e-5, atol=1e-7)
    assert np.all(shrunk <= raw + 1e-12) and shrunk.sum() < 0.9 * raw.sum()


def test_min_support_drops_pairs_with_few_common_raters():
    data = tiny(n_items=12, density=0.4)
    rated = np.zeros((data.n_users, data.n_items))
    rated[data.users, data.items] = 1
    n = rated.T @ rated
    loose = dense_similarities(KNNBaseline(min_support=1).fit(data))
    strict = dense_similarities(KNNBaseline(min_support=8).fit(data))
    assert np.all(strict[n < 8] == 0) and (loose[n < 8] > 0).any()
    np.testing.assert_allclose(strict[n >= 8], loose[n >= 8], rtol=1e-6)


# ------------------------------------------------------------------ prediction
def brute_force_prediction(model: KNNBaseline, u: int, i: int) -> float:
    """b_ui + sum s_ij e_uj / sum s_ij over the k most similar positive neighbours u rated."""
    S = dense_similarities(model)
    lo, hi = model.seen_indptr_[u], model.seen_indptr_[u + 1]
    rated, res = model.seen_items_[lo:hi], model.residuals_[lo:hi].astype(np.float64)
    sims = S[i, rated]
    order = np.argsort(-sims, kind="stable")[: model.k]
    order = order[sims[order] > 0]
    base = model.mu_ + model.user_bias_[u] + model.item_bias_[i]
    if order.size == 0:
        return float(base)
    return float(base + (sims[order] * res[order]).sum() / sims[order].sum())


@pytest.mark.parametrize("k", [1, 3, 40])
def test_prediction_rule_and_the_k_limit(k):
    data = tiny(n_items=20, density=0.6)
    model = KNNBaseline(k=k, shrinkage=5.0, n_neighbors_kept=100).fit(data)
    rng = np.random.default_rng(0)
    u, i = rng.integers(0, data.n_users, 60), rng.integers(0, data.n_items, 60)
    got = model._predict_indices(u, i)
    want = [brute_force_prediction(model, a, b) for a, b in zip(u, i)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # k = 1: the single most similar rated item's residual, added to the baseline
    scores = model._score_users(u[:5])
    np.testing.assert_allclose(scores[np.arange(5), i[:5]], got[:5], rtol=1e-9, atol=1e-12)


def test_k_changes_predictions():
    data = tiny(n_items=20, density=0.6)
    one = KNNBaseline(k=1, shrinkage=5.0).fit(data).predict_ratings(data)
    many = KNNBaseline(k=15, shrinkage=5.0).fit(data).predict_ratings(data)
    assert np.abs(one - many).max() > 0.1


def test_planted_neighbourhoods_are_recovered():
    """Item clusters with per-user tastes: the neighbours see what biases cannot."""
    train, test = holdout(clustered())
    knn = KNNBaseline(shrinkage=10.0).fit(train, validation=test)
    bias = BiasBaseline().fit(train)
    assert rmse(knn, test) < 0.75 * rmse(bias, test)
    assert rmse(knn, test) < 0.6  # the noise is 0.3; the tastes have spread 1
    assert knn.history_["valid_rmse"][0] == pytest.approx(rmse(knn, test), abs=1e-6)
    # each item's nearest neighbours come mostly from its own cluster
    rng = np.random.default_rng(0)
    cluster = rng.integers(0, 6, 120)
    same = [np.mean(cluster[knn.item_neighbours(i)[0][:5]] == cluster[i]) for i in range(120)]
    assert np.mean(same) > 0.9


def test_score_users_agrees_with_pairs_and_recommend_ranks():
    train, _ = holdout(clustered(n_users=80, n_items=60))
    model = KNNBaseline(k=10).fit(train)
    users = np.array([0, 5, -1, 17])
    scores = model._score_users(users)
    for row, u in enumerate(users):
        np.testing.assert_allclose(
            scores[row], model._predict_indices(np.full(60, u), np.arange(60)), rtol=1e-12)
    frame = model.recommend(train.user_ids[0], n=5, rank_by="rating")
    assert len(frame) == 5 and np.all(np.diff(frame["prediction"].to_numpy()) <= 1e-12)


def test_similar_items_use_the_learned_similarities():
    data = clustered(n_users=100, n_items=40)
    model = KNNBaseline().fit(data)
    item = data.item_ids[3]
    frame = model.similar_items(item, n=4)
    items, sims = model.item_neighbours(3)
    assert frame["item"].tolist() == data.item_ids[items[:4]].tolist()
    np.testing.assert_allclose(frame["similarity"], sims[:4])
    assert item not in set(frame["item"])
    with pytest.raises(ParameterError, match="n must be an integer >= 1"):
        model.similar_items(item, n=0)


def test_unknown_ids_fall_back_to_the_baseline():
    data = tiny()
    model = KNNBaseline().fit(data)
    u, i = data.user_ids[2], data.item_ids[4]
    pred, fell = model.predict([u, 999, u, 999], [i, i, 999, 999], return_fallback=True)
    assert fell.tolist() == [False, True, True, True]
    to_r = model.rating_map_.to_ratings
    assert pred[1] == pytest.approx(to_r(model.mu_ + model.item_bias_[4]), abs=1e-6)
    assert pred[2] == pytest.approx(to_r(model.mu_ + model.user_bias_[2]), abs=1e-6)
    assert pred[3] == pytest.approx(data.global_mean, abs=1e-6)


def test_no_rated_neighbour_gives_the_baseline():
    """User 0 rated only item 0, which nobody else rated: no neighbours, only biases."""
    u = np.r_[0, np.repeat(np.arange(1, 20), 3)]
    i = np.r_[0, np.tile([1, 2, 3], 19)]
    r = np.r_[5.0, np.random.default_rng(0).integers(1, 6, 57)]
    data = Ratings.from_arrays(u, i, r, rating_scale=(1, 5))
    model = KNNBaseline().fit(data)
    assert model.item_neighbours(0)[0].size == 0
    expected = model.mu_ + model.user_bias_[0] + model.item_bias_[2]
    assert model._predict_indices(np.array([0]), np.array([2]))[0] == pytest.approx(expected)


# ------------------------------------------------------------------ fitting
def test_one_epoch_reported_and_stop_request_honoured():
    data = tiny()
    seen = []
    model = KNNBaseline().fit(data, callback=lambda epoch, h: seen.append((epoch, dict(h))))
    assert [e for e, _ in seen] == [0] and list(seen[0][1]) == ["train_rmse"]
    assert model.n_epochs_ == 1 and model.validation_settings() == {}
    with pytest.raises(FitStopped):
        model.fit(data, should_stop=lambda: True)
    assert not model.is_fitted


def test_repeatable_and_independent_of_threads():
    train, test = holdout(clustered(n_users=120, n_items=70))
    a = KNNBaseline(n_threads=1).fit(train)
    b = KNNBaseline(n_threads=1).fit(train)
    c = KNNBaseline(n_threads=2).fit(train)
    for other in (b, c):
        for name in ("user_bias_", "item_bias_", "neighbour_indptr_", "neighbour_items_",
                     "neighbour_sims_", "residuals_"):
            assert np.array_equal(getattr(a, name), getattr(other, name)), name
        assert np.array_equal(a.predict_ratings(test), other.predict_ratings(test))


def scaled(data: Ratings, a: float, b: float) -> Ratings:
    low, high = data.rating_scale
    return Ratings.from_arrays(data.user_ids[data.users], data.item_ids[data.items],
                               a + b * data.ratings.astype(np.float64),
                               rating_scale=(a + b * low, a + b * high))


@pytest.mark.parametrize("a, b", [(-25.0, 25.0), (10.0, 0.25), (0.3, 1.37)])
def test_predictions_follow_a_change_of_units(a, b):
    train, test = holdout(clustered(n_users=80, n_items=50))
    base = KNNBaseline(k=10).fit(train)
    other = KNNBaseline(k=10).fit(scaled(train, a, b))
    expected = a + b * base.predict_ratings(test)
    got = other.predict(test.user_ids[test.users], test.item_ids[test.items])
    assert np.max(np.abs(got - expected)) / (4 * b) < 2e-4
    np.testing.assert_allclose(other.history_["train_rmse"],
                               b * np.asarray(base.history_["train_rmse"]), rtol=1e-3)
    np.testing.assert_allclose(other.neighbour_sims_, base.neighbour_sims_, atol=1e-6)


# ------------------------------------------------------------------ saving
def test_save_load_round_trip_and_file_size(tmp_path):
    train, test = holdout(clustered())
    model = KNNBaseline(k=5, n_neighbors_kept=10).fit(train)
    path = model.save(tmp_path / "knn.npz")
    loaded = load_model(path)
    assert type(loaded) is KNNBaseline and loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.predict_ratings(test), model.predict_ratings(test))
    user = train.user_ids[3]
    assert loaded.recommend(user, n=5).equals(model.recommend(user, n=5))
    assert loaded.similar_items(train.item_ids[0], n=3).equals(
        model.similar_items(train.item_ids[0], n=3))
    # at most n_neighbors_kept neighbours per item, 6 bytes each, besides the rest
    assert len(model.neighbour_items_) <= 10 * train.n_items
    more = KNNBaseline(n_neighbors_kept=100).fit(train).save(tmp_path / "more.npz")
    grown = more.stat().st_size - path.stat().st_size
    extra = len(KNNBaseline(n_neighbors_kept=100).fit(train).neighbour_items_) \
        - len(model.neighbour_items_)
    assert extra > 0 and grown <= 6 * extra + 2048


def test_a_forged_neighbour_list_is_refused(tmp_path):
    from recsys.errors import ModelFileError

    model = KNNBaseline().fit(tiny())
    arrays = model.to_arrays()
    arrays["state/neighbour_items"] = arrays["state/neighbour_items"].astype(np.int64) + 1000
    np.savez(tmp_path / "forged.npz", **arrays)
    with pytest.raises(ModelFileError, match="neighbour_items"):
        load_model(tmp_path / "forged.npz")


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("setting, value, message", [
    ("k", 0, "k must be an integer from 1 to 100000"),
    ("k", 2.5, "k must be an integer"),
    ("shrinkage", -1.0, "shrinkage must be a number >= 0"),
    ("shrinkage", float("nan"), "shrinkage must be a number"),
    ("min_support", 0, "min_support must be an integer >= 1"),
    ("reg_user", -0.1, "reg_user must be a number >= 0"),
    ("reg_item", "x", "reg_item must be a number"),
    ("bias_epochs", 0, "bias_epochs must be an integer from 1"),
    ("n_neighbors_kept", 10, r"n_neighbors_kept must be at least k \(40\)"),
    ("n_neighbors_kept", 0, "n_neighbors_kept must be an integer from 1"),
    ("n_threads", "two", "n_threads must be an integer"),
    ("verbose", 1, "verbose must be True or False"),
])
def test_bad_settings_are_one_line_errors(setting, value, message):
    with pytest.raises(ParameterError, match=message) as info:
        KNNBaseline(**{setting: value}).fit(tiny())
    assert "\n" not in str(info.value) and str(info.value).startswith("KNNBaseline: ")


# ------------------------------------------------------------------ ML-100k
@pytest.mark.skipif(not ML100K.is_dir(), reason="ML-100k not present in ../shared/datasets")
def test_ml100k_u1_beats_surprise_knnbaseline():
    """Surprise's KNNBaseline (item-based, pearson_baseline, defaults) scores 0.9359 on u1
    (bench/bench_knn.py); the defaults here were chosen on a carve of u1.base."""
    from recsys.data import load_predefined_split

    train, test = load_predefined_split(ML100K, "u1")
    model = KNNBaseline().fit(train)
    assert 0.90 < rmse(model, test) < 0.9359


def test_an_interrupt_in_the_threads_drops_the_tasks_not_started():
    """Ctrl-C during the similarities ends the fit within a block or two, not after all."""
    import time

    ran = []

    def run(task: int) -> None:
        ran.append(task)
        if task == 3:
            raise KeyboardInterrupt
        time.sleep(0.005)

    with pytest.raises(KeyboardInterrupt):
        kernels._in_threads(run, 200, 2)
    assert len(ran) < 50
