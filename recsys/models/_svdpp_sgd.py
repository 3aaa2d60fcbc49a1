r"""Numba kernels for SVD++ (Koren 2008) by per-rating SGD, grouped by user.

The model, with :math:`N(u)` the items user ``u`` rated in training and
:math:`z_u = |N(u)|^{-1/2} \sum_{j \in N(u)} y_j`:

.. math::
    \hat r_{ui} = \mu + b_u + b_i + q_i \cdot (p_u + z_u), \qquad e_{ui} = r_{ui} - \hat r_{ui},

    L_{ui} = \tfrac12 e_{ui}^2 + \tfrac{\lambda}{2}(\lVert p_u\rVert^2 + \lVert q_i\rVert^2)
             + \tfrac{\lambda_b}{2}(b_u^2 + b_i^2)
             + \tfrac{\lambda_y}{2} \sum_{j \in N(u)} \lVert y_j \rVert^2 .

An epoch visits the users in a given order; for each user it shuffles the user's training
ratings in place (counter-based draws seeded by ``(seed, epoch, user)``) and then:

1. computes :math:`z_u` once (``|N(u)| k`` multiply-adds);
2. for each of the user's ``m`` ratings, steps ``b_u, b_i, p_u, q_i`` against the gradient of
   :math:`L_{ui}` (all from their old values) and adds the rating's gradient contribution to
   the ``y_j`` into one accumulator :math:`g_u`:

   .. math::
       b_u \mathrel{+}= \eta_b (e - \lambda_b b_u), \quad
       b_i \mathrel{+}= \eta_b (e - \lambda_b b_i),

       p_u \mathrel{+}= \eta (e\, q_i - \lambda p_u), \quad
       q_i \mathrel{+}= \eta (e\, (p_u + z_u) - \lambda q_i), \quad
       g_u \mathrel{+}= e\, |N(u)|^{-1/2} q_i ;

3. applies the deferred ``y`` steps once, to every :math:`j \in N(u)`:

   .. math::
       y_j \leftarrow (1 - \eta \lambda_y)^m\, y_j + \eta\, g_u .

   With ``m = 1`` this is exactly the per-rating step :math:`y_j \mathrel{+}= \eta(e
   |N(u)|^{-1/2} q_i - \lambda_y y_j)`; with more ratings it is the ``m`` per-rating steps
   with :math:`z_u` held fixed over the user's ratings (Surprise and the paper recompute it
   per rating, which costs ``|N(u)| k`` per rating instead of per user), the ``m``
   shrinks compounded so a heavy user cannot flip the sign of ``y_j``.

So an epoch costs ``O(k)`` per rating plus ``2 |N(u)| k`` per user: about
``5 k`` multiply-adds per rating against MF's ``2 k``, most of it on contiguous rows.

Everything is float32 (indices int32/int64); scalars must come in the parameters' dtype.
:func:`user_steps` is the reference single-user pass that ``tests/test_svdpp.py`` checks
against finite differences; :func:`epoch_kernel` compiles the same code for one factor count.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from recsys.models._bookkeeping import group_rows

__all__ = ["user_steps", "epoch_kernel", "implicit_sums", "predict_pairs",
           "squared_error_clipped", "group_by_user", "implicit_start", "factor_dot",
           "factor_step", "implicit_end", "epoch_base", "shuffle_user"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, nogil=True, inline="always")
def _mix(z):
    """The SplitMix64 finaliser: 64 well-mixed bits of ``z``."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _shuffle(items, values, start, end, seed):
    """Forward Fisher-Yates over ``[start, end)`` of both arrays, counter-based draws."""
    for pos in range(start, end - 1):
        z = _mix(np.uint64(seed) + np.uint64(pos) * _GOLDEN)
        j = pos + np.int64(((z >> np.uint64(33)) * np.uint64(end - pos)) >> np.uint64(31))
        it = items[j]
        items[j] = items[pos]
        items[pos] = it
        v = values[j]
        values[j] = values[pos]
        values[pos] = v


@njit(cache=True, nogil=True, inline="always")
def epoch_base(seed, epoch):
    """The stream of an epoch's shuffles: 64 bits from ``seed`` and ``epoch``."""
    return _mix(np.uint64(seed) + np.uint64(epoch) * _MIX1)


