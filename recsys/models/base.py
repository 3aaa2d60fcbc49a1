"""The estimator contract every rating model follows.

Conventions (scikit-learn's):

* ``__init__`` only stores its arguments under the same names; validation and random number
  generators are created in :meth:`Estimator.fit`, which returns ``self``.
* Learned state ends in ``_`` (``user_factors_``). :meth:`~Estimator.get_params` /
  :meth:`~Estimator.set_params` come from the constructor signature; :func:`clone` builds an
  unfitted copy from them. Using an unfitted model raises :class:`NotFittedError`.

:meth:`Estimator.fit` is a template: it checks the settings (``_validate_params``), records what
prediction needs from the training data (id maps, counts, seen items, item metadata), checks
that ``validation`` shares the training data's id maps, then calls the subclass's ``_fit``. If
anything fails or is interrupted, the model forgets all learned state, so a half-trained model
can be neither used nor saved.

A subclass implements these hooks:

* ``_validate_params()``: check every setting (one-line ``ParameterError``);
* ``_fit(ratings, validation, progress)``: learn, appending per-epoch figures to
  ``self.history_`` and calling ``progress.epoch_done(epoch, history)`` after each epoch
  (see :mod:`recsys.models.progress`);
* ``_predict_indices(u, i)``: raw (unclipped) predictions for dense indices where ``-1`` marks
  an unknown user or item, which must fall back to what is known (biases, global mean);
* ``_state()`` / ``_set_state(arrays)``: the learned arrays, for saving and loading (and
  ``_header_extra()`` / ``_load_header_extra(extra)`` for JSON facts);
* optionally ``_score_users(u)`` (a fast (len(u), n_items) score block) and ``_item_vectors()``.

Model files are written and read by :mod:`recsys.models.io`.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recsys._version import __version__
from recsys.data.ratings import Ratings, lookup_ids
from recsys.errors import (
    ModelFileError,
    NotFittedError,
    ParameterError,
    RecsysError,
    UnknownIdError,
    short_repr,
)
from recsys.models.params import Params
from recsys.models.progress import EpochCallback, FitProgress, StopCheck

__all__ = ["Estimator", "clone", "EpochCallback"]


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


def _count(name: str, value: Any) -> int:
    """An integer argument that must be >= 1 (``n`` of recommend, ...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"{name} must be an integer >= 1, got {short_repr(value)}")
    return int(value)


