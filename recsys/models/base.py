"""What every rating model shares: parameters, the fitted check, prediction on raw ids,
recommendation, and the safe one-file format.

Conventions (scikit-learn's):

* ``__init__`` only stores its arguments under the same names; validation and random number
  generators are created in :meth:`Estimator.fit`, which returns ``self``.
* Learned state ends in ``_`` (``user_factors_``). :meth:`get_params` / :meth:`set_params` come
  from the constructor signature. Using an unfitted model raises :class:`NotFittedError`.

A subclass implements

* ``fit(ratings, validation=None, callback=None)``: calls :meth:`_remember_data` first, then
  learns, appending per-epoch figures to ``self.history_`` and calling
  ``callback(epoch, history)`` after each epoch;
* ``_predict_indices(u, i)``: raw (unclipped) predictions for dense indices where ``-1`` marks
  an unknown user or item, which must fall back to what is known (biases, global mean);
* ``_state()`` / ``_set_state(arrays)``: the learned arrays, for saving and loading;
* optionally ``_score_users(u)`` (a fast (len(u), n_items) score block) and ``_item_vectors()``.

File format: ``np.savez`` arrays plus a JSON header stored as a string array (format version,
class, parameters, id maps, item metadata, training-data fingerprint, package version), loaded
with ``allow_pickle=False``: loading a model never runs code.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from recsys._atomic import atomic_write
from recsys.data.ratings import Ratings, lookup_ids
from recsys.errors import (
    ModelFileError,
    NotFittedError,
    ParameterError,
    RecsysError,
    UnknownIdError,
    short_repr,
)
from recsys.models import _modelfile as modelfile

__all__ = ["Estimator", "load_model", "FORMAT_NAME", "FORMAT_VERSION", "EpochCallback"]

FORMAT_NAME = "recsys-model"
FORMAT_VERSION = 1

EpochCallback = Callable[[int, dict], None]
"""``callback(epoch, history)``: called after each epoch; ``history`` maps names such as
``"train_rmse"`` and ``"valid_rmse"`` to lists of per-epoch values."""

_REGISTRY: dict[str, type["Estimator"]] = {}


def _package_version() -> str:
    from recsys import __version__

    return __version__


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


def _forget_on_failure(fit: Callable) -> Callable:
    """Wrap a subclass's ``fit`` so that a failed or interrupted fit leaves it unfitted."""

    @functools.wraps(fit)
    def guarded(self: "Estimator", *args: Any, **kwargs: Any) -> Any:
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self._forget()
            raise

    guarded._forgets_on_failure = True  # type: ignore[attr-defined]
    return guarded


class Estimator:
    """Base class of rating predictors (see the module docstring for the contract)."""

    _rating_scale_clip: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "_forgets_on_failure", False):
            cls.fit = _forget_on_failure(fit)

    def _forget(self) -> None:
        """Drop all learned state (attributes ending in ``_``): the model is unfitted again.

        Called when ``fit`` fails or is interrupted (a bad setting, :class:`DivergenceError`,
        Ctrl-C), so that a half-trained model can be neither used nor saved."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
            delattr(self, name)
        self._user_index_cache = None
        self._item_index_cache = None

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments as a dict (``deep`` is accepted for scikit-learn compatibility)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Estimator":
        """Set constructor arguments; unknown names raise ``ValueError``."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r} "
                    f"(valid: {', '.join(sorted(valid))})"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

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
        from recsys.models._bookkeeping import seen_items

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

    def _finite(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Clipped predictions, with the clipped global mean wherever ``raw`` is NaN (a
        safety net: fitting and loading refuse non-finite parameters, but a product of huge
        finite ones can still overflow). Returns the predictions and where the net caught."""
        broken = np.isnan(raw)
        if broken.any():
            raw = np.where(broken, self.global_mean_, raw)
        return self.clip(raw), broken

    def predict_ratings(self, ratings: Ratings) -> np.ndarray:
        """Predictions for every (user, item) pair of a container that shares this model's id
        maps (a split of the training data), clipped."""
        self._check_fitted()
        if ratings.n_users != self.n_users_ or ratings.n_items != self.n_items_:
            return self.predict(
                ratings.user_ids[ratings.users], ratings.item_ids[ratings.items]
            )
        u = np.where(self.user_counts_[ratings.users] > 0, ratings.users, -1)
        i = np.where(self.item_counts_[ratings.items] > 0, ratings.items, -1)
        return self._finite(np.asarray(self._predict_indices(u, i), dtype=np.float64))[0]

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

    _COMMON_ARRAYS = (
        "user_ids_", "item_ids_", "user_counts_", "item_counts_", "seen_indptr_",
        "seen_items_", "item_titles_", "item_genres_", "item_years_",
    )

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
        self._check_fitted()
        path = Path(path)
        if path.is_dir():
            raise ModelFileError(
                f"cannot write the model to {path}: it is a folder; give a file name such as "
                f"{path / 'model.npz'}"
            )
        header = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "params": self.get_params(),
            "package_version": _package_version(),
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
        arrays["header"] = np.array(json.dumps(header, default=_json_default))
        try:
            with atomic_write(path) as handle:
                np.savez(handle, **arrays)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ModelFileError(
                f"cannot write the model file {path}: {reason}; choose a folder you can write "
                "to (and check the free disk space)"
            ) from None
        return path

    def _header_extra(self) -> dict[str, Any]:
        """Extra JSON-serialisable facts a subclass wants in the header."""
        return {}

    def _load_header_extra(self, extra: dict[str, Any]) -> None:
        """Restore what :meth:`_header_extra` saved."""

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Estimator":
        """Load a model saved by :meth:`save` (never unpickles; see :func:`load_model`)."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise ModelFileError(
                f"{path} holds a {type(model).__name__}, not a {cls.__name__}"
            )
        return model


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a model header")


