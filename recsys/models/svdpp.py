r"""SVD++ (Koren 2008): biased matrix factorisation plus implicit feedback from *which* items
each user rated, learned by per-rating SGD grouped by user.

The hot loop lives in :mod:`recsys.models._svdpp_sgd` (numba); this module holds the
estimator: parameter checks, initialisation, the learning-rate schedule, validation and early
stopping, the divergence guard, and prediction with fallbacks.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models import _svdpp_sgd as kernels
from recsys.models.base import EpochsByValidation, Estimator
from recsys.models.foldin import UserProfile, ridge_user, sgd_penalties
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress
from recsys.models.updates import UpdateBatch, grown, ridge_rows, sgd_update_settings

__all__ = ["SVDpp"]

logger = logging.getLogger(__name__)


class SVDpp(EpochsByValidation, Estimator):
    r"""SVD++ by per-rating SGD, one user's ratings at a time (Koren 2008).

    .. math::
        \hat r_{ui} = \mu + b_u + b_i + q_i \cdot \Big(p_u + |N(u)|^{-1/2}
        \sum_{j \in N(u)} y_j\Big)

    :math:`N(u)` is the set of items user ``u`` rated in the data given to :meth:`fit` (the
    model's ``seen_items_``; a validation part carved from it for early stopping stays in
    :math:`N(u)`: which items a user rated is known even where the rating is held out). Each
    epoch visits the users in a fresh random order and each user's ratings in a fresh random
    order. Per user, :math:`z_u = |N(u)|^{-1/2} \sum_{j \in N(u)} y_j` is computed once; each
    rating, with :math:`e = r_{ui} - \hat r_{ui}`, takes the step (all from old values)

    .. math::
        b_u \mathrel{+}= \eta_b (e - \lambda_b b_u), \quad
        b_i \mathrel{+}= \eta_b (e - \lambda_b b_i), \quad
        p_u \mathrel{+}= \eta (e q_i - \lambda p_u), \quad
        q_i \mathrel{+}= \eta (e (p_u + z_u) - \lambda q_i)

    and adds :math:`e |N(u)|^{-1/2} q_i` to an accumulator :math:`g_u`; after the user's
    ``m`` ratings every :math:`j \in N(u)` gets

    .. math::
        y_j \leftarrow (1 - \eta \lambda_y)^m y_j + \eta g_u

    (with one rating: exactly the gradient step on
    :math:`\tfrac12 e^2 + \tfrac{\lambda_y}{2}\sum_j \lVert y_j\rVert^2`; with more, the
    per-rating steps with :math:`z_u` held fixed over the user's ratings). An epoch so costs
    ``O(k)`` per rating plus ``O(|N(u)| k)`` per user instead of ``O(|N(u)| k)`` per rating.
    The step sizes decay per epoch ``t`` (from 0) as :math:`\eta_t = \eta / (1 + d\,t)`. One
    thread; a seeded fit is repeatable bit for bit.

    The defaults were chosen on a validation split (10 %, seed 0) carved from ML-100k
    ``u1.base``, never on a test file, by ``bench/bench_svdpp.py --sections tune``: the
    ``coarse`` grid (162 runs: 20/50/100 factors, ``lr`` 0.004-0.01, decay 0.02/0.05, ``reg``
    0.08-0.13, ``reg_implicit`` 0.002-0.01), the ``fine`` grid around its winner (100/200
    factors, ``reg`` up to 0.2, ``reg_bias`` 0.01/0.05) and the ``final`` one (``reg`` 0.11-0.14,
    ``init_std`` 0.02-0.1). Best validation RMSE 0.9018 at epoch 47 (``reg`` 0.11,
    ``init_std`` 0.03; other seeds move it by about 0.001; 200 factors gained 0.0001 at twice
    the cost; the class's first guess, 50 factors, ``reg`` 0.05, ``reg_implicit`` 0.05, gave
    0.9211); MF's defaults on the same split: 0.9128.
    ``reg_implicit`` matters most: 0.05 and above keep the ``y_j`` of popular items near zero
    (they are shrunk once per rating of every user who rated them).

    Parameters
    ----------
    n_factors : int
        Length ``k`` of ``p_u``, ``q_i`` and ``y_j``.
    n_epochs : int
        Maximum number of passes over the ratings.
    lr : float
        Step size ``eta`` of ``p``, ``q`` and ``y``.
    lr_bias : float, optional
        Step size ``eta_b`` of the biases (``lr`` when None).
    lr_decay : float
        ``d`` in ``eta_t = eta / (1 + d t)``; 0 keeps the steps constant.
    reg : float
        L2 weight ``lambda`` of ``p`` and ``q``.
    reg_bias : float
        L2 weight ``lambda_b`` of the biases.
    reg_implicit : float
        L2 weight ``lambda_y`` of the implicit factors ``y``.
    init_std : float
        ``p``, ``q`` and ``y`` start as ``N(0, init_std^2)``; biases start at 0.
    patience : int or None
        Early stopping: stop when the validation RMSE has not improved for this many epochs
        and keep the best epoch's parameters; None runs every epoch. Without a validation
        set, ``valid_size`` of the *training* ratings are held out for it.
    valid_size : float
        Fraction of the training ratings carved out for early stopping when no validation
        set is given.
    random_state : int or None
        Seed of initialisation, shuffling and the validation carve.
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.svdpp``, level INFO).

    Attributes
    ----------
    user_factors_, item_factors_, implicit_factors_ : ndarray of float32
        ``p`` (n_users, k), ``q`` (n_items, k) and ``y`` (n_items, k).
    user_bias_, item_bias_ : ndarray of float32
    mu_ : float
        The ``mu`` of the model (mean of the ratings it was fitted on).
    user_vectors_ : ndarray of float32, shape (n_users, k)
        ``p_u + z_u``, what prediction uses (derived from the above; not saved).

    All of these are in model units (:mod:`recsys.models.scaling`), so ``lr``, ``reg`` and
    ``init_std`` mean the same on any rating scale.
    history_ : dict
        ``"train_rmse"`` (RMSE of the errors met during each epoch, before each step) and
        ``"valid_rmse"`` (clipped predictions after each epoch) when there is a validation set.
    n_epochs_ : int
        Epochs actually run. ``best_epoch_`` is the epoch whose parameters were kept.

    Raises
    ------
    DivergenceError
        When the training error becomes NaN/inf or explodes; the message names the settings
        to change (lower ``lr``, raise ``reg``).
    """

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 47,
        lr: float = 0.01,
        lr_bias: float | None = 0.01,
        lr_decay: float = 0.02,
        reg: float = 0.11,
        reg_bias: float = 0.05,
        reg_implicit: float = 0.005,
        init_std: float = 0.03,
        patience: int | None = None,
        valid_size: float = 0.1,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_bias = lr_bias
        self.lr_decay = lr_decay
        self.reg = reg
        self.reg_bias = reg_bias
        self.reg_implicit = reg_implicit
        self.init_std = init_std
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
        if self.lr_bias is not None:
            checks.number(owner, "lr_bias", self.lr_bias, 0.0, strict=True)
        for name in ("lr_decay", "reg", "reg_bias", "reg_implicit", "init_std"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn biases and the three factor matrices (see :meth:`Estimator.fit`)."""
        rng = np.random.default_rng(self.random_state)
        train, validation = self._carve(ratings, validation, rng)
        n_users, n_items, k = ratings.n_users, ratings.n_items, int(self.n_factors)
        f32 = np.float32
        self.mu_ = float(train.global_mean)
        P = rng.standard_normal((n_users, k), dtype=f32) * f32(self.init_std)
        Q = rng.standard_normal((n_items, k), dtype=f32) * f32(self.init_std)
        Y = rng.standard_normal((n_items, k), dtype=f32) * f32(self.init_std)
        bu, bi = np.zeros(n_users, dtype=f32), np.zeros(n_items, dtype=f32)
        seed = int(rng.integers(0, 2**63 - 1))
        indptr, items, values = kernels.group_by_user(
            train.users, train.items, train.ratings.astype(f32), n_users)
        active = np.flatnonzero(np.diff(indptr) > 0)
        kernel = kernels.epoch_kernel(k)

        low, high = ratings.rating_scale
        scale_range = max(high - low, 1.0)
        history: dict[str, list[float]] = {"train_rmse": []}
        if validation is not None:
            history["valid_rmse"] = []
        self.history_ = history
        lr_b0 = self.lr if self.lr_bias is None else self.lr_bias
        patience = int(self.patience or 0)
        best: tuple[float, int, Any] = (math.inf, -1, None)
        first_rmse = math.inf
        n_epochs, n_run = int(self.n_epochs), 0
        for epoch in range(n_epochs):
            step = 1.0 / (1.0 + float(self.lr_decay) * epoch)
            sse = kernel(indptr, items, values, rng.permutation(active), self.seen_indptr_,
                         self.seen_items_, f32(self.mu_), bu, bi, P, Q, Y,
                         f32(self.lr * step), f32(lr_b0 * step), f32(self.reg),
                         f32(self.reg_bias), f32(self.reg_implicit), seed, epoch)
            n_run = epoch + 1
            train_rmse = math.sqrt(sse / len(values)) if math.isfinite(sse) else math.inf
            first_rmse = train_rmse if epoch == 0 else first_rmse
            history["train_rmse"].append(self.in_rating_units(train_rmse))
            # a non-finite parameter shows in the next epoch's errors; the parameters are
            # scanned, and the users' vectors derived, only when someone may read them
            exposed = epoch == n_epochs - 1 or validation is not None \
                or progress.callback is not None
            self._check_divergence(epoch, first_rmse, train_rmse, scale_range,
                                   (P, Q, Y, bu, bi) if exposed else ())
            if exposed:
                self._install(P, Q, Y, bu, bi)
            if validation is not None:
                valid_rmse = self._rmse_of(validation)
                history["valid_rmse"].append(self.in_rating_units(valid_rmse))
                if valid_rmse < best[0] - 1e-6:
                    best = (valid_rmse, epoch, tuple(a.copy() for a in (P, Q, Y, bu, bi))
                            if patience else None)
            if self.verbose:
                line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
                logger.info("SVDpp epoch %d: %s", epoch + 1, line)
            progress.epoch_done(epoch, history)
            if patience and epoch - best[1] >= patience:
                break
        self.n_epochs_ = n_run
        self.best_epoch_ = n_run - 1
        if patience and best[2] is not None:
            P, Q, Y, bu, bi = best[2]
            self.best_epoch_ = best[1]
        self._install(P, Q, Y, bu, bi)

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
                f"out of {len(ratings)}: change valid_size or pass a validation set"
            )
        return ratings.subset(~carve), ratings.subset(carve)

    def _install(self, P: np.ndarray, Q: np.ndarray, Y: np.ndarray, bu: np.ndarray,
                 bi: np.ndarray) -> None:
        """Make these the model's parameters, and derive the users' vectors ``p_u + z_u``."""
        self.user_factors_, self.item_factors_, self.implicit_factors_ = P, Q, Y
        self.user_bias_, self.item_bias_ = bu, bi
        self.user_vectors_ = P + kernels.implicit_sums(self.seen_indptr_, self.seen_items_, Y)

    def _check_divergence(self, epoch: int, first: float, train_rmse: float,
                          scale_range: float, params: tuple[np.ndarray, ...]) -> None:
        finite = math.isfinite(train_rmse) and all(
            math.isfinite(float(a.sum())) for a in params)
        if finite and train_rmse <= 3.0 * scale_range and (epoch == 0 or train_rmse <= 10 * first):
            return
        what = "NaN/inf" if not finite else f"{self.in_rating_units(train_rmse):.3g}"
        raise DivergenceError(
            f"SVD++ diverged at epoch {epoch + 1} (training RMSE {what}): lower lr (now "
            f"{self.lr:g}" + (f", lr_bias {self.lr_bias:g}" if self.lr_bias is not None else "")
            + f") or raise reg (now {self.reg:g}) and reg_implicit (now {self.reg_implicit:g})"
        )

    def _rmse_of(self, ratings: Ratings) -> float:
        """RMSE of clipped predictions on a split that shares the id maps (model units)."""
        low, high = self.model_scale_
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1).astype(np.int32)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1).astype(np.int32)
        sse = kernels.squared_error_clipped(
            u, i, ratings.ratings, np.float32(self.mu_), self.user_bias_, self.item_bias_,
            self.user_vectors_, self.item_factors_, float(low), float(high))
        return math.sqrt(sse / max(len(ratings), 1))

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions in model units; unknown user -> ``mu + b_i``, unknown item ->
        ``mu + b_u``, both -> ``mu``."""
        shape = np.shape(u)
        u = np.ascontiguousarray(np.ravel(u), dtype=np.int32)
        i = np.ascontiguousarray(np.ravel(i), dtype=np.int32)
        out = kernels.predict_pairs(u, i, np.float32(self.mu_), self.user_bias_,
                                    self.item_bias_, self.user_vectors_, self.item_factors_)
        return out.reshape(shape)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """``mu + b_u + b_i + (P + Z)[u] @ Q.T`` for a batch of users (unknown: ``mu + b_i``)."""
        u = np.asarray(u)
        known = u >= 0
        safe = np.maximum(u, 0)
        scores = (self.user_vectors_[safe] @ self.item_factors_.T).astype(np.float64)
        scores[~known] = 0.0
        scores += self.mu_ + self.item_bias_[None, :]
        scores += np.where(known, self.user_bias_[safe], 0.0)[:, None]
        return scores

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user against the fixed ``q_i``, ``y_j``, ``b_i``, ``mu``.

        The implicit part comes from the items given, ``z_u = |N(u)|^{-1/2} sum_{j in N(u)}
        y_j`` with ``N(u)`` those items; ``(b_u, p_u)`` then solve in closed form
        (:func:`~recsys.models.foldin.ridge_user`)

        .. math:: \min_{b_u, p_u} \sum_{i \in N(u)} (z_{ui} - \mu - b_i - q_i \cdot z_u
                  - b_u - p_u \cdot q_i)^2 + (n \lambda_b + 1/T_b)\, b_u^2
                  + (n \lambda + 1/T)\, \|p_u\|^2

        with the penalties of :func:`~recsys.models.foldin.sgd_penalties` (SGD's weight decay
        once per rating, plus the shrinkage of its finite steps). The profile's ``factors``
        hold ``p_u + z_u``, what prediction uses.
        """
        Q = self.item_factors_[items].astype(np.float64)
        implicit = self.implicit_factors_[items].astype(np.float64).sum(axis=0) / np.sqrt(len(z))
        y = z - self.mu_ - self.item_bias_[items].astype(np.float64) - Q @ implicit
        penalty, penalty_b = sgd_penalties(self, len(z))
        bias, p = ridge_user(Q, y, penalty, penalty_b)
        return UserProfile(type(self).__name__, bias, p + implicit, items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i + Q (p_u + z_u)`` over all items."""
        return (self.item_factors_.astype(np.float64) @ profile.factors + self.mu_
                + profile.bias + self.item_bias_)

    def _profile_fallback(self, profile: UserProfile) -> float:
        return float(self.mu_ + profile.bias)

    # ------------------------------------------------------------------ updates
    _update_defaults = {"n_epochs": 5, "lr_scale": 0.5, "replay_size": 0.0}
    """``partial_fit``'s defaults: 5 epochs at half the step the fit ended on, no replay
    (chosen by ``bench/bench_update.py --model svdpp --tune`` on a validation carve of
    ML-100k by time; 1 to 5 epochs at 0.5-2x that step scored within 0.0002 RMSE of it)."""

    def _partial_fit(self, batch: UpdateBatch, n_epochs: int | None = None,
                     lr: float | None = None, replay_size: float | None = None) -> None:
        r"""Continue the fit on new ratings (:meth:`~recsys.models.updates.Updates.partial_fit`),
        with ``N(u)`` now every item the user rated, old and new.

        1. New rows start as a fit starts them (``N(0, init_std^2)`` factors, zero biases);
           cold items rated by known users are then solved against those users' vectors
           ``p_u + z_u`` in closed form (the fold-in ridge with the item in the user's place);
        2. cold users are folded in as :meth:`_fold_in` does: ``z_u`` from their items, then
           the ``(b_u, p_u)`` ridge;
        3. ``n_epochs`` epochs of the fit's per-user SGD (:mod:`recsys.models._svdpp_sgd`)
           over the users of the new ratings (plus the replay sample), at the constant step
           ``lr`` (default: half the step the fit ended on). The users' vectors are then
           derived again for everyone (a changed ``y_j`` moves every user who rated ``j``).
        """
        epochs, lr_w, lr_b = sgd_update_settings(self, n_epochs, lr)
        f32, k, rng, std = np.float32, int(self.n_factors), batch.rng, float(self.init_std)
        P = grown(self.user_factors_, batch.n_users, rng, std)
        Q = grown(self.item_factors_, batch.n_items, rng, std)
        Y = grown(self.implicit_factors_, batch.n_items, rng, std)
        bu, bi = grown(self.user_bias_, batch.n_users), grown(self.item_bias_, batch.n_items)
        self._solve_new_rows(batch, P, Q, Y, bu, bi)

        indptr, items, values = kernels.group_by_user(
            np.concatenate([batch.users, batch.replay_users]).astype(np.int32),
            np.concatenate([batch.items, batch.replay_items]).astype(np.int32),
            np.concatenate([batch.values, batch.replay_values]).astype(f32), batch.n_users)
        active = np.flatnonzero(np.diff(indptr) > 0)
        kernel = kernels.epoch_kernel(k)
        seed = int(rng.integers(0, 2**63 - 1))
        sse = 0.0
        for epoch in range(epochs):
            sse = kernel(indptr, items, values, rng.permutation(active), batch.seen_indptr,
                         batch.seen_items, f32(self.mu_), bu, bi, P, Q, Y, f32(lr_w),
                         f32(lr_b), f32(self.reg), f32(self.reg_bias), f32(self.reg_implicit),
                         seed, epoch)
            if not math.isfinite(sse):
                break
        if not (math.isfinite(sse)
                and all(math.isfinite(float(a.sum())) for a in (P, Q, Y, bu, bi))):
            raise DivergenceError(f"the update diverged (NaN/inf): lower lr (now {lr_w:g})")
        self.user_factors_, self.item_factors_, self.implicit_factors_ = P, Q, Y
        self.user_bias_, self.item_bias_ = bu, bi
        self.user_vectors_ = P + kernels.implicit_sums(batch.seen_indptr, batch.seen_items, Y)

    def _solve_new_rows(self, batch: UpdateBatch, P: np.ndarray, Q: np.ndarray,
                        Y: np.ndarray, bu: np.ndarray, bi: np.ndarray) -> None:
        """Steps 1 and 2 of :meth:`_partial_fit`, in place on the extended arrays."""
        z = batch.values.astype(np.float64)

        def penalties(n: int) -> tuple[float, float]:
            return sgd_penalties(self, n)

        cold_items = np.flatnonzero(batch.old_item_counts == 0)
        if len(cold_items):
            known = batch.old_user_counts > 0
            vectors = grown(self.user_vectors_, batch.n_users)
            y = z - self.mu_ - bu[batch.users]
            for i, (bias, q) in ridge_rows(batch.items, batch.users, y, cold_items, vectors,
                                           known, penalties).items():
                Q[i], bi[i] = q, bias
        cold_users = np.flatnonzero(batch.old_user_counts == 0)
        if len(cold_users):
            implicit = kernels.implicit_sums(batch.seen_indptr, batch.seen_items, Y)
            y = z - self.mu_ - bi[batch.items] - np.einsum(
                "nk,nk->n", Q[batch.items].astype(np.float64),
                implicit[batch.users].astype(np.float64))
            for u, (bias, p) in ridge_rows(batch.users, batch.items, y, cold_users, Q,
                                           np.ones(batch.n_items, dtype=bool),
                                           penalties).items():
                P[u], bu[u] = p, bias

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        return {
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "implicit_factors": self.implicit_factors_,
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "mu": np.array(self.mu_, dtype=np.float64),
            "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        k = int(self.n_factors)
        self.mu_ = float(state_array(arrays, "mu", (), np.float64))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
        self._install(state_array(arrays, "user_factors", (self.n_users_, k)),
                      state_array(arrays, "item_factors", (self.n_items_, k)),
                      state_array(arrays, "implicit_factors", (self.n_items_, k)),
                      state_array(arrays, "user_bias", (self.n_users_,)),
                      state_array(arrays, "item_bias", (self.n_items_,)))
