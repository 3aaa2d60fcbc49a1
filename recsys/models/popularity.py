r"""Popularity: every user gets the most-rated items, the reference a personal list must beat.

The ranking is the number of training ratings ``n_i`` (``recommend`` ranks by it with the
default ``rank_by="relevance"``). A popularity count is not a rating, so ``predict`` returns a
*rating part*, the regularised biases ``mu + b_u + b_i`` of
:class:`~recsys.models.baseline.BiasBaseline` fitted in closed form (:class:`RatingPart`,
shared with BPR), and ``rank_by="rating"`` ranks by that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.metrics import rmse
from recsys.models import _checks as checks
from recsys.models.base import Estimator
from recsys.models.baseline import BiasPredictions
from recsys.models.io import state_array
from recsys.models.progress import FitProgress

__all__ = ["Popularity", "RatingPart", "rating_biases"]

RATING_REG_USER, RATING_REG_ITEM, RATING_SWEEPS = 15.0, 10.0, 10
"""Shrinkage and sweeps of the rating part (the bias baseline's defaults)."""


def rating_biases(users: np.ndarray, items: np.ndarray, z: np.ndarray, n_users: int,
                  n_items: int) -> tuple[np.ndarray, np.ndarray]:
    r"""User and item biases of the centred ratings ``z`` by alternating ridge sweeps (the
    bias baseline's fit):

    .. math:: b_i \leftarrow \frac{\sum_{u \in R(i)} (z_{ui} - b_u)}{\lambda_i + |R(i)|},
              \qquad
              b_u \leftarrow \frac{\sum_{i \in R(u)} (z_{ui} - b_i)}{\lambda_u + |R(u)|}
    """
    n_u = np.bincount(users, minlength=n_users).astype(np.float64)
    n_i = np.bincount(items, minlength=n_items).astype(np.float64)
    b_u, b_i = np.zeros(n_users), np.zeros(n_items)
    z = np.asarray(z, dtype=np.float64)
    for _ in range(RATING_SWEEPS):
        b_i = np.bincount(items, z - b_u[users], minlength=n_items) / (RATING_REG_ITEM + n_i)
        b_u = np.bincount(users, z - b_i[items], minlength=n_users) / (RATING_REG_USER + n_u)
    return b_u.astype(np.float32), b_i.astype(np.float32)


class RatingPart(BiasPredictions):
    """The rating part ``mu + b_u + b_i`` of a ranking model, whose own score is not a rating
    (the bias baseline's predictions; marks BPR and popularity as ranking models)."""


class Popularity(RatingPart, Estimator):
    """The most-rated items first (``relevance = ln n_i``, the same for every user), with the
    bias rating part for ``predict``.

    Parameters
    ----------
    verbose : bool
        Unused; kept for the command line's common options.

    Attributes
    ----------
    user_bias_, item_bias_ : ndarray of float32
        The rating part (model units).
    history_ : dict with ``"train_rmse"`` (and ``"valid_rmse"``) of the rating part.
    """

    default_rank_by = "relevance"

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose

    def _validate_params(self) -> None:
        checks.flag(type(self).__name__, "verbose", self.verbose)

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        """Count the ratings of each item (done by the base class) and fit the rating part."""
        z = ratings.ratings - self.model_mean_
        self.user_bias_, self.item_bias_ = rating_biases(
            ratings.users, ratings.items, z, ratings.n_users, ratings.n_items)
        self.history_ = {"train_rmse": [self.in_rating_units(
            rmse(ratings.ratings, self._predict_in_model_units(ratings)))]}
        if validation is not None:
            self.history_["valid_rmse"] = [self.in_rating_units(
                rmse(validation.ratings, self._predict_in_model_units(validation)))]
        self.n_epochs_ = 1
        progress.epoch_done(0, self.history_)

    def _relevance_scores(self, u: np.ndarray) -> np.ndarray:
        """``ln n_i`` for every user (``-inf`` for items without training ratings)."""
        with np.errstate(divide="ignore"):
            row = np.log(self.item_counts_.astype(np.float64))
        return np.tile(row, (len(u), 1))

    def _relevance_profile(self, profile: Any) -> np.ndarray:
        return self._relevance_scores(np.zeros(1))[0]

    def _state(self) -> dict[str, Any]:
        return {"user_bias": self.user_bias_, "item_bias": self.item_bias_}

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.user_bias_ = state_array(arrays, "user_bias", (self.n_users_,))
        self.item_bias_ = state_array(arrays, "item_bias", (self.n_items_,))
        self.n_epochs_ = 1
