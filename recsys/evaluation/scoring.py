"""Score one fitted model once on the test side of one fold.

Accuracy of the predicted ratings (RMSE, MAE), the number of test ratings predicted by a
fallback (user or item without training ratings), the top-``k`` figures (precision, recall,
NDCG, hit rate, catalogue coverage) and the prediction time, as one
:class:`~recsys.evaluation.report.FoldResult`.

The top-``k`` lists can be ranked two ways (``rank_by``, :mod:`recsys.models.topn`): by the
predicted rating, or by relevance (the chance the user rates the item times a preference for
its predicted rating). :func:`score_model` scores the lists of each objective asked for; the
first fills the result's main columns (None: the model's own default).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from recsys import metrics
from recsys._random import make_rng
from recsys.data.ratings import Ratings
from recsys.models.base import Estimator
from recsys.models.topn import default_rank_by
from recsys.evaluation.report import FoldResult

__all__ = ["relevant_test_users", "score_model", "TOPN_FIGURES"]


TOPN_FIGURES = ("precision", "recall", "ndcg", "hit_rate", "coverage")
"""The top-N figures of one ranking objective, in ``FoldResult.topn[rank_by]``."""


def relevant_test_users(
    test: Ratings, threshold: float, limit: int | None, seed: int
) -> np.ndarray:
    """Dense indices of the test users with at least one relevant item; a random sample of
    ``limit`` of them (the same for every model of a fold) when there are more."""
    every = metrics.relevant_from_ratings(test, threshold)
    users = every.users[every.counts() > 0]
    if limit is not None and users.size > limit:
        rng = make_rng(seed, "seed")
        users = np.sort(rng.choice(users, size=limit, replace=False))
    return users


def _top_n_figures(
    model: Any, test: Ratings, threshold: float, k: int, users: np.ndarray,
    rank_by: str | None = None,
) -> tuple[float, float, float, float, float]:
    """Precision, recall, NDCG, hit rate at ``k`` and catalogue coverage of ``model``'s top-k
    lists (training items excluded, ranked by ``rank_by``; None: the model's default) for
    ``users`` (dense indices of test users with at least one relevant item).

    Coverage is the share of the items the model was trained on that appear in any list.
    """
    if users.size == 0:
        nan = float("nan")
        return nan, nan, nan, nan, nan
    relevant = metrics.relevant_from_ratings(test, threshold, users=users)
    items, scores = model.recommend_all(test.user_ids[users], n=k, rank_by=rank_by)
    recommended = pd.Index(test.item_ids).get_indexer(items.ravel()).reshape(items.shape)
    recommended = np.where(np.isfinite(scores), recommended, -1).astype(np.int64)
    figures = metrics.topn_metrics(recommended, relevant, k=min(k, recommended.shape[1]),
                                   n_items=test.n_items)
    trained = max(int((np.asarray(model.item_counts_) > 0).sum()), 1)
    coverage = figures["coverage"] * test.n_items / trained
    return (figures["precision"], figures["recall"], figures["ndcg"], figures["hit_rate"],
            min(coverage, 1.0))


def score_model(
    model: Estimator,
    name: str,
    fold: str,
    test: Ratings,
    threshold: float,
    k: int,
    users: np.ndarray,
    *,
    fit_seconds: float,
    n_train: int,
    rank_by: Sequence[str | None] = (None,),
) -> FoldResult:
    """``model`` (named ``name``), fitted on ``n_train`` ratings in ``fit_seconds``, scored
    once on the test side ``test`` of ``fold``.

    The top-``k`` figures count a test rating ``>= threshold`` as relevant and are averaged
    over ``users`` (dense indices of test users, from :func:`relevant_test_users`). They are
    computed for each ranking objective of ``rank_by`` (``"rating"``, ``"relevance"``, None
    for the model's default) into ``FoldResult.topn``; the first fills the main columns.
    """
    start = time.perf_counter()
    pred = np.asarray(model.predict_ratings(test), dtype=np.float64)
    predict_seconds = time.perf_counter() - start
    truth = test.ratings.astype(np.float64)
    u, i = model.encode(test.user_ids[test.users], test.item_ids[test.items])
    fallback = int(((u < 0) | (i < 0)).sum())  # user or item unseen in training
    topn = {}
    for objective in rank_by:
        figures = _top_n_figures(model, test, threshold, k, users, objective)
        label = objective or default_rank_by(model)
        topn.setdefault(label, dict(zip(TOPN_FIGURES, map(float, figures))))
    precision, recall, ndcg, hit, coverage = topn[
        rank_by[0] or default_rank_by(model)].values()
    return FoldResult(
        model=name,
        fold=fold,
        rmse=float(metrics.rmse(truth, pred)),
        mae=float(metrics.mae(truth, pred)),
        precision=float(precision),
        recall=float(recall),
        ndcg=float(ndcg),
        hit_rate=float(hit),
        coverage=float(coverage),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        n_train=n_train,
        n_test=int(len(test)),
        n_fallback=fallback,
        params=model.get_params(),
        history={
            key: [float(v) for v in values]
            for key, values in getattr(model, "history_", {}).items()
        },
        errors=(pred - truth).astype(np.float32),
        topn=topn,
        rank_by=rank_by[0] or default_rank_by(model),
    )
