r"""Numba kernels of Bayesian personalised ranking (BPR, Rendle et al. 2009) by per-triple SGD.

The model scores how likely user ``u`` is to rate item ``i`` (not how they would rate it):

.. math:: x_{ui} = b_i + p_u \cdot q_i .

A training triple is ``(u, i, j)``: ``i`` an item ``u`` rated, ``j`` an item ``u`` did not rate
(drawn uniformly from the items with training ratings). With
:math:`x_{uij} = x_{ui} - x_{uj}` each step *ascends*

.. math::
    \ell_{uij} = \ln \sigma(x_{uij})
      - \tfrac{\lambda}{2}(\lVert p_u\rVert^2 + \lVert q_i\rVert^2 + \lVert q_j\rVert^2)
      - \tfrac{\lambda_b}{2}(b_i^2 + b_j^2),

whose gradient, with :math:`g = 1 - \sigma(x_{uij}) = \sigma(-x_{uij})`, gives the update
(all from the old values):

.. math::
    p_u \mathrel{+}= \eta\,(g\,(q_i - q_j) - \lambda p_u), \quad
    q_i \mathrel{+}= \eta\,(g\,p_u - \lambda q_i), \quad
    q_j \mathrel{+}= \eta\,(-g\,p_u - \lambda q_j),

    b_i \mathrel{+}= \eta\,(g - \lambda_b b_i), \quad
    b_j \mathrel{+}= \eta\,(-g - \lambda_b b_j).

An epoch draws one triple per training rating: the positives ``(u, i)`` in a fresh random
order (the caller passes the permutation), a negative ``j`` for each by rejection against
``u``'s sorted rated items. Arrays are contiguous ``float32`` (parameters) and ``int32`` /
``int64`` (indices).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["log_sigmoid", "triple_step", "bpr_epoch", "bpr_objective"]


@njit(cache=True, nogil=True)
def log_sigmoid(x):
    """``ln sigma(x)``, stable for large ``|x|``."""
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit(cache=True, nogil=True)
def triple_step(P, Q, b, u, i, j, lr, reg, reg_bias):
    """One ascent step on ``ln sigma(x_ui - x_uj)`` less the penalties (module docstring).

    Updates ``P[u]``, ``Q[i]``, ``Q[j]``, ``b[i]``, ``b[j]`` in place; returns
    ``ln sigma(x_uij)`` before the step."""
    k = P.shape[1]
    x = b[i] - b[j]
    for f in range(k):
        x += P[u, f] * (Q[i, f] - Q[j, f])
    g = 1.0 / (1.0 + math.exp(x)) if x > -30.0 else 1.0  # sigma(-x)
    for f in range(k):
        pu, qi, qj = P[u, f], Q[i, f], Q[j, f]
        P[u, f] = pu + lr * (g * (qi - qj) - reg * pu)
        Q[i, f] = qi + lr * (g * pu - reg * qi)
        Q[j, f] = qj + lr * (-g * pu - reg * qj)
    b[i] += lr * (g - reg_bias * b[i])
    b[j] += lr * (-g - reg_bias * b[j])
    return log_sigmoid(x)


@njit(cache=True, nogil=True)
def _is_seen(indptr, seen, u, j):
    """Whether item ``j`` is in user ``u``'s sorted row of ``seen``."""
    lo, hi = indptr[u], indptr[u + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if seen[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo < indptr[u + 1] and seen[lo] == j


@njit(cache=True, nogil=True)
def bpr_epoch(users, items, order, indptr, seen, candidates, P, Q, b, lr, reg, reg_bias,
              seed):
    """One epoch: a triple for each positive ``(users[t], items[t])``, ``t`` in ``order``.

    ``indptr`` / ``seen`` hold each user's rated items (sorted); negatives are drawn uniformly
    from ``candidates`` (items with training ratings) until one is unrated (at most 64 draws;
    a user who rated every candidate is skipped). Returns ``(sum of ln sigma(x_uij), triples
    learned)``."""
    np.random.seed(seed)
    n_cand = candidates.shape[0]
    total = 0.0
    done = 0
    for t in range(order.shape[0]):
        pos = order[t]
        u, i = users[pos], items[pos]
        j = -1
        for _ in range(64):
            c = candidates[np.random.randint(0, n_cand)]
            if not _is_seen(indptr, seen, u, c):
                j = c
                break
        if j < 0:
            continue
        total += triple_step(P, Q, b, u, i, j, lr, reg, reg_bias)
        done += 1
    return total, done


def bpr_objective(P: np.ndarray, Q: np.ndarray, b: np.ndarray, u: int, i: int, j: int,
                  reg: float, reg_bias: float) -> float:
    """The per-triple objective ``l_uij`` the step ascends (float64; for gradient checks)."""
    P, Q, b = (np.asarray(a, dtype=np.float64) for a in (P, Q, b))
    x = b[i] - b[j] + P[u] @ (Q[i] - Q[j])
    return float(-np.logaddexp(0.0, -x) - reg / 2 * (P[u] @ P[u] + Q[i] @ Q[i] + Q[j] @ Q[j])
                 - reg_bias / 2 * (b[i] ** 2 + b[j] ** 2))
