r"""Relevance for top-N lists: the chance a user rates an item, times how much they would like it.

A held-out item is a hit of a top-N list when the user *rates* it and *likes* it. A rating
model answers only the second question, and answers it worst where the evidence is thinnest (a
film rated twice, both times 5 stars, tops every list). Ranking by

.. math:: \text{relevance}(u, j) = \ln E(u, j) + \beta\,\hat z_{uj}

orders items by :math:`P(u \text{ rates } j) \cdot f(\hat r_{uj})` with
:math:`f = \exp(\beta \hat z)`, a tempered preference for the predicted rating in model units
(:mod:`recsys.models.scaling`: scale-free), and the evidence ``E`` an item neighbourhood over
who rated what, which every model file stores (``seen_indptr_`` / ``seen_items_``):

.. math:: E(u, j) = n_j^{-a_j} \sum_{v} n_v^{-g}\, [j \in R(v)]
          \sum_{i \in R(u) \cap R(v)} n_i^{-a_i}

(``n_i`` the item's training ratings, ``n_v`` the user's): an item rated by people who share
``u``'s rarer items scores high, popular items are discounted by ``n_j^{-a_j}``, heavy raters
by ``n_v^{-g}``. With ``a_i = 1/2`` and ``a_j = 1/2``, ``g = 0`` it is the sum of cosine
similarities of ``j`` to ``u``'s items; ``a_j = 0.7`` and ``g = 1/2`` spread the lists over
more of the catalogue. The exponents and ``beta`` were chosen on validation carves of the
bundled data's and ML-100k ``u1``'s training sides (``bench/bench_topn.py``; never a test
side). A user the model has no ratings of gets every user as a neighbour (popularity,
discounted).

A model with a learned relevance (BPR) or a fixed one (popularity) overrides
``_relevance_scores`` instead (see :mod:`recsys.models.topn`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["ITEM_POWER", "CANDIDATE_POWER", "USER_POWER", "RATING_WEIGHT", "Evidence",
           "combine"]

ITEM_POWER = 0.5
"""``a_i``: weight ``n_i^{-a_i}`` of a shared item (rarer shared items say more)."""
CANDIDATE_POWER = 0.7
"""``a_j``: discount ``n_j^{-a_j}`` of the candidate item's popularity."""
USER_POWER = 0.5
"""``g``: weight ``n_v^{-g}`` of a neighbour with ``n_v`` ratings."""
RATING_WEIGHT = 0.25
"""``beta``: weight of the predicted rating (model units) against ``ln E``."""
FLOOR = 1e-12
"""``E`` below this (no shared item at all) counts as this, so the rating breaks the tie."""


class Evidence:
    """``E(u, j)`` of a fitted model's who-rated-what (see the module docstring), built once
    per model from its ``seen_indptr_`` / ``seen_items_``."""

    def __init__(self, indptr: np.ndarray, items: np.ndarray, n_items: int) -> None:
        n_users = len(indptr) - 1
        ones = np.ones(len(items), dtype=np.float64)
        self.X = sp.csr_matrix((ones, np.asarray(items), np.asarray(indptr)),
                               shape=(n_users, n_items))
        n_v = np.maximum(np.diff(indptr), 1).astype(np.float64)
        n_i = np.maximum(np.bincount(items, minlength=n_items), 1).astype(np.float64)
        self.item_weight = n_i ** -ITEM_POWER
        # neighbours' rows, each scaled by n_v^-g and the candidates' discount n_j^-a_j
        self.spread = (sp.diags(n_v ** -USER_POWER) @ self.X
                       @ sp.diags(n_i ** -CANDIDATE_POWER)).tocsr()
        self.everyone = np.asarray(self.spread.sum(axis=0)).ravel()

    def of_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        """``E`` for users given as 0/1 rows over the items, shape (n_rows, n_items)."""
        shared = (rows @ sp.diags(self.item_weight)) @ self.X.T  # overlap with each user
        return np.asarray((shared @ self.spread).todense())

    def of_users(self, u: np.ndarray) -> np.ndarray:
        """``E`` for dense user indices ``u`` (``-1``: every user a neighbour)."""
        u = np.asarray(u, dtype=np.int64)
        out = self.of_rows(self.X[np.maximum(u, 0)])
        out[u < 0] = self.everyone
        return out

    def of_items(self, items: np.ndarray) -> np.ndarray:
        """``E`` for a new user who rated ``items`` (a folded-in profile), shape (n_items,)."""
        items = np.asarray(items, dtype=np.int64)
        if items.size == 0:
            return self.everyone.copy()
        row = sp.csr_matrix((np.ones(items.size), items, [0, items.size]),
                            shape=(1, self.X.shape[1]))
        return self.of_rows(row)[0]


def evidence_of(model: Any) -> Evidence:
    """The model's :class:`Evidence`, built on first use and kept on the model (not saved)."""
    cached = getattr(model, "_evidence_cache", None)
    if cached is None or cached[0] is not model.seen_items_:
        cached = (model.seen_items_, Evidence(model.seen_indptr_, model.seen_items_,
                                              model.n_items_))
        model._evidence_cache = cached
    return cached[1]


def combine(evidence: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``ln max(E, FLOOR) + beta z``: the relevance of evidence ``E`` and predicted ratings
    ``z`` (model units)."""
    return np.log(np.maximum(evidence, FLOOR)) + RATING_WEIGHT * np.asarray(z, np.float64)
