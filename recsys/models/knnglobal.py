r"""Koren's global neighbourhood model (KDD 2008, "Factorization meets the neighborhood",
section 3): interpolation weights between neighbouring items learned by SGD.

The estimator: settings and their checks, the fit (a fixed baseline, the neighbour lists from
shrunk Pearson-baseline similarities, then per-rating SGD with early stopping), prediction with
fallbacks, fold-in of a new user, similar items and saving. The SGD and prediction loops live
in :mod:`recsys.models._knnglobal_sgd` (numba); the similarities are
:mod:`recsys.models._knn_kernels`'s, as :class:`~recsys.models.knn.KNNBaseline` computes them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import DivergenceError, RecsysError
from recsys.models import _checks as checks
from recsys.models import _knnglobal_sgd as kernels
from recsys.models._knn_kernels import group_by
from recsys.models._blocks import resolve_threads
from recsys.models.base import EpochsByValidation, Estimator
from recsys.models.foldin import UserProfile, bias_penalty
from recsys.models.io import state_array, state_ints
from recsys.models.progress import FitProgress

__all__ = ["GlobalNeighbourhood"]

logger = logging.getLogger(__name__)


class GlobalNeighbourhood(EpochsByValidation, Estimator):
    r"""Item-item interpolation weights learned by per-rating SGD (Koren 2008, eq. 10).

    .. math::
        \hat r_{ui} = \mu + b_u + b_i
            + |R^k(i;u)|^{-1/2} \sum_{j \in R^k(i;u)} (r_{uj} - \tilde b_{uj})\, w_{ij}
            + |N^k(i;u)|^{-1/2} \sum_{j \in N^k(i;u)} c_{ij}

    **Baseline.** :math:`\tilde b_{uj} = \mu + \tilde b_u + \tilde b_j` is fitted first and
    then held fixed, as :class:`~recsys.models.knn.KNNBaseline` fits its baseline
    (``bias_epochs`` alternating closed-form ridge sweeps with ``baseline_reg_user`` /
    ``baseline_reg_item``).

    **Neighbours.** :math:`S^k(i)`, item ``i``'s ``k`` most similar items by the shrunk
    Pearson-baseline correlation of the baseline residuals (positive ones only; ``shrinkage``
    and ``min_support`` as KNNBaseline's). :math:`R^k(i;u) = R(u) \cap S^k(i)`; with explicit
    ratings only, :math:`N(u) = R(u)` and :math:`N^k(i;u) = R^k(i;u)`. Unlike KNNBaseline, the
    neighbours' influence is not the similarity: ``w_ij`` (on the neighbour's residual) and
    the offset ``c_ij`` are learned.

    **Learning.** ``b_u``, ``b_i`` start at the baseline's :math:`\tilde b_u`,
    :math:`\tilde b_i`, ``w`` and ``c`` at 0. Each epoch visits the users in a fresh random
    order and each user's ratings in a fresh random order; with
    :math:`e = r_{ui} - \hat r_{ui}` and :math:`n = |R^k(i;u)|`, each rating takes the
    paper's step (all from old values):

    .. math::
        b_u \mathrel{+}= \gamma_b (e - \lambda_b b_u), \quad
        b_i \mathrel{+}= \gamma_b (e - \lambda_b b_i),

        w_{ij} \mathrel{+}= \gamma\,(n^{-1/2} e\,(r_{uj} - \tilde b_{uj}) - \lambda_4 w_{ij}),
        \quad
        c_{ij} \mathrel{+}= \gamma\,(n^{-1/2} e - \lambda_4 c_{ij})
        \qquad (j \in R^k(i;u))

    (:math:`\gamma` = ``lr``, :math:`\gamma_b` = ``lr_bias``, :math:`\lambda_4` = ``reg``,
    :math:`\lambda_b` = ``reg_bias``). The steps decay per epoch ``t`` (from 0) as
    :math:`\gamma_t = \gamma / (1 + d\,t)`. A user's residual vector is scattered once per
    user (:mod:`recsys.models._knnglobal_sgd`), so a rating costs ``O(k)``. One thread; a
    seeded fit is repeatable bit for bit.

    The defaults were chosen on a validation carve (10 %, seed 0) of ML-100k ``u1.base``,
    never on a test file, by ``bench/tune_knnglobal.py`` (its docstring has the grid):
    validation RMSE 0.9082 at 24 epochs against KNNBaseline's 0.9207; Koren's step and
    weight decay (``lr`` 0.005-0.01, ``reg`` 0.002) were near the best, ``k`` 100-200 equal,
    and every setting near the defaults within 0.0004. On ml-latest-small's training carve:
    0.8489 against KNNBaseline's 0.8625.

    Parameters
    ----------
    k : int
        Neighbours per item (``|S^k(i)|``): the model stores ``n_items * k`` weight pairs.
    shrinkage, min_support :
        The similarity's shrinkage ``lambda`` and the fewest common raters of a neighbour.
    baseline_reg_user, baseline_reg_item, bias_epochs :
        The fixed baseline's regularisation of :math:`\tilde b_u`, :math:`\tilde b_i` and
        its alternating sweeps.
    n_epochs : int
        Maximum number of SGD passes over the ratings.
    lr, lr_bias : float
        :math:`\gamma` (of ``w``, ``c``) and :math:`\gamma_b` (of ``b_u``, ``b_i``; ``lr``
        when None).
    lr_decay : float
        ``d`` in :math:`\gamma_t = \gamma / (1 + d\,t)`; 0 keeps the steps constant.
    reg, reg_bias : float
        :math:`\lambda_4` (L2 weight of ``w``, ``c``) and :math:`\lambda_b` (of the biases).
    patience : int or None
        Early stopping: stop when the validation RMSE has not improved for this many epochs
        and keep the best epoch's parameters; None runs every epoch. Without a validation
        set, ``valid_size`` of the *training* ratings are held out for it.
    valid_size : float
        The fraction carved out for early stopping when no validation set is given.
    n_threads : int or None
        Threads of the similarities (None or <= 0: numba's count); the SGD runs on one.
    random_state : int or None
        Seed of the shuffling and the validation carve.
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.knnglobal``, level INFO).

    Attributes
    ----------
    mu_ : float
    user_bias_, item_bias_, baseline_item_bias_ : ndarray of float32
        The learned ``b_u``, ``b_i`` and the fixed :math:`\tilde b_i` (for fold-in).
    neighbour_indptr_, neighbour_items_ : ndarray
        :math:`S^k(i)` as CSR rows (int64 / int32), the most similar first.
    weights_, offsets_ : ndarray of float32
        ``w_ij`` and ``c_ij``, aligned with ``neighbour_items_``.
    residuals_ : ndarray of float32
        :math:`r_{uj} - \tilde b_{uj}` of every training rating, aligned with
        ``seen_items_``.
    history_ : dict
        ``"train_rmse"`` (errors met during each epoch) and ``"valid_rmse"`` (clipped
        predictions after each epoch, with a validation set), in rating units.
    n_epochs_, best_epoch_ : int

    All values are in model units (:mod:`recsys.models.scaling`).

    Raises
    ------
    DivergenceError
        When the training error becomes NaN/inf or explodes (lower ``lr``).
    """

    def __init__(
        self,
        k: int = 100,
        shrinkage: float = 400.0,
        min_support: int = 1,
        baseline_reg_user: float = 5.0,
        baseline_reg_item: float = 10.0,
        bias_epochs: int = 10,
        n_epochs: int = 24,
        lr: float = 0.01,
        lr_bias: float | None = None,
        lr_decay: float = 0.05,
        reg: float = 0.002,
        reg_bias: float = 0.005,
        patience: int | None = None,
        valid_size: float = 0.1,
        n_threads: int | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.baseline_reg_user = baseline_reg_user
        self.baseline_reg_item = baseline_reg_item
        self.bias_epochs = bias_epochs
        self.n_epochs = n_epochs
        self.lr = lr
        self.lr_bias = lr_bias
        self.lr_decay = lr_decay
        self.reg = reg
        self.reg_bias = reg_bias
        self.patience = patience
        self.valid_size = valid_size
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        checks.integer(owner, "k", self.k, 1, 100_000)
        checks.number(owner, "shrinkage", self.shrinkage, 0.0)
        checks.integer(owner, "min_support", self.min_support, 1)
        for name in ("baseline_reg_user", "baseline_reg_item", "lr_decay", "reg", "reg_bias"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.integer(owner, "bias_epochs", self.bias_epochs, 1, 10_000)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.number(owner, "lr", self.lr, 0.0, strict=True)
        if self.lr_bias is not None:
            checks.number(owner, "lr_bias", self.lr_bias, 0.0, strict=True)
        checks.patience(owner, self.patience)
        checks.number(owner, "valid_size", self.valid_size, 0.0, strict=True, high=1.0,
                      high_strict=True)
        if self.n_threads is not None:
            checks.integer(owner, "n_threads", self.n_threads, low=-(2**31))
        checks.seed(owner, "random_state", self.random_state)
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Baseline, neighbour lists, then SGD epochs (see the class docstring)."""
        rng = np.random.default_rng(self.random_state)
        train, validation = self._carve(ratings, validation, rng)
        f32 = np.float32
        self.mu_ = mu = self.model_mean_
        prep = kernels.setup(train.users, train.items, train.ratings, mu, ratings.n_users,
                             ratings.n_items, float(self.baseline_reg_user),
                             float(self.baseline_reg_item), int(self.bias_epochs),
                             float(self.shrinkage), int(self.min_support), int(self.k),
                             resolve_threads(self.n_threads))
        nb_indptr, nb_items = prep.nb_indptr, prep.nb_items
        indptr, items, values = prep.ratings
        active = np.flatnonzero(np.diff(indptr) > 0)
        bu, bi = prep.user_bias.copy(), prep.item_bias.copy()
        W = np.zeros(len(nb_items), dtype=f32)
        C = np.zeros(len(nb_items), dtype=f32)
        self.neighbour_indptr_, self.neighbour_items_ = nb_indptr, nb_items
        self.baseline_item_bias_ = prep.item_bias
        # residuals of every rating given (the carve's too): what prediction uses after the fit
        self.residuals_ = self._residuals_of(ratings, prep.user_bias)
        seed = int(rng.integers(0, 2**63 - 1))
        history: dict[str, list[float]] = {"train_rmse": []}
        if validation is not None:
            history["valid_rmse"] = []
        self.history_ = history
        lr_b0 = self.lr if self.lr_bias is None else self.lr_bias
        patience = int(self.patience or 0)
        best: tuple[float, int, Any] = (math.inf, -1, None)
        first = math.inf
        n_run = 0
        for epoch in range(int(self.n_epochs)):
            step = 1.0 / (1.0 + float(self.lr_decay) * epoch)
            sse = kernels.epoch(rng.permutation(active), indptr, items, values, *prep.seen,
                                f32(mu), bu, bi, nb_indptr, nb_items,
                                W, C, f32(self.lr * step), f32(lr_b0 * step), f32(self.reg),
                                f32(self.reg_bias), seed, epoch)
            n_run = epoch + 1
            train_rmse = math.sqrt(sse / len(values)) if math.isfinite(sse) else math.inf
            first = train_rmse if epoch == 0 else first
            history["train_rmse"].append(self.in_rating_units(train_rmse))
            self._check_divergence(epoch, first, train_rmse, (bu, bi, W, C))
            self._install(bu, bi, W, C)
            if validation is not None:
                pred = kernels.predict_pairs(*self._known(validation), mu, bu, bi, nb_indptr,
                                             nb_items, W, C, *prep.seen)
                valid = math.sqrt(float(np.mean(
                    (np.clip(pred, *self.model_scale_) - validation.ratings) ** 2)))
                history["valid_rmse"].append(self.in_rating_units(valid))
                if valid < best[0] - 1e-6:
                    best = (valid, epoch, tuple(a.copy() for a in (bu, bi, W, C))
                            if patience else None)
            if self.verbose:
                line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
                logger.info("GlobalNeighbourhood epoch %d: %s", epoch + 1, line)
            progress.epoch_done(epoch, history)
            if patience and epoch - best[1] >= patience:
                break
        self.n_epochs_ = n_run
        self.best_epoch_ = n_run - 1
        if patience and best[2] is not None:
            bu, bi, W, C = best[2]
            self.best_epoch_ = best[1]
        self._install(bu, bi, W, C)

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

    def _residuals_of(self, data: Ratings, tb_u: np.ndarray) -> np.ndarray:
        """``z_uj - mu - b~_u - b~_j`` of every rating of ``data`` (all the ratings given
        to ``fit``), aligned with ``seen_items_``."""
        by_user = group_by(
            data.users, data.items,
            data.ratings.astype(np.float64) - self.mu_ - tb_u[data.users]
            - self.baseline_item_bias_[data.items], self.n_users_)
        if not np.array_equal(by_user[1], self.seen_items_):  # Ratings holds no duplicates
            raise AssertionError("residuals out of line with the seen items")
        return by_user[2]

    def _known(self, ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
        """The pairs' user and item indices, ``-1`` where the fit saw no rating of them."""
        return (np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1),
                np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1))

    def _install(self, bu: np.ndarray, bi: np.ndarray, W: np.ndarray, C: np.ndarray) -> None:
        self.user_bias_, self.item_bias_, self.weights_, self.offsets_ = bu, bi, W, C

    def _check_divergence(self, epoch: int, first: float, train_rmse: float,
                          params: tuple[np.ndarray, ...]) -> None:
        low, high = self.model_scale_
        finite = math.isfinite(train_rmse) and all(math.isfinite(float(a.sum())) for a in params)
        if finite and train_rmse <= 3.0 * max(high - low, 1.0) and (
                epoch == 0 or train_rmse <= 10 * first):
            return
        what = "NaN/inf" if not finite else f"{self.in_rating_units(train_rmse):.3g}"
        raise DivergenceError(
            f"GlobalNeighbourhood diverged at epoch {epoch + 1} (training RMSE {what}): lower "
            f"lr (now {self.lr:g}" + (f", lr_bias {self.lr_bias:g}" if self.lr_bias is not None
                                      else "") + f") or raise reg (now {self.reg:g})")

    # ------------------------------------------------------------------ prediction
    def _kernel_args(self) -> tuple[Any, ...]:
        return (self.user_bias_, self.item_bias_, self.neighbour_indptr_, self.neighbour_items_,
                self.weights_, self.offsets_, self.seen_indptr_, self.seen_items_,
                self.residuals_)

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions in model units; unknown user -> ``mu + b_i``, unknown item ->
        ``mu + b_u``, both -> ``mu``; no rated neighbour -> ``mu + b_u + b_i``."""
        shape = np.shape(u)
        u = np.ascontiguousarray(np.ravel(u), dtype=np.int64)
        i = np.ascontiguousarray(np.ravel(i), dtype=np.int64)
        return kernels.predict_pairs(u, i, float(self.mu_), *self._kernel_args()).reshape(shape)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Every item's prediction for a batch of users (``-1``: ``mu + b_i``)."""
        return kernels.score_users(np.ascontiguousarray(u, dtype=np.int64), float(self.mu_),
                                   *self._kernel_args())

    # ------------------------------------------------------------------ fold-in
    def _profile_residuals(self, items: np.ndarray, z: np.ndarray) -> np.ndarray:
        r"""A new user's residuals against the fixed baseline, with the baseline's own bias
        step :math:`\tilde b_u = \sum_j (z_{uj} - \mu - \tilde b_j) / (\lambda_u + |R(u)|)`
        (``lambda_u = baseline_reg_user``)."""
        resid = z - self.mu_ - self.baseline_item_bias_[items].astype(np.float64)
        tb_u = resid.sum() / (float(self.baseline_reg_user) + len(z)) if len(z) else 0.0
        return resid - tb_u

    def _profile_scores(self, items: np.ndarray, z: np.ndarray, bias: float) -> np.ndarray:
        order = np.argsort(items, kind="stable")
        items, z = items[order], z[order]
        resid = self._profile_residuals(items, z)
        return kernels.score_users(
            np.zeros(1, dtype=np.int64), float(self.mu_),
            np.array([bias], dtype=self.user_bias_.dtype), self.item_bias_,
            self.neighbour_indptr_, self.neighbour_items_, self.weights_, self.offsets_,
            np.array([0, len(items)], dtype=np.int64),
            np.ascontiguousarray(items, dtype=np.int32),
            np.ascontiguousarray(resid, dtype=np.float32))[0]

    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user: residuals against the fixed baseline (:meth:`_profile_residuals`),
        which weigh the learned ``w``, ``c`` as a training user's do; the only new parameter
        is ``b_u``, by the ridge step of a bias learned by per-rating SGD

        .. math:: b_u = \frac{\sum_{j \in R(u)} (z_{uj} - \mu - b_j - n_j(u))}
                             {n + n \lambda_b + 1/T_b}

        with :math:`n_j(u)` the neighbourhood term of item ``j`` from the user's other items
        and :math:`n \lambda_b + 1/T_b` the penalty of :func:`~recsys.models.foldin.
        bias_penalty` (SGD's weight decay once per rating plus the shrinkage of its finite
        steps)."""
        if not len(z):
            return UserProfile(type(self).__name__, 0.0, np.zeros(0), items, z)
        without_bias = self._profile_scores(items, z, 0.0)[items]
        lr_b = self.lr if self.lr_bias is None else self.lr_bias
        penalty = bias_penalty(self, len(z), float(self.reg_bias), float(lr_b))
        bias = float(np.sum(z - without_bias) / (len(z) + penalty))
        return UserProfile(type(self).__name__, bias, np.zeros(0), items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        return self._profile_scores(profile.items, profile.values, profile.bias)

    # ------------------------------------------------------------------ similar items
    def item_neighbours(self, idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Item index ``idx``'s neighbours :math:`S^k(i)` (the most similar first) with their
        learned ``w_ij`` and ``c_ij``."""
        self._check_fitted()
        lo, hi = self.neighbour_indptr_[idx], self.neighbour_indptr_[idx + 1]
        return (self.neighbour_items_[lo:hi].astype(np.int64),
                self.weights_[lo:hi].astype(np.float64), self.offsets_[lo:hi].astype(np.float64))

    def _item_similarities(self, idx: int) -> np.ndarray:
        """Item ``idx``'s neighbours scored by their learned weight ``w_ij`` (how much a
        user's residual on the neighbour moves the prediction); ``-inf`` for the others."""
        sims = np.full(self.n_items_, -np.inf)
        items, weights, _ = self.item_neighbours(idx)
        sims[items] = weights
        return sims

    def _has_item_similarities(self) -> bool:
        return True

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        small = self.n_items_ <= np.iinfo(np.uint16).max + 1  # 2 bytes per neighbour suffice
        return {
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "baseline_item_bias": self.baseline_item_bias_,
            "mu": np.array(self.mu_, dtype=np.float64),
            "neighbour_indptr": self.neighbour_indptr_,
            "neighbour_items": self.neighbour_items_.astype(np.uint16 if small else np.int32),
            "weights": self.weights_,
            "offsets": self.offsets_,
            "residuals": self.residuals_,
            "epochs": np.array([self.n_epochs_, self.best_epoch_], dtype=np.int64),
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n_items = self.n_items_
        self.mu_ = float(state_array(arrays, "mu", (), np.float64))
        self.n_epochs_, self.best_epoch_ = state_ints(arrays, "epochs", 2)
        self.baseline_item_bias_ = state_array(arrays, "baseline_item_bias", (n_items,))
        indptr = state_array(arrays, "neighbour_indptr", (n_items + 1,), np.int64)
        items = state_array(arrays, "neighbour_items", (None,), np.int64)
        if indptr[0] != 0 or indptr[-1] != len(items) or np.any(np.diff(indptr) < 0) \
                or np.any(np.diff(indptr) > int(self.k)):
            raise ValueError("array 'neighbour_indptr' disagrees with the neighbour lists")
        if items.size and (items.min() < 0 or items.max() >= n_items):
            raise ValueError("array 'neighbour_items' names items beyond the id map")
        self.neighbour_indptr_, self.neighbour_items_ = indptr, items.astype(np.int32)
        self._install(state_array(arrays, "user_bias", (self.n_users_,)),
                      state_array(arrays, "item_bias", (n_items,)),
                      state_array(arrays, "weights", (len(items),)),
                      state_array(arrays, "offsets", (len(items),)))
        self.residuals_ = state_array(arrays, "residuals", (len(self.seen_items_),))
