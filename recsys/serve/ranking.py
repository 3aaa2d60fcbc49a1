"""Every known user's list ranked once, so that ``GET /recommend`` need not run the model.

Ranking one user runs the model over every item, and with ``rank_by="relevance"`` (the
default of rating models, :mod:`recsys.models.topn`) also the item-neighbourhood evidence:
about 25 ms per user for matrix factorisation on the bundled data and 150 ms or more for the
hybrid, over a 50 ms budget per request once 32 clients wait in line. :class:`RankTable` asks
the model once, at load, for each known user's best :data:`RANKED` items
(:meth:`~recsys.models.topn.TopN.recommend_all`, training items left out, every item
eligible) and keeps their dense indices and predicted ratings. A request then filters that
row by the items' rating counts (``min_ratings``) and takes the first ``n``: the list
``model.recommend(user, n, min_item_ratings=...)`` gives, from a row look-up.

A request the table cannot answer (``include_seen``, the other objective, or more items than
the row holds once filtered) asks the model itself.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["RankTable", "RANKED", "TABLE_CELLS", "Stopped"]

RANKED = 1024
"""Items ranked per user (enough for ``n`` up to the API's 1000 once rarely rated items are
left out, for almost every user)."""
TABLE_CELLS = 16_000_000
"""Most users x :data:`RANKED` cells a table may hold (8 bytes each: 128 MB)."""
_BATCH_CELLS = 200_000


class Stopped(Exception):
    """Building a table was abandoned (the server is stopping)."""


class RankTable:
    """Each known user's best items, best first, and their predicted ratings.

    Parameters
    ----------
    order : ndarray of int32, shape (n_users, length)
        Dense item indices per user, best first; ``-1`` past the items that can be ranked.
    predictions : ndarray of float32, shape (n_users, length)
        The clipped predicted rating of each listed item.
    rank_by : str
        The objective the rows follow.
    """

    def __init__(self, order: np.ndarray, predictions: np.ndarray, rank_by: str) -> None:
        self.order = order
        self.predictions = predictions
        self.rank_by = rank_by

    @classmethod
    def build(cls, model: Any, rank_by: str, should_stop: Callable[[], bool] | None = None,
              budget: int = TABLE_CELLS) -> "RankTable | None":
        """Rank every user with training ratings, in batches of about 200,000 scores
        (``should_stop()`` asked between batches: True raises :class:`Stopped`). Returns
        None when users x :data:`RANKED` exceeds ``budget``."""
        n_users, n_items = int(model.user_ids_.shape[0]), int(model.item_ids_.shape[0])
        length = min(RANKED, n_items)
        if n_users * length > budget or length == 0:
            return None
        item_index = pd.Index(model.item_ids_)
        order = np.full((n_users, length), -1, dtype=np.int32)
        predictions = np.zeros((n_users, length), dtype=np.float32)
        known = np.flatnonzero(np.asarray(model.user_counts_) > 0)
        step = max(1, _BATCH_CELLS // n_items)
        for start in range(0, known.size, step):
            if should_stop is not None and should_stop():
                raise Stopped()
            rows = known[start:start + step]
            items, scores = model.recommend_all(
                model.user_ids_[rows], n=length, batch_size=len(rows), exclude_seen=True,
                min_item_ratings=1, rank_by=rank_by)
            idx = item_index.get_indexer(np.asarray(items).ravel()).reshape(items.shape)
            listed = np.isfinite(scores) & (idx >= 0)
            order[rows] = np.where(listed, idx, -1)
            predictions[rows] = np.where(listed, scores, 0.0)
        return cls(order, predictions, rank_by)

    def top(self, u: int, n: int, eligible: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The first ``n`` items of user ``u``'s row that are ``eligible`` (a boolean mask
        over items) and their predicted ratings; None when the row runs out of eligible
        items before ``n`` while more items could be ranked (ask the model)."""
        row = self.order[u]
        length = 4 * n + 64
        while True:
            head = row[:length]
            head = head[head >= 0]
            keep = np.flatnonzero(eligible[head])
            if keep.size >= n or length >= row.size:
                break
            length *= 4
        if keep.size < n and row[-1] >= 0:
            return None  # the row is full: items past it might qualify
        keep = keep[:n]
        return head[keep].astype(np.int64), self.predictions[u, keep].astype(np.float64)
