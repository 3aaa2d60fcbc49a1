"""Several tanh networks trained side by side and averaged: the hybrid's blending network.

A network trained by per-example SGD from one random start lands in one of many nearby
solutions; its validation error varies by about 0.003 RMSE from seed to seed on ML-100k's blend.
Averaging ``M`` networks that differ only in their seed (initial weights and example order)
cancels much of that noise::

    y_hat(x) = (1 / M) sum_m y_hat_m(x)

The members are :class:`~recsys.models.mlp.MLP` s with the same settings, trained in lockstep:
epoch ``t`` of every member (each its own backpropagation pass, see :mod:`recsys.models.mlp`),
then the *average's* error on the validation rows. Early stopping watches that average, so every
member keeps its weights of the epoch where the ensemble was best, and one epoch count
describes the whole ensemble (what a refit on all the data runs). Members train on separate
threads (the backpropagation kernels release the GIL); each has its own generator, so the result
does not depend on the number of threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from recsys.models._blocks import resolve_threads
from recsys.models.mlp import MLP, BestWeights, run_epochs

__all__ = ["NetworkEnsemble", "member_seeds"]


def member_seeds(seed: int | None, n_members: int) -> list[int | None]:
    """Seeds of ``n_members`` networks: ``seed`` itself for the first (so one member is the
    plain :class:`MLP` with that seed), then draws of a generator seeded by it."""
    if seed is None:
        return [None] * n_members
    more = np.random.default_rng(seed).integers(0, 2**31 - 1, size=max(n_members - 1, 0))
    return [int(seed), *(int(s) for s in more)]


class NetworkEnsemble:
    """``M`` networks of the same settings, trained in lockstep, predicting their mean.

    Parameters
    ----------
    members : sequence of MLP
        Unfitted networks; they must share ``n_epochs``, ``patience`` and ``output``, and should
        differ in ``random_state``.
    n_threads : int or None
        Threads that train members at the same time (None: every core numba may use).

    Attributes
    ----------
    history_ : dict
        ``train_mse`` and, with validation data, ``valid_mse`` of the *average* per epoch, in
        the targets' units.
    n_epochs_ : int
        Epochs run (early stopping may end sooner).
    """

    def __init__(self, members: Sequence[MLP], n_threads: int | None = None) -> None:
        if not members:
            raise ValueError("a NetworkEnsemble needs at least one network")
        self.members = list(members)
        self.n_threads = n_threads

    # ------------------------------------------------------------------ training
    def fit(self, X: Any, y: Any, X_valid: Any | None = None, y_valid: Any | None = None,
            callback: Callable[[int, dict], Any] | None = None) -> "NetworkEnsemble":
        """Train every member on ``(X, y)`` in lockstep; with validation data and the members'
        ``patience``, stop when the average's validation error has not improved for that many
        epochs and give every member its weights of the best epoch. ``callback(epoch,
        history)`` follows each epoch. A member that diverges raises its
        :class:`~recsys.errors.DivergenceError`; a failed or interrupted fit leaves every
        member unfitted."""
        try:
            return self._fit(X, y, X_valid, y_valid, callback)
        except BaseException:
            for net in self.members:
                net._forget()
            raise

    def _fit(self, X: Any, y: Any, X_valid: Any | None, y_valid: Any | None,
             callback: Callable[[int, dict], Any] | None) -> "NetworkEnsemble":
        first = self.members[0]
        for net in self.members[1:]:
            for name in ("n_epochs", "patience", "output"):
                if getattr(net, name) != getattr(first, name):
                    raise ValueError(f"the members of a NetworkEnsemble must share {name}")
        if X_valid is None and first.patience is not None:
            raise ValueError("a NetworkEnsemble stops early on validation data it is given: "
                             "pass X_valid/y_valid or set the members' patience to None")
        rngs = [np.random.default_rng(net.random_state) for net in self.members]
        states = [net._begin(X, y, X_valid, y_valid, rng)
                  for net, rng in zip(self.members, rngs)]
        y_targets = np.asarray(y, dtype=np.float64).reshape(len(states[0][0]), -1)
        yv_targets = (None if X_valid is None
                      else np.asarray(y_valid, dtype=np.float64).reshape(len(X_valid), -1))
        self.history_: dict[str, list[float]] = {"train_mse": []}
        if X_valid is not None:
            self.history_["valid_mse"] = []
        patience = None if first.patience is None else int(first.patience)
        n_threads = min(resolve_threads(self.n_threads), len(self.members))

        def train_epoch(epoch: int) -> float:
            jobs = [pool.submit(net._train_epoch, X_net, y_net, epoch, rng, start)
                    for net, rng, (X_net, y_net, _, _, start) in zip(self.members, rngs, states)]
            # each member's predictions on the training rows come with its divergence check
            mean = sum(job.result()[1] for job in jobs) / len(jobs)
            return _mse(mean, y_targets)

        def valid_errors() -> tuple[float, float]:
            error = _mse(self._predict(states[0][2]), yv_targets)
            return error, error

        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            run_epochs(int(first.n_epochs), patience, self.history_,
                       BestWeights([net._w for net in self.members]), train_epoch,
                       None if X_valid is None else valid_errors, callback)
        self.n_epochs_ = len(self.history_["train_mse"])
        for net in self.members:
            net.history_ = {}
            net.n_epochs_ = self.n_epochs_
        return self

    # ------------------------------------------------------------------ prediction
    def _predict(self, X: np.ndarray) -> np.ndarray:
        """The members' mean prediction as an ``(n, d_out)`` array in the targets' units."""
        total = None
        for net in self.members:
            p = np.asarray(net.predict(X), dtype=np.float64).reshape(len(X), -1)
            total = p if total is None else total + p
        return total / len(self.members)

    def predict(self, X: Any) -> np.ndarray:
        """The members' mean prediction in the targets' units: shape (n,) for one output unit,
        else (n, d_out)."""
        out = self._predict(np.asarray(X))
        return out[:, 0] if out.shape[1] == 1 else out


def _mse(prediction: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean((prediction - target) ** 2))
