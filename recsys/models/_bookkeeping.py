"""Numba helpers for the training-data bookkeeping of :class:`recsys.models.base.Estimator`."""

from __future__ import annotations

import numpy as np
from numba import njit

from recsys.models import _grouping

__all__ = ["seen_items", "group_rows"]


def seen_items(users: np.ndarray, items: np.ndarray, n_users: int,
               n_items: int, n_threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The items each user rated, in increasing order, as CSR ``(indptr, items)``
    (:func:`recsys.models._grouping.seen_items` on ``n_threads`` threads).

    ``users`` and ``items`` are dense indices (one entry per rating, in ``[0, n_users)`` and
    ``[0, n_items)``). Two stable counting passes, O(n)
    (by item, then by user), instead of an O(n log n) sort of ``user * n_items + item``:
    user ``u``'s items are ``items[indptr[u]:indptr[u + 1]]`` (int32), duplicates kept.
    """
    indptr, seen, _ = _grouping.seen_items(users, items, int(n_users), int(n_items),
                                           n_threads)
    return indptr, seen


@njit(cache=True, nogil=True)
def group_rows(users, n_users):
    """The positions of the ratings grouped by user (a stable counting sort): ``(indptr,
    rows)`` with user ``u``'s ratings at ``rows[indptr[u]:indptr[u + 1]]``, in their original
    order. O(n); releases the GIL."""
    n = users.shape[0]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    for k in range(n):
        indptr[users[k] + 1] += 1
    for u in range(n_users):
        indptr[u + 1] += indptr[u]
    fill = indptr[:-1].copy()
    rows = np.empty(n, dtype=np.int64)
    for k in range(n):
        rows[fill[users[k]]] = k
        fill[users[k]] += 1
    return indptr, rows
