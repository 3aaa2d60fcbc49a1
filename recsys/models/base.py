"""The estimator contract every rating model follows.

Conventions (scikit-learn's):

* ``__init__`` only stores its arguments under the same names; validation and random number
  generators are created in :meth:`Estimator.fit`, which returns ``self``.
* Learned state ends in ``_`` (``user_factors_``). :meth:`~Estimator.get_params` /
  :meth:`~Estimator.set_params` come from the constructor signature; :func:`clone` builds an
  unfitted copy from them. Using an unfitted model raises :class:`NotFittedError`.

:meth:`Estimator.fit` is a template: it checks the settings (``_validate_params``), records what
prediction needs from the training data (id maps, counts, seen items, item metadata), checks
that ``validation`` shares the training data's id maps, maps the ratings to *model units*
(:mod:`recsys.models.scaling`: ``z = (r - c) / s``, so that every setting means the same on
any rating scale), then calls the subclass's ``_fit`` with the mapped ratings. If anything
fails or is interrupted, the model forgets all learned state, so a half-trained model can be
neither used nor saved.

A model works in model units throughout: ``_fit`` sees them, ``_predict_indices`` returns them,
and its fallbacks use ``model_mean_`` and ``model_scale_`` (the training mean and the rating
scale in model units); the base class maps every prediction back to ratings. Its ``history_``
records errors in rating units (``in_rating_units``).

A subclass implements these hooks:

* ``_validate_params()``: check every setting (one-line ``ParameterError``);
* ``_fit(ratings, validation, progress)``: learn, appending per-epoch figures to
  ``self.history_`` and calling ``progress.epoch_done(epoch, history)`` after each epoch
  (see :mod:`recsys.models.progress`);
* ``_predict_indices(u, i)``: unclipped predictions in model units for dense indices where
  ``-1`` marks an unknown user or item, which must fall back to what is known (biases, the
  training mean ``model_mean_``);
* ``_state()`` / ``_set_state(arrays)``: the learned arrays, for saving and loading (and
  ``_header_extra()`` / ``_load_header_extra(extra)`` for JSON facts);
* optionally ``_score_users(u)`` (a fast (len(u), n_items) score block) and ``_item_vectors()``
  (the item embedding :meth:`similar_items` compares).

Top-N lists and similar items (``recommend``, ``recommend_all``, ``similar_items``) come from
:class:`recsys.models.topn.TopN`, built on the scores. ``partial_fit`` (online updates with
fresh ratings) comes from :class:`recsys.models.updates.Updates`, for the models with a
``_partial_fit`` hook.

What a model file holds comes from :class:`recsys.models.persistence.Persistent` (the
``_state`` / ``_set_state`` hooks); files are written and read by :mod:`recsys.models.io`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings, lookup_ids
from recsys.errors import (
    NotFittedError,
    ParameterError,
    RecsysError,
)
from recsys.models.params import Params
from recsys.models._time import timestamps_of
from recsys.models.persistence import Persistent
from recsys.models.progress import EpochCallback, FitProgress, StopCheck
from recsys.models.scaling import RatingMap
from recsys.models.topn import TopN
from recsys.models.updates import Updates

__all__ = ["Estimator", "EpochsByValidation", "clone", "EpochCallback", "SELECTION_PATIENCE",
           "SELECTION_EPOCHS_FACTOR"]

SELECTION_PATIENCE = 10
"""Epochs without a better validation error before a fit that chooses its epochs on a
validation part (:mod:`recsys.models.selection`) stops, for models whose own ``patience`` is
None."""

SELECTION_EPOCHS_FACTOR = 3
"""A fit that chooses its epochs on a validation part may run up to this many times the
model's ``n_epochs``: ``n_epochs`` is the count a fit without a validation part runs, a guess
that suits ML-100k; the validation part may find that other data need more (the bundled
ml-latest-small: about 80 for matrix factorisation, where ``u1.base`` wants about 30)."""


def _text_array(values: Any) -> np.ndarray:
    """Object/str values as a fixed-width unicode array (saveable without pickle)."""
    arr = np.asarray(pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(), dtype=str)
    return arr if arr.size else np.zeros(0, dtype="U1")


def _id_array(values: np.ndarray) -> np.ndarray:
    """Raw ids as int64 when they are integers, otherwise as unicode."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return values.astype(np.int64)
    return _text_array(values)


