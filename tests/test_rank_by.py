"""Ranking top-N lists by relevance (the chance a user rates an item times a preference for its
predicted rating) against ranking by the predicted rating, the popularity reference, and the
evaluation's report of both objectives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import metrics
from recsys.data.ratings import Ratings
from recsys.errors import EvaluationError, ParameterError
from recsys.evaluation.experiment import evaluate
from recsys.models.mf import MatrixFactorization
from recsys.models.popularity import Popularity


def taste_groups(seed: int = 0, n_users: int = 300, n_items: int = 120, n_groups: int = 6):
    """Users of a group rate mostly its items (more often the group's popular ones) and like
    them; a few items are rated once, with 5 stars, by someone outside their group."""
    rng = np.random.default_rng(seed)
    ug = rng.integers(0, n_groups, n_users)
    ig = np.arange(n_items) % n_groups
    appeal = rng.uniform(0.15, 0.6, n_items)
    prob = np.where(ug[:, None] == ig[None, :], appeal[None, :], 0.01)
    rare = np.arange(n_items - 12, n_items)
    prob[:, rare] = 0.0
    u, i = np.nonzero(rng.random((n_users, n_items)) < prob)
    r = np.where(ug[u] == ig[i], rng.integers(4, 6, len(u)), rng.integers(1, 4, len(u)))
    u = np.concatenate([u, rng.integers(0, n_users, rare.size)])
    i = np.concatenate([i, rare])
    r = np.concatenate([r, np.full(rare.size, 5)])
    return Ratings.from_arrays(u, i, r.astype(float), rating_scale=(1, 5)), rare


@pytest.fixture(scope="module")
def split():
    ratings, rare = taste_groups()
    mask = np.random.default_rng(1).random(len(ratings)) < 0.2
    mask[-rare.size:] = False  # the rare items stay in training
    return ratings.subset(~mask), ratings.subset(mask), rare


@pytest.fixture(scope="module")
def mf(split):
    """A matrix factorisation whose item biases are barely shrunk: an item rated once with 5
    stars gets a high predicted rating, as on real data, where such items top the rating
    lists."""
    return MatrixFactorization(n_factors=8, n_epochs=60, lr=0.03, reg=0.005, reg_bias=0.0,
                               lr_bias=0.05, init_std=0.1, random_state=0).fit(split[0])


def ndcg_and_distinct(model, train: Ratings, test: Ratings, rank_by: str) -> tuple[float, int]:
    relevant = metrics.relevant_from_ratings(test, 4.0)
    users = relevant.users[relevant.counts() > 0]
    relevant = metrics.relevant_from_ratings(test, 4.0, users=users)
    items, _ = model.recommend_all(test.user_ids[users], n=10, rank_by=rank_by)
    recommended = pd.Index(test.item_ids).get_indexer(items.ravel()).reshape(items.shape)
    ndcg = metrics.topn_metrics(recommended, relevant, k=10)["ndcg"]
    return float(ndcg), int(np.unique(recommended).size)


def test_relevance_moves_the_list_to_well_evidenced_items(mf, split):
    train, _, rare = split
    counts = np.bincount(train.items, minlength=train.n_items)
    by = {rank_by: mf.recommend_all(n=10, rank_by=rank_by)[0] for rank_by in
          ("rating", "relevance")}
    rare_share = {k: float(np.isin(v, train.item_ids[rare]).mean()) for k, v in by.items()}
    median = {k: float(np.median(counts[pd.Index(train.item_ids).get_indexer(v.ravel())]))
              for k, v in by.items()}
    assert rare_share["rating"] > 0.2 and rare_share["relevance"] < rare_share["rating"] / 3
    mean = {k: float(np.mean(counts[pd.Index(train.item_ids).get_indexer(v.ravel())]))
            for k, v in by.items()}
    assert median["relevance"] > median["rating"] and mean["relevance"] > 1.2 * mean["rating"]


def test_relevance_beats_popularity_with_more_distinct_items(mf, split):
    train, test, _ = split
    pop = Popularity().fit(train)
    pop_ndcg, pop_distinct = ndcg_and_distinct(pop, train, test, "relevance")
    ndcg, distinct = ndcg_and_distinct(mf, train, test, "relevance")
    rating_ndcg, _ = ndcg_and_distinct(mf, train, test, "rating")
    assert ndcg > pop_ndcg * 1.2 and ndcg > rating_ndcg
    assert distinct >= 3 * pop_distinct


def test_the_frame_follows_the_relevance_and_keeps_the_rating(mf, split):
    user = split[0].user_ids[0]
    frame = mf.recommend(user, n=8, rank_by="relevance")
    assert list(frame.columns) == ["item", "title", "year", "genres", "prediction", "relevance"]
    assert np.all(np.diff(frame["relevance"].to_numpy()) <= 1e-12)
    assert frame.attrs["rank_by"] == "relevance"
    assert np.all((frame["prediction"] >= 1) & (frame["prediction"] <= 5))
    rated = mf.recommend(user, n=8, rank_by="rating")
    assert "relevance" not in rated.columns and rated.attrs["rank_by"] == "rating"
    # a folded-in user and a user without ratings get relevance lists too
    new = {split[0].item_ids[0]: 5, split[0].item_ids[6]: 4}
    folded = mf.recommend(ratings=new, n=5, rank_by="relevance")
    assert len(folded) == 5 and not set(folded["item"]) & set(new)
    cold = mf.recommend(10**9, n=5, cold_start=True, rank_by="relevance")
    assert len(cold) == 5 and cold.attrs["fallback"]


def test_popularity_lists_the_most_rated_unseen_items(split):
    train = split[0]
    model = Popularity().fit(train)
    user = train.users[0]
    counts = np.bincount(train.items, minlength=train.n_items).astype(float)
    counts[train.items[train.users == user]] = -1
    frame = model.recommend(train.user_ids[user], n=5)
    assert np.sort(counts[pd.Index(train.item_ids).get_indexer(frame["item"])])[::-1].tolist() \
        == np.sort(counts)[::-1][:5].tolist()
    pred = model.predict(train.user_ids[:10], train.item_ids[train.items[:10]])
    assert np.all((pred >= 1) & (pred <= 5))


@pytest.mark.parametrize("value", ["score", 1, ""])
def test_a_bad_rank_by_is_one_line(mf, split, value):
    with pytest.raises(ParameterError, match="rank_by must be 'rating' or 'relevance'"):
        mf.recommend(split[0].user_ids[0], rank_by=value)
    with pytest.raises(ParameterError, match="rank_by must be"):
        mf.recommend_all(n=3, rank_by=value)


def test_evaluate_reports_both_objectives(split):
    ratings = split[0]
    report = evaluate(ratings, models=["popularity"], k=5, validation=0, seed=0)
    table = report.topn_table()
    assert set(table.index) == {(m, o) for m in ("mean", "baseline", "popularity")
                                for o in ("rating", "relevance")}
    assert "## Top-N lists by ranking objective" in report.markdown_document()
    assert report.to_dict()["topn_by_rank"][0]["rank_by"] in ("rating", "relevance")
    main = report.table()
    assert main.at["popularity", "ndcg@5"] == pytest.approx(
        table.at[("popularity", "relevance"), "ndcg@5"])
    # a rating model's main columns follow its default, relevance; the rating row is its own
    assert main.at["baseline", "ndcg@5"] == pytest.approx(
        table.at[("baseline", "relevance"), "ndcg@5"])
    assert table.at[("baseline", "rating"), "coverage"] != pytest.approx(
        table.at[("baseline", "relevance"), "coverage"])
    assert {r.rank_by for r in report.results if r.model == "baseline"} == {"relevance"}
    one = evaluate(ratings, models=["baseline"], k=5, validation=0, rank_by="relevance")
    assert one.topn_table().empty and one.results[0].rank_by == "relevance"
    with pytest.raises(EvaluationError, match="rank_by must be one of both, rating, relevance"):
        evaluate(ratings, models=["baseline"], rank_by="best")
