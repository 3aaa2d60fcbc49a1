r"""Numba kernels of the item-item neighbourhood model (:mod:`recsys.models.knn`).

Notation: ``e_ui = r_ui - b_ui`` is the residual of rating ``(u, i)`` from the baseline
``b_ui = mu + b_u + b_i``; ``U_ij`` the users who rated both ``i`` and ``j`` and
``n_ij = |U_ij|``.

**Similarities** (:func:`item_neighbours`): the shrunk Pearson-baseline correlation

.. math::
    s_{ij} = \frac{n_{ij} - 1}{n_{ij} - 1 + \lambda}\,
             \frac{\sum_{u \in U_{ij}} e_{ui} e_{uj}}
                  {\sqrt{\sum_{u \in U_{ij}} e_{ui}^2 \; \sum_{u \in U_{ij}} e_{uj}^2}}

(0 when ``n_ij < min_support`` or a sum of squares is 0). Item ``i``'s row is accumulated
from the ratings themselves, never from a loop over item pairs: for each user ``u`` who rated
``i`` and each item ``j`` that ``u`` rated, four running sums (``n_ij``, the cross product and
both sums of squares) grow in dense per-thread accumulators, and only the items touched are
read back and reset. The work is ``sum_u |R(u)|^2`` multiply-adds (13 M on ML-100k ``u1``,
61 M on ml-latest-small), rows in parallel (Python threads over blocks of items: the serial
kernels release the GIL, and numba's ``parallel=True`` would triple the compile time). Each
row keeps only its ``n_keep`` largest *positive* similarities (prediction never uses the
others), sorted from the largest: a CSR neighbour list.

**Prediction** (:func:`predict_pairs`, :func:`score_users`): for a known user and item,

.. math::
    \hat r_{ui} = b_{ui} + \frac{\sum_{j \in N^k(i;u)} s_{ij}\, e_{uj}}
                                {\sum_{j \in N^k(i;u)} s_{ij}}

with ``N^k(i;u)`` the (at most) ``k`` items of ``i``'s neighbour list that ``u`` rated, the
most similar first; ``b_ui`` alone when there are none (or the user or item is unknown).

Arrays are flat and contiguous: ``int32`` indices, ``float32`` residuals and similarities,
``int64`` row pointers. The kernels compile with ``@njit(cache=True, nogil=True)``; the
public functions are their Python drivers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from numba import njit

__all__ = ["fit_biases", "group_by", "item_neighbours", "predict_pairs", "score_users",
           "brute_force_similarities", "BLOCKS"]

BLOCKS = 256
"""Row blocks of the similarity computation (threads take them in turn)."""


def fit_biases(users: np.ndarray, items: np.ndarray, z: np.ndarray, mu: float, n_users: int,
               n_items: int, reg_user: float, reg_item: float,
               n_epochs: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Regularised biases by alternating closed-form ridge sweeps (items, then users),
    as :class:`recsys.models.baseline.BiasBaseline` fits them:

    .. math:: b_i \leftarrow \frac{\sum_{u \in R(i)} (z_{ui} - \mu - b_u)}{\lambda_i + |R(i)|},
              \qquad
              b_u \leftarrow \frac{\sum_{i \in R(u)} (z_{ui} - \mu - b_i)}{\lambda_u + |R(u)|}

    Returns ``(b_u, b_i)`` as float64 (0 for users / items without ratings).
    """
    r = z.astype(np.float64) - mu
    n_u = np.bincount(users, minlength=n_users).astype(np.float64)
    n_i = np.bincount(items, minlength=n_items).astype(np.float64)
    b_u = np.zeros(n_users)
    b_i = np.zeros(n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(int(n_epochs)):
            b_i = np.bincount(items, r - b_u[users], minlength=n_items) / (reg_item + n_i)
            b_i[n_i == 0] = 0.0
            b_u = np.bincount(users, r - b_i[items], minlength=n_users) / (reg_user + n_u)
            b_u[n_u == 0] = 0.0
    return b_u, b_i


def group_by(rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
             n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of ``(rows, cols, values)``: ``(indptr, cols, values)`` with each row's entries
    sorted by column (the layout of the estimator's ``seen_items_``)."""
    order = np.argsort(rows.astype(np.int64) * (int(cols.max(initial=0)) + 1) + cols,
                       kind="stable")
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return (indptr, np.ascontiguousarray(cols[order], dtype=np.int32),
            np.ascontiguousarray(values[order], dtype=np.float32))


@njit(cache=True, nogil=True, inline="always")
def _sift_down(items: np.ndarray, sims: np.ndarray, size: int) -> None:
    """Restore the min-heap order of ``sims[:size]`` (``items`` moving along) below the
    root."""
    root = 0
    while True:
        child = 2 * root + 1
        if child >= size:
            return
        if child + 1 < size and sims[child + 1] < sims[child]:
            child += 1
        if sims[child] < sims[root]:
            sims[root], sims[child] = sims[child], sims[root]
            items[root], items[child] = items[child], items[root]
            root = child
        else:
            return


@njit(cache=True, nogil=True, inline="always")
def _push(items: np.ndarray, sims: np.ndarray, size: int, j: np.int32, s: float) -> None:
    """Add ``(j, s)`` to the min-heap ``sims[:size]`` (room for it assumed)."""
    child = size
    items[child] = j
    sims[child] = s
    while child > 0:
        parent = (child - 1) >> 1
        if sims[child] < sims[parent]:
            sims[child], sims[parent] = sims[parent], sims[child]
            items[child], items[parent] = items[parent], items[child]
            child = parent
        else:
            return


@njit(cache=True, nogil=True)
def _similarity_rows(block: int, n_blocks: int, user_indptr: np.ndarray,
                     user_items: np.ndarray, user_res: np.ndarray, item_indptr: np.ndarray,
                     item_users: np.ndarray, item_res: np.ndarray, shrinkage: float,
                     min_support: int, keep_items: np.ndarray, keep_sims: np.ndarray,
                     lengths: np.ndarray) -> None:
    """Rows ``block, block + n_blocks, ...`` of :func:`item_neighbours` (serial; the
    parallel driver only calls this, which keeps its compile time short).

    The row's best ``n_keep`` are kept in a min-heap as the touched items are read back (ties
    with the heap's least keep the earlier item). Once the heap is full, a candidate is
    first screened without a square root or division: ``s > m`` (``m`` the heap's least)
    exactly when ``(x (n-1))^2 > m^2 q (n-1+lambda)^2`` for the cross product ``x > 0`` and
    the product of the sums of squares ``q``; the screen rejects only candidates below
    ``m`` by a relative margin of 1e-9, the rest are compared exactly."""
    n_items = item_indptr.shape[0] - 1
    n_keep = keep_items.shape[1]
    count = np.zeros(n_items, dtype=np.int64)
    cross = np.zeros(n_items)
    sq_i = np.zeros(n_items)
    sq_j = np.zeros(n_items)
    touched = np.empty(n_items, dtype=np.int32)
    heap_items = np.empty(n_keep, dtype=np.int32)
    heap_sims = np.empty(n_keep)
    for i in range(block, n_items, n_blocks):
        n_touched = 0
        for p in range(item_indptr[i], item_indptr[i + 1]):
            u = item_users[p]
            e_i = np.float64(item_res[p])
            e_i2 = e_i * e_i
            for q in range(user_indptr[u], user_indptr[u + 1]):
                j = user_items[q]
                e_j = np.float64(user_res[q])
                if count[j] == 0:
                    touched[n_touched] = j
                    n_touched += 1
                count[j] += 1
                cross[j] += e_i * e_j
                sq_i[j] += e_i2
                sq_j[j] += e_j * e_j
        size = 0
        least_sq = 0.0  # the heap's least similarity, squared, once it is full
        for t in range(n_touched):
            j = touched[t]
            n = count[j]
            x = cross[j]
            denom = sq_i[j] * sq_j[j]
            count[j] = 0
            cross[j] = 0.0
            sq_i[j] = 0.0
            sq_j[j] = 0.0
            if j == i or n < min_support or n < 2 or not x > 0.0 or not denom > 0.0:
                continue
            if size == n_keep:
                a = x * (n - 1.0)
                b = n - 1.0 + shrinkage
                if a * a < least_sq * denom * b * b * (1.0 - 1e-9):
                    continue
            s = x / np.sqrt(denom) * (n - 1.0) / (n - 1.0 + shrinkage)
            if size < n_keep:
                _push(heap_items, heap_sims, size, j, s)
                size += 1
            elif s > heap_sims[0]:
                heap_items[0] = j
                heap_sims[0] = s
                _sift_down(heap_items, heap_sims, size)
            else:
                continue
            if size == n_keep:
                least_sq = heap_sims[0] * heap_sims[0]
        lengths[i] = size
        for last in range(size - 1, -1, -1):  # heap sort: the least goes last
            keep_items[i, last] = heap_items[0]
            keep_sims[i, last] = heap_sims[0]
            heap_items[0] = heap_items[last]
            heap_sims[0] = heap_sims[last]
            _sift_down(heap_items, heap_sims, last)


def item_neighbours(user_indptr: np.ndarray, user_items: np.ndarray, user_res: np.ndarray,
                    item_indptr: np.ndarray, item_users: np.ndarray, item_res: np.ndarray,
                    shrinkage: float, min_support: int, n_keep: int,
                    n_threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's ``n_keep`` most similar items with a positive shrunk Pearson-baseline
    similarity (module docstring), as CSR ``(indptr int64, items int32, sims float32)``,
    each row sorted from the most similar. ``user_*``: the residuals grouped by user;
    ``item_*``: the same residuals grouped by item.

    Rows are interleaved over ``BLOCKS`` blocks (popular items spread evenly), which
    ``n_threads`` threads take in turn (the kernel releases the GIL); each row is computed
    alone, so the result does not depend on the number of threads."""
    n_items = item_indptr.shape[0] - 1
    n_keep = max(1, min(int(n_keep), max(n_items - 1, 1)))
    keep_items = np.empty((n_items, n_keep), dtype=np.int32)
    keep_sims = np.empty((n_items, n_keep), dtype=np.float32)
    lengths = np.zeros(n_items, dtype=np.int64)
    n_blocks = min(n_items, BLOCKS)

    def run(block: int) -> None:
        _similarity_rows(block, n_blocks, user_indptr, user_items, user_res, item_indptr,
                         item_users, item_res, float(shrinkage), int(min_support), keep_items,
                         keep_sims, lengths)

    _in_threads(run, n_blocks, n_threads)
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    kept = np.arange(n_keep)[None, :] < lengths[:, None]
    return indptr, keep_items[kept], keep_sims[kept]


def _in_threads(run: Callable[[int], None], n_tasks: int, n_threads: int) -> None:
    """``run(t)`` for every task ``t`` in ``range(n_tasks)``, on ``n_threads`` threads."""
    if n_threads <= 1 or n_tasks <= 1:
        for task in range(n_tasks):
            run(task)
        return
    with ThreadPoolExecutor(min(n_threads, n_tasks), thread_name_prefix="recsys-knn") as pool:
        futures = [pool.submit(run, task) for task in range(n_tasks)]
        try:
            for future in futures:
                future.result()
        except BaseException:  # Ctrl-C included: drop the tasks not started, then re-raise
            for future in futures:
                future.cancel()
            raise


@njit(cache=True, nogil=True, inline="always")
def _neighbourhood(ii: np.int64, mark: np.ndarray, nb_indptr: np.ndarray, nb_items: np.ndarray,
                   nb_sims: np.ndarray, residuals: np.ndarray, k: int) -> float:
    """``sum s_ij e_uj / sum s_ij`` over the first ``k`` of item ``ii``'s neighbours that the
    user rated (``mark[j]``: position of ``e_uj`` in ``residuals``, or -1); 0 when none."""
    num = 0.0
    den = 0.0
    found = 0
    for p in range(nb_indptr[ii], nb_indptr[ii + 1]):
        q = mark[nb_items[p]]
        if q >= 0:
            s = np.float64(nb_sims[p])
            num += s * residuals[q]
            den += s
            found += 1
            if found >= k:
                break
    return num / den if den > 0.0 else 0.0


@njit(cache=True, nogil=True)
def _predict_range(start: int, stop: int, u: np.ndarray, i: np.ndarray, order: np.ndarray,
                   mu: float, user_bias: np.ndarray, item_bias: np.ndarray,
                   nb_indptr: np.ndarray, nb_items: np.ndarray, nb_sims: np.ndarray,
                   seen_indptr: np.ndarray, seen_items: np.ndarray, residuals: np.ndarray,
                   k: int, out: np.ndarray) -> None:
    """Pairs ``order[start:stop]`` of :func:`predict_pairs` (serial)."""
    mark = np.full(item_bias.shape[0], -1, dtype=np.int64)
    current = -1
    for t in range(start, stop):
        pos = order[t]
        uu, ii = u[pos], i[pos]
        if uu != current:
            if current >= 0:
                for q in range(seen_indptr[current], seen_indptr[current + 1]):
                    mark[seen_items[q]] = -1
            if uu >= 0:
                for q in range(seen_indptr[uu], seen_indptr[uu + 1]):
                    mark[seen_items[q]] = q
            current = uu
        value = mu
        if uu >= 0:
            value += user_bias[uu]
        if ii >= 0:
            value += item_bias[ii]
            if uu >= 0:
                value += _neighbourhood(ii, mark, nb_indptr, nb_items, nb_sims, residuals, k)
        out[pos] = value


def predict_pairs(u: np.ndarray, i: np.ndarray, mu: float, user_bias: np.ndarray,
                  item_bias: np.ndarray, nb_indptr: np.ndarray, nb_items: np.ndarray,
                  nb_sims: np.ndarray, seen_indptr: np.ndarray, seen_items: np.ndarray,
                  residuals: np.ndarray, k: int) -> np.ndarray:
    """Predictions (model units, unclipped) for index pairs (``int64``); ``-1`` marks an
    unknown user or item, whose bias is left out (both unknown: ``mu``). ``seen_*`` /
    ``residuals``: each user's training items (sorted) and their residuals ``e_uj``.

    Pairs are visited grouped by user (a stable sort); the current user's items are marked
    in a dense array, so a neighbour is looked up in O(1)."""
    order = np.argsort(u, kind="stable")
    out = np.empty(u.shape[0])
    _predict_range(0, u.shape[0], u, i, order, float(mu), user_bias, item_bias, nb_indptr,
                   nb_items, nb_sims, seen_indptr, seen_items, residuals, int(k), out)
    return out


@njit(cache=True, nogil=True)
def _score_rows(start: int, stop: int, u: np.ndarray, mu: float, user_bias: np.ndarray,
                item_bias: np.ndarray, nb_indptr: np.ndarray, nb_items: np.ndarray,
                nb_sims: np.ndarray, seen_indptr: np.ndarray, seen_items: np.ndarray,
                residuals: np.ndarray, k: int, out: np.ndarray) -> None:
    """Rows ``start:stop`` of :func:`score_users` (serial)."""
    n_items = item_bias.shape[0]
    mark = np.full(n_items, -1, dtype=np.int64)
    for row in range(start, stop):
        uu = u[row]
        if uu < 0:
            for ii in range(n_items):
                out[row, ii] = mu + item_bias[ii]
            continue
        for q in range(seen_indptr[uu], seen_indptr[uu + 1]):
            mark[seen_items[q]] = q
        base_u = mu + user_bias[uu]
        for ii in range(n_items):
            out[row, ii] = base_u + item_bias[ii] + _neighbourhood(
                ii, mark, nb_indptr, nb_items, nb_sims, residuals, k)
        for q in range(seen_indptr[uu], seen_indptr[uu + 1]):
            mark[seen_items[q]] = -1


def score_users(u: np.ndarray, mu: float, user_bias: np.ndarray, item_bias: np.ndarray,
                nb_indptr: np.ndarray, nb_items: np.ndarray, nb_sims: np.ndarray,
                seen_indptr: np.ndarray, seen_items: np.ndarray, residuals: np.ndarray,
                k: int, n_threads: int = 1) -> np.ndarray:
    """Predictions of every item for each user index in ``u`` (``int64``; ``-1``:
    ``mu + b_i``), shape ``(len(u), n_items)``: as :func:`predict_pairs`, the users split
    over ``n_threads`` threads."""
    out = np.empty((u.shape[0], item_bias.shape[0]))
    n_tasks = max(1, min(u.shape[0] // 8, 4 * n_threads))

    def run(task: int) -> None:
        _score_rows(task * u.shape[0] // n_tasks, (task + 1) * u.shape[0] // n_tasks, u,
                    float(mu), user_bias, item_bias, nb_indptr, nb_items, nb_sims,
                    seen_indptr, seen_items, residuals, int(k), out)

    _in_threads(run, n_tasks, n_threads)
    return out


def brute_force_similarities(users: np.ndarray, items: np.ndarray, residuals: np.ndarray,
                             n_items: int, shrinkage: float, min_support: int) -> np.ndarray:
    """The full similarity matrix straight from its definition, by dense numpy over every
    pair of items (O(n_items^2 n_users) memory: tests on tiny sets only). Diagonal 0."""
    n_users = int(users.max()) + 1
    E = np.zeros((n_users, n_items))
    M = np.zeros((n_users, n_items))
    E[users, items] = residuals
    M[users, items] = 1.0
    S = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            common = (M[:, i] > 0) & (M[:, j] > 0)
            n = int(common.sum())
            if i == j or n < max(min_support, 2):
                continue
            a, b = E[common, i], E[common, j]
            denom = np.sqrt((a * a).sum() * (b * b).sum())
            if denom > 0:
                S[i, j] = (a * b).sum() / denom * (n - 1) / (n - 1 + shrinkage)
    return S