class Estimator(Params):
    """Base class of rating predictors (see the module docstring for the contract)."""

    _rating_scale_clip: ClassVar[bool] = True

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
            self._fit(ratings, validation, FitProgress(callback, should_stop))
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
        from recsys.models._bookkeeping import seen_items  # numba: not at `import recsys`

        # items of each user, sorted: two counting passes, O(n) (a sort of user * n_items +
        # item took 7x longer; np.lexsort 70x)
        self.seen_indptr_, self.seen_items_ = seen_items(
            ratings.users, ratings.items, ratings.n_users, ratings.n_items)
        self.user_counts_ = np.diff(self.seen_indptr_)
        self.item_counts_ = ratings.item_counts().astype(np.int64)
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

    # ------------------------------------------------------------------ prediction
    def _predict_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self, users: Any, items: Any, *, return_fallback: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted ratings for pairs of raw ids, clipped to the rating scale.

        Parameters
        ----------
        users, items : array-like of raw ids (same length) or scalars
        return_fallback : bool
            Also return a boolean array, True where the user or the item was unknown and the
            prediction fell back to the biases / global mean.
        """
        u, i = self.encode(users, items)
        if u.shape != i.shape:
            if u.size != 1 and i.size != 1:
                raise ParameterError(
                    f"users and items must be of the same length, or one of them a single id; "
                    f"got {u.size} users and {i.size} items"
                )
            u, i = np.broadcast_arrays(u, i)
        pred, broken = self._finite(np.asarray(self._predict_indices(u, i), dtype=np.float64))
        if return_fallback:
            return pred, (u < 0) | (i < 0) | broken
        return pred

    def _finite(self, raw: np.ndarray, clip: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (clipped unless ``clip`` is False), with the global mean wherever ``raw``
        is NaN (a safety net: fitting and loading refuse non-finite parameters, but a product
        of huge finite ones can still overflow). Returns the predictions and where the net
        caught."""
        broken = np.isnan(raw)
        if broken.any():
            raw = np.where(broken, self.global_mean_, raw)
        return (self.clip(raw) if clip else raw), broken

    def predict_indices(self, users: np.ndarray, items: np.ndarray, *,
                        clip: bool = True) -> np.ndarray:
        """Predictions for dense indices into this model's id maps, ``-1`` for an unknown
        user or item (which falls back to the biases / global mean), clipped to the rating
        scale unless ``clip`` is False.

        For callers that share the model's id maps (a model built on another, such as the
        hybrid on its base models). An index whose user or item has no training rating is
        treated as unknown.
        """
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        i = np.asarray(items, dtype=np.int64)
        u = np.where((u >= 0) & (self.user_counts_[np.maximum(u, 0)] > 0), u, -1)
        i = np.where((i >= 0) & (self.item_counts_[np.maximum(i, 0)] > 0), i, -1)
        raw = np.asarray(self._predict_indices(u, i), dtype=np.float64)
        return self._finite(raw, clip)[0]

    def predict_ratings(self, ratings: Ratings) -> np.ndarray:
        """Predictions for every (user, item) pair of a container that shares this model's id
        maps (a split of the training data), clipped."""
        self._check_fitted()
        if ratings.n_users != self.n_users_ or ratings.n_items != self.n_items_:
            return self.predict(
                ratings.user_ids[ratings.users], ratings.item_ids[ratings.items]
            )
        return self.predict_indices(ratings.users, ratings.items)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Unclipped scores of every item for each dense user index in ``users`` (``-1``
        allowed: the non-personal scores), shape ``(len(users), n_items)``."""
        self._check_fitted()
        return np.asarray(self._score_users(np.asarray(users, dtype=np.int64)),
                          dtype=np.float64)

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

    # ------------------------------------------------------------------ recommendation
    def _seen_mask_indices(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, item) positions of the training items of each user in ``u`` (vectorised)."""
        valid = u >= 0
        starts = np.where(valid, self.seen_indptr_[np.maximum(u, 0)], 0)
        lengths = np.where(valid, self.seen_indptr_[np.maximum(u, 0) + 1] - starts, 0)
        rows = np.repeat(np.arange(len(u)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return rows, self.seen_items_[np.repeat(starts, lengths) + offsets]

    def _top_n(
        self, u: np.ndarray, n: int, exclude_seen: bool, min_item_ratings: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``n`` item indices per user and their clipped predictions.

        Items are ranked by the *unclipped* score, so that predictions above the top of the
        scale still rank in order; items with fewer than ``min_item_ratings`` training ratings
        (and seen items, with ``exclude_seen``) are left out and padded with ``-inf``.
        """
        scores = np.asarray(self._score_users(u), dtype=np.float64)
        scores[:, self.item_counts_ < max(min_item_ratings, 1)] = -np.inf
        if exclude_seen:
            scores[self._seen_mask_indices(u)] = -np.inf
        n = min(n, scores.shape[1])
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(top_scores, order, axis=1)
        return top, np.where(np.isfinite(top_scores), self.clip(top_scores), -np.inf)

    def recommend(
        self, user: Any, n: int = 10, *, exclude_seen: bool = True, min_item_ratings: int = 1,
        cold_start: bool = False,
    ) -> pd.DataFrame:
        """Top-``n`` items for one raw user id, by predicted rating.

        Items the user rated in training are left out (``exclude_seen``), and so are items with
        fewer than ``min_item_ratings`` training ratings (whose scores rest on little evidence).

        A user the model learned nothing about (unknown id, or no training rating) raises
        :class:`UnknownIdError`, unless ``cold_start`` is True: then the user gets the items
        with the best non-personal score (biases / global mean), and the returned frame's
        ``attrs["fallback"]`` is True.

        Returns
        -------
        DataFrame with columns item, title, year, genres, prediction (best first).
        """
        self._check_fitted()
        n = _count("n", n)
        min_item_ratings = _count("min_item_ratings", min_item_ratings)
        u, _ = self.encode([user], [self.item_ids_[0]] if self.n_items_ else [0])
        if u[0] < 0 and not cold_start:
            raise UnknownIdError(
                f"unknown user {short_repr(user)}: this model has no training ratings from that "
                "user; check the id, or pass cold_start=True for the best items by the biases "
                "(non-personal)"
            )
        top, scores = self._top_n(u, n, exclude_seen, min_item_ratings)
        keep = np.isfinite(scores[0])
        frame = self._item_frame(top[0][keep])
        frame["prediction"] = scores[0][keep]
        frame.attrs["fallback"] = bool(u[0] < 0)
        frame.attrs["user"] = user
        return frame

    def recommend_all(
        self, users: Any | None = None, n: int = 10, *, batch_size: int = 512,
        exclude_seen: bool = True, min_item_ratings: int = 1,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` raw item ids and scores for many users, scored in batches.

        Returns
        -------
        items : ndarray, shape (n_users, n) of raw item ids
        scores : ndarray, shape (n_users, n); ``-inf`` where fewer than ``n`` items remain
        """
        self._check_fitted()
        n = _count("n", n)
        batch_size = _count("batch_size", batch_size)
        if users is None:
            u_all = np.where(self.user_counts_ > 0, np.arange(self.n_users_), -1)
        else:
            u_all, _ = self.encode(users, np.repeat(self.item_ids_[:1], len(np.atleast_1d(users))))
        tops, scores = [], []
        for start in range(0, len(u_all), batch_size):
            top, sc = self._top_n(
                u_all[start : start + batch_size], n, exclude_seen, min_item_ratings
            )
            tops.append(top)
            scores.append(sc)
        top = np.concatenate(tops) if tops else np.zeros((0, n), dtype=np.int64)
        return self.item_ids_[top], np.concatenate(scores) if scores else np.zeros((0, n))

    def _item_vectors(self) -> np.ndarray | None:
        """Item embedding used by :meth:`similar_items` (None if the model has none)."""
        return None

    def similar_items(self, item: Any, n: int = 10) -> pd.DataFrame:
        """The ``n`` items nearest to ``item`` (raw id or title) by cosine similarity of the
        item factors.

        Returns
        -------
        DataFrame with columns item, title, year, genres, similarity (most similar first).
        """
        self._check_fitted()
        n = _count("n", n)
        vectors = self._item_vectors()
        if vectors is None:
            raise RecsysError(
                f"{type(self).__name__} has no item factors to compare: use a matrix "
                "factorisation or hybrid model for similar items"
            )
        idx = self.resolve_item(item)
        if self.item_counts_[idx] == 0:
            raise UnknownIdError(
                f"item {short_repr(item)} has no training ratings in this model, so it has no "
                "learned factors to compare: pick an item the model was trained on"
            )
        vectors = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        sims = vectors @ vectors[idx] / (norms * norms[idx])
        sims[idx] = -np.inf
        sims[self.item_counts_ == 0] = -np.inf
        n = min(n, len(sims) - 1)
        top = np.argpartition(-sims, n - 1)[:n] if n > 0 else np.zeros(0, dtype=np.int64)
        top = top[np.argsort(-sims[top], kind="stable")]
        top = top[np.isfinite(sims[top])]
        frame = self._item_frame(top)
        frame["similarity"] = sims[top]
        frame.attrs["query"] = self.item_titles_[idx]
        return frame

    def resolve_item(self, query: Any) -> int:
        """Dense index of an item given by raw id or by (part of) its title.

        An exact id wins; then an exact title (case-insensitive); then titles containing the
        query, the most-rated first. Raises :class:`UnknownIdError` when nothing matches.
        """
        self._check_fitted()
        idx = int(lookup_ids(self._item_index(), [query])[0])
        if idx >= 0:
            return idx
        text = str(query).strip().lower()
        titles = pd.Series(self.item_titles_).str.lower()
        exact = np.flatnonzero((titles == text).to_numpy())
        candidates = exact if exact.size or not text else np.flatnonzero(
            titles.str.contains(text, regex=False).to_numpy()
        )
        if candidates.size == 0:
            raise UnknownIdError(
                f"unknown item {short_repr(query)}: no item id or title in this model matches it; "
                "check the id, or give part of the title"
            )
        return int(candidates[np.argmax(self.item_counts_[candidates])])

    def _item_frame(self, idx: np.ndarray) -> pd.DataFrame:
        years = self.item_years_[idx]
        years = np.where(np.abs(years) <= 1e5, years, np.nan)  # NaN stays NaN: no year
        return pd.DataFrame(
            {
                "item": self.item_ids_[idx],
                "title": self.item_titles_[idx],
                "year": pd.Series(np.round(years)).astype("Int64").to_numpy(),
                "genres": self.item_genres_[idx],
            }
        )

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _header_extra(self) -> dict[str, Any]:
        """Extra JSON-serialisable facts a subclass wants in the header."""
        return {}

    def _load_header_extra(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`_header_extra` saved."""

    _COMMON_ARRAYS = (
        "user_ids_", "item_ids_", "user_counts_", "item_counts_", "seen_indptr_",
        "seen_items_", "item_titles_", "item_genres_", "item_years_",
    )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything a model file holds, as named arrays: ``"header"`` (JSON text: format,
        class, parameters, rating scale, global mean, history, package version), the record
        of the training data (``"common/..."``: id maps, counts, seen items, item metadata)
        and the learned state (``"state/..."``). :func:`recsys.models.io.model_from_arrays`
        turns them back into the model, checking every array."""
        from recsys.models import io

        self._check_fitted()
        header = {
            "format": io.FORMAT_NAME,
            "format_version": io.FORMAT_VERSION,
            "class": type(self).__name__,
            "params": self.get_params(),
            "package_version": __version__,
            "data_fingerprint": self.data_fingerprint_,
            "data_name": self.data_name_,
            "rating_scale": list(self.rating_scale_),
            "global_mean": self.global_mean_,
            "history": self.history_,
            "extra": self._header_extra(),
        }
        arrays = {f"common/{name}": getattr(self, name) for name in self._COMMON_ARRAYS}
        for key, value in self._state().items():
            arrays[f"state/{key}"] = np.asarray(value)
        arrays["header"] = io.header_json(header)
        return arrays

    def _restore_state(self, extra: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Install the learned state of a file (after its id maps and header facts): the
        header's ``extra`` facts, then the ``state/`` arrays (their prefix removed)."""
        self._user_index_cache = None
        self._item_index_cache = None
        self._load_header_extra(extra)
        self._set_state(arrays)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one ``.npz`` file, atomically (temporary name, then
        rename): an interrupted or failed save leaves any earlier file at ``path`` untouched
        and no temporary file behind. A missing folder is created. Returns the path written.

        Raises
        ------
        NotFittedError
            The model is not fitted (or its last fit failed).
        ModelFileError
            The file cannot be written (a folder, no permission, disk full...).
        """
        from recsys.models import io

        self._check_fitted()
        path = Path(path)
        if path.is_dir():  # before the arrays are built
            raise ModelFileError(
                f"cannot write the model to {path}: it is a folder; give a file name such as "
                f"{path / 'model.npz'}"
            )
        return io.write_model_file(path, self.to_arrays())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Estimator":
        """Load a model saved by :meth:`save` (never unpickles; see
        :func:`recsys.models.io.load_model`)."""
        from recsys.models import io

        model = io.load_model(path)
        if not isinstance(model, cls):
            raise ModelFileError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model


def clone(estimator: Estimator, **params: Any) -> Estimator:
    """A new, unfitted estimator of the same class and settings (``params`` override some):
    ``type(estimator)(**estimator.get_params())``, as scikit-learn's ``clone``."""
    return type(estimator)(**{**estimator.get_params(), **params})
