"""Non-personal baselines: the global mean and regularised user + item biases.

Both follow the :class:`~recsys.models.base.Estimator` contract and are the fallbacks the
richer models reduce to for unknown users and items.

Notation: ``mu`` is the mean training rating, ``b_u`` / ``b_i`` the user / item biases,
``R(u)`` the items user ``u`` rated and ``R(i)`` the users who rated item ``i``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.errors import ParameterError
from recsys.metrics import rmse
from recsys.models import _checks as checks
from recsys.models.base import Estimator
from recsys.models.foldin import UserProfile
from recsys.models.io import state_array, state_int
from recsys.models.progress import FitProgress
from recsys.models.updates import UpdateBatch

__all__ = ["GlobalMean", "BiasBaseline", "BiasPredictions"]

logger = logging.getLogger(__name__)


class GlobalMean(Estimator):
    """Predict the mean training rating ``mu`` for every pair.

    The weakest sensible model: any learner must beat it.
    """

    def __init__(self) -> None:
        pass

    def _validate_params(self) -> None:
        """GlobalMean has no settings."""

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Learn ``mu`` (mean of the training ratings)."""
        train = rmse(ratings.ratings, np.full(len(ratings), self.model_mean_))
        self.history_ = {"train_rmse": [self.in_rating_units(train)]}
        if validation is not None:
            valid = rmse(validation.ratings, self._predict_in_model_units(validation))
            self.history_["valid_rmse"] = [self.in_rating_units(valid)]
        self.n_epochs_ = 1
        progress.epoch_done(0, self.history_)

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.full(np.shape(u), self.model_mean_, dtype=np.float64)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        return np.full((len(u), self.n_items_), self.model_mean_, dtype=np.float64)

    def _state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.n_epochs_ = 1


class BiasPredictions:
    """Predictions ``mu + b_u + b_i`` (model units) from ``user_bias_`` / ``item_bias_``; an
    unknown user (``-1``) or item contributes no bias. The bias baseline's, and the rating
    part of the ranking models (:mod:`recsys.models.popularity`)."""

    user_bias_: np.ndarray
    item_bias_: np.ndarray
    model_mean_: float

    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """``mu + b_u + b_i``; an unknown user (``-1``) or item contributes no bias."""
        u, i = np.asarray(u), np.asarray(i)
        bu = np.where(u >= 0, self.user_bias_[np.maximum(u, 0)], 0.0)
        bi = np.where(i >= 0, self.item_bias_[np.maximum(i, 0)], 0.0)
        return self.model_mean_ + bu.astype(np.float64) + bi

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u)
        bu = np.where(u >= 0, self.user_bias_[np.maximum(u, 0)], 0.0).astype(np.float64)
        return self.model_mean_ + bu[:, None] + self.item_bias_[None, :].astype(np.float64)