def _model_class(name: str) -> type[Estimator] | None:
    """The Estimator subclass called ``name``, importing the library's model modules."""
    if name not in _REGISTRY:
        import importlib

        from recsys.models.registry import MODELS

        for module in sorted({module for module, _ in MODELS.values()}):
            importlib.import_module(module)
    return _REGISTRY.get(name)


def _restore_common(model: Estimator, arrays: dict[str, np.ndarray]) -> None:
    """Install and cross-check the record of the training data every model file holds: id
    maps, counts and seen items must agree with each other (``ValueError`` naming the array
    otherwise), so that a loaded model cannot index out of bounds later."""
    ids = {}
    for name in ("user_ids_", "item_ids_"):
        key = f"common/{name}"
        a = arrays.get(key)
        if a is None:
            raise ValueError(f"array {key!r} is missing")
        if a.ndim != 1 or a.dtype.kind not in "iuU" or len(a) == 0:
            raise ValueError(f"array {key!r} must be a non-empty list of integer or text ids")
        if a.dtype.kind == "u" and len(a) and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"array {key!r} holds ids beyond int64")
        a = a.astype(np.int64) if a.dtype.kind in "iu" else a
        if not pd.Index(a).is_unique:
            raise ValueError(f"array {key!r} lists an id twice")
        ids[name] = a
    n_users, n_items = len(ids["user_ids_"]), len(ids["item_ids_"])
    user_counts = modelfile.state_array(arrays, "common/user_counts_", (n_users,), np.int64)
    item_counts = modelfile.state_array(arrays, "common/item_counts_", (n_items,), np.int64)
    indptr = modelfile.state_array(arrays, "common/seen_indptr_", (n_users + 1,), np.int64)
    seen = modelfile.state_array(arrays, "common/seen_items_", (None,), np.int64)
    total = int(user_counts.sum())
    if (user_counts.min() < 0 or item_counts.min() < 0 or total == 0
            or int(item_counts.sum()) != total):
        raise ValueError("the user and item rating counts disagree")
    if indptr[0] != 0 or not np.array_equal(np.diff(indptr), user_counts) or len(seen) != total:
        raise ValueError("the seen-items index disagrees with the user rating counts")
    if seen.size and (seen.min() < 0 or seen.max() >= n_items):
        raise ValueError("the seen-items list names items beyond the id map")
    if not np.array_equal(np.bincount(seen, minlength=n_items), item_counts):
        raise ValueError("the seen-items list disagrees with the item rating counts")
    model.user_ids_, model.item_ids_ = ids["user_ids_"], ids["item_ids_"]
    model.user_counts_, model.item_counts_ = user_counts, item_counts
    model.seen_indptr_, model.seen_items_ = indptr, seen.astype(np.int32)
    model.item_titles_ = modelfile.state_text(arrays, "common/item_titles_", n_items)
    model.item_genres_ = modelfile.state_text(arrays, "common/item_genres_", n_items)
    years = modelfile.state_array(arrays, "common/item_years_", (n_items,), np.float64,
                                  finite=False)
    if np.any(np.abs(years[~np.isnan(years)]) > 1e5):
        raise ValueError("array 'common/item_years_' holds years out of range")
    model.item_years_ = years


def _header_number(header: dict, key: str) -> float:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"header field {key!r} must be a finite number, got {short_repr(value)}")
    return float(value)


