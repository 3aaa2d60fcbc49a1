r"""Numba kernels of Koren's global neighbourhood model (:mod:`recsys.models.knnglobal`).

The model (Koren 2008, "Factorization meets the neighborhood", section 3, eq. 10, with the
k-nearest restriction of section 3.2):

.. math::
    \hat r_{ui} = \mu + b_u + b_i
        + |R^k(i;u)|^{-1/2} \sum_{j \in R^k(i;u)} (r_{uj} - \tilde b_{uj})\, w_{ij}
        + |N^k(i;u)|^{-1/2} \sum_{j \in N^k(i;u)} c_{ij}

``S^k(i)`` is item ``i``'s neighbour list (its ``k`` most similar items, stored as CSR rows
``nb_indptr`` / ``nb_items``, with ``w_ij`` and ``c_ij`` aligned with ``nb_items``);
``R^k(i;u) = R(u) \cap S^k(i)`` the listed items that ``u`` rated, and, with explicit ratings
only, ``N^k(i;u) = R^k(i;u)``. ``e_uj = r_uj - \tilde b_{uj}`` are the residuals of the
*fixed* baseline, given per seen rating. With :math:`n = |R^k(i;u)|` and
:math:`e = r_{ui} - \hat r_{ui}`, the loss of one rating is

.. math::
    L_{ui} = \tfrac12 e^2 + \tfrac{\lambda_b}{2}(b_u^2 + b_i^2)
             + \tfrac{\lambda}{2} \sum_{j \in R^k(i;u)} (w_{ij}^2 + c_{ij}^2)

and its SGD step (all from the old values; the paper's rules with :math:`\gamma` = ``lr``,
:math:`\lambda_4` = ``reg``)

.. math::
    b_u \mathrel{+}= \gamma_b (e - \lambda_b b_u), \quad
    b_i \mathrel{+}= \gamma_b (e - \lambda_b b_i),

    w_{ij} \mathrel{+}= \gamma (n^{-1/2} e\, e_{uj} - \lambda w_{ij}), \quad
    c_{ij} \mathrel{+}= \gamma (n^{-1/2} e - \lambda c_{ij})
    \qquad (j \in R^k(i;u)).

An epoch visits the users in a given order; per user the residual vector is scattered once
into a dense per-item array (the user-grouped trick: looking a neighbour up is then one read,
and nothing is reset between users: a per-item stamp says whose residual it holds), then the
user's ratings are shuffled in place (counter-based draws seeded by ``(seed, epoch, user)``,
as :mod:`recsys.models._svdpp_sgd`) and stepped one by one. A rating costs two passes over
``S^k(i)``: ``O(k)``.

Everything is float32 (indices int32 / int64); scalars must come as float32.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from recsys.models import _knn_kernels as knn_kernels
from recsys.models._svdpp_sgd import epoch_base, shuffle_user

__all__ = ["Setup", "setup", "epoch", "predict_pairs", "score_users"]


class Setup(NamedTuple):
    """What the SGD needs from the training ratings (see :func:`setup`)."""

    user_bias: np.ndarray
    item_bias: np.ndarray
    nb_indptr: np.ndarray
    nb_items: np.ndarray
    seen: tuple[np.ndarray, np.ndarray, np.ndarray]
    ratings: tuple[np.ndarray, np.ndarray, np.ndarray]


def setup(users: np.ndarray, items: np.ndarray, z: np.ndarray, mu: float, n_users: int,
          n_items: int, reg_user: float, reg_item: float, bias_epochs: int, shrinkage: float,
          min_support: int, k: int, n_threads: int) -> Setup:
    """The fixed baseline :math:`\tilde b_u, \tilde b_i` (float32; closed-form ridge sweeps,
    :func:`recsys.models._knn_kernels.fit_biases`), the neighbour lists ``S^k(i)`` (the ``k``
    most similar items by shrunk Pearson-baseline correlation of the residuals,
    :func:`~recsys.models._knn_kernels.item_neighbours`), each user's seen items with their
    residuals ``(indptr, items, e_uj)``, and the ratings grouped by user
    ``(indptr, items, z_ui)`` for :func:`epoch` (a separate copy: it is shuffled)."""
    tb_u, tb_i = knn_kernels.fit_biases(users, items, z, mu, n_users, n_items, reg_user,
                                        reg_item, bias_epochs)
    tb_u, tb_i = tb_u.astype(np.float32), tb_i.astype(np.float32)
    res = z.astype(np.float64) - mu - tb_u[users] - tb_i[items]
    by_user = knn_kernels.group_by(users, items, res, n_users)
    by_item = knn_kernels.group_by(items, users, res, n_items)
    nb_indptr, nb_items, _ = knn_kernels.item_neighbours(
        *by_user, *by_item, shrinkage, min_support, k, n_threads)
    return Setup(tb_u, tb_i, nb_indptr, nb_items, by_user,
                 knn_kernels.group_by(users, items, z.astype(np.float64), n_users))


@njit(cache=True, nogil=True, inline="always")
def _scatter(u, seen_indptr, seen_items, residuals, stamp, dense):
    """Mark user ``u``'s seen items (``stamp[j] = u + 1``) and their residuals in ``dense``."""
    for q in range(seen_indptr[u], seen_indptr[u + 1]):
        j = seen_items[q]
        stamp[j] = u + 1
        dense[j] = residuals[q]


@njit(cache=True, nogil=True, inline="always")
def _term(u, i, nb_indptr, nb_items, W, C, stamp, dense):
    """``n^{-1/2} sum_j (e_uj w_ij + c_ij)`` over ``R^k(i;u)`` (0 when empty), float64."""
    total = 0.0
    n = 0
    for p in range(nb_indptr[i], nb_indptr[i + 1]):
        j = nb_items[p]
        if stamp[j] == u + 1:
            total += np.float64(dense[j]) * W[p] + C[p]
            n += 1
    return total / np.sqrt(n) if n > 0 else 0.0


