"""The tanh network learns what a single perceptron cannot (the lecture's examples)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.errors import DataError, DivergenceError, NotFittedError
from recsys.models.mlp import MLP


def _corners():
    X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    # two perceptrons h1 = sign(x1), h2 = sign(x2); target = XOR(h1, h2)
    h1, h2 = np.sign(X[:, 0]) > 0, np.sign(X[:, 1]) > 0
    y = np.where(h1 ^ h2, 1.0, -1.0)
    return X, y


def _circle(n=240, seed=0):
    """Points in the square [-1, 1]^2; +1 inside the circle of radius 0.6, with a margin."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(4 * n, 2))
    r = np.hypot(X[:, 0], X[:, 1])
    keep = np.abs(r - 0.6) > 0.08
    X, r = X[keep][:n], r[keep][:n]
    return X, np.where(r < 0.6, 1.0, -1.0)


def _perceptron_errors(X, y, epochs=200):
    """Pocket perceptron learning algorithm: the best a single perceptron does."""
    Z = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(3)
    best = len(y)
    for _ in range(epochs):
        wrong = np.flatnonzero(np.sign(Z @ w) != y)
        best = min(best, len(wrong))
        if not len(wrong):
            break
        w = w + y[wrong[0]] * Z[wrong[0]]
    return best


def test_xor_of_two_perceptrons_learned_to_zero_error():
    X, y = _corners()
    assert _perceptron_errors(X, y) >= 1
    net = MLP(hidden=(4,), output="tanh", lr=0.1, n_epochs=400, random_state=1).fit(X, y)
    assert np.all(np.sign(net.predict(X)) == y)
    assert net.history_["train_mse"][-1] < 0.05


def test_circle_in_a_square_needs_the_network():
    X, y = _circle()
    assert _perceptron_errors(X, y) > 0.2 * len(y)  # a linear separator fails
    net = MLP(hidden=(8,), output="tanh", lr=0.05, n_epochs=400, random_state=0).fit(X, y)
    assert np.mean(np.sign(net.predict(X)) != y) == 0.0


def test_linear_output_regression_and_minibatches():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(400, 3))
    y = 2.0 * np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 3.0
    for batch, dtype in ((1, "float64"), (16, "float32"), (1, "float32")):
        net = MLP(hidden=(16, 8), lr=0.02 if batch == 1 else 0.1, n_epochs=150, batch_size=batch,
                  dtype=dtype, random_state=0).fit(X, y)
        assert net.weights_[0].dtype == np.dtype(dtype)
        assert net.mse(X, y) < 0.05 * np.var(y)
        assert net.score(X, y) == pytest.approx(1 - net.mse(X, y) / np.var(y))  # R^2
        assert net.score(X, y) > 0.95
        hist = net.history_["train_mse"]
        assert hist[-1] < hist[0]


def test_weights_follow_the_lecture_layout_and_seed_is_reproducible():
    X, y = _circle(60)
    a = MLP(hidden=(5, 3), output="tanh", n_epochs=3, random_state=4).fit(X, y)
    b = MLP(hidden=(5, 3), output="tanh", n_epochs=3, random_state=4).fit(X, y)
    assert [W.shape for W in a.weights_] == [(3, 5), (6, 3), (4, 1)]
    for Wa, Wb in zip(a.weights_, b.weights_):
        np.testing.assert_array_equal(Wa, Wb)
    # predict is x^(L) from the lecture's forward pass, written out by hand
    x = np.array([0.3, -0.2])
    x1 = np.tanh(np.r_[1.0, x] @ a.weights_[0])
    x2 = np.tanh(np.r_[1.0, x1] @ a.weights_[1])
    x3 = np.tanh(np.r_[1.0, x2] @ a.weights_[2])
    assert a.predict(x[None])[0] == pytest.approx(x3[0])
    c = MLP(hidden=(5, 3), output="tanh").set_weights([W.copy() for W in a.weights_])
    np.testing.assert_allclose(c.predict(X), a.predict(X))


def test_early_stopping_keeps_best_validation_weights_and_callback():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = X[:, 0] + 0.7 * rng.normal(size=200)
    Xv = rng.normal(size=(200, 8))
    yv = Xv[:, 0] + 0.7 * rng.normal(size=200)
    seen = []
    net = MLP(hidden=(64,), lr=0.01, n_epochs=80, patience=3,
              random_state=0).fit(X, y, Xv, yv, callback=lambda e, h: seen.append(e))
    valid = net.history_["valid_mse"]
    assert seen == list(range(len(valid)))
    assert len(valid) < 80  # it overfits, so it stops early
    assert net.mse(Xv, yv) == pytest.approx(min(valid))
    carved = MLP(hidden=(4,), n_epochs=2, patience=3, valid_size=0.25,
                 random_state=0).fit(X, y)
    assert len(carved.history_["valid_mse"]) == 2


def test_bad_input_and_divergence_give_clear_errors():
    X, y = _corners()
    with pytest.raises(NotFittedError):
        MLP().predict(X)
    with pytest.raises(DataError, match="tanh"):
        MLP(output="tanh").fit(X, 3 * y)
    with pytest.raises(DataError, match="NaN"):
        MLP().fit(np.full((4, 2), np.nan), y)
    with pytest.raises(DivergenceError, match="lower lr"):
        MLP(hidden=(50,), lr=1e6, n_epochs=5, init_scale=10, random_state=0).fit(
            np.random.default_rng(0).normal(size=(50, 2)) * 100, np.arange(50.0) * 1e6)