@njit(cache=True, nogil=True, inline="always")
def shuffle_user(items, values, start, end, base, u):
    """Shuffle user ``u``'s ratings ``[start, end)`` of both arrays in place, drawn from the
    epoch's stream ``base`` (:func:`epoch_base`) and ``u``."""
    _shuffle(items, values, start, end, _mix(base + np.uint64(u) * _GOLDEN))


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def implicit_start(u, seen, s0, s1, P, Y, xu, zu, gu, lr, K):
    """Step 1 for user ``u`` with implicit items ``seen[s0:s1]``: ``zu = |N(u)|^{-1/2} sum
    y_j``, ``xu = p_u + zu`` and the accumulator ``gu = 0`` (scratch rows of length ``K``).
    Returns ``|N(u)|^{-1/2}`` (0 when ``N(u)`` is empty) in the dtype of ``lr``."""
    zero = lr - lr
    one = zero + np.float32(1.0)
    n_seen = s1 - s0
    norm = one / np.sqrt(zero + np.float32(n_seen)) if n_seen > 0 else zero
    u = np.uint64(u)  # unsigned indices: no wrap-around test per access
    for f in range(K):
        zu[f] = zero
        gu[f] = zero
    for t in range(s0, s1):
        j = np.uint64(seen[t])
        for f in range(K):
            zu[f] += Y[j, f]
    for f in range(K):
        zu[f] *= norm
        xu[f] = P[u, f] + zu[f]
    return norm


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def factor_dot(i, Q, xu, lr, K):
    """``q_i . xu`` in the dtype of ``lr``."""
    dot = lr - lr
    i = np.uint64(i)
    for f in range(K):
        dot += Q[i, f] * xu[f]
    return dot


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def factor_step(i, after, e, norm, Q, xu, zu, gu, lr, reg, K):
    """Step 2's factor part for a rating of item ``i`` with error ``e`` (in the factors'
    dtype): ``p_u`` (carried as ``xu = p_u + z_u``) and ``q_i`` step, ``gu += e norm q_i``.
    Returns ``q_after . xu`` after the step (the next rating's dot product; ``q_after`` read
    after ``q_i`` was stored, so a repeated item sees its new row).

    The step ``p += eta (e q - lambda p)`` reads ``x <- (1 - eta lambda) x + eta lambda z +
    eta e q`` on ``x = p + z``."""
    zero = lr - lr
    shrink = zero + np.float32(1.0) - lr * reg
    pull = lr * reg
    step = lr * e
    en = e * norm
    i = np.uint64(i)
    after = np.uint64(after)
    dot = zero
    for f in range(K):
        x = xu[f]
        q = Q[i, f]
        x_new = shrink * x + pull * zu[f] + step * q
        xu[f] = x_new
        Q[i, f] = shrink * q + step * x
        gu[f] += en * q
        dot += Q[after, f] * x_new
    return dot


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def implicit_end(u, m, seen, s0, s1, P, Y, xu, zu, gu, lr, reg_y, K):
    """Step 3 after the user's ``m`` ratings: ``p_u = xu - zu`` written back, and every
    ``y_j`` of ``seen[s0:s1]`` takes ``y_j <- (1 - eta lambda_y)^m y_j + eta g_u``."""
    zero = lr - lr
    one = zero + np.float32(1.0)
    u = np.uint64(u)
    for f in range(K):
        P[u, f] = xu[f] - zu[f]
    if m > 0 and s1 > s0:
        keep = max(one - lr * reg_y, zero)
        decay = one
        for _ in range(m):
            decay *= keep
        for f in range(K):
            gu[f] *= lr
        for t in range(s0, s1):
            j = np.uint64(seen[t])
            for f in range(K):
                Y[j, f] = decay * Y[j, f] + gu[f]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _user_pass(u, items, values, start, end, seen, s0, s1, mu, bu, bi, P, Q, Y, xu, zu, gu,
               lr, lr_b, reg, reg_b, reg_y, K):
    """Steps 1-3 of the module docstring for user ``u``: ratings ``items[start:end]`` /
    ``values[start:end]`` (in that order), implicit items ``seen[s0:s1]``. ``xu``, ``zu`` and
    ``gu`` are scratch rows of length ``K``. Returns the sum of squared errors before each
    step (float64).

    Built from :func:`implicit_start`, :func:`factor_step` and :func:`implicit_end` (a
    time-aware SVD++ composes the same pieces around its own bias terms). The loop carries
    ``x = p_u + z_u`` instead of ``p_u``, and the one pass over the factors that steps rating
    ``t`` also computes ``q_{i'} . x`` for rating ``t + 1``."""
    norm = implicit_start(u, seen, s0, s1, P, Y, xu, zu, gu, lr, K)
    b_u = bu[u]
    sse = 0.0
    dot = factor_dot(items[start], Q, xu, lr, K) if end > start else lr - lr
    for idx in range(start, end):
        i = items[idx]
        e = values[idx] - (mu + b_u + bi[i] + dot)
        sse += np.float64(e) * np.float64(e)
        b_u += lr_b * (e - reg_b * b_u)
        bi[i] += lr_b * (e - reg_b * bi[i])
        after = items[idx + 1] if idx + 1 < end else i
        dot = factor_step(i, after, e, norm, Q, xu, zu, gu, lr, reg, K)
    bu[u] = b_u
    implicit_end(u, end - start, seen, s0, s1, P, Y, xu, zu, gu, lr, reg_y, K)
    return sse


