r"""Numba kernels for timeSVD++'s biases inside SVD++ (Koren, KDD 2009), per-rating SGD
grouped by user.

The model, with the time features of :class:`recsys.models._time.TimeFeatures` (``dev =
dev_u(t)``, ``bin = Bin(t)``, ``slot`` of the per-day bias or ``-1``) and
:math:`z_u = |N(u)|^{-1/2} \sum_{j \in N(u)} y_j`:

.. math::
    \hat r_{ui}(t) = \mu + b_u + \alpha_u\, \mathrm{dev}_u(t) + b_{u,t} + b_i
                     + b_{i,\mathrm{Bin}(t)} + q_i \cdot (p_u + z_u),

    L = \tfrac12 e^2 + \tfrac{\lambda}{2}(\lVert p_u\rVert^2 + \lVert q_i\rVert^2)
        + \tfrac12 \sum_{k=1}^{5} \lambda_{b,k} \theta_k^2
        + \tfrac{\lambda_y}{2} \sum_{j \in N(u)} \lVert y_j \rVert^2,

:math:`\theta_1..\theta_5` the five bias terms. The pass over one user is SVD++'s
(:mod:`recsys.models._svdpp_sgd`: :func:`~recsys.models._svdpp_sgd.implicit_start`,
:func:`~recsys.models._svdpp_sgd.factor_step`, :func:`~recsys.models._svdpp_sgd.implicit_end`:
``z_u`` once per user, the ``y_j`` steps summed and applied at the user's end) with the bias
part of each rating's prediction and step taken from the time-aware baseline
(:func:`~recsys.models._timebias_sgd.bias_terms`,
:func:`~recsys.models._timebias_sgd.bias_step`; ``b_u`` and ``alpha_u`` kept in registers
over the user's ratings, which halves the cost of the bias part): for rating ``(u, i, t)``, with ``e`` the
error before the step,

.. math::
    b_u \mathrel{+}= \eta_1 (e - \lambda_{b,1} b_u), \quad
    \alpha_u \mathrel{+}= \eta_2 (e\, \mathrm{dev}_u(t) - \lambda_{b,2} \alpha_u), \quad
    b_{u,t} \mathrel{+}= \eta_3 (e - \lambda_{b,3} b_{u,t}),

    b_i \mathrel{+}= \eta_4 (e - \lambda_{b,4} b_i), \quad
    b_{i,\mathrm{Bin}(t)} \mathrel{+}= \eta_5 (e - \lambda_{b,5} b_{i,\mathrm{Bin}(t)}),

    p_u \mathrel{+}= \eta (e\, q_i - \lambda p_u), \quad
    q_i \mathrel{+}= \eta (e\, (p_u + z_u) - \lambda q_i), \quad
    g_u \mathrel{+}= e\, |N(u)|^{-1/2} q_i,

and after the user's ``m`` ratings :math:`y_j \leftarrow (1 - \eta\lambda_y)^m y_j + \eta g_u`
for every :math:`j \in N(u)` (with ``m = 1``: exactly the gradient step on ``L``).

Ratings are grouped by user once (``items`` and ``rows``, the positions of the per-rating
arrays ``values``, ``devs``, ``bins``, ``slots`` in the grouped order); an epoch shuffles
each user's ``(items, rows)`` in place with SVD++'s counter-based draws. Every parameter
and scalar is in one float dtype (float32 when fitting); the bias step sizes and L2 weights
are arrays of five (user, drift, day, item, bin). numba inlines the imported functions, so
the loop compiles as one; clear this module's numba cache (``__pycache__/*.nbi``) after
editing those functions, as numba tracks only this file.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from recsys.models._bookkeeping import group_rows
from recsys.models._svdpp_sgd import (
    epoch_base,
    factor_dot,
    factor_step,
    implicit_end,
    implicit_start,
    shuffle_user,
)
from recsys.models._timebias_sgd import bias_step, bias_terms
from recsys.models._timebias_sgd import predict_pairs as bias_pairs

__all__ = ["user_steps", "epoch_kernel", "group_rows", "predict_pairs",
           "squared_error_clipped"]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _user_pass(u, items, rows, start, end, values, devs, bins, slots, seen, s0, s1, mu,
               bu, alpha, but, bi, bib, P, Q, Y, xu, zu, gu, lr, reg, reg_y, lr_b, reg_b, K):
    """The module docstring's pass over user ``u``'s ratings ``items[start:end]`` (feature
    positions ``rows[start:end]``) in that order, implicit items ``seen[s0:s1]``; ``xu``,
    ``zu``, ``gu`` scratch rows of length ``K``. Returns the sum of squared errors before
    each step (float64)."""
    norm = implicit_start(u, seen, s0, s1, P, Y, xu, zu, gu, lr, K)
    sse = 0.0
    b_u = bu[u]  # the user's two terms and the rates stay in registers
    a_u = alpha[u]
    lr_t = (lr_b[0], lr_b[1], lr_b[2], lr_b[3], lr_b[4])
    reg_t = (reg_b[0], reg_b[1], reg_b[2], reg_b[3], reg_b[4])
    dot = factor_dot(items[start], Q, xu, lr, K) if end > start else lr - lr
    for idx in range(start, end):
        i = items[idx]
        k = rows[idx]
        dev, bin_, slot = devs[k], bins[k], slots[k]
        e = values[k] - (mu + bias_terms(b_u, a_u, i, dev, bin_, slot, but, bi, bib) + dot)
        sse += np.float64(e) * np.float64(e)
        b_u, a_u = bias_step(e, b_u, a_u, i, dev, bin_, slot, but, bi, bib, lr_t, reg_t)
        after = items[idx + 1] if idx + 1 < end else i
        dot = factor_step(i, after, e, norm, Q, xu, zu, gu, lr, reg, K)
    bu[u] = b_u
    alpha[u] = a_u
    implicit_end(u, end - start, seen, s0, s1, P, Y, xu, zu, gu, lr, reg_y, K)
    return sse


@njit(cache=True, nogil=True, fastmath=True)
def user_steps(u, items, values, devs, bins, slots, seen, mu, bu, alpha, but, bi, bib, P, Q,
               Y, lr, reg, reg_y, lr_b, reg_b):
    """One user's pass over ratings ``(items, values)`` at features ``(devs, bins, slots)``
    in the order given, implicit items ``seen``; any factor count, no shuffle. Returns the
    sum of squared errors before each step. The reference the tests check; fitting uses
    :func:`epoch_kernel`, which runs the same code."""
    K = P.shape[1]
    scratch = np.empty((3, K), dtype=P.dtype)
    rows = np.arange(items.shape[0])
    return _user_pass(u, items, rows, 0, items.shape[0], values, devs, bins, slots, seen, 0,
                      seen.shape[0], mu, bu, alpha, but, bi, bib, P, Q, Y, scratch[0],
                      scratch[1], scratch[2], lr, reg, reg_y, lr_b, reg_b, K)


@functools.cache
def epoch_kernel(n_factors: int):
    """A kernel compiled for ``n_factors`` factors:

    ``kernel(indptr, items, rows, values, devs, bins, slots, order, seen_indptr, seen_items,
    mu, bu, alpha, but, bi, bib, P, Q, Y, lr, reg, reg_y, lr_b, reg_b, seed, epoch) -> sse``

    For each user ``u`` of ``order`` it shuffles ``[indptr[u], indptr[u + 1])`` of ``items``
    and ``rows`` in place (seeded by ``seed``, ``epoch`` and ``u``) and runs the user's pass.
    Returns the sum of squared errors before each step. Releases the GIL."""
    K = int(n_factors)

    @njit(cache=True, nogil=True, fastmath=True)
    def run_users(indptr, items, rows, values, devs, bins, slots, order, seen_indptr,
                  seen_items, mu, bu, alpha, but, bi, bib, P, Q, Y, lr, reg, reg_y, lr_b,
                  reg_b, seed, epoch):
        scratch = np.empty((3, K), dtype=P.dtype)
        xu, zu, gu = scratch[0], scratch[1], scratch[2]
        base = epoch_base(seed, epoch)
        sse = 0.0
        for u in order:
            start = indptr[u]
            end = indptr[u + 1]
            shuffle_user(items, rows, start, end, base, u)
            sse += _user_pass(u, items, rows, start, end, values, devs, bins, slots,
                              seen_items, seen_indptr[u], seen_indptr[u + 1], mu, bu, alpha,
                              but, bi, bib, P, Q, Y, xu, zu, gu, lr, reg, reg_y, lr_b, reg_b,
                              K)
        return sse

    return run_users


@njit(cache=True, nogil=True, fastmath=True)
def predict_pairs(users, items, devs, bins, slots, mu, bu, alpha, but, bi, bib, X, Q):
    """Raw predictions (float64) for index pairs at their time features, ``X = P + Z`` the
    users' effective vectors. ``-1`` marks an unknown user or item, which drops its terms:
    the time-aware baseline's fallbacks (unknown user: ``mu + b_i + b_{i,Bin(t)}``; unknown
    item: ``mu + b_u + alpha_u dev + b_{u,t}``; both: ``mu``), and no factor term."""
    out = bias_pairs(users, items, devs, bins, slots, mu, bu, alpha, but, bi, bib)
    k = X.shape[1]
    for idx in range(users.shape[0]):
        u = users[idx]
        i = items[idx]
        if u >= 0 and i >= 0:
            dot = 0.0
            for f in range(k):
                dot += np.float64(X[u, f]) * np.float64(Q[i, f])
            out[idx] += dot
    return out


@njit(cache=True, nogil=True, fastmath=True)
def squared_error_clipped(users, items, ratings, devs, bins, slots, mu, bu, alpha, but, bi,
                          bib, X, Q, low, high):
    """Sum of squared errors of the clipped :func:`predict_pairs` predictions (float64)."""
    pred = predict_pairs(users, items, devs, bins, slots, mu, bu, alpha, but, bi, bib, X, Q)
    sse = 0.0
    for idx in range(users.shape[0]):
        e = np.float64(ratings[idx]) - min(max(pred[idx], low), high)
        sse += e * e
    return sse
