"""A feed-forward tanh network trained by hand-written backpropagation and SGD.

:class:`MLP` is a plain regressor on arrays (not an :class:`~recsys.models.base.Estimator`):
``fit(X, y)``, ``predict(X)``. Hidden units are ``tanh``; every layer has a bias input
``x_0 = 1``; the output unit is ``tanh`` (targets in ``[-1, 1]``, as in the lecture) or linear.

Training is the lecture's stochastic gradient descent: one example at a time in a fresh random
order every epoch (``batch_size=1``), or mini-batches as an option. Per example ``n``::

    forward:   s_j^(l) = sum_i w_ij^(l) x_i^(l-1),   x_j^(l) = tanh(s_j^(l))
    backward:  delta^(L) = 2 (x^(L) - y_n) (1 - (x^(L))^2)      (tanh output)
               delta^(L) = 2 (x^(L) - y_n)                      (linear output)
               delta_i^(l-1) = (1 - (x_i^(l-1))^2) sum_j w_ij^(l) delta_j^(l)
    update:    w_ij^(l) <- w_ij^(l) - eta_t (x_i^(l-1) delta_j^(l) + 2 lambda w_ij^(l))

with ``eta_t = lr / (1 + lr_decay t)`` in epoch ``t`` and weight decay ``lambda`` on all but the
bias weights. The kernels are in :mod:`recsys.models._backprop`.

Scale-free targets: with a linear output the network learns ``y_z = (y - c) / s`` (``c`` and
``s`` the training targets' mean and standard deviation, per output) and predicts
``c + s x^(L)``, so ``lr`` and ``weight_decay`` mean the same whatever the targets' units, and
fitting ``a + b y`` (``b > 0``) predicts ``a + b`` times what fitting ``y`` predicts. A tanh
output takes its targets as they are (they must lie in ``[-1, 1]``).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from recsys.errors import DataError, DivergenceError, NotFittedError
from recsys.models import _backprop as bp
from recsys.models import _checks as checks
from recsys.models.params import Params

__all__ = ["MLP", "BestWeights", "run_epochs"]


class MLP(Params):
    """Tanh network regressor trained by backpropagation.

    Parameters
    ----------
    hidden : tuple of int
        Units ``d^(1), ..., d^(L-1)`` of the hidden layers (may be empty: a single layer).
    output : {"linear", "tanh"}
        Output unit; ``"tanh"`` needs targets in ``[-1, 1]``.
    lr : float
        Learning rate ``eta`` of the first epoch.
    lr_decay : float
        ``eta_t = lr / (1 + lr_decay * t)``.
    weight_decay : float
        ``lambda``: each step adds ``2 lambda w`` to the gradient of non-bias weights
        (minimises ``mean_n e_n + lambda ||w||^2``).
    batch_size : int
        1 for per-example SGD (the lecture's algorithm), more for mini-batches (mean gradient).
    n_epochs : int
        Maximum number of passes over the training data.
    patience : int or None
        Early stopping: stop when the validation error has not improved for this many epochs
        and keep the best weights; None runs every epoch. Validation data is
        ``X_valid``/``y_valid`` if given, otherwise a random ``valid_size`` fraction carved
        from the training data.
    valid_size : float
        Fraction held out for early stopping when no validation data is passed.
    init_scale : float
        Weights start as ``N(0, init_scale^2 / (d^(l-1) + 1))`` (scaled to fan-in); biases 0.
    dtype : {"float64", "float32"}
        Floating type of weights and arithmetic.
    random_state : int or None
        Seed of the initial weights, the validation split and the example order.

    Attributes
    ----------
    weights_ : list of ndarray
        ``weights_[l - 1]`` is the lecture's ``W^(l)``, shape ``(d^(l-1) + 1, d^(l))``:
        ``weights_[l - 1][i, j] = w_ij^(l)``, row 0 the bias weights. Views of one flat buffer
        that the numba kernels update in place.
    history_ : dict
        ``train_mse`` (and ``valid_mse``) per epoch, in the targets' units.
    target_center_, target_spread_ : ndarray
        ``c`` and ``s`` of the targets (0 and 1 for a tanh output).
    n_epochs_ : int
        Epochs actually run (early stopping may end sooner).
    """

    def __init__(
        self,
        hidden: Sequence[int] = (32, 16),
        output: str = "linear",
        lr: float = 0.01,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        batch_size: int = 1,
        n_epochs: int = 20,
        patience: int | None = None,
        valid_size: float = 0.1,
        init_scale: float = 1.0,
        dtype: str = "float64",
        random_state: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.output = output
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.patience = patience
        self.valid_size = valid_size
        self.init_scale = init_scale
        self.dtype = dtype
        self.random_state = random_state

    # ------------------------------------------------------------------ structure
    @property
    def sizes_(self) -> np.ndarray:
        """Layer sizes ``d^(0), ..., d^(L)``."""
        self._check_fitted()
        return self._sizes

    def _build(self, d_in: int, d_out: int) -> None:
        """Create the layout and a zero flat weight buffer with views ``weights_[l-1]``."""
        hidden = tuple(int(h) for h in (self.hidden or ()))
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden layer sizes must be positive, got {self.hidden!r}")
        self._sizes = np.array((d_in, *hidden, d_out), dtype=np.int64)
        self._w_off, self._x_off, self._d_off = bp.layout(self._sizes)
        self._set_flat(np.zeros(self._w_off[-1], dtype=np.dtype(self.dtype)))

    def _set_flat(self, flat: np.ndarray) -> None:
        self._w = np.ascontiguousarray(flat)
        sizes = self._sizes
        self.weights_ = [
            self._w[self._w_off[l - 1] : self._w_off[l]].reshape(sizes[l - 1] + 1, sizes[l])
            for l in range(1, len(sizes))
        ]

    def _init_weights(self, rng: np.random.Generator) -> None:
        for W in self.weights_:
            fan_in = W.shape[0]
            W[0] = 0.0
            W[1:] = rng.normal(0.0, self.init_scale / np.sqrt(fan_in), size=W[1:].shape)

    def set_weights(self, weights: Sequence[np.ndarray], target_center: Any = 0.0,
                    target_spread: Any = 1.0) -> "MLP":
        """Install weights (a list of ``(d^(l-1)+1, d^(l))`` arrays) and the targets' ``c`` and
        ``s`` (see the module docstring): used by loading."""
        weights = [np.asarray(W) for W in weights]
        if not weights:
            raise ValueError("need at least one weight matrix")
        self._sizes = np.array(
            [weights[0].shape[0] - 1] + [W.shape[1] for W in weights], dtype=np.int64
        )
        for l, W in enumerate(weights[1:], start=1):
            if W.shape[0] != weights[l - 1].shape[1] + 1:
                raise ValueError("weight shapes do not chain: expected (d^(l-1)+1, d^(l))")
        self._w_off, self._x_off, self._d_off = bp.layout(self._sizes)
        dtype = np.dtype(self.dtype)
        self._set_flat(np.concatenate([W.astype(dtype).ravel() for W in weights]))
        d_out = int(self._sizes[-1])
        self.target_center_ = np.broadcast_to(np.asarray(target_center, np.float64),
                                              (d_out,)).copy()
        self.target_spread_ = np.broadcast_to(np.asarray(target_spread, np.float64),
                                              (d_out,)).copy()
        self.history_ = getattr(self, "history_", {})
        return self

    # ------------------------------------------------------------------ validation
    def _check_xy(self, X: Any, y: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        dtype = np.dtype(self.dtype)
        X = np.ascontiguousarray(np.asarray(X, dtype=dtype))
        y = np.asarray(y, dtype=dtype)
        if X.ndim != 2:
            raise DataError(f"{what} X must be a 2-d array (n_examples, n_features)")
        if y.ndim == 0:
            raise DataError(f"{what} y must be an array with one row per row of X ({len(X)})")
        y = np.ascontiguousarray(y.reshape(len(y), 1) if y.ndim == 1 else y)
        if y.ndim != 2 or len(y) != len(X):
            raise DataError(f"{what} y must have one row per row of X ({len(X)})")
        if len(X) == 0:
            raise DataError(
                f"{what} data has no rows: give at least one example"
                + (" (or X_valid=None for no validation)" if what == "validation" else "")
            )
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise DataError(f"{what} data contains NaN or inf: clean or impute it first")
        if self.output == "tanh" and y.size and np.abs(y).max() > 1.0:
            raise DataError(
                f"{what} targets outside [-1, 1] with output='tanh': rescale them "
                "or use output='linear'"
            )
        return X, y

    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = "MLP"
        checks.layer_sizes(owner, "hidden", self.hidden)
        checks.choice(owner, "output", self.output, ("linear", "tanh"))
        checks.integer(owner, "batch_size", self.batch_size, 1)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        for name in ("weight_decay", "lr_decay", "init_scale"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.choice(owner, "dtype", self.dtype, ("float32", "float64"))
        checks.seed(owner, "random_state", self.random_state)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X: Any,
        y: Any,
        X_valid: Any | None = None,
        y_valid: Any | None = None,
        callback: Callable[[int, dict], Any] | None = None,
    ) -> "MLP":
        """Train by SGD with backpropagation.

        ``history_`` gets ``train_mse`` (mean squared error on the training rows at the end of
        each epoch) and, with validation data, ``valid_mse``; ``callback(epoch, history)`` is
        called after each epoch. Raises :class:`DivergenceError` if the weights become NaN/inf
        or the training error climbs past twice what it was before the first epoch (or twice
        the targets' variance, whichever is larger): the sign of a step so large that the tanh
        units saturate. A failed or interrupted fit leaves the network unfitted.
        """
        try:
            return self._fit(X, y, X_valid, y_valid, callback)
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        """Drop the learned state: a network whose fit failed can be neither used nor saved."""
        for name in ("weights_", "history_", "n_epochs_", "target_center_", "target_spread_",
                     "_w", "_sizes", "_w_off", "_x_off", "_d_off"):
            self.__dict__.pop(name, None)

    def _fit(self, X: Any, y: Any, X_valid: Any | None, y_valid: Any | None,
             callback: Callable[[int, dict], Any] | None) -> "MLP":
        rng = np.random.default_rng(self.random_state)
        X, y, X_valid, y_valid, start = self._begin(X, y, X_valid, y_valid, rng)
        patience = None if self.patience is None else int(self.patience)
        self.history_: dict[str, list[float]] = {"train_mse": []}
        if X_valid is not None:
            self.history_["valid_mse"] = []
        run_epochs(int(self.n_epochs), patience, self.history_, BestWeights([self._w]),
                   lambda epoch: self._train_epoch(X, y, epoch, rng, start)[0],
                   None if X_valid is None else lambda: self._errors(X_valid, y_valid),
                   callback)
        self.n_epochs_ = len(self.history_["train_mse"])
        return self

    def _begin(self, X: Any, y: Any, X_valid: Any | None, y_valid: Any | None,
               rng: np.random.Generator) -> tuple:
        """Check the settings and data, carve a validation part when early stopping needs one
        and none is given, fit the targets' scale, build the layers and draw the initial
        weights from ``rng``. Returns ``(X, y, X_valid, y_valid, start)`` with the targets in
        network units and ``start`` the divergence reference of :meth:`_train_epoch`."""
        self._validate_params()
        X, y = self._check_xy(X, y, "training")
        patience = None if self.patience is None else int(self.patience)
        if X_valid is None and patience is not None:
            n_valid = int(round(len(X) * float(self.valid_size)))
            if not 0 < n_valid < len(X):
                raise DataError(
                    f"valid_size={self.valid_size:g} of {len(X)} examples leaves no training or "
                    "no validation example for early stopping: pass X_valid/y_valid, change "
                    "valid_size or set patience=None"
                )
            perm = rng.permutation(len(X))
            X_valid, y_valid = X[perm[:n_valid]], y[perm[:n_valid]]
            X, y = X[perm[n_valid:]], y[perm[n_valid:]]
        elif X_valid is not None:
            X_valid, y_valid = self._check_xy(X_valid, y_valid, "validation")
        self._fit_target_scale(y)
        y = self._to_network(y)
        y_valid = None if y_valid is None else self._to_network(y_valid)
        self._build(X.shape[1], y.shape[1])
        self._init_weights(rng)
        # divergence reference (network units): the error before training, or the targets'
        # variance
        start = max(self._errors(X, y)[0], float(np.mean((y - y.mean(axis=0)) ** 2)))
        return X, y, X_valid, y_valid, start

    def _train_epoch(self, X: np.ndarray, y: np.ndarray, epoch: int, rng: np.random.Generator,
                     start: float) -> tuple[float, np.ndarray]:
        """Epoch ``epoch`` (0-based) of SGD on ``(X, y)`` (network units) in an order drawn
        from ``rng``, at ``eta_t = lr / (1 + lr_decay t)``. Returns the training error after it
        in the targets' units, and the predictions on ``X`` it was computed from (targets'
        units, ``(n, d_out)``). Raises :class:`DivergenceError` when the weights are no longer
        finite or the error exceeds twice ``start``."""
        eta = float(self.lr) / (1.0 + float(self.lr_decay) * epoch)
        self._epoch(X, y, rng.permutation(len(X)).astype(np.int64), eta,
                    self.output == "linear")
        if not np.isfinite(self._w).all():
            raise DivergenceError(
                f"the network diverged in epoch {epoch + 1} (weights became NaN/inf): "
                f"lower lr (now {self.lr:g})"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._outputs(X)
            train_mse, train_in_targets = self._errors_of(out, y)
        if not np.isfinite(train_mse) or train_mse > 2.0 * start + 1e-12:
            raise DivergenceError(
                f"the network diverged in epoch {epoch + 1} (training error {train_mse:.3g}"
                f", more than twice the starting {start:.3g}): lower lr (now {self.lr:g})"
            )
        return train_in_targets, self._in_targets(out)

    def _fit_target_scale(self, y: np.ndarray) -> None:
        """``c`` and ``s`` of the training targets (a linear output only; see the module
        docstring); a constant target gets ``s = 1``."""
        d_out = y.shape[1]
        if self.output == "linear":
            center = y.astype(np.float64).mean(axis=0)
            spread = y.astype(np.float64).std(axis=0)
            spread = np.where(spread > 1e-12 * np.maximum(np.abs(center), 1.0), spread, 1.0)
        else:
            center, spread = np.zeros(d_out), np.ones(d_out)
        self.target_center_, self.target_spread_ = center, spread

    def _to_network(self, y: np.ndarray) -> np.ndarray:
        """Targets in the network's units, ``(y - c) / s``, in the network's dtype."""
        z = (y.astype(np.float64) - self.target_center_) / self.target_spread_
        return np.ascontiguousarray(z.astype(np.dtype(self.dtype)))

    def _epoch(self, X: np.ndarray, y: np.ndarray, order: np.ndarray, eta: float,
               linear: bool) -> float:
        """One pass over ``X`` in ``order``; returns the summed squared error seen."""
        dtype = self._w.dtype.type
        with np.errstate(over="ignore"):  # a huge lr in float32 is inf: caught as divergence
            eta, decay = dtype(eta), dtype(self.weight_decay)
        if int(self.batch_size) == 1:
            return bp.sgd_epoch(
                self._w, self._w_off, self._x_off, self._d_off, self._sizes, linear, X, y,
                order, eta, decay,
            )
        return bp.minibatch_epoch(
            self._w, self._w_off, self._sizes, linear, X, y, order, int(self.batch_size),
            eta, decay,
        )

    def partial_fit_epoch(self, X: Any, y: Any, lr: float | None = None,
                          random_state: int | None = None) -> float:
        """One more epoch on fitted weights (benchmarks and warm starts); returns the mean
        squared error seen during the pass."""
        self._check_fitted()
        X, y = self._check_xy(X, y, "training")
        order = np.random.default_rng(random_state).permutation(len(X)).astype(np.int64)
        total = self._epoch(X, self._to_network(y), order,
                            float(self.lr if lr is None else lr), self.output == "linear")
        return float(total) / max(len(X), 1)

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError("this MLP is not fitted yet: call fit(X, y) first")

    def forward(self, X: Any) -> list[np.ndarray]:
        """Outputs ``x^(0), ..., x^(L)`` of every layer (bias column first), vectorised."""
        self._check_fitted()
        x = np.asarray(X, dtype=self._w.dtype)
        if x.ndim != 2 or x.shape[1] != self._sizes[0]:
            raise DataError(f"X must have shape (n, {self._sizes[0]}), got {x.shape}")
        outputs = [np.hstack([np.ones((len(x), 1), dtype=x.dtype), x])]
        for l, W in enumerate(self.weights_, start=1):
            signal = outputs[-1] @ W
            last_linear = l == len(self.weights_) and self.output == "linear"
            out = signal if last_linear else np.tanh(signal)
            outputs.append(np.hstack([np.ones((len(x), 1), dtype=x.dtype), out]))
        return outputs

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``c + s x^(L)`` in the targets' units: shape (n,) for one output unit,
        else (n, d^(L))."""
        out = self._in_targets(self._outputs(X))
        return out[:, 0] if out.shape[1] == 1 else out

    def _outputs(self, X: Any) -> np.ndarray:
        """The output layer ``x^(L)`` (network units), ``(n, d_out)`` float64."""
        return self.forward(X)[-1][:, 1:].astype(np.float64)

    def _in_targets(self, out: np.ndarray) -> np.ndarray:
        """Network outputs in the targets' units, ``c + s x^(L)``."""
        return self.target_center_ + self.target_spread_ * out

    def _errors(self, X: np.ndarray, y_network: np.ndarray) -> tuple[float, float]:
        """Mean squared error against targets in network units, in those units and in the
        targets' own (one forward pass)."""
        return self._errors_of(self._outputs(X), y_network)

    def _errors_of(self, out: np.ndarray, y_network: np.ndarray) -> tuple[float, float]:
        """:meth:`_errors` of outputs already computed."""
        diff = out - y_network
        return float(np.mean(diff ** 2)), float(np.mean((diff * self.target_spread_) ** 2))

    def _mse(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((np.reshape(self.predict(X), y.shape) - y) ** 2))

    def mse(self, X: Any, y: Any) -> float:
        """Mean squared error on ``(X, y)`` (lower is better): what training minimises."""
        X, y = self._check_xy(X, y, "scoring")
        return self._mse(X, y)

    def score(self, X: Any, y: Any) -> float:
        """Coefficient of determination ``R^2 = 1 - MSE / Var(y)`` on ``(X, y)``, higher is
        better (scikit-learn's ``score`` for regressors); 1 is a perfect fit, 0 no better than
        predicting the mean of ``y``. For constant ``y``: 1 for a perfect fit, else 0."""
        X, y = self._check_xy(X, y, "scoring")
        mse = self._mse(X, y)
        variance = float(np.mean((y.astype(np.float64) - y.mean(axis=0)) ** 2))
        if variance == 0.0:
            return 1.0 if mse == 0.0 else 0.0
        return 1.0 - mse / variance


class BestWeights:
    """Early stopping's record: the lowest validation error seen, copies of the weight arrays
    as they were then, and the epochs since it."""

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        self.weights = list(weights)
        self.best = np.inf
        self.saved = [w.copy() for w in self.weights]
        self.since = 0

    def see(self, error: float) -> None:
        """Record an epoch's validation error (an improvement must exceed ``1e-12``)."""
        if error < self.best - 1e-12:
            self.best, self.since = error, 0
            self.saved = [w.copy() for w in self.weights]
        else:
            self.since += 1

    def restore(self) -> None:
        """Put the best epoch's weights back (in place), if any epoch was seen."""
        if np.isfinite(self.best):
            for w, saved in zip(self.weights, self.saved):
                w[:] = saved


def run_epochs(n_epochs: int, patience: int | None, history: dict[str, list[float]],
               best: BestWeights, train_epoch: Callable[[int], float],
               valid_errors: Callable[[], tuple[float, float]] | None,
               callback: Callable[[int, dict], Any] | None) -> None:
    """The training loop with early stopping, for one network or several.

    Per epoch: ``train_epoch(epoch)`` (the training error, appended to
    ``history["train_mse"]``); with ``valid_errors``, its ``(error compared, error recorded)``
    (the second appended to ``history["valid_mse"]``, the first shown to ``best``); then
    ``callback(epoch, history)``. Stops after ``patience`` epochs without improvement and puts
    the best epoch's weights back; with ``patience`` None (or no validation) runs every epoch.
    """
    for epoch in range(n_epochs):
        history["train_mse"].append(train_epoch(epoch))
        if valid_errors is not None:
            compared, recorded = valid_errors()
            history["valid_mse"].append(recorded)
            best.see(compared)
        if callback is not None:
            callback(epoch, history)
        if patience is not None and valid_errors is not None and best.since >= patience:
            break
    if patience is not None and valid_errors is not None:
        best.restore()
