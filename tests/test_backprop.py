"""Backpropagation against finite differences, per example and in matrix (batch) form."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.models import _backprop as bp

SHAPES = [(3, 1), (4, 5, 1), (6, 7, 3, 2), (2, 8, 8, 1), (5, 4, 3)]


def _net(sizes, seed):
    rng = np.random.default_rng(seed)
    sizes = np.array(sizes, dtype=np.int64)
    w_off, x_off, d_off = bp.layout(sizes)
    w = rng.normal(0.0, 0.7, size=w_off[-1])
    return rng, sizes, w, w_off, x_off, d_off


def _error(w, sizes, w_off, x_off, d_off, linear, x_in, y):
    x = np.empty(x_off[-1])
    s = np.empty(d_off[-1])
    bp.forward(w, w_off, x_off, d_off, sizes, linear, x_in, x, s)
    out = x[x_off[-2] + 1 : x_off[-1]]
    return float(np.sum((out - y) ** 2))


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)) + np.max(np.abs(b)), 1e-12)


@pytest.mark.parametrize("linear", [True, False])
@pytest.mark.parametrize("sizes", SHAPES)
def test_example_gradient_matches_finite_differences(sizes, linear):
    rng, sizes, w, w_off, x_off, d_off = _net(sizes, seed=len(sizes) * 7 + linear)
    x_in = rng.normal(size=sizes[0])
    y = rng.uniform(-0.9, 0.9, size=sizes[-1])
    grad = np.empty_like(w)
    err = bp.example_gradient(w, w_off, x_off, d_off, sizes, linear, x_in, y, grad)
    assert err == pytest.approx(_error(w, sizes, w_off, x_off, d_off, linear, x_in, y))
    h = 1e-6
    numeric = np.empty_like(w)
    for k in range(len(w)):
        wp, wm = w.copy(), w.copy()
        wp[k] += h
        wm[k] -= h
        numeric[k] = (
            _error(wp, sizes, w_off, x_off, d_off, linear, x_in, y)
            - _error(wm, sizes, w_off, x_off, d_off, linear, x_in, y)
        ) / (2 * h)
    assert _rel(grad, numeric) < 1e-6


@pytest.mark.parametrize("linear", [True, False])
@pytest.mark.parametrize("sizes", SHAPES[1:4])
def test_batch_gradient_is_mean_of_example_gradients(sizes, linear):
    rng, sizes, w, w_off, x_off, d_off = _net(sizes, seed=3)
    X = rng.normal(size=(9, sizes[0]))
    Y = rng.uniform(-0.9, 0.9, size=(9, sizes[-1]))
    expected = np.zeros_like(w)
    one = np.empty_like(w)
    total = 0.0
    for n in range(len(X)):
        total += bp.example_gradient(w, w_off, x_off, d_off, sizes, linear, X[n], Y[n], one)
        expected += one / len(X)
    grad = np.empty_like(w)
    err = bp.batch_gradient(w, w_off, sizes, linear, X, Y, grad)
    assert err == pytest.approx(total)
    assert _rel(grad, expected) < 1e-10


def test_sgd_epoch_is_a_sequence_of_gradient_steps():
    """The fused per-example update equals w <- w - lr (grad + 2 decay w) off the bias row."""
    rng, sizes, w, w_off, x_off, d_off = _net((3, 4, 1), seed=5)
    X = rng.normal(size=(5, 3))
    Y = rng.uniform(-1, 1, size=(5, 1))
    order = np.array([3, 0, 4, 1, 2], dtype=np.int64)
    lr, decay = 0.05, 0.01
    manual = w.copy()
    grad = np.empty_like(w)
    for n in order:
        bp.example_gradient(manual, w_off, x_off, d_off, sizes, True, X[n], Y[n], grad)
        bias = np.zeros(len(w), dtype=bool)
        for l in range(1, len(sizes)):
            bias[w_off[l - 1] : w_off[l - 1] + sizes[l]] = True
        manual = manual - lr * (grad + np.where(bias, 0.0, 2 * decay * manual))
    fused = w.copy()
    bp.sgd_epoch(fused, w_off, x_off, d_off, sizes, True, X, Y, order, lr, decay)
    np.testing.assert_allclose(fused, manual, rtol=1e-12, atol=1e-12)
    assert not np.allclose(fused, w)


def test_autorec_full_batch_gradient_matches_finite_differences():
    """The autoencoder's matrix-form backprop over observed entries only."""
    from recsys.data.ratings import Ratings
    from recsys.models.autorec import autorec_gradient, observed_lists

    rng = np.random.default_rng(0)
    u, i = np.nonzero(rng.random((7, 6)) < 0.5)
    data = Ratings.from_arrays(u, i, rng.integers(1, 6, len(u)).astype(float))
    lists = observed_lists(data)
    k, reg = 3, 0.3
    W1 = rng.normal(0, 0.3, size=(data.n_users + 1, k))
    W2 = rng.normal(0, 0.3, size=(k + 1, data.n_users))
    E, G1, G2, out = autorec_gradient(W1, W2, lists, reg)
    # the outputs at observed entries equal the dense forward pass
    R = np.zeros((data.n_items, data.n_users))
    R[data.items, data.users] = data.ratings
    dense = np.hstack([np.ones((data.n_items, 1)), np.tanh(np.hstack(
        [np.ones((data.n_items, 1)), R]) @ W1)]) @ W2
    order = np.lexsort((data.users, data.items))
    np.testing.assert_allclose(out, dense[data.items[order], data.users[order]], rtol=1e-12)
    h = 1e-6
    for W, G in ((W1, G1), (W2, G2)):
        numeric = np.empty_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + h
            up = autorec_gradient(W1, W2, lists, reg)[0]
            W[idx] = old - h
            down = autorec_gradient(W1, W2, lists, reg)[0]
            W[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        assert np.abs(G - numeric).max() / (np.abs(G).max() + np.abs(numeric).max()) < 1e-6
