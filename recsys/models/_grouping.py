r"""Counting sorts of the ratings on several threads: the FPSGD grid and the items of each user.

Two jobs of every fit on large data are pure bookkeeping, and at 100M ratings they cost more
than several SGD epochs when done on one thread:

* :func:`block_partition`: the ratings grouped by grid block (user block ``a``, item block
  ``b``: block ``g = a B + b``) and, inside a block, by user (users in index order; a user's
  ratings in their original order);
* :func:`seen_items`: the items each user rated, in increasing order (CSR).

Both are stable counting sorts, cut into one chunk of ratings per thread. Each thread counts
its chunk (pass 1); the chunks' counts give every (chunk, key) pair its own output range,
chunk after chunk inside a key, so the threads scatter their chunks at once (pass 2) and the
result is exactly the one-thread sort's. The kernels release the GIL and run on a
``ThreadPoolExecutor``, the way the SGD epochs do.

Measured at the Netflix Prize's shape (100M ratings, 480,189 users, 17,770 items, a 16 x 16
grid, 2 threads; ``bench/bench_netflix_shape.py``, whose fits report their setup time): MF's
whole setup 13-16 s against 35-40 s with the one-thread sorts, interleaved runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

__all__ = ["block_partition", "seen_items", "to_model_units", "user_ranks", "std_of"]

# below this many ratings one thread does it all (threads cost more than they save)
PARALLEL_MIN_RATINGS = 1 << 20


def _chunks(n: int, n_threads: int) -> np.ndarray:
    """``n_threads + 1`` bounds cutting ``[0, n)`` into near-equal chunks."""
    parts = max(1, min(int(n_threads), n // PARALLEL_MIN_RATINGS or 1))
    return np.linspace(0, n, parts + 1).astype(np.int64)


def _run(n_parts: int, job, *args) -> None:
    """``job(part, *args)`` for every part, on ``n_parts`` threads (this one included)."""
    if n_parts == 1:
        job(0, *args)
        return
    with ThreadPoolExecutor(n_parts - 1, thread_name_prefix="recsys-sort") as pool:
        futures = [pool.submit(job, p, *args) for p in range(1, n_parts)]
        job(0, *args)
        for future in futures:
            future.result()


def _offsets(counts: np.ndarray) -> np.ndarray:
    """Exclusive prefix sums of ``counts`` (chunks x keys) in key-major, chunk-minor order:
    where chunk ``c`` writes its first rating of key ``g``."""
    flat = counts.T.reshape(-1)
    starts = np.concatenate(([0], np.cumsum(flat)[:-1])).astype(np.int64)
    return np.ascontiguousarray(starts.reshape(counts.shape[1], counts.shape[0]).T)


# ------------------------------------------------------------------------- the FPSGD grid
@njit(cache=True, nogil=True)
def _count_cells(users, items, user_block, item_block, n_item_blocks, start, end, counts):
    for k in range(start, end):
        counts[user_block[users[k]] * n_item_blocks + item_block[items[k]]] += 1


@njit(cache=True, nogil=True)
def _scatter_cells(users, items, ratings, user_block, item_block, n_item_blocks, start, end,
                   fill, out_u, out_i, out_r):
    for k in range(start, end):
        g = user_block[users[k]] * n_item_blocks + item_block[items[k]]
        pos = fill[g]
        out_u[pos] = users[k]
        out_i[pos] = items[k]
        out_r[pos] = ratings[k]
        fill[g] = pos + 1


@njit(cache=True, nogil=True)
def user_ranks(user_block, n_blocks):
    """Each user's rank among the users of its block (in index order), and block sizes."""
    rank = np.empty(user_block.shape[0], dtype=np.int32)
    sizes = np.zeros(n_blocks, dtype=np.int64)
    for u in range(user_block.shape[0]):
        a = user_block[u]
        rank[u] = sizes[a]
        sizes[a] += 1
    return rank, sizes