@njit(cache=True, nogil=True)
def epoch(order, indptr, items, values, seen_indptr, seen_items, residuals, mu, bu, bi,
          nb_indptr, nb_items, W, C, lr, lr_b, reg, reg_b, seed, epoch_index):
    """One epoch of the per-rating SGD (module docstring) over the users in ``order``.

    ``indptr`` / ``items`` / ``values``: the ratings to step, grouped by user (each user's
    part is shuffled in place); ``seen_*`` / ``residuals``: each user's ``R(u)`` with the
    baseline residuals ``e_uj``. ``bu``, ``bi``, ``W``, ``C`` are updated in place. Returns
    the sum of the squared errors met, each before its step."""
    n_items = bi.shape[0]
    stamp = np.zeros(n_items, dtype=np.int64)
    dense = np.zeros(n_items, dtype=np.float32)
    found = np.empty(max(nb_indptr.shape[0], 1), dtype=np.int64)
    one = np.float32(1.0)
    shrink = one - lr * reg
    base = epoch_base(seed, epoch_index)
    sse = 0.0
    for t in range(order.shape[0]):
        u = order[t]
        start, end = indptr[u], indptr[u + 1]
        if start == end:
            continue
        _scatter(u, seen_indptr, seen_items, residuals, stamp, dense)
        shuffle_user(items, values, start, end, base, u)
        for r in range(start, end):
            i = items[r]
            total = np.float32(0.0)
            n = 0
            for p in range(nb_indptr[i], nb_indptr[i + 1]):
                j = nb_items[p]
                if stamp[j] == u + 1:
                    total += dense[j] * W[p] + C[p]
                    found[n] = p
                    n += 1
            norm = one / np.sqrt(np.float32(n)) if n > 0 else np.float32(0.0)
            e = values[r] - (mu + bu[u] + bi[i] + norm * total)
            sse += np.float64(e) * e
            old_bu = bu[u]
            bu[u] = old_bu + lr_b * (e - reg_b * old_bu)
            bi[i] = bi[i] + lr_b * (e - reg_b * bi[i])
            if n > 0:
                g = lr * norm * e
                for m in range(n):
                    p = found[m]
                    W[p] = shrink * W[p] + g * dense[nb_items[p]]
                    C[p] = shrink * C[p] + g
    return sse


@njit(cache=True, nogil=True)
def _predict(u, i, order, mu, bu, bi, nb_indptr, nb_items, W, C, seen_indptr, seen_items,
             residuals, out):
    stamp = np.zeros(bi.shape[0], dtype=np.int64)
    dense = np.zeros(bi.shape[0], dtype=np.float32)
    current = -1
    for t in range(order.shape[0]):
        pos = order[t]
        uu, ii = u[pos], i[pos]
        if uu != current and uu >= 0:
            _scatter(uu, seen_indptr, seen_items, residuals, stamp, dense)
        current = uu
        value = mu
        if uu >= 0:
            value += bu[uu]
        if ii >= 0:
            value += bi[ii]
            if uu >= 0:
                value += _term(uu, ii, nb_indptr, nb_items, W, C, stamp, dense)
        out[pos] = value


def predict_pairs(u: np.ndarray, i: np.ndarray, mu: float, bu: np.ndarray, bi: np.ndarray,
                  nb_indptr: np.ndarray, nb_items: np.ndarray, W: np.ndarray, C: np.ndarray,
                  seen_indptr: np.ndarray, seen_items: np.ndarray,
                  residuals: np.ndarray) -> np.ndarray:
    """Predictions (model units, unclipped, float64) for index pairs (``int64``; ``-1``: an
    unknown user or item, whose bias and neighbourhood are left out). The pairs are visited
    grouped by user (a stable sort), so each user's residuals are scattered once."""
    order = np.argsort(u, kind="stable")
    out = np.empty(u.shape[0])
    _predict(u, i, order, float(mu), bu, bi, nb_indptr, nb_items, W, C, seen_indptr,
             seen_items, residuals, out)
    return out


@njit(cache=True, nogil=True)
def _score(u, mu, bu, bi, nb_indptr, nb_items, W, C, seen_indptr, seen_items, residuals, out):
    n_items = bi.shape[0]
    stamp = np.zeros(n_items, dtype=np.int64)
    dense = np.zeros(n_items, dtype=np.float32)
    for row in range(u.shape[0]):
        uu = u[row]
        if uu < 0:
            for ii in range(n_items):
                out[row, ii] = mu + bi[ii]
            continue
        _scatter(uu, seen_indptr, seen_items, residuals, stamp, dense)
        base = mu + bu[uu]
        for ii in range(n_items):
            out[row, ii] = base + bi[ii] + _term(uu, ii, nb_indptr, nb_items, W, C, stamp,
                                                 dense)


def score_users(u: np.ndarray, mu: float, bu: np.ndarray, bi: np.ndarray,
                nb_indptr: np.ndarray, nb_items: np.ndarray, W: np.ndarray, C: np.ndarray,
                seen_indptr: np.ndarray, seen_items: np.ndarray,
                residuals: np.ndarray) -> np.ndarray:
    """Predictions of every item for each user index in ``u`` (``int64``; ``-1``:
    ``mu + b_i``), shape ``(len(u), n_items)``, as :func:`predict_pairs`."""
    out = np.empty((u.shape[0], bi.shape[0]))
    _score(u, float(mu), bu, bi, nb_indptr, nb_items, W, C, seen_indptr, seen_items,
           residuals, out)
    return out
