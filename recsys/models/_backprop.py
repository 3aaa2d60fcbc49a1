"""Numba kernels of the tanh network: forward pass, backpropagation and SGD epochs.

Notation (the lecture's, "Learning From Data"): layers ``l = 0..L`` with ``d^(l)`` units;
``x^(0)`` is the input. Every layer's output vector carries a bias input ``x_0^(l) = 1``.
Weights ``w_ij^(l)`` run from node ``i`` of layer ``l-1`` (``i = 0`` is the bias) to node ``j``
of layer ``l``.

* forward:  ``s_j^(l) = sum_i w_ij^(l) x_i^(l-1)``,  ``x_j^(l) = theta(s_j^(l))`` with
  ``theta = tanh`` for hidden layers and ``tanh`` or the identity for the output layer;
* error on one example: ``e = sum_j (x_j^(L) - y_j)^2``;
* backward: ``delta_j^(l) = de/ds_j^(l)``;
  output ``delta^(L) = 2 (x^(L) - y) (1 - (x^(L))^2)`` (tanh) or ``2 (x^(L) - y)`` (linear);
  ``delta_i^(l-1) = (1 - (x_i^(l-1))^2) sum_j w_ij^(l) delta_j^(l)``;
* gradient: ``de/dw_ij^(l) = x_i^(l-1) delta_j^(l)``;
* update with weight decay ``lambda`` (not on bias weights, ``i = 0``):
  ``w_ij^(l) <- w_ij^(l) - eta (de/dw_ij^(l) + 2 lambda w_ij^(l))``.

Storage: all weights live in one flat array ``w``; ``weights[l]`` of the lecture (shape
``(d^(l-1) + 1, d^(l))``, row-major) starts at ``w_off[l - 1]``, so
``w_ij^(l) = w[w_off[l-1] + i * d^(l) + j]``. The Python class hands out reshaped *views* of the
same buffer, so both sides see one set of numbers. Per-layer outputs (with their bias entry),
signals and deltas live in flat buffers with offsets in the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "layout",
    "forward",
    "backward",
    "example_gradient",
    "batch_gradient",
    "sgd_epoch",
    "minibatch_epoch",
]


def layout(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets of the flat weight, output and delta buffers for layer sizes ``d^(0..L)``.

    Returns
    -------
    w_off : int64 array of length L + 1; ``weights[l]`` is ``w[w_off[l-1]:w_off[l]]``
    x_off : int64 array of length L + 2; ``x^(l)`` (bias first) is ``x[x_off[l]:x_off[l+1]]``
    d_off : int64 array of length L + 1; ``delta^(l)`` and ``s^(l)`` are ``[d_off[l-1]:d_off[l]]``
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n_layers = len(sizes) - 1
    w_off = np.zeros(n_layers + 1, dtype=np.int64)
    d_off = np.zeros(n_layers + 1, dtype=np.int64)
    for l in range(1, n_layers + 1):
        w_off[l] = w_off[l - 1] + (sizes[l - 1] + 1) * sizes[l]
        d_off[l] = d_off[l - 1] + sizes[l]
    x_off = np.zeros(n_layers + 2, dtype=np.int64)
    for l in range(n_layers + 1):
        x_off[l + 1] = x_off[l] + sizes[l] + 1
    return w_off, x_off, d_off


@njit(cache=True, nogil=True)
def forward(w, w_off, x_off, d_off, sizes, linear_out, x_in, x, s):  # pragma: no cover - numba
    """Forward pass for one example: fill outputs ``x`` (bias entries = 1) and signals ``s``.

    ``s_j^(l) = sum_i w_ij^(l) x_i^(l-1)``; ``x_j^(l) = tanh(s_j^(l))`` (the output layer is
    the identity when ``linear_out``).
    """
    n_layers = sizes.shape[0] - 1
    x[0] = 1.0
    for k in range(sizes[0]):
        x[1 + k] = x_in[k]
    for l in range(1, n_layers + 1):
        d_prev = sizes[l - 1]
        d_l = sizes[l]
        wo = w_off[l - 1]
        xp = x_off[l - 1]
        xo = x_off[l]
        so = d_off[l - 1]
        for j in range(d_l):
            s[so + j] = 0.0
        for i in range(d_prev + 1):
            xi = x[xp + i]
            if xi != 0.0:
                row = wo + i * d_l
                for j in range(d_l):
                    s[so + j] += w[row + j] * xi
        x[xo] = 1.0
        if l == n_layers and linear_out:
            for j in range(d_l):
                x[xo + 1 + j] = s[so + j]
        else:
            for j in range(d_l):
                x[xo + 1 + j] = np.tanh(s[so + j])


@njit(cache=True, nogil=True)
def backward(w, w_off, x_off, d_off, sizes, linear_out, y, x, delta):  # pragma: no cover
    """Backward pass for one example after :func:`forward`: fill ``delta`` and return ``e``.

    ``delta^(L) = 2 (x^(L) - y) (1 - (x^(L))^2)`` (tanh output) or ``2 (x^(L) - y)`` (linear);
    ``delta_i^(l-1) = (1 - (x_i^(l-1))^2) sum_j w_ij^(l) delta_j^(l)``.
    """
    n_layers = sizes.shape[0] - 1
    d_out = sizes[n_layers]
    xo = x_off[n_layers]
    do = d_off[n_layers - 1]
    err = 0.0
    for j in range(d_out):
        xj = x[xo + 1 + j]
        diff = xj - y[j]
        err += diff * diff
        if linear_out:
            delta[do + j] = 2.0 * diff
        else:
            delta[do + j] = 2.0 * diff * (1.0 - xj * xj)
    for l in range(n_layers, 1, -1):
        d_prev = sizes[l - 1]
        d_l = sizes[l]
        wo = w_off[l - 1]
        xp = x_off[l - 1]
        dl = d_off[l - 1]
        dp = d_off[l - 2]
        for i in range(1, d_prev + 1):  # the bias node x_0 has no delta
            row = wo + i * d_l
            total = 0.0
            for j in range(d_l):
                total += w[row + j] * delta[dl + j]
            xi = x[xp + i]
            delta[dp + i - 1] = (1.0 - xi * xi) * total
    return err


@njit(cache=True, nogil=True)
def _accumulate(w_off, x_off, d_off, sizes, x, delta, scale, grad):  # pragma: no cover
    """``grad_ij^(l) += scale * x_i^(l-1) delta_j^(l)``."""
    n_layers = sizes.shape[0] - 1
    for l in range(1, n_layers + 1):
        d_prev = sizes[l - 1]
        d_l = sizes[l]
        wo = w_off[l - 1]
        xp = x_off[l - 1]
        dl = d_off[l - 1]
        for i in range(d_prev + 1):
            xi = scale * x[xp + i]
            if xi != 0.0:
                row = wo + i * d_l
                for j in range(d_l):
                    grad[row + j] += xi * delta[dl + j]


@njit(cache=True, nogil=True)
def example_gradient(w, w_off, x_off, d_off, sizes, linear_out, x_in, y, grad):  # pragma: no cover
    """Gradient ``de/dw`` of one example's error into ``grad`` (overwritten); returns ``e``."""
    x = np.empty(x_off[-1], dtype=w.dtype)
    s = np.empty(d_off[-1], dtype=w.dtype)
    delta = np.empty(d_off[-1], dtype=w.dtype)
    forward(w, w_off, x_off, d_off, sizes, linear_out, x_in, x, s)
    err = backward(w, w_off, x_off, d_off, sizes, linear_out, y, x, delta)
    grad[:] = 0.0
    _accumulate(w_off, x_off, d_off, sizes, x, delta, 1.0, grad)
    return err