@njit(cache=True, nogil=True)
def _sort_cells_by_user(out_u, out_i, out_r, indptr, cells, rank, sizes, members,
                        member_start, n_item_blocks):
    """Stable counting sort by user rank of each block in ``cells`` (block ``g`` holds users
    of user block ``g // n_item_blocks``; ``members[member_start[a]:]`` lists block ``a``'s
    users in rank order).

    The users come out sorted, so they are written in order from the counts; each rating's
    item and value go as one 8-byte record to its place in a buffer the size of the largest
    block (one scattered write per rating instead of three), then back in order. Half the
    time of scattering the three arrays (Netflix shape, 16 x 4 blocks, one thread)."""
    biggest = 0
    for g in cells:
        biggest = max(biggest, indptr[g + 1] - indptr[g])
    records = np.empty((biggest, 2), dtype=np.int32)
    record_values = records.view(np.float32)
    ranks = np.empty(biggest, dtype=np.int32)
    for g in cells:
        start, end = indptr[g], indptr[g + 1]
        a = g // n_item_blocks
        size = sizes[a]
        cnt = np.zeros(size + 1, dtype=np.int64)
        for pos in range(start, end):
            r = rank[out_u[pos]]
            ranks[pos - start] = r
            cnt[r + 1] += 1
        for r in range(size):
            cnt[r + 1] += cnt[r]
        first = member_start[a]
        for r in range(size):
            u = members[first + r]
            for pos in range(start + cnt[r], start + cnt[r + 1]):
                out_u[pos] = u
        for t in range(end - start):
            r = ranks[t]
            dest = cnt[r]
            records[dest, 0] = out_i[start + t]
            record_values[dest, 1] = out_r[start + t]
            cnt[r] = dest + 1
        for t in range(end - start):
            out_i[start + t] = records[t, 0]
            out_r[start + t] = record_values[t, 1]