def _restore_header(model: Estimator, header: dict) -> None:
    """Install the header's facts (rating scale, global mean, history, ...), checked."""
    scale = header.get("rating_scale")
    if not isinstance(scale, list) or len(scale) != 2:
        raise ValueError("header field 'rating_scale' must be [low, high]")
    low, high = (_header_number({"rating_scale": v}, "rating_scale") for v in scale)
    if low > high:
        raise ValueError(f"header field 'rating_scale' is reversed ({low} > {high})")
    model.rating_scale_ = (low, high)
    model.global_mean_ = _header_number(header, "global_mean")
    for key, kind in (("data_fingerprint", str), ("data_name", str), ("history", dict),
                      ("extra", dict)):
        if key in header and not isinstance(header[key], kind):
            raise ValueError(f"header field {key!r} must be a {kind.__name__}")
    model.data_fingerprint_ = header.get("data_fingerprint", "")
    model.data_name_ = header.get("data_name", "")
    model.history_ = header.get("history", {})
    model._user_index_cache = None
    model._item_index_cache = None


def _smoke_test(model: Estimator) -> None:
    """Predict and score a few pairs (known and unknown) as a loaded model will: a file whose
    arrays do not work together fails here, at load time, not later."""
    known_u = np.flatnonzero(model.user_counts_ > 0)[:3]
    known_i = np.flatnonzero(model.item_counts_ > 0)[:3]
    u = np.concatenate([np.repeat(known_u, len(known_i)), [-1, -1, known_u[0]]])
    i = np.concatenate([np.tile(known_i, len(known_u)), [known_i[0], -1, -1]])
    with np.errstate(all="ignore"):
        pred = np.asarray(model._predict_indices(u, i), dtype=np.float64)
        scores = np.asarray(model._score_users(np.array([known_u[0], -1])), dtype=np.float64)
    if pred.shape != u.shape or not np.isfinite(pred).all():
        raise ValueError("its parameters give non-finite predictions")
    if scores.shape != (2, model.n_items_):
        raise ValueError("its parameters do not score every item")


def load_model(path: str | os.PathLike) -> Estimator:
    """Load any recsys model file, never running code from it.

    The file is checked from its bytes up: zip structure, array types (anything needing
    unpickling is refused unread), the JSON header (format, version, class, settings), the
    shapes and values of every array against the id maps, and a trial prediction.

    Raises
    ------
    ModelFileError
        Missing, truncated or corrupt file; a file that is not a recsys model; a model of a
        newer format or an unknown class; arrays that are missing, of the wrong shape or type,
        or not finite. The message (one line) says which.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file: give the .npz file's path")
    if not path.is_file():
        raise ModelFileError(f"model file {path} not found: check the path (fit one with "
                             "`recsys fit -o FILE`)")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {path}: {exc.strerror or exc}") \
            from None
    if magic != b"PK\x03\x04":
        what = "an empty file" if not magic else "not an .npz archive"
        raise ModelFileError(f"{path} is not a recsys model file ({what})")
    arrays = modelfile.read_archive(path)
    raw = arrays.pop("header", None)
    if raw is None:
        raise ModelFileError(f"{path} is not a recsys model file (an .npz archive without a "
                             "recsys header)")
    try:
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise ValueError("the header is not a text")
        header = json.loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path} has a damaged model header ({modelfile.one_line(exc)})") \
            from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a recsys model file (foreign format)")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path} has a damaged model header (format version "
                             f"{short_repr(version)})")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, newer than this recsys reads "
            f"({FORMAT_VERSION}): upgrade recsys"
        )
    name = header.get("class")
    cls = _model_class(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelFileError(
            f"{path} holds an unknown model class {short_repr(name)}: it was written by another "
            f"program or a newer recsys (this one knows {', '.join(sorted(_REGISTRY))})"
        )
    params = header.get("params")
    try:
        if not isinstance(params, dict):
            raise TypeError("the settings are not a mapping")
        model = cls(**params)
        validate = getattr(model, "_validate_params", None)
        if validate is not None:
            validate()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path} holds settings this {cls.__name__} does not accept "
            f"({modelfile.one_line(exc)})"
        ) from None
    try:
        _restore_common(model, arrays)
        _restore_header(model, header)
        model._load_header_extra(header.get("extra", {}))
        prefix = "state/"
        model._set_state({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
        _smoke_test(model)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, ZeroDivisionError,
            FloatingPointError) as exc:
        raise ModelFileError(
            f"{path} is an incomplete or damaged recsys model file ({modelfile.one_line(exc)}); "
            "save the model again"
        ) from None
    return model