@njit(cache=True, nogil=True)
def _decay_step(w, w_off, sizes, grad, lr, decay):  # pragma: no cover
    """``w <- w - lr (grad + 2 decay w)``, with no decay on the bias row ``i = 0``."""
    n_layers = sizes.shape[0] - 1
    for l in range(1, n_layers + 1):
        d_l = sizes[l]
        wo = w_off[l - 1]
        for j in range(d_l):
            w[wo + j] -= lr * grad[wo + j]
        for k in range(wo + d_l, w_off[l]):
            w[k] -= lr * (grad[k] + 2.0 * decay * w[k])


@njit(cache=True, nogil=True)
def sgd_epoch(
    w, w_off, x_off, d_off, sizes, linear_out, X, Y, order, lr, decay
):  # pragma: no cover - numba
    """One epoch of the lecture's SGD: one example at a time, in the order ``order``.

    For each ``n``: forward pass, backward pass, then for every weight
    ``w_ij^(l) <- w_ij^(l) - lr (x_i^(l-1) delta_j^(l) + 2 decay w_ij^(l))``.
    The update is fused into one sweep per layer (gradient never stored). Returns the summed
    squared error seen during the epoch (before each example's update).
    """
    n_layers = sizes.shape[0] - 1
    x = np.empty(x_off[-1], dtype=w.dtype)
    s = np.empty(d_off[-1], dtype=w.dtype)
    delta = np.empty(d_off[-1], dtype=w.dtype)
    shrink = 1.0 - 2.0 * lr * decay
    total = 0.0
    for n in order:
        forward(w, w_off, x_off, d_off, sizes, linear_out, X[n], x, s)
        total += backward(w, w_off, x_off, d_off, sizes, linear_out, Y[n], x, delta)
        for l in range(1, n_layers + 1):
            d_prev = sizes[l - 1]
            d_l = sizes[l]
            wo = w_off[l - 1]
            xp = x_off[l - 1]
            dl = d_off[l - 1]
            for j in range(d_l):  # bias row i = 0: no decay
                w[wo + j] -= lr * delta[dl + j]
            for i in range(1, d_prev + 1):
                a = lr * x[xp + i]
                row = wo + i * d_l
                if decay != 0.0:
                    for j in range(d_l):
                        w[row + j] = shrink * w[row + j] - a * delta[dl + j]
                elif a != 0.0:
                    for j in range(d_l):
                        w[row + j] -= a * delta[dl + j]
    return total