class BiasBaseline(BiasPredictions, Estimator):
    r"""User and item biases, ``r_hat = mu + b_u + b_i``, fitted by alternating closed-form
    ridge updates (coordinate descent on the regularised squared error).

    Minimises

    .. math:: \sum_{(u,i)} (r_{ui} - \mu - b_u - b_i)^2
              + \lambda_u \sum_u b_u^2 + \lambda_i \sum_i b_i^2

    by alternating the exact minimisers of each block with the other held fixed:

    .. math:: b_i \leftarrow \frac{\sum_{u \in R(i)} (r_{ui} - \mu - b_u)}{\lambda_i + |R(i)|},
              \qquad
              b_u \leftarrow \frac{\sum_{i \in R(u)} (r_{ui} - \mu - b_i)}{\lambda_u + |R(u)|}

    Each sweep cannot increase the objective, so the fit is stable for any ``reg >= 0``.

    Parameters
    ----------
    reg_user, reg_item : float
        Shrinkage ``lambda_u`` / ``lambda_i``: a user (item) with few ratings keeps a bias near 0.
    n_epochs : int
        Alternating sweeps (items then users); a handful converge.
    verbose : bool
        Log the per-epoch RMSE (logger ``recsys.models.baseline``, level INFO).

    Attributes
    ----------
    user_bias_, item_bias_ : ndarray of float32
        In model units (see :mod:`recsys.models.scaling`).
    history_ : dict with ``"train_rmse"`` (and ``"valid_rmse"`` when a validation set is given)
    n_epochs_ : int
    """

    def __init__(
        self, reg_user: float = 15.0, reg_item: float = 10.0, n_epochs: int = 10,
        verbose: bool = False,
    ) -> None:
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.n_epochs = n_epochs
        self.verbose = verbose

    def _validate_params(self) -> None:
        owner = type(self).__name__
        for name in ("reg_user", "reg_item"):
            checks.number(owner, name, getattr(self, name), 0.0)
        checks.integer(owner, "n_epochs", self.n_epochs, 1)
        checks.flag(owner, "verbose", self.verbose)

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Fit the biases by alternating closed-form updates."""
        users, items = ratings.users, ratings.items
        r = ratings.ratings.astype(np.float64) - self.model_mean_
        n_u, n_i = self.user_counts_.astype(np.float64), self.item_counts_.astype(np.float64)
        b_u = np.zeros(self.n_users_)
        b_i = np.zeros(self.n_items_)
        self.history_ = {"train_rmse": []}
        if validation is not None:
            self.history_["valid_rmse"] = []
        for epoch in range(int(self.n_epochs)):
            b_i = np.bincount(items, r - b_u[users], minlength=self.n_items_) / (
                self.reg_item + n_i
            )
            b_u = np.bincount(users, r - b_i[items], minlength=self.n_users_) / (
                self.reg_user + n_u
            )
            b_i[n_i == 0] = 0.0  # 0/0 when reg is 0
            b_u[n_u == 0] = 0.0
            self.user_bias_ = b_u.astype(np.float32)
            self.item_bias_ = b_i.astype(np.float32)
            self.history_["train_rmse"].append(
                self.in_rating_units(rmse(r, b_u[users] + b_i[items])))
            if validation is not None:
                valid = rmse(validation.ratings, self._predict_in_model_units(validation))
                self.history_["valid_rmse"].append(self.in_rating_units(valid))
            if self.verbose:
                line = ", ".join(f"{k} {v[-1]:.4f}" for k, v in self.history_.items())
                logger.info("BiasBaseline epoch %d: %s", epoch + 1, line)
            progress.epoch_done(epoch, self.history_)
        self.n_epochs_ = int(self.n_epochs)

    def _fold_in(self, items: np.ndarray, z: np.ndarray) -> UserProfile:
        r"""A new user's bias against the fixed item biases: the fit's own user step,

        .. math:: b_u = \frac{\sum_{i \in R(u)} (z_{ui} - \mu - b_i)}{\lambda_u + |R(u)|}

        (the exact minimiser of the objective over ``b_u`` with the item biases held)."""
        resid = z - self.model_mean_ - self.item_bias_[items].astype(np.float64)
        bias = float(resid.sum() / (float(self.reg_user) + len(z))) if len(z) else 0.0
        return UserProfile(type(self).__name__, bias, np.zeros(0), items, z)

    def _score_profile(self, profile: UserProfile) -> np.ndarray:
        """``mu + b_u + b_i`` over all items."""
        return self.model_mean_ + profile.bias + self.item_bias_.astype(np.float64)

    # ------------------------------------------------------------------ updates
    _update_defaults = {"n_epochs": 3}
    """``partial_fit``'s sweeps (warm-started, a few suffice)."""

    def _partial_fit(self, batch: UpdateBatch, n_epochs: int | None = None,
                     lr: float | None = None, replay_size: float | None = None) -> None:
        r"""Continue the fit's alternating sweeps with the new ratings added, exactly.

        No old rating is needed: each bias is its ridge equation's solution,
        :math:`b_u = S_u / (\lambda_u + n_u)` with :math:`S_u = \sum_{i \in R(u)}
        (z_{ui} - \mu - b_i)`, so the fitted biases and the rating counts give the sums
        back, :math:`S_u = b_u (\lambda_u + n_u)` (and :math:`T_i = b_i (\lambda_i + m_i)`
        for the items). A sweep then adds the new ratings' residuals to the sums and, through
        the seen-items lists, the change of the other side's biases over the old ratings
        (:math:`S_u \mathrel{-}= \sum_{i \in R(u)} \Delta b_i`), and re-solves every
        bias: the same coordinate descent as :meth:`fit` on old and new ratings together. A
        new rating of a pair already rated replaces the old one, whose value is taken to be
        the model's prediction. ``n_epochs`` sweeps (items, then users); ``lr`` does not apply
        and no replay is needed (``replay`` is ignored). Each sweep costs O(old ratings).
        """
        if lr is not None:
            raise ParameterError("BiasBaseline's update is closed-form: lr does not apply")
        sweeps = checks.integer("partial_fit", "n_epochs", self._update_defaults["n_epochs"]
                                if n_epochs is None else n_epochs, 1, 100_000)
        n_old_u, n_old_i = batch.n_old_users, batch.n_old_items
        bu0 = np.concatenate([self.user_bias_, np.zeros(batch.n_users - n_old_u)])
        bi0 = np.concatenate([self.item_bias_, np.zeros(batch.n_items - n_old_i)])
        n_u = batch.old_user_counts.astype(np.float64)
        n_i = batch.old_item_counts.astype(np.float64)
        S = bu0 * (float(self.reg_user) + n_u)
        T = bi0 * (float(self.reg_item) + n_i)
        users, items = batch.users, batch.items
        replaced = ~batch.fresh
        np.subtract.at(S, users[replaced], bu0[users[replaced]])
        np.subtract.at(T, items[replaced], bi0[items[replaced]])
        n_u += np.bincount(users[batch.fresh], minlength=batch.n_users)
        n_i += np.bincount(items[batch.fresh], minlength=batch.n_items)
        owners = np.repeat(np.arange(n_old_u), np.diff(self.seen_indptr_))
        seen = self.seen_items_
        r = batch.values.astype(np.float64) - self.model_mean_
        b_u, b_i = bu0.copy(), bi0.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            for _ in range(sweeps):
                shift = np.bincount(seen, (b_u - bu0)[owners], minlength=batch.n_items)
                b_i = (T - shift + np.bincount(items, r - b_u[users], minlength=batch.n_items)
                       ) / (float(self.reg_item) + n_i)
                b_i[n_i == 0] = 0.0
                shift = np.bincount(owners, (b_i - bi0)[seen], minlength=batch.n_users)
                b_u = (S - shift + np.bincount(users, r - b_i[items], minlength=batch.n_users)
                       ) / (float(self.reg_user) + n_u)
                b_u[n_u == 0] = 0.0
        self.user_bias_ = b_u.astype(np.float32)
        self.item_bias_ = b_i.astype(np.float32)

    def _state(self) -> dict[str, Any]:
        return {"user_bias": self.user_bias_, "item_bias": self.item_bias_,
                "n_epochs_run": np.array(self.n_epochs_)}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,))
        self.item_bias_ = state_array(arrays, "item_bias", (self.n_items_,))
        self.n_epochs_ = state_int(arrays, "n_epochs_run", low=1)