class Estimator(Params, TopN, Persistent, Updates):
    """Base class of rating predictors (see the module docstring for the contract)."""

    def _validate_params(self) -> None:
        """Check every setting's type and range (one-line ParameterError naming it)."""

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        ratings: Ratings,
        validation: Ratings | None = None,
        callback: EpochCallback | None = None,
        *,
        should_stop: StopCheck | None = None,
    ) -> "Estimator":
        """Learn from ``ratings``. Returns ``self``.

        Parameters
        ----------
        ratings : Ratings
            Training ratings.
        validation : Ratings, optional
            A split of the same container (it must share the id maps); its RMSE is tracked
            per epoch (and drives early stopping where a model has it). Never pass the test
            set here if you report test figures.
        callback : callable, optional
            ``callback(epoch, history)`` after each epoch of the model's own training.
        should_stop : callable, optional
            ``should_stop()`` after every epoch of every stage; True stops the fit with
            :class:`~recsys.models.progress.FitStopped` (a ``KeyboardInterrupt``).

        Raises
        ------
        ParameterError
            A setting of the wrong type or range.
        DivergenceError
            The training error exploded; the message names the setting to change.

        A fit that raises anything, or is interrupted, leaves the model unfitted.
        """
        try:
            self._validate_params()
            self._remember_data(ratings)
            self._check_validation(validation)
            self.rating_map_ = RatingMap.of(ratings)
            self._fit(self.rating_map_.apply(ratings),
                      None if validation is None else self.rating_map_.apply(validation),
                      FitProgress(callback, should_stop))
        except BaseException:
            self._forget()
            raise
        return self

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop all learned state (attributes ending in ``_``): the model is unfitted again."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
            delattr(self, name)
        self._user_index_cache = None
        self._item_index_cache = None

    # ------------------------------------------------------------------ fitted state
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "user_ids_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(ratings) or load a model"
            )

    def _remember_data(self, ratings: Ratings) -> None:
        """Record what prediction, recommendation and saving need from the training data."""
        if not isinstance(ratings, Ratings):
            raise TypeError(f"fit expects a recsys Ratings container, got {type(ratings).__name__}")
        if len(ratings) == 0:
            raise RecsysError("cannot fit on empty ratings")
        self.user_ids_ = _id_array(ratings.user_ids)
        self.item_ids_ = _id_array(ratings.item_ids)
        self.rating_scale_ = tuple(ratings.rating_scale)
        self.global_mean_ = ratings.global_mean
        from recsys.models import _grouping  # numba: not at `import recsys`
        from recsys.models._blocks import resolve_threads

        # items of each user, sorted: two counting passes, O(n) (a sort of user * n_items +
        # item took 7x longer; np.lexsort 70x), on the fit's threads
        self.seen_indptr_, self.seen_items_, item_counts = _grouping.seen_items(
            ratings.users, ratings.items, ratings.n_users, ratings.n_items,
            resolve_threads(getattr(self, "n_threads", None)))
        self.user_counts_ = np.diff(self.seen_indptr_)
        self.item_counts_ = item_counts.astype(np.int64, copy=False)
        info = ratings.item_info
        self.item_titles_ = _text_array(ratings.item_titles())
        self.item_genres_ = _text_array(
            info["genres"].reindex(ratings.item_ids).to_numpy()
            if info is not None and "genres" in info.columns
            else [""] * ratings.n_items
        )
        years = (
            pd.to_numeric(info["year"].reindex(ratings.item_ids), errors="coerce").to_numpy()
            if info is not None and "year" in info.columns
            else np.full(ratings.n_items, np.nan)
        )
        self.item_years_ = np.asarray(years, dtype=np.float64)
        self.data_fingerprint_ = ratings.fingerprint()
        self.data_name_ = ratings.name
        self.history_: dict[str, list[float]] = {}
        self._user_index_cache = None
        self._item_index_cache = None

    def _check_validation(self, validation: Ratings | None) -> None:
        """A validation set must share the training container's id maps (a split of it)."""
        if validation is None:
            return
        if not isinstance(validation, Ratings):
            raise TypeError(
                f"validation must be a recsys Ratings container, got {type(validation).__name__}"
            )
        if validation.n_users != self.n_users_ or validation.n_items != self.n_items_:
            raise RecsysError(
                "validation ratings do not share the training data's id maps: cut both from "
                "the same Ratings container (a split)"
            )

    # ------------------------------------------------------------------ ids
    @property
    def n_users_(self) -> int:
        return int(self.user_ids_.shape[0])

    @property
    def n_items_(self) -> int:
        return int(self.item_ids_.shape[0])

    def _user_index(self) -> pd.Index:
        if getattr(self, "_user_index_cache", None) is None:
            self._user_index_cache = pd.Index(self.user_ids_)
        return self._user_index_cache

    def _item_index(self) -> pd.Index:
        if getattr(self, "_item_index_cache", None) is None:
            self._item_index_cache = pd.Index(self.item_ids_)
        return self._item_index_cache

    def encode(self, users: Any, items: Any) -> tuple[np.ndarray, np.ndarray]:
        """Dense indices of raw ids; ``-1`` where the model learned nothing about the id
        (absent from the id map, or present with no training rating)."""
        self._check_fitted()
        u = lookup_ids(self._user_index(), users)
        i = lookup_ids(self._item_index(), items)
        u = np.where((u >= 0) & (self.user_counts_[np.maximum(u, 0)] > 0), u, -1)
        i = np.where((i >= 0) & (self.item_counts_[np.maximum(i, 0)] > 0), i, -1)
        return u, i

    def clip(self, values: np.ndarray) -> np.ndarray:
        """Clip predictions to the training data's rating scale."""
        low, high = self.rating_scale_
        return np.clip(values, low, high)

    # ------------------------------------------------------------------ model units
    @property
    def model_mean_(self) -> float:
        """The mean training rating in model units (0 for a model fitted by this version)."""
        return float(self.rating_map_.to_model(float(self.global_mean_)))

    @property
    def model_scale_(self) -> tuple[float, float]:
        """The rating scale ``(low, high)`` in model units."""
        low, high = self.rating_scale_
        return (float(self.rating_map_.to_model(float(low))),
                float(self.rating_map_.to_model(float(high))))

    def in_rating_units(self, error: float) -> float:
        """An error (RMSE, MAE) measured in model units, in rating units."""
        return float(error) * self.rating_map_.spread

    def _predict_in_model_units(self, ratings: Ratings) -> np.ndarray:
        """Clipped predictions in model units for a container in model units that shares the
        id maps (the validation part a ``_fit`` is given)."""
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1)
        z = np.asarray(self._predict_indices_at(u, i, ratings.timestamps), dtype=np.float64)
        z = np.where(np.isnan(z), self.model_mean_, z)
        return np.clip(z, *self.model_scale_)

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_indices_at(self, u: np.ndarray, i: np.ndarray,
                            timestamps: np.ndarray | None) -> np.ndarray:
        """Predictions in model units for index pairs rated at ``timestamps`` (int64 unix
        seconds, one per pair; None: not known). Only time-aware models look at the times;
        the others predict the same at any time."""
        return self._predict_indices(u, i)

    def predict(
        self, users: Any = None, items: Any = None, timestamps: Any = None, *,
        return_fallback: bool = False, ratings: Any = None, profile: Any = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted ratings for pairs of raw ids, clipped to the rating scale.

        For a user the model has not seen, leave ``users`` out and give ``ratings`` (their
        ``{item id or title: rating}``, folded in by :meth:`fold_in`) or ``profile`` (what
        ``fold_in`` returned): ``model.predict(items=[50, 181], ratings={"Toy Story": 5})``.

        Parameters
        ----------
        users, items : array-like of raw ids (same length) or scalars
        timestamps : array-like, optional
            When each pair is rated: unix seconds (or ``datetime64``), one per pair or one for
            all. Time-aware models use them (None: "now", the day after their training
            period); the others ignore them.
        return_fallback : bool
            Also return a boolean array, True where the user or the item was unknown and the
            prediction fell back to the biases / global mean.
        ratings, profile : optional
            A new user instead of ``users`` (see above); an item the model does not know gets
            that user's bias over the mean.
        """
        if items is None:
            raise ParameterError("predict needs items (and users, or a new user's ratings=)")
        profile = self._profile_of(users, ratings, profile, need_user=False)
        if profile is not None:
            _, i = self.encode(np.repeat(self.user_ids_[:1], np.size(items)), items)
            i = np.asarray(i).reshape(np.shape(items))
            scores = self._checked_profile_scores(profile)
            z = np.where(i >= 0, scores[np.maximum(i, 0)], self._profile_fallback(profile))
            pred, broken = self._finite(np.asarray(z, dtype=np.float64))
            return (pred, (i < 0) | broken) if return_fallback else pred
        if users is None:
            raise ParameterError("predict needs users (or a new user's ratings= or profile=)")
        u, i = self.encode(users, items)
        if u.shape != i.shape:
            if u.size != 1 and i.size != 1:
                raise ParameterError(
                    f"users and items must be of the same length, or one of them a single id; "
                    f"got {u.size} users and {i.size} items"
                )
            u, i = np.broadcast_arrays(u, i)
        ts = None if timestamps is None else timestamps_of(timestamps, u.size).reshape(u.shape)
        pred, broken = self._finite(
            np.asarray(self._predict_indices_at(u, i, ts), dtype=np.float64))
        if return_fallback:
            return pred, (u < 0) | (i < 0) | broken
        return pred

    def _finite(self, z: np.ndarray, clip: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Model-unit predictions ``z`` as ratings (clipped unless ``clip`` is False), with the
        global mean wherever ``z`` is NaN (a safety net: fitting and loading refuse non-finite
        parameters, but a product of huge finite ones can still overflow). Returns the
        predictions and where the net caught."""
        broken = np.isnan(z)
        if broken.any():
            z = np.where(broken, self.model_mean_, z)
        ratings = self.rating_map_.to_ratings(z)
        return (self.clip(ratings) if clip else ratings), broken

    def predict_indices(self, users: np.ndarray, items: np.ndarray, *,
                        clip: bool = True, timestamps: Any = None) -> np.ndarray:
        """Predictions for dense indices into this model's id maps, ``-1`` for an unknown
        user or item (which falls back to the biases / global mean), clipped to the rating
        scale unless ``clip`` is False.

        For callers that share the model's id maps (a model built on another, such as the
        hybrid on its base models). An index whose user or item has no training rating is
        treated as unknown. ``timestamps`` as in :meth:`predict`.
        """
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        u = np.where((u >= 0) & (self.user_counts_[np.maximum(u, 0)] > 0), u, -1)
        i = np.where((i >= 0) & (self.item_counts_[np.maximum(i, 0)] > 0), i, -1)
        ts = None if timestamps is None else timestamps_of(timestamps, u.size).reshape(u.shape)
        raw = np.asarray(self._predict_indices_at(u, i, ts), dtype=np.float64)
        return self._finite(raw, clip)[0]

    def predict_ratings(self, ratings: Ratings) -> np.ndarray:
        """Predictions for every (user, item) pair of a container that shares this model's id
        maps (a split of the training data), clipped; at the ratings' timestamps when the
        container has them (see :meth:`predict`)."""
        self._check_fitted()
        if ratings.n_users != self.n_users_ or ratings.n_items != self.n_items_:
            return self.predict(
                ratings.user_ids[ratings.users], ratings.item_ids[ratings.items],
                ratings.timestamps,
            )
        return self.predict_indices(ratings.users, ratings.items, timestamps=ratings.timestamps)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Unclipped predicted ratings of every item for each dense user index in ``users``
        (``-1`` allowed: the non-personal scores), shape ``(len(users), n_items)``."""
        self._check_fitted()
        z = np.asarray(self._score_users(np.asarray(users, dtype=np.int64)), dtype=np.float64)
        return self.rating_map_.to_ratings(z)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Scores of every item for each user index in ``u`` (``-1`` allowed), shape
        (len(u), n_items). Subclasses override with a vectorised formula."""
        u = np.asarray(u, dtype=np.int64)
        items = np.where(self.item_counts_ > 0, np.arange(self.n_items_), -1)
        scores = np.empty((len(u), self.n_items_))
        step = max(1, 20_000 // max(self.n_items_, 1))  # ~20k pairs per call bounds memory
        for start in range(0, len(u), step):
            block = u[start:start + step]
            pairs = self._predict_indices(np.repeat(block, self.n_items_),
                                          np.tile(items, len(block)))
            scores[start:start + step] = np.asarray(pairs).reshape(len(block), self.n_items_)
        return scores

    # ------------------------------------------------------------------ choosing epochs
    def validation_settings(self) -> dict[str, Any]:
        """Settings for a fit that chooses the number of epochs on a validation part (early
        stopping); ``{}`` for a model without epochs to choose."""
        return {}

    def refit_settings(self) -> dict[str, Any]:
        """After a fit with a validation part: the settings that repeat the epochs it chose
        (without early stopping), for a refit on all the training ratings."""
        return {}


class EpochsByValidation:
    """:meth:`~Estimator.validation_settings` and :meth:`~Estimator.refit_settings` of a model
    trained for ``n_epochs`` epochs with early stopping by ``patience`` and a per-epoch
    ``history_["valid_rmse"]`` (MF, SVD++, timeSVD++, the time-aware biases): the choosing fit
    stops after ``patience`` epochs without a better validation RMSE (else
    :data:`SELECTION_PATIENCE`) and may run up to :data:`SELECTION_EPOCHS_FACTOR` times
    ``n_epochs``; the refit runs the best epoch's count, without early stopping."""

    n_epochs: int
    patience: int | None
    history_: dict[str, list[float]]

    def validation_settings(self) -> dict[str, Any]:
        return {"patience": SELECTION_PATIENCE if self.patience is None else self.patience,
                "n_epochs": SELECTION_EPOCHS_FACTOR * int(self.n_epochs)}

    def refit_settings(self) -> dict[str, Any]:
        valid = self.history_.get("valid_rmse")
        if not valid:
            return {}
        return {"n_epochs": int(np.argmin(valid)) + 1, "patience": None}


def clone(estimator: Estimator, **params: Any) -> Estimator:
    """A new, unfitted estimator of the same class and settings (``params`` override some):
    ``type(estimator)(**estimator.get_params())``, as scikit-learn's ``clone``."""
    return type(estimator)(**{**estimator.get_params(), **params})