@njit(cache=True, nogil=True)
def batch_gradient(w, w_off, sizes, linear_out, X, Y, grad):  # pragma: no cover
    """Gradient of the *mean* error over the rows of ``X`` into ``grad``, in matrix form.

    With ``X^(0) = [1, X]``: ``S^(l) = X^(l-1) W^(l)``; ``X^(l) = [1, tanh(S^(l))]``;
    ``Delta^(L) = 2 (X^(L) - Y) * (1 - X^(L)^2) / B``;
    ``Delta^(l-1) = (1 - X^(l-1)^2) * (Delta^(l) W^(l)[1:]^T)``;
    ``dE/dW^(l) = X^(l-1)^T Delta^(l)``. Returns the summed squared error.
    """
    n_layers = sizes.shape[0] - 1
    batch = X.shape[0]
    dt = w.dtype
    outs = []
    cur = np.empty((batch, sizes[0] + 1), dtype=dt)
    cur[:, 0] = 1.0
    cur[:, 1:] = X
    outs.append(cur)
    for l in range(1, n_layers + 1):
        W = w[w_off[l - 1] : w_off[l]].reshape((sizes[l - 1] + 1, sizes[l]))
        sig = np.dot(cur, W)
        nxt = np.empty((batch, sizes[l] + 1), dtype=dt)
        nxt[:, 0] = 1.0
        if l == n_layers and linear_out:
            nxt[:, 1:] = sig
        else:
            nxt[:, 1:] = np.tanh(sig)
        outs.append(nxt)
        cur = nxt
    out = cur[:, 1:]
    diff = out - Y
    err = np.sum(diff * diff)
    if linear_out:
        delta = ((2.0 / batch) * diff).astype(dt)
    else:
        delta = ((2.0 / batch) * diff * (1.0 - out * out)).astype(dt)
    for l in range(n_layers, 0, -1):
        W = w[w_off[l - 1] : w_off[l]].reshape((sizes[l - 1] + 1, sizes[l]))
        G = grad[w_off[l - 1] : w_off[l]].reshape((sizes[l - 1] + 1, sizes[l]))
        G[:, :] = np.dot(outs[l - 1].T.copy(), delta)
        if l > 1:
            prev = outs[l - 1][:, 1:]
            back = np.dot(delta, W[1:, :].T.copy())
            delta = ((1.0 - prev * prev) * back).astype(dt)
    return err


@njit(cache=True, nogil=True)
def minibatch_epoch(
    w, w_off, sizes, linear_out, X, Y, order, batch_size, lr, decay
):  # pragma: no cover
    """One epoch of mini-batch SGD: ``w <- w - lr (dE_B/dw + 2 decay w)`` per batch ``B`` of
    ``order`` (``E_B`` the mean error on the batch). Returns the summed squared error."""
    n = order.shape[0]
    grad = np.empty_like(w)
    total = 0.0
    for start in range(0, n, batch_size):
        rows = order[start : start + batch_size]
        total += batch_gradient(w, w_off, sizes, linear_out, X[rows], Y[rows], grad)
        _decay_step(w, w_off, sizes, grad, lr, decay)
    return total
