"""A numba kernel for the Parquet reader's fast path: are any (user, item) pairs repeated?

:func:`has_duplicate_pairs` answers in O(n) (a counting sort by user, then a stamp per item)
where sorting 25M keys takes seconds; when it says yes, the reader hands the ratings to
:meth:`recsys.data.ratings.Ratings.from_dataframe`, which keeps the last of each and warns.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["has_duplicate_pairs"]


@njit(cache=True, nogil=True)
def has_duplicate_pairs(users, items, n_users, n_items):
    """True when some (``users[k]``, ``items[k]``) pair occurs twice (dense indices)."""
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