def block_partition(users: np.ndarray, items: np.ndarray, ratings: np.ndarray,
                    user_block: np.ndarray, item_block: np.ndarray, n_blocks: int,
                    by_user: bool = True, n_threads: int = 1, n_item_blocks: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Copies of the three arrays grouped by grid block ``g = a * n_item_blocks + b`` (``a``
    the user's block of ``n_blocks``, ``b`` the item's of ``n_item_blocks``, default
    ``n_blocks``) and, with ``by_user``, by user inside each block (users in index order, each
    user's ratings in their original order).

    Returns ``(users, items, ratings, indptr)``: block ``g`` spans
    ``[indptr[g], indptr[g + 1])``. The same result on any number of threads.
    """
    n = users.shape[0]
    B = int(n_blocks)
    Bi = B if n_item_blocks is None else int(n_item_blocks)
    n_grid = B * Bi
    # block numbers as int16 (when they fit): the lookups per rating stay in cache
    block_type = np.int16 if max(B, Bi) < 2**15 else np.int64
    ub = np.ascontiguousarray(user_block, dtype=block_type)
    ib = np.ascontiguousarray(item_block, dtype=block_type)
    bounds = _chunks(n, n_threads)
    n_parts = len(bounds) - 1
    counts = np.zeros((n_parts, n_grid), dtype=np.int64)
    _run(n_parts, lambda p: _count_cells(users, items, ub, ib, Bi, bounds[p], bounds[p + 1],
                                         counts[p]))
    fill = _offsets(counts)
    indptr = np.zeros(n_grid + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=indptr[1:])
    out_u, out_i, out_r = np.empty_like(users), np.empty_like(items), np.empty_like(ratings)
    _run(n_parts, lambda p: _scatter_cells(users, items, ratings, ub, ib, Bi, bounds[p],
                                           bounds[p + 1], fill[p], out_u, out_i, out_r))
    if by_user and n > 0:
        if items.dtype != np.int32 or ratings.dtype != np.float32:
            raise TypeError(f"block_partition by user takes int32 items and float32 ratings, "
                            f"got {items.dtype} and {ratings.dtype}")
        rank, sizes = user_ranks(ub, B)
        members = np.argsort(ub, kind="stable").astype(np.int32)  # by block, then index
        member_start = np.zeros(B + 1, dtype=np.int64)
        np.cumsum(sizes, out=member_start[1:])
        # blocks dealt to threads largest first, each to the least loaded
        sizes_g = np.diff(indptr)
        load = np.zeros(n_parts, dtype=np.int64)
        share: list[list[int]] = [[] for _ in range(n_parts)]
        for g in np.argsort(-sizes_g, kind="stable"):
            t = int(np.argmin(load))
            share[t].append(int(g))
            load[t] += sizes_g[g]
        cells = [np.array(sorted(s), dtype=np.int64) for s in share]
        _run(n_parts, lambda p: _sort_cells_by_user(out_u, out_i, out_r, indptr, cells[p],
                                                    rank, sizes, members, member_start, Bi))
    return out_u, out_i, out_r, indptr


# ------------------------------------------------------------------- the items of each user
@njit(cache=True, nogil=True)
def _count_keys(users, items, start, end, user_counts, item_counts):
    for k in range(start, end):
        user_counts[users[k]] += 1
        item_counts[items[k]] += 1


@njit(cache=True, nogil=True)
def _scatter_users_by_item(users, items, start, end, fill, by_item):
    for k in range(start, end):
        j = items[k]
        by_item[fill[j]] = users[k]
        fill[j] += 1


@njit(cache=True, nogil=True)
def _count_users_in(by_item, start, end, counts):
    for t in range(start, end):
        counts[by_item[t]] += 1


@njit(cache=True, nogil=True)
def _deal_items(by_item, item_start, j0, j1, fill, out):
    """Items ``j0 .. j1-1`` dealt to their users in increasing order."""
    for j in range(j0, j1):
        for t in range(item_start[j], item_start[j + 1]):
            u = by_item[t]
            out[fill[u]] = j
            fill[u] += 1


def seen_items(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int,
               n_threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The items each user rated, in increasing order, as CSR ``(indptr, items)``, and the
    number of ratings of each item.

    Two stable counting passes, O(n) (by item, then by user) instead of an O(n log n) sort
    of ``user * n_items + item``: user ``u``'s items are ``items[indptr[u]:indptr[u + 1]]``
    (int32), duplicates kept. Returns ``(indptr, items, item_counts)`` (int64, int32,
    int64). The same result on any number of threads.
    """
    users = np.ascontiguousarray(users)
    items = np.ascontiguousarray(items)
    n = users.shape[0]
    bounds = _chunks(n, n_threads)
    n_parts = len(bounds) - 1
    user_counts = np.zeros((n_parts, int(n_users)), dtype=np.int64)
    item_counts = np.zeros((n_parts, int(n_items)), dtype=np.int64)
    _run(n_parts, lambda p: _count_keys(users, items, bounds[p], bounds[p + 1],
                                        user_counts[p], item_counts[p]))
    # pass 1: the users of the ratings grouped by item (the item of a position is implied
    # by the group it falls in)
    fill = _offsets(item_counts)
    by_item = np.empty(n, dtype=np.int32)
    _run(n_parts, lambda p: _scatter_users_by_item(users, items, bounds[p], bounds[p + 1],
                                                   fill[p], by_item))
    per_item = item_counts.sum(axis=0)
    item_start = np.zeros(int(n_items) + 1, dtype=np.int64)
    np.cumsum(per_item, out=item_start[1:])
    indptr = np.zeros(int(n_users) + 1, dtype=np.int64)
    np.cumsum(user_counts.sum(axis=0), out=indptr[1:])
    out = np.empty(n, dtype=np.int32)
    # pass 2: the items cut into ranges of about equal ratings, one per thread; a thread's
    # first position for user u follows u's ratings of the earlier ranges
    cuts = np.searchsorted(item_start, np.linspace(0, n, n_parts + 1)[1:-1])
    ranges = np.concatenate(([0], cuts, [int(n_items)])).astype(np.int64)
    if n_parts == 1:
        _deal_items(by_item, item_start, 0, int(n_items), indptr[:-1].copy(), out)
        return indptr, out, per_item
    in_range = np.zeros((n_parts, int(n_users)), dtype=np.int64)
    _run(n_parts, lambda p: _count_users_in(by_item, item_start[ranges[p]],
                                            item_start[ranges[p + 1]], in_range[p]))
    starts = indptr[:-1] + np.cumsum(in_range, axis=0) - in_range
    _run(n_parts, lambda p: _deal_items(by_item, item_start, ranges[p], ranges[p + 1],
                                        starts[p], out))
    return indptr, out, per_item


# --------------------------------------------------------------------------- model units
@njit(cache=True, nogil=True)
def _to_model(values, center, spread, start, end, out):
    for k in range(start, end):
        out[k] = np.float32((np.float64(values[k]) - center) / spread)


def to_model_units(values: np.ndarray, center: float, spread: float,
                   n_threads: int = 1) -> np.ndarray:
    """``float32((r - center) / spread)`` for every rating, computed in float64 (the same
    numbers as numpy's float64 expression), without a float64 copy of the array."""
    values = np.ascontiguousarray(values)
    out = np.empty(values.shape[0], dtype=np.float32)
    bounds = _chunks(values.shape[0], n_threads)
    _run(len(bounds) - 1, lambda p: _to_model(values, float(center), float(spread),
                                              bounds[p], bounds[p + 1], out))
    return out


@njit(cache=True, nogil=True)
def _std(values):
    n = values.shape[0]
    total = 0.0
    for k in range(n):
        total += np.float64(values[k])
    mean = total / n
    sq = 0.0
    for k in range(n):
        d = np.float64(values[k]) - mean
        sq += d * d
    return np.sqrt(sq / n)


def std_of(values: np.ndarray) -> float:
    """The (population) standard deviation of ``values`` in float64, in two passes without
    a float64 copy of the array (0 for no values)."""
    values = np.ascontiguousarray(values)
    return float(_std(values)) if values.shape[0] else 0.0
