r"""Numba kernels of timeSVD++'s time-aware biases (Koren, KDD 2009), learned per rating.

The bias part of a rating's prediction at day ``t`` (features from
:class:`recsys.models._time.TimeFeatures`: ``dev = dev_u(t)``, ``bin = Bin(t)``, and
``slot``, the index of the per-day bias ``b_{u,t}`` or ``-1`` for none):

.. math::
    b_{ui}(t) = b_u + \alpha_u\, \mathrm{dev}_u(t) + b_{u,t} + b_i + b_{i,\mathrm{Bin}(t)}

and the per-rating loss, with one L2 weight per kind of parameter,

.. math::
    L = \tfrac12 e^2 + \tfrac12\bigl(\lambda_1 b_u^2 + \lambda_2 \alpha_u^2
        + \lambda_3 b_{u,t}^2 + \lambda_4 b_i^2 + \lambda_5 b_{i,\mathrm{Bin}(t)}^2\bigr),
    \qquad e = r - \hat r.

One SGD step moves each parameter against its gradient of ``L`` (``e`` from before the
step; every gradient involves only ``e`` and the parameter itself, so the updates are
simultaneous), with step sizes ``eta_1 .. eta_5``:

.. math::
    b_u \mathrel{+}= \eta_1 (e - \lambda_1 b_u), \quad
    \alpha_u \mathrel{+}= \eta_2 (e\, \mathrm{dev}_u(t) - \lambda_2 \alpha_u), \quad
    b_{u,t} \mathrel{+}= \eta_3 (e - \lambda_3 b_{u,t}),

    b_i \mathrel{+}= \eta_4 (e - \lambda_4 b_i), \quad
    b_{i,\mathrm{Bin}(t)} \mathrel{+}= \eta_5 (e - \lambda_5 b_{i,\mathrm{Bin}(t)}).

``lr`` and ``reg`` are float64 arrays of the five values in this order (user, drift, day,
item, bin). A model that adds more terms to the prediction (timeSVD++: ``q_i . (p_u(t) +
|N(u)|^{-1/2} sum y_j)``) adds them to :func:`bias_value` to form ``e`` and then calls
:func:`bias_update` with that ``e`` for the bias part of its step (or :func:`bias_terms` /
:func:`bias_step`, which take the user's two terms as values). Parameters are float64;
ratings come in model units (float32).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "N_TERMS",
    "bias_terms",
    "bias_step",
    "bias_value",
    "bias_update",
    "sgd_epoch",
    "sgd_step",
    "predict_pairs",
    "squared_error_clipped",
]

N_TERMS = 5
"""Learning rates and L2 weights come in this many values: user, drift, day, item, bin."""


@njit(cache=True, nogil=True, inline="always")
def bias_terms(b_u, a_u, i, dev, bin_, slot, but, bi, bib):
    """``b_u + a_u dev + b_{u,t} + b_i + b_{i,bin}`` for item ``i`` with the user's ``b_u``
    and ``alpha_u`` given as values (``b_{u,t}`` only when ``slot >= 0``): a kernel that
    visits one user's ratings in a row keeps those two in registers."""
    value = b_u + a_u * dev + bi[i] + bib[i, bin_]
    if slot >= 0:
        value += but[slot]
    return value


@njit(cache=True, nogil=True, inline="always")
def bias_step(e, b_u, a_u, i, dev, bin_, slot, but, bi, bib, lr, reg):
    """One SGD step of the bias parameters (the update rules of the module docstring) for
    error ``e``: ``b_{u,t}``, ``b_i`` and ``b_{i,bin}`` in place, the user's ``b_u`` and
    ``alpha_u`` (given as values) returned stepped, as ``(b_u, alpha_u)``."""
    # every rate read before any store: a store to a parameter array could alias ``lr`` /
    # ``reg`` for all the compiler knows, and would force them to be read again
    l_day, l_item, l_bin = lr[2], lr[3], lr[4]
    r_day, r_item, r_bin = reg[2], reg[3], reg[4]
    b_new = b_u + lr[0] * (e - reg[0] * b_u)
    a_new = a_u + lr[1] * (e * dev - reg[1] * a_u)
    if slot >= 0:
        but[slot] += l_day * (e - r_day * but[slot])
    bi[i] += l_item * (e - r_item * bi[i])
    bib[i, bin_] += l_bin * (e - r_bin * bib[i, bin_])
    return b_new, a_new


