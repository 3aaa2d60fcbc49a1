r"""Matrix factorisation learned by per-rating stochastic gradient descent.

BellKor's biased model, ``r_hat = mu + b_u + b_i + p_u . q_i`` (Funk's ``p_u . q_i`` with
``biased=False``), fitted by one SGD step per rating, ratings reshuffled every epoch. The hot
loop lives in :mod:`recsys.models._sgd` (numba); this module holds the estimator: parameter
checks, initialisation, the learning-rate schedule, validation and early stopping, the
divergence guard, and prediction with fallbacks.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models import _sgd
from recsys.models._blocks import (
    PREFETCH_MIN_BYTES,
    balanced_blocks,
    choose_item_blocks,
    choose_n_blocks,
    parallel_epoch,
    resolve_threads,
)
from recsys.models.base import EpochsByValidation, Estimator
from recsys.models.foldin import UserProfile, ridge_user, sgd_penalties
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress
from recsys.models.updates import UpdateBatch, grown, ridge_rows, sgd_update_settings

__all__ = ["MatrixFactorization"]

logger = logging.getLogger(__name__)

class MatrixFactorization(EpochsByValidation, Estimator):
    r"""Biased matrix factorisation by per-rating SGD (BellKor; Funk with ``biased=False``).

    .. math::
        \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i

    Each epoch visits every training rating once in a fresh random order and takes one step
    against the gradient of
    :math:`\tfrac12 e_{ui}^2 + \tfrac{\lambda}{2}(\|p_u\|^2+\|q_i\|^2)
    + \tfrac{\lambda_b}{2}(b_u^2+b_i^2)`, with :math:`e_{ui} = r_{ui} - \hat r_{ui}`:

    .. math::
        b_u \mathrel{+}= \eta_b (e - \lambda_b b_u), \quad
        b_i \mathrel{+}= \eta_b (e - \lambda_b b_i), \quad
        p_u \mathrel{+}= \eta (e q_i - \lambda p_u), \quad
        q_i \mathrel{+}= \eta (e p_u - \lambda q_i)

    (``p_u`` and ``q_i`` from their old values). The step sizes decay per epoch ``t`` (from 0)
    as :math:`\eta_t = \eta / (1 + d\,t)`.

    Epochs follow the FPSGD block scheme (see :mod:`recsys.models._sgd`) whenever the factor
    matrices outgrow a core's cache, or with ``n_threads > 1``: ratings are cut into a grid of
    user-blocks x item-blocks, blocks run in a fresh random order, ratings are shuffled inside
    each block, and threads run blocks that share no user and no item, so updates need no
    locks and never race. When all factors fit in cache, one thread shuffles all the ratings
    each epoch (a grid of one block). With one thread a seeded fit is
    repeatable bit for bit; with several, the order in which blocks run depends on thread
    timing, so results vary slightly from run to run.

    The defaults were chosen by ``bench/tune_mf.py`` on validation carves of two training
    sets, ML-100k ``u1.base`` and the bundled ml-latest-small (three seeded carves each, ranked
    by the summed mean validation RMSE; never a test file): many factors, a small
    initialisation, and a regularisation that keeps them in check.

    Parameters
    ----------
    n_factors : int
        Length ``k`` of ``p_u`` and ``q_i``.
    n_epochs : int
        Passes over the ratings (the most, with ``patience``). A fit that chooses its epochs on
        a validation part (``recsys fit``, :func:`~recsys.models.selection.fit_with_validation`)
        may go up to :data:`~recsys.models.base.SELECTION_EPOCHS_FACTOR` times as many.
    lr : float
        Step size ``eta`` of the factors.
    lr_bias : float, optional
        Step size ``eta_b`` of the biases (``lr`` when None).
    lr_decay : float
        ``d`` in ``eta_t = eta / (1 + d t)``; 0 keeps the step constant.
    reg : float
        L2 weight ``lambda`` of the factors.
    reg_bias : float
        L2 weight ``lambda_b`` of the biases.
    init_std : float
        Factors start as ``N(0, init_std^2)``; biases start at 0.
    biased : bool
        False fits Funk's ``p_u . q_i`` (no ``mu``, ``b_u``, ``b_i``).
    patience : int or None
        Early stopping: stop when the validation RMSE has not improved for this many epochs
        and keep the best epoch's parameters; None runs every epoch. Without a validation
        set, ``valid_size`` of the *training* ratings are held out for it.
    valid_size : float
        Fraction of the training ratings carved out for early stopping when no validation
        set is given.
    random_state : int or None
        Seed of initialisation, shuffling and the validation carve.
    n_threads : int or None
        Threads for the SGD epochs (None or <= 0: all cores numba may use).
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.mf``, level INFO).

    Attributes
    ----------
    user_factors_, item_factors_ : ndarray of float32, shape (n_users, k) / (n_items, k)
    user_bias_, item_bias_ : ndarray of float32 (zeros when not biased)
    mu_ : float
        The ``mu`` used by the model (mean of the ratings it was fitted on; 0 when not biased).

    All of these are in model units (:mod:`recsys.models.scaling`): the model learns
    ``z = (r - c) / s`` and predicts ``c + s z_hat``, so ``lr``, ``reg`` and ``init_std`` mean the
    same on any rating scale (``s`` is 1 on the 1-5 scale the defaults were tuned on). With
    ``biased=False`` the model is Funk's ``p_u . q_i`` on ratings centred on their mean.
    history_ : dict
        ``"train_rmse"`` (RMSE of the errors met during each epoch, before each step) and
        ``"valid_rmse"`` (clipped predictions after each epoch) when there is a validation set.
    n_epochs_ : int
        Epochs actually run. ``best_epoch_`` is the epoch whose parameters were kept.

    Raises
    ------
    DivergenceError
        When the training error becomes NaN/inf or explodes; the message names the setting
        to change (lower ``lr``, raise ``reg``).
    """

    def __init__(
        self,
        n_factors: int = 256,
        n_epochs: int = 50,
        lr: float = 0.02,
        lr_bias: float | None = 0.01,
        lr_decay: float = 0.02,
        reg: float = 0.06,
        reg_bias: float = 0.01,
        init_std: float = 0.01,
        biased: bool = True,
        patience: int | None = None,
        valid_size: float = 0.1,
        random_state: int | None = None,
        n_threads: int | None = 1,
        verbose: bool = False,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_bias = lr_bias
        self.lr_decay = lr_decay
        self.reg = reg
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.biased = biased
        self.patience = patience
        self.valid_size = valid_size
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose

    @classmethod
    def _upgrade_params(cls, params: dict[str, Any], format_version: int) -> dict[str, Any]:
        """Format 1 called ``patience`` ``early_stopping`` (0 or None: off)."""
        if format_version < 2 and "early_stopping" in params:
            params = dict(params)
            params["patience"] = params.pop("early_stopping") or None
        return params

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.integer(owner, "n_factors", self.n_factors, 1, 100_000)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        if self.lr_bias is not None:
            checks.number(owner, "lr_bias", self.lr_bias, 0.0, strict=True)
        for name in ("lr_decay", "reg", "reg_bias", "init_std"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.flag(owner, "biased", self.biased)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        checks.seed(owner, "random_state", self.random_state)
        if self.n_threads is not None:
            checks.integer(owner, "n_threads", self.n_threads, low=-(2**31))
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn factors and biases by per-rating SGD (see :meth:`Estimator.fit`).

        ``validation`` (a split of the same container) has its RMSE tracked per epoch and
        drives early stopping; without it, early stopping carves ``valid_size`` of the
        training ratings.
        """
        n_threads = resolve_threads(self.n_threads)
        setup = self._setup(ratings, validation, n_threads)
        self._fit_epochs(setup, ratings, n_threads, progress)

    def _fit_epochs(self, setup: dict[str, Any], ratings: Ratings, n_threads: int,
                    progress: FitProgress) -> None:
        """The SGD epochs, validation, early stopping and the divergence guard."""
        rng, validation = setup["rng"], setup["validation"]
        k, dtype, biased, mu = setup["k"], np.float32, bool(self.biased), setup["mu"]
        P, Q, bu, bi, seed = setup["P"], setup["Q"], setup["bu"], setup["bi"], setup["seed"]
        prefetch, n_blocks, indptr = setup["prefetch"], setup["n_blocks"], setup["indptr"]
        users, items, values = setup["users"], setup["items"], setup["values"]
        patience = int(self.patience or 0)
        kernel = _sgd.epoch_kernel(k)
        parallel_kernel = _sgd.parallel_epoch_kernel(k) if n_threads > 1 else None
        n_item_blocks = setup["n_item_blocks"]
        block_sse = np.zeros(n_blocks * n_item_blocks)

        low, high = ratings.rating_scale
        scale_range = max(high - low, 1.0)
        history: dict[str, list[float]] = {"train_rmse": []}
        if validation is not None:
            history["valid_rmse"] = []
        self.history_ = history
        lr_b0 = self.lr if self.lr_bias is None else self.lr_bias
        best = (math.inf, -1, None)  # best validation RMSE (model units), its epoch, parameters
        first_rmse = math.inf  # the first epoch's training RMSE (model units)
        n_run = 0
        pool = ThreadPoolExecutor(n_threads - 1, thread_name_prefix="recsys-sgd") \
            if n_threads > 1 else None
        nonempty = np.flatnonzero(np.diff(indptr) > 0)
        try:
            n_epochs = int(self.n_epochs)
            for epoch in range(n_epochs):
                step = 1.0 / (1.0 + float(self.lr_decay) * epoch)
                lr, lr_b = dtype(self.lr * step), dtype(lr_b0 * step)
                reg, reg_b = dtype(self.reg), dtype(self.reg_bias)
                if pool is not None:
                    sse = parallel_epoch(
                        pool, n_threads, parallel_kernel, rng.permutation(nonempty), n_blocks,
                        (users, items, values, indptr, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b,
                         biased, seed, epoch, prefetch), block_sse, n_item_blocks,
                    )
                else:
                    kernel(users, items, values, indptr, rng.permutation(nonempty), mu, bu,
                           bi, P, Q, lr, lr_b, reg, reg_b, biased, seed, epoch, prefetch,
                           block_sse)
                    sse = float(block_sse.sum())
                n_run = epoch + 1
                train_rmse = math.sqrt(sse / len(values)) if math.isfinite(sse) else math.inf
                first_rmse = train_rmse if epoch == 0 else first_rmse
                history["train_rmse"].append(self.in_rating_units(train_rmse))
                # a non-finite parameter shows in the next epoch's errors; the parameters
                # themselves are scanned only when someone may read them
                exposed = epoch == n_epochs - 1 or validation is not None \
                    or progress.callback is not None
                self._check_divergence(epoch, first_rmse, train_rmse, scale_range,
                                       (P, Q, bu, bi), exposed)
                self.user_factors_, self.item_factors_ = P, Q
                self.user_bias_, self.item_bias_ = bu, bi
                if validation is not None:
                    valid_rmse = self._rmse_of(validation)
                    history["valid_rmse"].append(self.in_rating_units(valid_rmse))
                    if valid_rmse < best[0] - 1e-6:
                        best = (valid_rmse, epoch, (P.copy(), Q.copy(), bu.copy(), bi.copy())
                                if patience else None)
                if self.verbose:
                    line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
                    logger.info("MatrixFactorization epoch %d: %s", epoch + 1, line)
                progress.epoch_done(epoch, history)
                if patience and epoch - best[1] >= patience:
                    break
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        self.n_epochs_ = n_run
        self.best_epoch_ = n_run - 1
        if patience and best[2] is not None:
            P, Q, bu, bi = best[2]
            self.best_epoch_ = best[1]
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi

    def _setup(self, ratings: Ratings, validation: Ratings | None,
               n_threads: int) -> dict[str, Any]:
        """Everything a fit needs before its first epoch: the random generator, the training
        ratings (less a validation carve for early stopping), initial parameters, and the
        ratings grouped into the FPSGD grid."""
        rng = np.random.default_rng(self.random_state)
        patience = int(self.patience or 0)
        n_users, n_items = ratings.n_users, ratings.n_items
        train = ratings
        if patience and validation is None:
            carve = rng.random(len(ratings)) < float(self.valid_size)
            if carve.all() or not carve.any():
                raise RecsysError(
                    f"valid_size={self.valid_size} leaves no training or no validation ratings "
                    f"out of {len(ratings)}: change valid_size or pass a validation set"
                )
            train, validation = ratings.subset(~carve), ratings.subset(carve)

        k = int(self.n_factors)
        dtype = np.float32
        self.mu_ = float(train.global_mean) if self.biased else 0.0
        P = rng.standard_normal((n_users, k), dtype=dtype)
        Q = rng.standard_normal((n_items, k), dtype=dtype)
        P *= dtype(self.init_std)
        Q *= dtype(self.init_std)
        seed = int(rng.integers(0, 2**63 - 1))

        n_blocks = choose_n_blocks(len(train), n_users, n_items, k, n_threads)
        n_item_blocks = choose_item_blocks(
            n_blocks, n_items, k, n_threads,
            _sgd.learns_by_user((n_users + n_items) * k * 4))
        if n_blocks > 1:
            whole = train is ratings  # then the counts are the ones fit() already made
            user_counts = self.user_counts_ if whole else \
                np.bincount(train.users, minlength=n_users)
            item_counts = self.item_counts_ if whole else \
                np.bincount(train.items, minlength=n_items)
            user_block = balanced_blocks(user_counts, n_blocks, rng)
            item_block = balanced_blocks(item_counts, n_item_blocks, rng)
            users, items, values, indptr = _sgd.block_partition(
                train.users, train.items, train.ratings, user_block, item_block, n_blocks,
                n_threads=n_threads, n_item_blocks=n_item_blocks)
        else:
            users, items, values = train.users.copy(), train.items.copy(), train.ratings.copy()
            indptr = np.array([0, len(values)], dtype=np.int64)
        return {
            "rng": rng, "train": train, "validation": validation, "k": k,
            "mu": dtype(self.mu_), "P": P, "Q": Q, "bu": np.zeros(n_users, dtype=dtype),
            "bi": np.zeros(n_items, dtype=dtype), "seed": seed,
            "prefetch": (n_users + n_items) * k * 4 > PREFETCH_MIN_BYTES,
            "n_blocks": n_blocks, "n_item_blocks": n_item_blocks, "indptr": indptr,
            "users": users, "items": items,
            "values": values,
        }

    def _check_divergence(self, epoch: int, first: float, train_rmse: float,
                          scale_range: float, params: tuple[np.ndarray, ...],
                          scan: bool = True) -> None:
        # a NaN/inf anywhere makes the (float32, SIMD) sum non-finite; so may an overflow of
        # the sum itself (|values| near 1e38), which is divergence too
        finite = math.isfinite(train_rmse) and (
            not scan or all(math.isfinite(float(a.sum())) for a in params))
        if finite and train_rmse <= 3.0 * scale_range and (epoch == 0 or train_rmse <= 10 * first):
            return
        what = "NaN/inf" if not finite else f"{self.in_rating_units(train_rmse):.3g}"
        raise DivergenceError(
            f"matrix factorisation diverged at epoch {epoch + 1} (training RMSE {what}): "
            f"lower lr (now {self.lr:g}"
            + (f", lr_bias {self.lr_bias:g}" if self.lr_bias is not None else "")
            + f") or raise reg (now {self.reg:g})"
        )

    def _rmse_of(self, ratings: Ratings) -> float:
        """RMSE of clipped predictions on a split that shares the id maps (model units)."""
        low, high = self.model_scale_
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1).astype(np.int32)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1).astype(np.int32)
        sse = _sgd.squared_error_clipped(
            u, i, ratings.ratings, np.float32(self.mu_), self.user_bias_, self.item_bias_,
            self.user_factors_, self.item_factors_, bool(self.biased), self.model_mean_,
            float(low), float(high),
        )
        return math.sqrt(sse / max(len(ratings), 1))

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions in model units; unknown user -> ``mu + b_i``, unknown item ->
        ``mu + b_u``, both -> ``mu`` (the training mean for an unbiased model)."""
        shape = np.shape(u)
        u = np.ascontiguousarray(np.ravel(u), dtype=np.int32)
        i = np.ascontiguousarray(np.ravel(i), dtype=np.int32)
        out = _sgd.predict_pairs(
            u, i, np.float32(self.mu_), self.user_bias_, self.item_bias_, self.user_factors_,
            self.item_factors_, bool(self.biased), self.model_mean_,
        )
        return out.reshape(shape)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """``mu + b_u + b_i + P[u] @ Q.T`` for a batch of users (unknown: ``mu + b_i``)."""
        u = np.asarray(u)
        known = u >= 0
        safe = np.maximum(u, 0)
        scores = self.user_factors_[safe] @ self.item_factors_.T
        scores[~known] = 0.0
        scores = scores.astype(np.float64)
        if self.biased:
            scores += self.mu_ + self.item_bias_[None, :]
            scores += np.where(known, self.user_bias_[safe], 0.0)[:, None]
        else:
            scores[~known] = self.model_mean_
        return scores

    def _item_vectors(self) -> np.ndarray:
        return self.item_factors_

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user's ``(b_u, p_u)`` against the fixed ``q_i``, ``b_i``, ``mu``.

        With ``n`` ratings ``z_ui`` given (model units), solves in closed form
        (:func:`~recsys.models.foldin.ridge_user`)

        .. math:: \min_{b_u, p_u} \sum_{i \in R(u)} (z_{ui} - \mu - b_i - b_u - p_u \cdot q_i)^2
                  + (n \lambda_b + 1/T_b)\, b_u^2 + (n \lambda + 1/T)\, \|p_u\|^2

        (without ``mu``, ``b_i``, ``b_u`` when ``biased=False``). ``n lambda`` is the weight
        decay per-rating SGD applies, once per rating of the user; ``1/T`` stands for the
        shrinkage of stopping SGD after a finite number of steps, which a user with a few
        ratings never outgrows (``T`` the fit's step sizes summed over the epochs it kept;
        :func:`~recsys.models.foldin.sgd_penalties`). Without the ``1/T`` terms a user with
        one rating puts nearly all of it into ``b_u`` (``lambda_b`` is small), which a refit
        never does: on ML-100k ``u1`` that scored worse than no personalisation
        (``bench/bench_foldin.py``).
        """
        penalty, penalty_b = sgd_penalties(self, len(z))
        Q = self.item_factors_[items]
        if self.biased:
            y = z - self.mu_ - self.item_bias_[items].astype(np.float64)
            bias, p = ridge_user(Q, y, penalty, penalty_b)
        else:
            bias, p = ridge_user(Q, z, penalty, None)
        return UserProfile(type(self).__name__, bias, p, items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i + Q p_u`` over all items (``Q p_u`` unbiased)."""
        scores = self.item_factors_.astype(np.float64) @ profile.factors
        if self.biased:
            scores += self.mu_ + profile.bias + self.item_bias_
        return scores

    def _profile_fallback(self, profile: UserProfile) -> float:
        return float(self.mu_ + profile.bias) if self.biased else self.model_mean_

    # ------------------------------------------------------------------ updates
    _update_defaults = {"n_epochs": 10, "lr_scale": 0.5, "replay_size": 0.0}
    """``partial_fit``'s defaults: 10 epochs at half the step the fit ended on, no replay
    (chosen by ``bench/bench_update.py --tune`` on a validation carve of ML-100k by time;
    3 to 10 epochs at 0.5-1x that step scored within 0.0003 RMSE of it, replay of 1 or 4
    old ratings per new one no better; more epochs or larger steps overfit the new ratings)."""

    def _partial_fit(self, batch: UpdateBatch, n_epochs: int | None = None,
                     lr: float | None = None, replay_size: float | None = None) -> None:
        r"""Continue the fit on new ratings (:meth:`~recsys.models.updates.Updates.partial_fit`).

        1. New items get ``q_i ~ N(0, init_std^2)``, ``b_i = 0`` as in :meth:`fit`; then the
           cold ones (new, or in the id map without a training rating) rated by known users
           are solved against those users in closed form (the fold-in ridge with the item in
           the user's place: ``min sum_u (z_ui - mu - b_u - b_i - p_u . q_i)^2
           + (n lambda_b + 1/T_b) b_i^2 + (n lambda + 1/T) ||q_i||^2``).
        2. Cold users are folded in (:meth:`_fold_in`'s ridge) against the item side, new
           items included.
        3. ``n_epochs`` epochs of the fit's per-rating SGD steps (:mod:`recsys.models._sgd`)
           over the new ratings plus the replay sample, shuffled each epoch, at the constant
           step ``lr`` (default: half the step the fit ended on, ``lr / (1 + d t)`` at its
           kept epoch ``t``; ``lr_bias`` scaled alike).

        ``mu`` and the model units stay those of the fit. Without step 2 a new user learns
        only what the update's few small steps carry from 0 (``bench/bench_update.py``: on
        planted data, 0.89 RMSE against 0.60 with fold-in and 0.59 for a refit).
        """
        epochs, lr_w, lr_b = sgd_update_settings(self, n_epochs, lr)
        f32, k, rng, std = np.float32, int(self.n_factors), batch.rng, float(self.init_std)
        P, Q = grown(self.user_factors_, batch.n_users, rng, std), \
            grown(self.item_factors_, batch.n_items, rng, std)
        bu, bi = grown(self.user_bias_, batch.n_users), grown(self.item_bias_, batch.n_items)
        self._solve_new_rows(batch, P, Q, bu, bi)

        users = np.concatenate([batch.users, batch.replay_users]).astype(np.int32)
        items = np.concatenate([batch.items, batch.replay_items]).astype(np.int32)
        values = np.concatenate([batch.values, batch.replay_values]).astype(f32)
        kernel = _sgd.epoch_kernel(k)
        indptr = np.array([0, len(values)], dtype=np.int64)
        sse = np.zeros(1)
        seed = int(rng.integers(0, 2**63 - 1))
        for epoch in range(epochs):
            kernel(users, items, values, indptr, np.zeros(1, dtype=np.int64), f32(self.mu_),
                   bu, bi, P, Q, f32(lr_w), f32(lr_b), f32(self.reg), f32(self.reg_bias),
                   bool(self.biased), seed, epoch, False, sse)
            if not math.isfinite(float(sse[0])):
                break
        if not (math.isfinite(float(sse[0]))
                and all(math.isfinite(float(a.sum())) for a in (P, Q, bu, bi))):
            raise DivergenceError(f"the update diverged (NaN/inf): lower lr (now {lr_w:g})")
        self.user_factors_, self.item_factors_ = P, Q
        self.user_bias_, self.item_bias_ = bu, bi

    def _solve_new_rows(self, batch: UpdateBatch, P: np.ndarray, Q: np.ndarray,
                        bu: np.ndarray, bi: np.ndarray) -> None:
        """Steps 1 and 2 of :meth:`_partial_fit`, in place on the extended arrays."""
        biased = bool(self.biased)
        z = batch.values.astype(np.float64)

        def penalties(n: int) -> tuple[float, float | None]:
            penalty, penalty_b = sgd_penalties(self, n)
            return penalty, (penalty_b if biased else None)

        mu = self.mu_ if biased else 0.0
        cold_items = np.flatnonzero(batch.old_item_counts == 0)
        if len(cold_items):
            y = z - mu - (bu[batch.users] if biased else 0.0)
            for i, (bias, q) in ridge_rows(batch.items, batch.users, y, cold_items, P,
                                           batch.old_user_counts > 0, penalties).items():
                Q[i], bi[i] = q, bias
        new_users = np.flatnonzero(batch.old_user_counts == 0)
        if len(new_users):
            y = z - mu - (bi[batch.items] if biased else 0.0)
            for u, (bias, p) in ridge_rows(batch.users, batch.items, y, new_users, Q,
                                           np.ones(batch.n_items, dtype=bool),
                                           penalties).items():
                P[u], bu[u] = p, bias

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        return {
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "mu": np.array(self.mu_, dtype=np.float64),
            "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        k = int(self.n_factors)
        self.user_factors_ = state_array(arrays, "user_factors", (self.n_users_, k))
        self.item_factors_ = state_array(arrays, "item_factors", (self.n_items_, k))
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,))
        self.item_bias_ = state_array(arrays, "item_bias", (self.n_items_,))
        self.mu_ = float(state_array(arrays, "mu", (), np.float64))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
