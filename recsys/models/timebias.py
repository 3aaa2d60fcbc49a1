r"""Time-aware biases: timeSVD++'s baseline predictor (Koren, KDD 2009) as a model of its own.

.. math::
    \hat r_{ui}(t) = \mu + b_u + \alpha_u\, \mathrm{dev}_u(t) + b_{u,t} + b_i
                     + b_{i,\mathrm{Bin}(t)}

A user's bias drifts linearly in ``dev_u(t)``, the signed distance (to the power ``beta``)
of the rating's day from the user's mean rating day, and jumps on busy days (``b_{u,t}``,
for the (user, day) pairs with at least ``min_day_ratings`` training ratings); an item's bias
moves from one of ``n_bins`` periods of the training span to the next. The time features
live in :mod:`recsys.models._time`, the per-rating SGD in :mod:`recsys.models._timebias_sgd`
(both written so that a time-aware SVD++ reuses them); this module holds the estimator:
settings, epochs, validation and early stopping, the divergence guard, prediction at a time.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models import _timebias_sgd as kernels
from recsys.models._time import TimeFeatures
from recsys.models.base import EpochsByValidation, Estimator
from recsys.models.foldin import UserProfile, bias_penalty
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress

__all__ = ["TimeAwareBaseline"]

logger = logging.getLogger(__name__)

_TERMS = ("user", "alpha", "day", "item", "bin")  # the order of _timebias_sgd's lr / reg

class TimeAwareBaseline(EpochsByValidation, Estimator):
    r"""timeSVD++'s time-aware biases, learned by per-rating SGD (Koren, KDD 2009).

    .. math::
        \hat r_{ui}(t) = \mu + b_u + \alpha_u\, \mathrm{dev}_u(t) + b_{u,t} + b_i
                         + b_{i,\mathrm{Bin}(t)}, \qquad
        \mathrm{dev}_u(t) = \mathrm{sign}(t - t_u)\, |t - t_u|^{\beta}

    with ``t`` the rating's day, ``t_u`` the user's mean training day, ``Bin(t)`` one of
    ``n_bins`` equal periods of the training span, and ``b_{u,t}`` a bias of the (user, day)
    pairs with at least ``min_day_ratings`` training ratings (0 for every other pair).

    Each epoch visits the training ratings once in a fresh random order and steps against
    the gradient of
    :math:`\tfrac12 e^2 + \tfrac12 \sum_k \lambda_k \theta_k^2` (``e = r - r_hat``, one L2
    weight per kind of parameter ``theta``):

    .. math::
        b_u \mathrel{+}= \eta_u (e - \lambda_u b_u), \quad
        \alpha_u \mathrel{+}= \eta_\alpha (e\, \mathrm{dev}_u(t) - \lambda_\alpha \alpha_u),
        \quad b_{u,t} \mathrel{+}= \eta_d (e - \lambda_d b_{u,t}),

        b_i \mathrel{+}= \eta_i (e - \lambda_i b_i), \quad
        b_{i,\mathrm{Bin}(t)} \mathrel{+}= \eta_{bin} (e - \lambda_{bin} b_{i,\mathrm{Bin}(t)})

    (all from ``e`` before the step). Step sizes decay per epoch ``k`` (from 0) as
    ``eta / (1 + lr_decay k)``. Every parameter starts at 0.

    Prediction at a time: :meth:`predict` and :meth:`predict_ratings` take the ratings'
    timestamps. A day after the training period falls in the last bin, a day before it in
    the first; a (user, day) pair without a per-day bias gets ``b_{u,t} = 0``; ``dev_u``
    uses the user's ``t_u``. Without a timestamp (``predict(users, items)``, ``recommend``,
    ``score_users``) the model predicts for "now", the day after the training period: the
    last bin, ``dev_u`` of that day, no per-day term. An unknown user drops the user terms
    (``mu + b_i + b_{i,Bin(t)}``), an unknown item the item terms, both: ``mu``.

    The step sizes and L2 weights are Koren's (Netflix, 1-5 stars; model units are stars on
    1-5). On a validation carve of ML-100k ``u1.base`` (``bench/tune_timebias.py search``)
    the best of 300 random configurations and a coordinate refinement scored 0.0007-0.0013
    RMSE better (two shuffling seeds), at a one-epoch dip of a noisy curve (large constant
    steps), where Koren's values settle smoothly (0.9314 on both seeds; the bias baseline
    0.9392); that margin did not justify ten re-tuned values. ``n_epochs`` is where the
    carve's validation error flattens (55-63 epochs). On ratings later than all the training
    ones (``bench/tune_timebias.py forward``) the model beats the bias baseline for users it
    knows but not overall: most later ratings there come from new users, scored by the item
    terms alone.

    Parameters
    ----------
    n_bins : int
        Periods of the item drift over the training span (Koren: 30).
    beta : float
        Exponent of ``dev_u`` (Koren: 0.4), in ``(0, 1]``.
    min_day_ratings : int or None
        Training ratings a (user, day) pair needs for its own bias ``b_{u,t}``; None: no
        per-day biases.
    n_epochs : int
        Maximum number of passes over the ratings.
    lr_user, lr_alpha, lr_day, lr_item, lr_bin : float
        Step sizes of ``b_u``, ``alpha_u``, ``b_{u,t}``, ``b_i``, ``b_{i,Bin}``.
    reg_user, reg_alpha, reg_day, reg_item, reg_bin : float
        Their L2 weights.
    lr_decay : float
        ``d`` in ``eta_k = eta / (1 + d k)``.
    patience : int or None
        Early stopping: stop when the validation RMSE has not improved for this many epochs
        and keep the best epoch's parameters; None runs every epoch. Without a validation
        set, ``valid_size`` of the training ratings are held out for it.
    valid_size : float
        Fraction of the training ratings carved out for early stopping when no validation
        set is given.
    random_state : int or None
        Seed of the rating order and the validation carve.
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.timebias``, level INFO).

    Attributes
    ----------
    user_bias_, alpha_, day_bias_, item_bias_ : ndarray of float64
        ``b_u``, ``alpha_u``, ``b_{u,t}`` (one per slot of ``time_``), ``b_i``.
    bin_bias_ : ndarray of float64, shape (n_items, n_bins)
        ``b_{i,Bin}``.
    mu_ : float
        The mean of the ratings the model was fitted on.
    time_ : TimeFeatures
        The training period, each user's mean day and the (user, day) pairs with a bias.

    All in model units (:mod:`recsys.models.scaling`), so the settings mean the same on any
    rating scale. ``history_``, ``n_epochs_`` and ``best_epoch_`` as in
    :class:`~recsys.models.mf.MatrixFactorization`.

    Raises
    ------
    RecsysError
        ``fit`` on ratings without timestamps.
    DivergenceError
        The training error became NaN/inf or exploded; the message names what to lower.
    """

    def __init__(
        self,
        n_bins: int = 30,
        beta: float = 0.4,
        min_day_ratings: int | None = 3,
        n_epochs: int = 60,
        lr_user: float = 0.003,
        lr_alpha: float = 1e-5,
        lr_day: float = 0.0025,
        lr_item: float = 0.002,
        lr_bin: float = 5e-5,
        reg_user: float = 0.003,
        reg_alpha: float = 50.0,
        reg_day: float = 0.005,
        reg_item: float = 0.003,
        reg_bin: float = 0.1,
        lr_decay: float = 0.0,
        patience: int | None = None,
        valid_size: float = 0.1,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_bins = n_bins
        self.beta = beta
        self.min_day_ratings = min_day_ratings
        self.n_epochs = n_epochs
        self.lr_user = lr_user
        self.lr_alpha = lr_alpha
        self.lr_day = lr_day
        self.lr_item = lr_item
        self.lr_bin = lr_bin
        self.reg_user = reg_user
        self.reg_alpha = reg_alpha
        self.reg_day = reg_day
        self.reg_item = reg_item
        self.reg_bin = reg_bin
        self.lr_decay = lr_decay
        self.patience = patience
        self.valid_size = valid_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.integer(owner, "n_bins", self.n_bins, 1, 100_000)
        checks.number(owner, "beta", self.beta, 0.0, strict=True, high=1.0)
        if self.min_day_ratings is not None:
            checks.integer(owner, "min_day_ratings", self.min_day_ratings, 1)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        for term in _TERMS:
            checks.number(owner, f"lr_{term}", getattr(self, f"lr_{term}"), 0.0)
            checks.number(owner, f"reg_{term}", getattr(self, f"reg_{term}"), 0.0)
        checks.number(owner, "lr_decay", self.lr_decay, 0.0)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    def _rates(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The five step sizes of ``epoch`` and the five L2 weights (kernel order)."""
        step = 1.0 / (1.0 + float(self.lr_decay) * epoch)
        lr = np.array([float(getattr(self, f"lr_{t}")) * step for t in _TERMS])
        return lr, np.array([float(getattr(self, f"reg_{t}")) for t in _TERMS])

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn the time-aware biases by per-rating SGD (see :meth:`Estimator.fit`)."""
        if ratings.timestamps is None:
            raise RecsysError(
                f"{type(self).__name__} needs timestamps: {ratings.name} has no 'timestamp' "
                "column (seconds since 1970, or dates); data without them: the bias baseline "
                "('baseline')")
        rng = np.random.default_rng(self.random_state)
        train = ratings
        if self.patience and validation is None:
            carve = rng.random(len(ratings)) < float(self.valid_size)
            if carve.all() or not carve.any():
                raise RecsysError(
                    f"valid_size={self.valid_size} leaves no training or no validation ratings "
                    f"out of {len(ratings)}: change valid_size or pass a validation set")
            train, validation = ratings.subset(~carve), ratings.subset(carve)
        self.mu_ = float(train.global_mean)
        self.time_ = TimeFeatures.fit(
            train.users, train.timestamps, self.n_users_, int(self.n_bins), float(self.beta),
            None if self.min_day_ratings is None else int(self.min_day_ratings))
        features = self.time_.encode(train.users, train.timestamps)
        params = (np.zeros(self.n_users_), np.zeros(self.n_users_),
                  np.zeros(self.time_.n_slots), np.zeros(self.n_items_),
                  np.zeros((self.n_items_, int(self.n_bins))))
        self._install(params)
        held = None if validation is None else self._held_out(validation)
        self._run_epochs(rng, train, features, params, held, progress)

    def _run_epochs(self, rng: np.random.Generator, train: Ratings,
                    features: tuple[np.ndarray, ...], params: tuple[np.ndarray, ...],
                    held: tuple[np.ndarray, ...] | None, progress: FitProgress) -> None:
        """The SGD epochs, validation, early stopping and the divergence guard."""
        history: dict[str, list[float]] = {"train_rmse": []}
        if held is not None:
            history["valid_rmse"] = []
        self.history_ = history
        patience = int(self.patience or 0)
        best = (math.inf, -1, None)  # validation RMSE (model units), epoch, parameters
        first = math.inf
        n_run = 0
        dev, bins, slots = features
        for epoch in range(int(self.n_epochs)):
            lr, reg = self._rates(epoch)
            sse = kernels.sgd_epoch(rng.permutation(len(train)), train.users, train.items,
                                    train.ratings, dev, bins, slots, self.mu_, *params, lr,
                                    reg)
            n_run = epoch + 1
            train_rmse = math.sqrt(sse / len(train)) if math.isfinite(sse) else math.inf
            first = train_rmse if epoch == 0 else first
            history["train_rmse"].append(self.in_rating_units(train_rmse))
            self._check_divergence(epoch, first, train_rmse, params)
            if held is not None:
                valid_rmse = self._held_out_rmse(held)
                history["valid_rmse"].append(self.in_rating_units(valid_rmse))
                if valid_rmse < best[0] - 1e-6:
                    best = (valid_rmse, epoch,
                            tuple(p.copy() for p in params) if patience else None)
            if self.verbose:
                line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
                logger.info("TimeAwareBaseline epoch %d: %s", epoch + 1, line)
            progress.epoch_done(epoch, history)
            if patience and epoch - best[1] >= patience:
                break
        self.n_epochs_ = n_run
        self.best_epoch_ = n_run - 1
        if patience and best[2] is not None:
            self._install(best[2])
            self.best_epoch_ = best[1]

    def _install(self, params: tuple[np.ndarray, ...]) -> None:
        (self.user_bias_, self.alpha_, self.day_bias_, self.item_bias_,
         self.bin_bias_) = params

    def _params(self) -> tuple[np.ndarray, ...]:
        return (self.user_bias_, self.alpha_, self.day_bias_, self.item_bias_, self.bin_bias_)

    def _check_divergence(self, epoch: int, first: float, train_rmse: float,
                          params: tuple[np.ndarray, ...]) -> None:
        low, high = self.model_scale_
        scale_range = max(high - low, 1e-12)
        finite = math.isfinite(train_rmse) and all(math.isfinite(float(p.sum())) for p in params)
        if finite and train_rmse <= 3.0 * scale_range and (epoch == 0 or train_rmse <= 10 * first):
            return
        what = "NaN/inf" if not finite else f"{self.in_rating_units(train_rmse):.3g}"
        rates = ", ".join(f"lr_{t} {getattr(self, f'lr_{t}'):g}" for t in _TERMS)
        raise DivergenceError(
            f"the time-aware baseline diverged at epoch {epoch + 1} (training RMSE {what}): "
            f"lower the step sizes (now {rates})")

    def _held_out(self, ratings: Ratings) -> tuple[np.ndarray, ...]:
        """Indices (``-1`` where the model learned nothing), ratings and time features of a
        split that shares the id maps (predicted at "now" when it has no timestamps)."""
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1)
        dev, bins, slots = self.time_.encode(u, ratings.timestamps)
        return (u.astype(np.int32), i.astype(np.int32), ratings.ratings, dev, bins, slots)

    def _held_out_rmse(self, held: tuple[np.ndarray, ...]) -> float:
        """RMSE (model units) of the clipped predictions of :meth:`_held_out`'s split."""
        u, i, r, dev, bins, slots = held
        low, high = self.model_scale_
        sse = kernels.squared_error_clipped(u, i, r, dev, bins, slots, self.mu_,
                                            *self._params(), low, high)
        return math.sqrt(sse / max(len(r), 1))

    # ------------------------------------------------------------------ prediction
    def _predict_indices_at(self, u: np.ndarray, i: np.ndarray,
                            timestamps: np.ndarray | None) -> np.ndarray:
        """Raw predictions (model units) for index pairs (``-1``: unknown) at ``timestamps``
        (int64 seconds, one per pair) or, when None, at "now"."""
        shape = np.shape(u)
        u = np.ascontiguousarray(np.ravel(u), dtype=np.int64)
        i = np.ascontiguousarray(np.ravel(i), dtype=np.int64)
        dev, bins, slots = self.time_.encode(u, timestamps)
        out = kernels.predict_pairs(u, i, dev, bins, slots, self.mu_, *self._params())
        return out.reshape(shape)

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions at "now" (the day after the training period)."""
        return self._predict_indices_at(u, i, None)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Scores at "now": ``mu + b_u + alpha_u dev_u(now) + b_i + b_{i,last bin}``."""
        u = np.asarray(u, dtype=np.int64)
        known = u >= 0
        safe = np.maximum(u, 0)
        now_dev = self.time_.now_deviation()
        user_part = np.where(known, self.user_bias_[safe] + self.alpha_[safe] * now_dev[safe],
                             0.0)
        item_part = self.item_bias_ + self.bin_bias_[:, -1]
        return self.mu_ + user_part[:, None] + item_part[None, :]

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user's static bias against the fixed item part at "now":

        .. math:: b_u = \frac{\sum_{i \in R(u)} (z_{ui} - \mu - b_i - b_{i,\mathrm{last}})}
                  {|R(u)| + n \lambda_u + 1/T_u}

        (``n lambda_u + 1/T_u`` as :func:`~recsys.models.foldin.bias_penalty`: SGD's weight
        decay per rating and the shrinkage of its finite steps). A new user has no drift
        (``alpha_u = 0``) and no day biases: their dates say nothing yet."""
        item_part = self.item_bias_[items] + self.bin_bias_[items, -1]
        resid = z - self.mu_ - item_part
        penalty = bias_penalty(self, len(z), float(self.reg_user), float(self.lr_user))
        return UserProfile(type(self).__name__, float(resid.sum() / (len(z) + penalty)),
                           np.zeros(0), items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i + b_{i,last bin}`` over every item."""
        return self.mu_ + profile.bias + self.item_bias_ + self.bin_bias_[:, -1]

    def _profile_fallback(self, profile: UserProfile) -> float:
        return float(self.mu_ + profile.bias)

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        return {
            "user_bias": self.user_bias_, "alpha": self.alpha_, "day_bias": self.day_bias_,
            "item_bias": self.item_bias_, "bin_bias": self.bin_bias_,
            "mu": np.array(self.mu_, dtype=np.float64),
            "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64),
            **self.time_.state(),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.time_ = TimeFeatures.from_state(arrays, self.n_users_, int(self.n_bins),
                                             float(self.beta))
        f64 = np.float64
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,), f64)
        self.alpha_ = state_array(arrays, "alpha", (self.n_users_,), f64)
        self.day_bias_ = state_array(arrays, "day_bias", (self.time_.n_slots,), f64)
        self.item_bias_ = state_array(arrays, "item_bias", (self.n_items_,), f64)
        self.bin_bias_ = state_array(arrays, "bin_bias", (self.n_items_, int(self.n_bins)), f64)
        self.mu_ = float(state_array(arrays, "mu", (), f64))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
