r"""Item-item k nearest neighbours on baseline residuals (Koren 2010, "Factor in the
neighbors"; the KNNBaseline of Surprise).

The estimator: settings and their checks, the fit (biases, residuals, similarities), prediction
with fallbacks, similar items from the learned similarities, and saving. The similarity and
prediction loops live in :mod:`recsys.models._knn_kernels` (numba).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import ParameterError
from recsys.metrics import rmse
from recsys.models import _checks as checks
from recsys.models import _knn_kernels as kernels
from recsys.models._blocks import resolve_threads
from recsys.models.base import Estimator
from recsys.models.foldin import UserProfile
from recsys.models.io import state_array
from recsys.models.progress import FitProgress

__all__ = ["KNNBaseline"]

logger = logging.getLogger(__name__)


class KNNBaseline(Estimator):
    r"""Item-based k nearest neighbours on the residuals of a bias baseline.

    .. math::
        \hat r_{ui} = b_{ui} + \frac{\sum_{j \in N^k(i;u)} s_{ij}\,(r_{uj} - b_{uj})}
                                    {\sum_{j \in N^k(i;u)} s_{ij}},
        \qquad b_{ui} = \mu + b_u + b_i

    **Baseline.** ``b_u`` and ``b_i`` minimise
    :math:`\sum (r_{ui} - \mu - b_u - b_i)^2 + \lambda_u \sum b_u^2 + \lambda_i \sum b_i^2`
    by ``bias_epochs`` alternating closed-form sweeps (as
    :class:`~recsys.models.baseline.BiasBaseline`):
    :math:`b_i \leftarrow \sum_{u \in R(i)} (r_{ui} - \mu - b_u) / (\lambda_i + |R(i)|)`, then
    :math:`b_u \leftarrow \sum_{i \in R(u)} (r_{ui} - \mu - b_i) / (\lambda_u + |R(u)|)`.

    **Similarity.** With residuals :math:`e_{ui} = r_{ui} - b_{ui}`, ``U_ij`` the users who
    rated both items and :math:`n_{ij} = |U_{ij}|`, the shrunk Pearson-baseline correlation

    .. math::
        s_{ij} = \frac{n_{ij} - 1}{n_{ij} - 1 + \lambda}
                 \frac{\sum_{U_{ij}} e_{ui} e_{uj}}
                      {\sqrt{\sum_{U_{ij}} e_{ui}^2 \sum_{U_{ij}} e_{uj}^2}}

    (0 when :math:`n_{ij} <` ``min_support``). It is computed from each user's ratings in
    numba (:mod:`recsys.models._knn_kernels`), never by a loop over item pairs.

    **Neighbours.** Only positive similarities are used, so the normaliser
    :math:`\sum |s_{ij}|` is :math:`\sum s_{ij}` and the correction is a weighted average of
    the neighbours' residuals, never outside their range (negative correlations over a few
    common raters are mostly noise; Surprise's KNNBaseline makes the same choice, and on
    equal settings the two agree, ``bench/bench_knn.py``). Each item keeps its
    ``n_neighbors_kept`` most similar items; ``N^k(i;u)`` holds the (at most) ``k`` of them
    that ``u`` rated, the most similar first. With none of them rated, or an unknown user
    or item, the prediction is the baseline (an unknown user or item contributes no bias).

    The model has no epochs: ``fit`` computes the biases and the similarities once, and
    reports one "epoch" to the callback.

    The defaults were chosen on a validation carve (10 %, seed 0) of ML-100k ``u1.base``
    (``bench/bench_knn.py --choose``): with 200 neighbours kept, validation RMSE 0.9207
    against 0.9252 at Surprise's settings (``shrinkage=100``, ``reg_user=15``,
    ``reg_item=10``); a stronger similarity shrinkage and a weaker item-bias regularisation
    are what helped, and ``k`` from 40 to 100 made no difference. Keeping every neighbour
    instead of 200 gains another 0.002 (0.9188) but stores 2-4 times as many similarities;
    200 neighbours of the bundled set's 9,724 items are 1.09 M, 6.5 MB in the file.

    Parameters
    ----------
    k : int
        Neighbours per prediction.
    shrinkage : float
        ``lambda`` of the similarity: pairs with few common raters shrink towards 0.
    min_support : int
        Pairs with fewer common raters than this get similarity 0.
    reg_user, reg_item : float
        ``lambda_u`` / ``lambda_i`` of the baseline biases.
    bias_epochs : int
        Alternating sweeps of the baseline.
    n_neighbors_kept : int
        Neighbours stored per item (>= ``k``): the model file holds at most
        ``n_items * n_neighbors_kept`` similarities, not the dense item x item matrix.
    n_threads : int or None
        Threads for the similarities and for scoring users on every item (None or <= 0: as
        many as numba may use). Results do not depend on it.
    verbose : bool
        Log the fit's RMSE (logger ``recsys.models.knn``, level INFO).

    Attributes
    ----------
    mu_ : float
        ``mu`` (model units; see :mod:`recsys.models.scaling`).
    user_bias_, item_bias_ : ndarray of float32
    neighbour_indptr_, neighbour_items_, neighbour_sims_ : ndarray
        Each item's kept neighbours as CSR rows (int64 / int32 / float32), most similar first.
    residuals_ : ndarray of float32
        ``e_uj`` of every training rating, aligned with ``seen_items_``.
    history_ : dict
        ``"train_rmse"`` (clipped in-sample predictions) and ``"valid_rmse"`` when a
        validation set is given, one entry each, in rating units.
    """

    def __init__(
        self,
        k: int = 40,
        shrinkage: float = 400.0,
        min_support: int = 1,
        reg_user: float = 5.0,
        reg_item: float = 2.0,
        bias_epochs: int = 10,
        n_neighbors_kept: int = 200,
        n_threads: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.bias_epochs = bias_epochs
        self.n_neighbors_kept = n_neighbors_kept
        self.n_threads = n_threads
        self.verbose = verbose

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""
        owner = type(self).__name__
        k = checks.integer(owner, "k", self.k, 1, 100_000)
        checks.number(owner, "shrinkage", self.shrinkage, 0.0)
        checks.integer(owner, "min_support", self.min_support, 1)
        for name in ("reg_user", "reg_item"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.integer(owner, "bias_epochs", self.bias_epochs, 1, 10_000)
        kept = checks.integer(owner, "n_neighbors_kept", self.n_neighbors_kept, 1, 100_000)
        if kept < k:
            raise ParameterError(
                f"{owner}: n_neighbors_kept must be at least k ({k}): each item keeps the "
                f"neighbours a prediction may use, got {kept}")
        if self.n_threads is not None:
            checks.integer(owner, "n_threads", self.n_threads, low=-(2**31))
        checks.flag(owner, "verbose", self.verbose)

    # ------------------------------------------------------------------ fitting
    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Biases, residuals and the kept neighbours (see the class docstring)."""
        n_users, n_items = ratings.n_users, ratings.n_items
        self.mu_ = self.model_mean_
        b_u, b_i = kernels.fit_biases(
            ratings.users, ratings.items, ratings.ratings, self.mu_, n_users, n_items,
            float(self.reg_user), float(self.reg_item), int(self.bias_epochs))
        self.user_bias_ = b_u.astype(np.float32)
        self.item_bias_ = b_i.astype(np.float32)
        res = ratings.ratings.astype(np.float64) - self.mu_ - self.user_bias_[ratings.users] \
            - self.item_bias_[ratings.items]
        by_user = kernels.group_by(ratings.users, ratings.items, res, n_users)
        by_item = kernels.group_by(ratings.items, ratings.users, res, n_items)
        if not np.array_equal(by_user[1], self.seen_items_):  # Ratings holds no duplicates
            raise AssertionError("residuals out of line with the seen items")
        self.residuals_ = by_user[2]
        self.neighbour_indptr_, self.neighbour_items_, self.neighbour_sims_ = \
            kernels.item_neighbours(*by_user, *by_item, float(self.shrinkage),
                                    int(self.min_support), int(self.n_neighbors_kept),
                                    resolve_threads(self.n_threads))
        fitted = self._predict_in_model_units(ratings)
        history = {"train_rmse": [self.in_rating_units(rmse(ratings.ratings, fitted))]}
        if validation is not None:
            valid = rmse(validation.ratings, self._predict_in_model_units(validation))
            history["valid_rmse"] = [self.in_rating_units(valid)]
        self.history_ = history
        self.n_epochs_ = 1
        if self.verbose:
            line = ", ".join(f"{name} {v[-1]:.4f}" for name, v in history.items())
            logger.info("KNNBaseline: %s", line)
        progress.epoch_done(0, history)

    # ------------------------------------------------------------------ prediction
    def _kernel_args(self) -> tuple[Any, ...]:
        return (self.user_bias_, self.item_bias_, self.neighbour_indptr_, self.neighbour_items_,
                self.neighbour_sims_, self.seen_indptr_, self.seen_items_, self.residuals_,
                int(self.k))

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Predictions in model units; unknown user -> ``mu + b_i``, unknown item ->
        ``mu + b_u``, both -> ``mu``; no rated neighbour -> ``mu + b_u + b_i``."""
        shape = np.shape(u)
        u = np.ascontiguousarray(np.ravel(u), dtype=np.int64)
        i = np.ascontiguousarray(np.ravel(i), dtype=np.int64)
        out = kernels.predict_pairs(u, i, float(self.mu_), *self._kernel_args())
        return out.reshape(shape)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Every item's prediction for a batch of users (``-1``: ``mu + b_i``)."""
        u = np.ascontiguousarray(u, dtype=np.int64)
        return kernels.score_users(u, float(self.mu_), *self._kernel_args(),
                                   resolve_threads(self.n_threads))

    # ------------------------------------------------------------------ fold-in
    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user's bias against the fixed item biases, as the fit's own bias step
        computes a user's:

        .. math:: b_u = \frac{\sum_{j \in R(u)} (z_{uj} - \mu - b_j)}{\lambda_u + |R(u)|}

        (``lambda_u = reg_user``). The user's residuals ``z_uj - mu - b_u - b_j`` then weigh
        the neighbours exactly as a training user's do (:meth:`_score_profile`)."""
        resid = z - self.mu_ - self.item_bias_[items].astype(np.float64)
        bias = float(resid.sum() / (float(self.reg_user) + len(z))) if len(z) else 0.0
        return UserProfile(type(self).__name__, bias, np.zeros(0), items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i + sum_j s_ij (z_uj - b_uj) / sum_j s_ij`` over every item, with
        ``j`` the given items among ``i``'s ``k`` nearest kept neighbours."""
        order = np.argsort(profile.items, kind="stable")
        items = np.ascontiguousarray(profile.items[order], dtype=self.seen_items_.dtype)
        resid = profile.values[order] - self.mu_ - profile.bias \
            - self.item_bias_[items].astype(np.float64)
        return kernels.score_users(
            np.zeros(1, dtype=np.int64), float(self.mu_),
            np.array([profile.bias], dtype=self.user_bias_.dtype), self.item_bias_,
            self.neighbour_indptr_, self.neighbour_items_, self.neighbour_sims_,
            np.array([0, len(items)], dtype=self.seen_indptr_.dtype), items,
            np.ascontiguousarray(resid, dtype=self.residuals_.dtype), int(self.k), 1)[0]

    # ------------------------------------------------------------------ similar items
    def item_neighbours(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        """The kept neighbours of item index ``idx`` and their similarities, most similar
        first (positive similarities only)."""
        self._check_fitted()
        lo, hi = self.neighbour_indptr_[idx], self.neighbour_indptr_[idx + 1]
        return self.neighbour_items_[lo:hi].astype(np.int64), \
            self.neighbour_sims_[lo:hi].astype(np.float64)

    def _item_similarities(self, idx: int) -> np.ndarray:
        """Similarity of every item to item ``idx``: the kept (positive) similarities, and
        ``-inf`` for items not among its neighbours (itself included)."""
        sims = np.full(self.n_items_, -np.inf)
        items, values = self.item_neighbours(idx)
        sims[items] = values
        return sims

    def _has_item_similarities(self) -> bool:
        return True

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        small = self.n_items_ <= np.iinfo(np.uint16).max + 1  # 2 bytes per neighbour suffice
        return {
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "mu": np.array(self.mu_, dtype=np.float64),
            "neighbour_indptr": self.neighbour_indptr_,
            "neighbour_items": self.neighbour_items_.astype(np.uint16 if small else np.int32),
            "neighbour_sims": self.neighbour_sims_,
            "residuals": self.residuals_,
        }

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        n_items = self.n_items_
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,))
        self.item_bias_ = state_array(arrays, "item_bias", (n_items,))
        self.mu_ = float(state_array(arrays, "mu", (), np.float64))
        indptr = state_array(arrays, "neighbour_indptr", (n_items + 1,), np.int64)
        items = state_array(arrays, "neighbour_items", (None,), np.int64)
        sims = state_array(arrays, "neighbour_sims", (len(items),))
        if indptr[0] != 0 or indptr[-1] != len(items) or np.any(np.diff(indptr) < 0) \
                or np.any(np.diff(indptr) > int(self.n_neighbors_kept)):
            raise ValueError("array 'neighbour_indptr' disagrees with the neighbour lists")
        if items.size and (items.min() < 0 or items.max() >= n_items):
            raise ValueError("array 'neighbour_items' names items beyond the id map")
        self.neighbour_indptr_, self.neighbour_items_, self.neighbour_sims_ = \
            indptr, items.astype(np.int32), sims
        self.residuals_ = state_array(arrays, "residuals", (len(self.seen_items_),))
        self.n_epochs_ = 1
