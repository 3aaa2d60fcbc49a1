r"""timeSVD++'s time-aware biases inside SVD++ (Koren, KDD 2009), learned by per-rating SGD
grouped by user.

The hot loop lives in :mod:`recsys.models._timesvdpp_sgd` (numba, built from SVD++'s and the
time-aware baseline's kernels); the time features in :mod:`recsys.models._time`. This module
holds the estimator: settings, initialisation, the step-size schedule, validation and early
stopping, the divergence guard, prediction at a time with fallbacks, saving.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models import _svdpp_sgd as svdpp_kernels
from recsys.models import _timesvdpp_sgd as kernels
from recsys.models._time import TimeFeatures
from recsys.models.base import EpochsByValidation, Estimator
from recsys.models.foldin import UserProfile, bias_penalty, ridge_user
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress

__all__ = ["TimeSVDpp"]

logger = logging.getLogger(__name__)

_TERMS = ("user", "alpha", "day", "item", "bin")  # the kernels' order of the bias lr / reg
_PARAMS = ("user_factors_", "item_factors_", "implicit_factors_", "user_bias_", "alpha_",
           "day_bias_", "item_bias_", "bin_bias_")


class TimeSVDpp(EpochsByValidation, Estimator):
    r"""SVD++ with timeSVD++'s time-aware biases (Koren, KDD 2009), per-rating SGD.

    .. math::
        \hat r_{ui}(t) = \mu + b_u + \alpha_u\, \mathrm{dev}_u(t) + b_{u,t} + b_i
                         + b_{i,\mathrm{Bin}(t)}
                         + q_i \cdot \Big(p_u + |N(u)|^{-1/2} \sum_{j \in N(u)} y_j\Big)

    The bias terms are :class:`~recsys.models.timebias.TimeAwareBaseline`'s
    (``dev_u(t) = sign(t - t_u) |t - t_u|^beta`` around the user's mean training day
    ``t_u``; ``Bin(t)`` one of ``n_bins`` equal periods of the training span; ``b_{u,t}`` for
    the (user, day) pairs with at least ``min_day_ratings`` training ratings), the factor
    terms :class:`~recsys.models.svdpp.SVDpp`'s (``N(u)``: the items the user rated in the
    data given to :meth:`fit`). Each epoch visits the users in a fresh random order and each
    user's ratings in a fresh random order; per user,
    :math:`z_u = |N(u)|^{-1/2} \sum_{j \in N(u)} y_j` is computed once, and each rating,
    with ``e = r - r_hat`` before the step, takes (all from old values)

    .. math::
        b_u \mathrel{+}= \eta_u (e - \lambda_u b_u), \quad
        \alpha_u \mathrel{+}= \eta_\alpha (e\, \mathrm{dev}_u(t) - \lambda_\alpha \alpha_u),
        \quad b_{u,t} \mathrel{+}= \eta_d (e - \lambda_d b_{u,t}),

        b_i \mathrel{+}= \eta_i (e - \lambda_i b_i), \quad
        b_{i,\mathrm{Bin}(t)} \mathrel{+}= \eta_{bin} (e - \lambda_{bin}
        b_{i,\mathrm{Bin}(t)}),

        p_u \mathrel{+}= \eta (e\, q_i - \lambda p_u), \quad
        q_i \mathrel{+}= \eta (e (p_u + z_u) - \lambda q_i)

    and adds :math:`e |N(u)|^{-1/2} q_i` to an accumulator :math:`g_u`; after the user's
    ``m`` ratings every :math:`j \in N(u)` gets
    :math:`y_j \leftarrow (1 - \eta \lambda_y)^m y_j + \eta g_u` (exactly the gradient step
    when ``m = 1``). Every step size decays per epoch ``k`` (from 0) as
    ``eta / (1 + lr_decay k)``. One thread; a seeded fit is repeatable bit for bit.

    Prediction at a time: :meth:`predict`, :meth:`predict_indices` and
    :meth:`predict_ratings` take the ratings' timestamps (a day after the training period
    uses the last bin, one before it the first; a (user, day) pair without a per-day bias
    gets none). Without a timestamp (``predict(users, items)``, ``recommend``,
    ``score_users``) the model predicts for "now", the day after the training period: last
    bin, ``dev_u`` of that day, no per-day term. Fallbacks: an unknown user drops the user
    terms and the factor term (``mu + b_i + b_{i,Bin(t)}``), an unknown item the item terms
    and the factor term, both: ``mu``.

    Defaults: chosen on a validation carve (10 %, seed 0) of ML-100k ``u1.base``, never on a
    test file, by a coordinate search from SVDpp's defaults with Koren's time terms
    (``bench/bench_timesvdpp.py``, whose docstring has the figures): carve 0.8943 against
    SVDpp's 0.9018 (0.8970 with every time term off: the per-day biases give most of the
    time terms' gain, separate bias steps the rest);
    ``u1.test`` 0.9009 against SVDpp's 0.9086 (0.9106 at "now": pass the timestamps where
    they are known). The defaults shrink ``b_i`` hard, which costs users new to the model
    (item terms only): on the latest 10 % of ML-100k, mostly new users, 1.0646 against
    SVDpp's 1.0274.

    Parameters
    ----------
    n_factors : int
        Length ``k`` of ``p_u``, ``q_i`` and ``y_j``.
    n_epochs : int
        Maximum number of passes over the ratings.
    lr : float
        Step size ``eta`` of ``p``, ``q`` and ``y``.
    lr_decay : float
        ``d`` in ``eta_k = eta / (1 + d k)`` (every step size).
    reg : float
        L2 weight ``lambda`` of ``p`` and ``q``.
    reg_implicit : float
        L2 weight ``lambda_y`` of ``y``.
    init_std : float
        ``p``, ``q`` and ``y`` start as ``N(0, init_std^2)``; the biases at 0.
    n_bins : int
        Periods of the item drift over the training span.
    beta : float
        Exponent of ``dev_u``, in ``(0, 1]``.
    min_day_ratings : int or None
        Training ratings a (user, day) pair needs for its own bias ``b_{u,t}``; None: none.
    lr_user, lr_alpha, lr_day, lr_item, lr_bin : float
        Step sizes of ``b_u``, ``alpha_u``, ``b_{u,t}``, ``b_i``, ``b_{i,Bin}``.
    reg_user, reg_alpha, reg_day, reg_item, reg_bin : float
        Their L2 weights.
    patience : int or None
        Early stopping: stop when the validation RMSE has not improved for this many epochs
        and keep the best epoch's parameters; None runs every epoch. Without a validation
        set, ``valid_size`` of the training ratings are held out for it.
    valid_size : float
        Fraction of the training ratings carved out for early stopping when no validation
        set is given.
    random_state : int or None
        Seed of initialisation, shuffling and the validation carve.
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.timesvdpp``, level INFO).

    Attributes
    ----------
    user_factors_, item_factors_, implicit_factors_ : ndarray of float32
        ``p`` (n_users, k), ``q`` (n_items, k), ``y`` (n_items, k).
    user_bias_, alpha_, day_bias_, item_bias_ : ndarray of float32
        ``b_u``, ``alpha_u``, ``b_{u,t}`` (one per slot of ``time_``), ``b_i``.
    bin_bias_ : ndarray of float32, shape (n_items, n_bins)
        ``b_{i,Bin}``.
    mu_ : float
        The mean of the ratings the model was fitted on.
    time_ : TimeFeatures
        The training period, each user's mean day and the (user, day) pairs with a bias.
    user_vectors_ : ndarray of float32
        ``p_u + z_u`` (derived; not saved).

    All in model units (:mod:`recsys.models.scaling`), so the settings mean the same on any
    rating scale. ``history_`` (``train_rmse``, ``valid_rmse``), ``n_epochs_`` and
    ``best_epoch_`` as in :class:`~recsys.models.svdpp.SVDpp`.

    Raises
    ------
    RecsysError
        ``fit`` on ratings without timestamps.
    DivergenceError
        The training error became NaN/inf or exploded; the message names what to lower.
    """

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 31,
        lr: float = 0.01,
        lr_decay: float = 0.02,
        reg: float = 0.07,
        reg_implicit: float = 0.005,
        init_std: float = 0.02,
        n_bins: int = 30,
        beta: float = 0.4,
        min_day_ratings: int | None = 3,
        lr_user: float = 0.003,
        lr_alpha: float = 1e-5,
        lr_day: float = 0.001,
        lr_item: float = 0.002,
        lr_bin: float = 5e-5,
        reg_user: float = 0.01,
        reg_alpha: float = 50.0,
        reg_day: float = 0.005,
        reg_item: float = 0.2,
        reg_bin: float = 0.1,
        patience: int | None = None,
        valid_size: float = 0.1,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_decay = lr_decay
        self.reg = reg
        self.reg_implicit = reg_implicit
        self.init_std = init_std
        self.n_bins = n_bins
        self.beta = beta
        self.min_day_ratings = min_day_ratings
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
        self.patience = patience
        self.valid_size = valid_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.integer(owner, "n_factors", self.n_factors, 1, 100_000)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        for name in ("lr_decay", "reg", "reg_implicit", "init_std"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.integer(owner, "n_bins", self.n_bins, 1, 100_000)
        checks.number(owner, "beta", self.beta, 0.0, strict=True, high=1.0)
        if self.min_day_ratings is not None:
            checks.integer(owner, "min_day_ratings", self.min_day_ratings, 1)
        for term in _TERMS:
            checks.number(owner, f"lr_{term}", getattr(self, f"lr_{term}"), 0.0)
            checks.number(owner, f"reg_{term}", getattr(self, f"reg_{term}"), 0.0)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn the biases and the three factor matrices (see :meth:`Estimator.fit`)."""
        if ratings.timestamps is None:
            raise RecsysError(
                f"{type(self).__name__} needs timestamps: {ratings.name} has no 'timestamp' "
                "column (seconds since 1970, or dates); data without them: SVD++ ('svdpp')")
        rng = np.random.default_rng(self.random_state)
        train, validation = self._carve(ratings, validation, rng)
        n_users, n_items, k = ratings.n_users, ratings.n_items, int(self.n_factors)
        f32 = np.float32
        self.mu_ = float(train.global_mean)
        self.time_ = TimeFeatures.fit(
            train.users, train.timestamps, n_users, int(self.n_bins), float(self.beta),
            None if self.min_day_ratings is None else int(self.min_day_ratings))
        params = tuple(rng.standard_normal((n, k), dtype=f32) * f32(self.init_std)
                       for n in (n_users, n_items, n_items))
        params += (np.zeros(n_users, f32), np.zeros(n_users, f32),
                   np.zeros(self.time_.n_slots, f32), np.zeros(n_items, f32),
                   np.zeros((n_items, int(self.n_bins)), f32))
        seed = int(rng.integers(0, 2**63 - 1))
        indptr, rows = kernels.group_rows(train.users, n_users)
        dev, bins, slots = self.time_.encode(train.users[rows], train.timestamps[rows])
        grouped = (indptr, train.items[rows].astype(np.int32), np.arange(len(rows)),
                   train.ratings[rows].astype(f32), dev.astype(f32), bins, slots)
        held = None if validation is None else self._held_out(validation)
        self._run_epochs(rng, grouped, params, seed, held, progress)

    def _run_epochs(self, rng: np.random.Generator, grouped: tuple[np.ndarray, ...],
                    params: tuple[np.ndarray, ...], seed: int,
                    held: tuple[np.ndarray, ...] | None, progress: FitProgress) -> None:
        """The SGD epochs, validation, early stopping and the divergence guard."""
        f32 = np.float32
        indptr = grouped[0]
        n_ratings = len(grouped[3])
        active = np.flatnonzero(np.diff(indptr) > 0)
        kernel = kernels.epoch_kernel(int(self.n_factors))
        history: dict[str, list[float]] = {"train_rmse": []}
        if held is not None:
            history["valid_rmse"] = []
        self.history_ = history
        patience = int(self.patience or 0)
        best: tuple[float, int, Any] = (math.inf, -1, None)
        first = math.inf
        n_epochs, n_run = int(self.n_epochs), 0
        reg_b = np.array([float(getattr(self, f"reg_{t}")) for t in _TERMS], dtype=f32)
        for epoch in range(n_epochs):
            step = 1.0 / (1.0 + float(self.lr_decay) * epoch)
            lr_b = np.array([float(getattr(self, f"lr_{t}")) * step for t in _TERMS], dtype=f32)
            sse = kernel(*grouped, rng.permutation(active), self.seen_indptr_,
                         self.seen_items_, f32(self.mu_), *params[3:], *params[:3],
                         f32(self.lr * step), f32(self.reg), f32(self.reg_implicit), lr_b,
                         reg_b, seed, epoch)
            n_run = epoch + 1
            train_rmse = math.sqrt(sse / n_ratings) if math.isfinite(sse) else math.inf
            first = train_rmse if epoch == 0 else first
            history["train_rmse"].append(self.in_rating_units(train_rmse))
            # parameters scanned, and the users' vectors derived, only when someone may read them
            exposed = epoch == n_epochs - 1 or held is not None or progress.callback is not None
            self._check_divergence(epoch, first, train_rmse, params if exposed else ())
            if exposed:
                self._install(params)
            if held is not None:
                valid_rmse = self._held_out_rmse(held)
                history["valid_rmse"].append(self.in_rating_units(valid_rmse))
                if valid_rmse < best[0] - 1e-6:
                    best = (valid_rmse, epoch,
                            tuple(p.copy() for p in params) if patience else None)
            if self.verbose:
                line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
                logger.info("TimeSVDpp epoch %d: %s", epoch + 1, line)
            progress.epoch_done(epoch, history)
            if patience and epoch - best[1] >= patience:
                break
        self.n_epochs_ = n_run
        self.best_epoch_ = n_run - 1
        if patience and best[2] is not None:
            params = best[2]
            self.best_epoch_ = best[1]
        self._install(params)

    def _carve(self, ratings: Ratings, validation: Ratings | None,
               rng: np.random.Generator) -> tuple[Ratings, Ratings | None]:
        """The training ratings and the validation part: with early stopping and no
        validation set, ``valid_size`` of the ratings carved out at random."""
        if not self.patience or validation is not None:
            return ratings, validation
        carve = rng.random(len(ratings)) < float(self.valid_size)
        if carve.all() or not carve.any():
            raise RecsysError(
                f"valid_size={self.valid_size} leaves no training or no validation ratings "
                f"out of {len(ratings)}: change valid_size or pass a validation set")
        return ratings.subset(~carve), ratings.subset(carve)

    def _install(self, params: tuple[np.ndarray, ...]) -> None:
        """Make these the model's parameters (``_PARAMS`` order); derive ``p_u + z_u``."""
        for name, value in zip(_PARAMS, params):
            setattr(self, name, value)
        self.user_vectors_ = self.user_factors_ + svdpp_kernels.implicit_sums(
            self.seen_indptr_, self.seen_items_, self.implicit_factors_)

    def _biases(self) -> tuple[np.ndarray, ...]:
        return (self.user_bias_, self.alpha_, self.day_bias_, self.item_bias_, self.bin_bias_)

    def _check_divergence(self, epoch: int, first: float, train_rmse: float,
                          params: tuple[np.ndarray, ...]) -> None:
        low, high = self.model_scale_
        scale_range = max(high - low, 1.0)
        finite = math.isfinite(train_rmse) and all(math.isfinite(float(p.sum())) for p in params)
        if finite and train_rmse <= 3.0 * scale_range and (epoch == 0 or train_rmse <= 10 * first):
            return
        what = "NaN/inf" if not finite else f"{self.in_rating_units(train_rmse):.3g}"
        rates = ", ".join(f"lr_{t} {getattr(self, f'lr_{t}'):g}" for t in _TERMS)
        raise DivergenceError(
            f"timeSVD++ diverged at epoch {epoch + 1} (training RMSE {what}): lower lr (now "
            f"{self.lr:g}) and the bias step sizes ({rates}) or raise reg (now {self.reg:g})")

    def _held_out(self, ratings: Ratings) -> tuple[np.ndarray, ...]:
        """Indices (``-1`` where the model learned nothing), ratings and time features of a
        split that shares the id maps (at "now" when it has no timestamps)."""
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1)
        dev, bins, slots = self.time_.encode(u, ratings.timestamps)
        return (u.astype(np.int32), i.astype(np.int32), ratings.ratings, dev, bins, slots)

    def _held_out_rmse(self, held: tuple[np.ndarray, ...]) -> float:
        """RMSE (model units) of the clipped predictions of :meth:`_held_out`'s split."""
        u, i, r, dev, bins, slots = held
        low, high = self.model_scale_
        sse = kernels.squared_error_clipped(u, i, r, dev, bins, slots, self.mu_,
                                            *self._biases(), self.user_vectors_,
                                            self.item_factors_, low, high)
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
        out = kernels.predict_pairs(u, i, dev, bins, slots, self.mu_, *self._biases(),
                                    self.user_vectors_, self.item_factors_)
        return out.reshape(shape)

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions at "now" (the day after the training period)."""
        return self._predict_indices_at(u, i, None)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Scores at "now": ``mu + b_u + alpha_u dev_u(now) + b_i + b_{i,last bin} +
        (p_u + z_u) . q_i`` (unknown user: ``mu + b_i + b_{i,last bin}``)."""
        u = np.asarray(u, dtype=np.int64)
        known = u >= 0
        safe = np.maximum(u, 0)
        scores = (self.user_vectors_[safe] @ self.item_factors_.T).astype(np.float64)
        scores[~known] = 0.0
        now_dev = self.time_.now_deviation()
        user_part = np.where(known, self.user_bias_[safe] + self.alpha_[safe] * now_dev[safe],
                             0.0)
        scores += self.mu_ + user_part[:, None]
        scores += (self.item_bias_ + self.bin_bias_[:, -1])[None, :]
        return scores

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user as SVD++ folds one in (:meth:`recsys.models.svdpp.SVDpp._fold_in`),
        against the item part at "now" (``b_i + b_{i,last bin}``), with no drift and no day
        biases: with ``z_u = |N(u)|^{-1/2} sum_{j in N(u)} y_j``,

        .. math:: \min_{b_u, p_u} \sum_{i \in N(u)} (z_{ui} - \mu - b_i - b_{i,\mathrm{last}}
                  - q_i \cdot z_u - b_u - p_u \cdot q_i)^2 + (n \lambda_u + 1/T_u)\, b_u^2
                  + (n \lambda + 1/T)\, \|p_u\|^2

        (penalties from :func:`~recsys.models.foldin.bias_penalty`: ``reg_user`` and
        ``lr_user`` for the bias, ``reg`` and ``lr`` for the factors)."""
        Q = self.item_factors_[items].astype(np.float64)
        implicit = self.implicit_factors_[items].astype(np.float64).sum(axis=0) / np.sqrt(len(z))
        y = z - self.mu_ - self.item_bias_[items] - self.bin_bias_[items, -1] - Q @ implicit
        n = len(z)
        bias, p = ridge_user(Q, y, bias_penalty(self, n, float(self.reg), float(self.lr)),
                             bias_penalty(self, n, float(self.reg_user), float(self.lr_user)))
        return UserProfile(type(self).__name__, bias, p + implicit, items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i + b_{i,last bin} + Q (p_u + z_u)`` over every item."""
        return (self.item_factors_.astype(np.float64) @ profile.factors + self.mu_
                + profile.bias + self.item_bias_ + self.bin_bias_[:, -1])

    def _profile_fallback(self, profile: UserProfile) -> float:
        return float(self.mu_ + profile.bias)

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        return {
            **{name.rstrip("_"): getattr(self, name) for name in _PARAMS},
            "mu": np.array(self.mu_, dtype=np.float64),
            "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64),
            **self.time_.state(),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        k, n_users, n_items = int(self.n_factors), self.n_users_, self.n_items_
        self.time_ = TimeFeatures.from_state(arrays, n_users, int(self.n_bins),
                                             float(self.beta))
        shapes = ((n_users, k), (n_items, k), (n_items, k), (n_users,), (n_users,),
                  (self.time_.n_slots,), (n_items,), (n_items, int(self.n_bins)))
        self.mu_ = float(state_array(arrays, "mu", (), np.float64))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
        self._install(tuple(state_array(arrays, name.rstrip("_"), shape)
                            for name, shape in zip(_PARAMS, shapes)))
