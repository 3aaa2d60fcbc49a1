"""Numba kernels for the Parquet reader's fast path: dense codes of integer ids, and whether
any (user, item) pair is repeated, both in O(n) without sorting.

:func:`dense_codes` maps non-negative integer ids to the indices of their sorted distinct
values through a table as long as the largest id. :func:`has_duplicate_pairs` checks in one
pass with a stamp per id when the rows come grouped by item (as the Netflix Prize files do) or
by user (as MovieLens files do), else after a counting sort by user. When it says yes, the
reader hands the ratings to :meth:`recsys.data.ratings.Ratings.from_dataframe`, which keeps
the last of each pair and warns.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["dense_codes", "has_duplicate_pairs"]


@njit(cache=True, nogil=True)
def dense_codes(raw, high, codes):
    """``(ids, codes)``: the sorted distinct values of ``raw`` (all in ``0..high``) and the
    index of each value among them, written into ``codes`` (``int32``; may be ``raw``)."""
    table = np.zeros(high + 1, dtype=np.int32)
    for k in range(raw.shape[0]):
        table[raw[k]] = 1
    count = 0
    for v in range(high + 1):
        if table[v]:
            table[v] = count
            count += 1
        else:
            table[v] = -1
    ids = np.empty(count, dtype=raw.dtype)
    for v in range(high + 1):
        if table[v] >= 0:
            ids[table[v]] = v
    for k in range(raw.shape[0]):
        codes[k] = table[raw[k]]
    return ids, codes


@njit(cache=True, nogil=True)
def _grouped(keys, n_keys):
    """True when the rows of each key are contiguous."""
    seen = np.zeros(n_keys, dtype=np.bool_)
    previous = -1
    for k in range(keys.shape[0]):
        key = keys[k]
        if key != previous:
            if seen[key]:
                return False
            seen[key] = True
            previous = key
    return True


@njit(cache=True, nogil=True)
def _repeat_within_groups(groups, others, n_others):
    """With each group's rows contiguous: does an ``other`` repeat inside a group?"""
    stamp = np.full(n_others, -1, dtype=np.int64)
    for k in range(groups.shape[0]):
        if stamp[others[k]] == groups[k]:
            return True
        stamp[others[k]] = groups[k]
    return False


@njit(cache=True, nogil=True)
def has_duplicate_pairs(users, items, n_users, n_items):
    """True when some (``users[k]``, ``items[k]``) pair occurs twice (dense indices)."""
    if _grouped(items, n_items):
        return _repeat_within_groups(items, users, n_users)
    if _grouped(users, n_users):
        return _repeat_within_groups(users, items, n_items)
    n = users.shape[0]
    starts = np.zeros(n_users + 1, dtype=np.int64)
    for k in range(n):
        starts[users[k] + 1] += 1
    for u in range(n_users):
        starts[u + 1] += starts[u]
    fill = starts[:-1].copy()
    by_user = np.empty(n, dtype=np.int32)
    for k in range(n):
        u = users[k]
        by_user[fill[u]] = items[k]
        fill[u] += 1
    stamp = np.full(n_items, -1, dtype=np.int64)
    for u in range(n_users):
        for j in range(starts[u], starts[u + 1]):
            i = by_user[j]
            if stamp[i] == u:
                return True
            stamp[i] = u
    return False
