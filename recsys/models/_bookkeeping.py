"""Numba helpers for the training-data bookkeeping of :class:`recsys.models.base.Estimator`."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["seen_items", "group_rows"]


@njit(cache=True, nogil=True)
def _offsets(counts):
    """``[0, c_0, c_0 + c_1, ...]``: where each group starts in a grouped array."""
    out = np.empty(counts.shape[0] + 1, dtype=np.int64)
    out[0] = 0
    for k in range(counts.shape[0]):
        out[k + 1] = out[k] + counts[k]
    return out


@njit(cache=True, nogil=True)
def _seen_items(users, items, n_users, n_items):
    user_counts = np.zeros(n_users, dtype=np.int64)
    item_counts = np.zeros(n_items, dtype=np.int64)
    for k in range(users.shape[0]):
        user_counts[users[k]] += 1
        item_counts[items[k]] += 1
    # pass 1: the users of the ratings grouped by item (a counting sort; the item of a
    # position is implied by the group it falls in)
    start = _offsets(item_counts)
    fill = start[:-1].copy()
    by_item = np.empty(users.shape[0], dtype=np.int32)
    for k in range(users.shape[0]):
        j = items[k]
        by_item[fill[j]] = users[k]
        fill[j] += 1
    # pass 2: items dealt to their users in increasing item order: sorted within each user
    indptr = _offsets(user_counts)
    fill = indptr[:-1].copy()
    out = np.empty(users.shape[0], dtype=np.int32)
    for j in range(n_items):
        for t in range(start[j], start[j + 1]):
            u = by_item[t]
            out[fill[u]] = j
            fill[u] += 1
    return indptr, out


def seen_items(users: np.ndarray, items: np.ndarray, n_users: int,
               n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """The items each user rated, in increasing order, as CSR ``(indptr, items)``.

    ``users`` and ``items`` are dense indices (one entry per rating, in ``[0, n_users)`` and
    ``[0, n_items)``). Two stable counting passes, O(n)
    (by item, then by user), instead of an O(n log n) sort of ``user * n_items + item``:
    user ``u``'s items are ``items[indptr[u]:indptr[u + 1]]`` (int32), duplicates kept.
    Releases the GIL.
    """
    return _seen_items(np.ascontiguousarray(users), np.ascontiguousarray(items), int(n_users),
                       int(n_items))


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