@njit(cache=True, nogil=True, inline="always")
def bias_value(u, i, dev, bin_, slot, bu, alpha, but, bi, bib):
    """``b_u + alpha_u dev + b_{u,t} + b_i + b_{i,bin}`` for a known user ``u`` and item ``i``
    (``b_{u,t}`` only when ``slot >= 0``)."""
    return bias_terms(bu[u], alpha[u], i, dev, bin_, slot, but, bi, bib)


@njit(cache=True, nogil=True, inline="always")
def bias_update(e, u, i, dev, bin_, slot, bu, alpha, but, bi, bib, lr, reg):
    """One SGD step of the bias parameters of rating ``(u, i, t)`` for error ``e`` (the update
    rules of the module docstring)."""
    bu[u], alpha[u] = bias_step(e, bu[u], alpha[u], i, dev, bin_, slot, but, bi, bib, lr, reg)


@njit(cache=True, nogil=True)
def sgd_epoch(order, users, items, ratings, devs, bins, slots, mu, bu, alpha, but, bi, bib,
              lr, reg):
    """One SGD step per rating, in the order of the positions ``order`` (int64). Returns the
    sum of squared errors met before each step (float64). Releases the GIL."""
    sse = 0.0
    for k in order:
        u = users[k]
        i = items[k]
        e = np.float64(ratings[k]) - (mu + bias_value(u, i, devs[k], bins[k], slots[k], bu,
                                                       alpha, but, bi, bib))
        bias_update(e, u, i, devs[k], bins[k], slots[k], bu, alpha, but, bi, bib, lr, reg)
        sse += e * e
    return sse


@njit(cache=True, nogil=True)
def sgd_step(u, i, r, dev, bin_, slot, mu, bu, alpha, but, bi, bib, lr, reg):
    """A single SGD step on rating ``r`` of user ``u`` for item ``i`` at features
    ``(dev, bin_, slot)``; returns the error before the step (the reference the tests check
    against finite differences)."""
    e = r - (mu + bias_value(u, i, dev, bin_, slot, bu, alpha, but, bi, bib))
    bias_update(e, u, i, dev, bin_, slot, bu, alpha, but, bi, bib, lr, reg)
    return e


@njit(cache=True, nogil=True)
def _predict_one(u, i, dev, bin_, slot, mu, bu, alpha, but, bi, bib):
    """One prediction; an unknown user (``-1``) drops the user terms, an unknown item the
    item terms."""
    value = mu
    if u >= 0:
        value += bu[u] + alpha[u] * dev
        if slot >= 0:
            value += but[slot]
    if i >= 0:
        value += bi[i] + bib[i, bin_]
    return value


@njit(cache=True, nogil=True)
def predict_pairs(users, items, devs, bins, slots, mu, bu, alpha, but, bi, bib):
    """Raw predictions (float64, model units) for index pairs and their time features;
    ``-1`` marks an unknown user or item, which contributes no terms (both unknown:
    ``mu``)."""
    n = users.shape[0]
    out = np.empty(n, dtype=np.float64)
    for k in range(n):
        out[k] = _predict_one(users[k], items[k], devs[k], bins[k], slots[k], mu, bu, alpha,
                              but, bi, bib)
    return out


@njit(cache=True, nogil=True)
def squared_error_clipped(users, items, ratings, devs, bins, slots, mu, bu, alpha, but, bi,
                          bib, low, high):
    """Sum of squared errors of the predictions clipped to ``[low, high]`` (float64)."""
    sse = 0.0
    for k in range(users.shape[0]):
        pred = _predict_one(users[k], items[k], devs[k], bins[k], slots[k], mu, bu, alpha,
                            but, bi, bib)
        pred = min(max(pred, low), high)
        e = np.float64(ratings[k]) - pred
        sse += e * e
    return sse