@njit(cache=True, nogil=True, fastmath=True)
def user_steps(u, items, values, seen, mu, bu, bi, P, Q, Y, lr, lr_b, reg, reg_b, reg_y):
    """One user's pass (module docstring, steps 1-3) over ratings ``(items, values)`` in the
    order given, with implicit items ``seen``; any factor count, no shuffle. Returns the sum
    of squared errors before each step. The reference the tests check; fitting uses
    :func:`epoch_kernel`, which runs the same code."""
    K = P.shape[1]
    scratch = np.empty((3, K), dtype=P.dtype)
    return _user_pass(u, items, values, 0, items.shape[0], seen, 0, seen.shape[0], mu, bu, bi,
                      P, Q, Y, scratch[0], scratch[1], scratch[2], lr, lr_b, reg, reg_b, reg_y,
                      K)


@functools.cache
def epoch_kernel(n_factors: int):
    """A kernel compiled for ``n_factors`` factors (a compile-time constant, so LLVM
    vectorises the row loops whole):

    ``kernel(indptr, items, values, order, seen_indptr, seen_items, mu, bu, bi, P, Q, Y, lr,
    lr_b, reg, reg_b, reg_y, seed, epoch) -> sse``

    For each user ``u`` of ``order`` (int64, in that order) it shuffles the user's ratings
    ``[indptr[u], indptr[u + 1])`` of ``items`` / ``values`` in place (seeded by ``seed``,
    ``epoch`` and ``u``: a seeded fit is repeatable bit for bit) and runs the user's pass with
    implicit items ``seen_items[seen_indptr[u]:seen_indptr[u + 1]]``. Returns the sum of
    squared errors before each step. Releases the GIL.
    """
    K = int(n_factors)

    @njit(cache=True, nogil=True, fastmath=True)
    def run_users(indptr, items, values, order, seen_indptr, seen_items, mu, bu, bi, P, Q, Y,
                  lr, lr_b, reg, reg_b, reg_y, seed, epoch):
        scratch = np.empty((3, K), dtype=P.dtype)
        xu, zu, gu = scratch[0], scratch[1], scratch[2]
        base = epoch_base(seed, epoch)
        sse = 0.0
        for u in order:
            start = indptr[u]
            end = indptr[u + 1]
            shuffle_user(items, values, start, end, base, u)
            sse += _user_pass(u, items, values, start, end, seen_items, seen_indptr[u],
                              seen_indptr[u + 1], mu, bu, bi, P, Q, Y, xu, zu, gu, lr, lr_b,
                              reg, reg_b, reg_y, K)
        return sse

    return run_users


def group_by_user(users, items, values, n_users):
    """Ratings grouped by user (a stable counting sort, :func:`~recsys.models._bookkeeping.
    group_rows`): ``(indptr, items, values)`` with user ``u``'s ratings at
    ``[indptr[u], indptr[u + 1])``."""
    indptr, rows = group_rows(users, n_users)
    return indptr, items[rows].astype(np.int32), values[rows]


@njit(cache=True, nogil=True, fastmath=True)
def implicit_sums(seen_indptr, seen_items, Y):
    """``Z[u] = |N(u)|^{-1/2} sum_{j in N(u)} y_j`` for every user (zeros when N(u) is
    empty), in the dtype of ``Y``."""
    n_users = seen_indptr.shape[0] - 1
    K = Y.shape[1]
    Z = np.zeros((n_users, K), dtype=Y.dtype)
    for u in range(n_users):
        s0 = seen_indptr[u]
        s1 = seen_indptr[u + 1]
        for t in range(s0, s1):
            j = seen_items[t]
            for f in range(K):
                Z[u, f] += Y[j, f]
        if s1 > s0:
            norm = 1.0 / np.sqrt(np.float64(s1 - s0))
            for f in range(K):
                Z[u, f] = Z[u, f] * norm
    return Z


@njit(cache=True, nogil=True, fastmath=True)
def predict_pairs(users, items, mu, bu, bi, X, Q):
    """Raw predictions (float64) for index pairs, ``X = P + Z`` the users' effective vectors;
    ``-1`` marks an unknown user or item: then the known biases (``mu + b_i``,
    ``mu + b_u``, ``mu``)."""
    n = users.shape[0]
    k = X.shape[1]
    out = np.empty(n, dtype=np.float64)
    for idx in range(n):
        u = users[idx]
        i = items[idx]
        value = np.float64(mu)
        if u >= 0:
            value += bu[u]
        if i >= 0:
            value += bi[i]
        if u >= 0 and i >= 0:
            for f in range(k):
                value += np.float64(X[u, f]) * np.float64(Q[i, f])
        out[idx] = value
    return out


@njit(cache=True, nogil=True, fastmath=True)
def squared_error_clipped(users, items, ratings, mu, bu, bi, X, Q, low, high):
    """Sum of squared errors of the clipped :func:`predict_pairs` predictions (float64)."""
    pred = predict_pairs(users, items, mu, bu, bi, X, Q)
    sse = 0.0
    for idx in range(users.shape[0]):
        e = np.float64(ratings[idx]) - min(max(pred[idx], low), high)
        sse += e * e
    return sse
