r"""Online updates: ``model.partial_fit(new_ratings)`` continues a fitted model on fresh
ratings instead of refitting it from scratch.

This module holds what every updatable model shares; a model adds a ``_partial_fit(batch,
n_epochs=, lr=, replay_size=)`` hook (:mod:`recsys.models.mf`, :mod:`recsys.models.svdpp`,
:mod:`recsys.models.baseline`) that learns from the batch, and is listed in
:data:`UPDATE_MODELS`. :meth:`Updates.partial_fit`

1. reads the new ratings (a :class:`~recsys.data.ratings.Ratings` container with its own id
   maps, or a DataFrame with ``user``, ``item``, ``rating`` columns) and refuses ratings
   outside the model's rating scale, with one line;
2. extends the id maps with the users and items the model has not seen (appended after the
   known ones: existing indices never move), and computes the record of the training data
   every model keeps (rating counts, each user's seen items, the new items' titles, years
   and genres) as if the new ratings had been in the training data; a new rating of a pair
   the model already knew replaces the old one (the pair is counted once);
3. maps the ratings to the model's units with the model's *fixed* map (``rating_map_``: the
   centre and spread of the first fit stay, so every learned parameter keeps its meaning),
   draws the replay sample (below), and calls the model's hook;
4. installs the new record and the hook's parameters only when everything succeeded: an
   update that raises or is interrupted leaves the model exactly as it was.

The record is rebuilt in O(old + new ratings) (a counting pass over the seen-items lists);
the models' own work is proportional to the new ratings (MF; SVD++ also derives every
user's vector again) or to the old ratings per sweep (the bias baseline's exact re-solve).

Replay: per-rating SGD on a few new ratings alone drifts the parameters it touches towards
them (the old ratings that held them in place are not in the batch). ``replay=`` (the
ratings the model was fitted on, or any earlier ones) lets the update mix
``replay_size x len(new)`` ratings drawn from them at random into its epochs. A model file
keeps no ratings, so replay is the caller's choice; ``bench/bench_update.py`` measures what
it is worth (on ML-100k nothing: the default is no replay).

An updated model is a fitted model like any other: it predicts, recommends, folds in and
saves to the same file format (nothing else is stored). ``history_["update_rmse"]`` gains
one entry per update: the RMSE (rating units) on the update's ratings after it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings, lookup_ids
from recsys.errors import DataError, NotFittedError, ParameterError, RecsysError

__all__ = ["UPDATE_MODELS", "UpdateBatch", "Updates", "unsupported_update", "ridge_rows",
           "sgd_update_settings", "grown"]

UPDATE_MODELS = {"baseline": "BiasBaseline", "mf": "MatrixFactorization", "svdpp": "SVDpp"}
"""Registry name -> class of the models ``partial_fit`` can update."""


@dataclass(frozen=True, eq=False)
class UpdateBatch:
    """What a model's ``_partial_fit`` hook learns from (indices into the *extended* id maps;
    ratings in model units).

    Attributes
    ----------
    users, items : ndarray of int32
        The new ratings' dense indices; indices ``>= n_old_users`` (``n_old_items``) are users
        (items) the model had not seen.
    values : ndarray of float32
        The new ratings in model units.
    fresh : ndarray of bool
        True where the (user, item) pair is new to the model; False where it replaces a rating
        the model was trained on.
    n_users, n_items : int
        Sizes of the extended id maps.
    n_old_users, n_old_items : int
        Sizes before the update.
    seen_indptr, seen_items : ndarray
        Each user's rated items after the update (CSR, as ``seen_indptr_`` / ``seen_items_``;
        SVD++'s implicit feedback ``N(u)``).
    old_user_counts, old_item_counts : ndarray of int64, shape (n_users,) / (n_items,)
        Training ratings of each user and item before the update (0 for the added ones, and
        for ids the map held without a rating): a row with 0 is *cold*, learned nothing yet.
    replay_users, replay_items, replay_values : ndarray
        The replay sample (empty without ``replay=``), same conventions.
    rng : numpy Generator
        The update's random generator (seeded by ``random_state``).
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    fresh: np.ndarray
    n_users: int
    n_items: int
    n_old_users: int
    n_old_items: int
    seen_indptr: np.ndarray
    seen_items: np.ndarray
    old_user_counts: np.ndarray
    old_item_counts: np.ndarray
    replay_users: np.ndarray
    replay_items: np.ndarray
    replay_values: np.ndarray
    rng: np.random.Generator


def unsupported_update(model: Any) -> RecsysError:
    """The one-line error of a model that cannot be updated."""
    names = ", ".join(f"{name} ({cls})" for name, cls in UPDATE_MODELS.items())
    return RecsysError(f"{type(model).__name__} cannot be updated with new ratings; updates "
                       f"work with {names}: refit it on all the ratings instead")


class Updates:
    """``partial_fit`` for an estimator (see the module docstring)."""

    def partial_fit(self, new_ratings: Ratings | pd.DataFrame, *, n_epochs: int | None = None,
                    lr: float | None = None, replay: Ratings | None = None,
                    replay_size: float | None = None,
                    random_state: int | None = None) -> Any:
        """Continue learning from ``new_ratings`` (the update rules are the model's:
        :meth:`MatrixFactorization._partial_fit`, :meth:`BiasBaseline._partial_fit`).

        Parameters
        ----------
        new_ratings : Ratings or DataFrame
            The fresh ratings, by raw id (columns ``user``, ``item``, ``rating`` for a frame).
            Unknown users and items are added to the model.
        n_epochs : int, optional
            Passes over the new ratings (MF, SVD++) or sweeps (the bias baseline); None: the
            model's update default, chosen for batches of about 1 % of the data; a batch
            that is a large share of it may want as many epochs as the fit ran.
        lr : float, optional
            MF's step size during the update (None: its default; the bias baseline has none).
        replay : Ratings, optional
            Earlier ratings (such as the training data) to mix into MF's epochs.
        replay_size : float, optional
            Replay ratings drawn per new rating (None: the model's default).
        random_state : int, optional
            Seed of the new factors, the replay draw and the shuffles.

        Returns
        -------
        self

        Raises
        ------
        RecsysError
            A model that cannot be updated, no new ratings, a rating outside the model's
            rating scale, a bad setting; the model is left unchanged.
        """
        if not getattr(self, "is_fitted", False):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: fit it or "
                                 "load a model before updating it")
        if type(self).__name__ not in UPDATE_MODELS.values() or not hasattr(self, "_partial_fit"):
            raise unsupported_update(self)
        new = _as_ratings(self, new_ratings, "new ratings")
        kept = {name: value for name, value in vars(self).items() if name.endswith("_")}
        try:
            record, users, items, fresh = _extended_record(self, new)
            rng = np.random.default_rng(random_state)
            replay_arrays = _replay_sample(self, replay, record, len(new), replay_size, rng)
            batch = UpdateBatch(
                users=users, items=items,
                values=np.asarray(self.rating_map_.to_model(new.ratings.astype(np.float64)),
                                  dtype=np.float32),
                fresh=fresh, n_users=len(record["user_ids_"]), n_items=len(record["item_ids_"]),
                n_old_users=self.n_users_, n_old_items=self.n_items_,
                seen_indptr=record["seen_indptr_"], seen_items=record["seen_items_"],
                old_user_counts=_padded(self.user_counts_, len(record["user_ids_"])),
                old_item_counts=_padded(self.item_counts_, len(record["item_ids_"])),
                replay_users=replay_arrays[0], replay_items=replay_arrays[1],
                replay_values=replay_arrays[2], rng=rng)
            self._partial_fit(batch, n_epochs=n_epochs, lr=lr, replay_size=replay_size)
            for name, value in record.items():
                setattr(self, name, value)
            self._user_index_cache = None
            self._item_index_cache = None
            z_hat = np.clip(np.asarray(self._predict_indices(users, items), dtype=np.float64),
                            *self.model_scale_)
            error = math.sqrt(float(np.mean((batch.values - z_hat) ** 2)))
            history = {key: list(value) for key, value in self.history_.items()}
            history.setdefault("update_rmse", []).append(self.in_rating_units(error))
            self.history_ = history
        except BaseException:
            for name in [n for n in vars(self) if n.endswith("_") and n not in kept]:
                delattr(self, name)
            for name, value in kept.items():
                setattr(self, name, value)
            self._user_index_cache = None
            self._item_index_cache = None
            raise
        return self


def _padded(counts: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([np.asarray(counts, dtype=np.int64),
                           np.zeros(n - len(counts), dtype=np.int64)])


# ---------------------------------------------------------------------------------- input
def _as_ratings(model: Any, ratings: Any, what: str) -> Ratings:
    """``ratings`` as a non-empty container whose every rating lies in the model's scale."""
    low, high = model.rating_scale_
    if isinstance(ratings, pd.DataFrame):
        if len(ratings) == 0:
            raise DataError(f"no {what}: the data is empty")
        ratings = Ratings.from_dataframe(ratings, rating_scale=(low, high), name=what)
    if not isinstance(ratings, Ratings):
        raise ParameterError(f"{what} must be a recsys Ratings container or a DataFrame with "
                             f"user, item and rating columns, got {type(ratings).__name__}")
    if len(ratings) == 0:
        raise DataError(f"no {what}: the data is empty")
    values = ratings.ratings
    outside = (values < np.float32(low)) | (values > np.float32(high)) | ~np.isfinite(values)
    if outside.any():
        first = float(values[np.flatnonzero(outside)[0]])
        raise DataError(
            f"{ratings.name}: rating {first:g} is outside the model's rating scale "
            f"[{low:g}, {high:g}] ({int(outside.sum())} such ratings); an update keeps the "
            "scale the model was fitted on")
    return ratings


# ---------------------------------------------------------------------------------- id maps
def _merged_ids(old: np.ndarray, added: np.ndarray) -> np.ndarray:
    """``old`` ids followed by ``added`` ones: int64 when all are integers (or text spelling
    integers), else text."""
    added = np.asarray(added)
    if old.dtype.kind in "iu":
        if added.dtype.kind in "iu":
            return np.concatenate([old, added.astype(np.int64)])
        text = pd.Series(added, dtype=object).astype(str).str.strip()
        if text.str.fullmatch(r"[+-]?\d{1,18}").all():
            return np.concatenate([old, text.astype(np.int64).to_numpy()])
        return np.concatenate([old.astype(str), text.to_numpy().astype(str)])
    return np.concatenate([old, added.astype(str)])


def _extend_ids(index: pd.Index, old: np.ndarray, raw_ids: np.ndarray, codes: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense codes ``codes`` of a container whose id map is ``raw_ids``, re-coded into the
    model's map ``old`` extended by the ids it lacks (appended in container order; ids of the
    container that no rating uses are not added). Returns the new codes, the extended map and
    the container positions of the added ids (in the order they were appended)."""
    used = np.unique(codes)
    mapped = lookup_ids(index, raw_ids[used])
    missing = mapped < 0
    mapped[missing] = len(old) + np.arange(int(missing.sum()))
    recode = np.full(len(raw_ids), -1, dtype=np.int64)
    recode[used] = mapped
    ids = _merged_ids(old, raw_ids[used[missing]]) if missing.any() else old
    return recode[codes].astype(np.int32), ids, used[missing]


def _text(values: Any) -> np.ndarray:
    """Object/str values as a fixed-width unicode array (saveable without pickle)."""
    arr = np.asarray(pd.Series(values, dtype=object).fillna("").astype(str).to_numpy(), dtype=str)
    return arr if arr.size else np.zeros(0, dtype="U1")


def _item_metadata(new: Ratings, positions: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Titles, genres and years of the container's items at ``positions`` (what
    :meth:`Estimator._remember_data` records for a fit)."""
    ids = new.item_ids[positions]
    info = new.item_info
    titles = _text(new.item_titles()[positions])
    genres = _text(info["genres"].reindex(ids).to_numpy()
                   if info is not None and "genres" in info.columns else [""] * len(ids))
    years = (pd.to_numeric(info["year"].reindex(ids), errors="coerce").to_numpy()
             if info is not None and "year" in info.columns else np.full(len(ids), np.nan))
    return titles, genres, np.asarray(years, dtype=np.float64)


def _extended_record(model: Any, new: Ratings
                     ) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """The model's record of its training data with ``new`` added (not yet installed), the
    new ratings' indices in the extended maps, and which of their pairs are new."""
    from recsys.models._bookkeeping import seen_items  # numba: not at `import recsys`

    users, user_ids, _ = _extend_ids(model._user_index(), model.user_ids_, new.user_ids,
                                     new.users)
    items, item_ids, added = _extend_ids(model._item_index(), model.item_ids_, new.item_ids,
                                         new.items)
    n_users, n_items = len(user_ids), len(item_ids)

    old_counts = np.diff(model.seen_indptr_)
    owners = np.repeat(np.arange(model.n_users_, dtype=np.int64), old_counts)
    old_keys = owners * n_items + model.seen_items_
    if np.any(old_keys[1:] < old_keys[:-1]):  # sorted as the model keeps them; else sort
        old_keys = np.sort(old_keys)
    new_keys = users.astype(np.int64) * n_items + items
    where = np.minimum(np.searchsorted(old_keys, new_keys), max(len(old_keys) - 1, 0))
    fresh = old_keys[where] != new_keys if len(old_keys) else np.ones(len(new_keys), bool)
    indptr, seen = seen_items(np.concatenate([owners, users[fresh]]).astype(np.int32),
                              np.concatenate([model.seen_items_, items[fresh]]).astype(np.int32),
                              n_users, n_items)

    titles, genres, years = _item_metadata(new, added)
    digest = hashlib.sha256(f"{model.data_fingerprint_}+{new.fingerprint()}".encode())
    record = {
        "user_ids_": user_ids, "item_ids_": item_ids,
        "seen_indptr_": indptr, "seen_items_": seen,
        "user_counts_": np.diff(indptr),
        "item_counts_": np.bincount(seen, minlength=n_items).astype(np.int64),
        "item_titles_": np.concatenate([model.item_titles_, titles]) if len(titles)
        else model.item_titles_,
        "item_genres_": np.concatenate([model.item_genres_, genres]) if len(genres)
        else model.item_genres_,
        "item_years_": np.concatenate([model.item_years_, years]),
        "data_fingerprint_": digest.hexdigest()[:16],
    }
    return record, users, items, fresh


def _replay_sample(model: Any, replay: Ratings | None, record: dict[str, Any], n_new: int,
                   replay_size: float | None, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``replay_size x n_new`` ratings drawn at random from ``replay`` (without replacement;
    all of them when there are fewer), as indices into the extended maps and model units.
    Ratings of users or items the model does not know are left out."""
    empty = (np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))
    if replay is None:
        return empty
    replay = _as_ratings(model, replay, "replay ratings")
    size = getattr(model, "_update_defaults", {}).get("replay_size", 0.0) \
        if replay_size is None else replay_size
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not (
            math.isfinite(size) and size >= 0):
        raise ParameterError(f"replay_size must be a number >= 0, got {size!r}")
    count = min(len(replay), int(round(size * n_new)))
    if count == 0:
        return empty
    rows = rng.choice(len(replay), size=count, replace=False) if count < len(replay) \
        else rng.permutation(len(replay))
    users = lookup_ids(pd.Index(record["user_ids_"]), replay.user_ids[replay.users[rows]])
    items = lookup_ids(pd.Index(record["item_ids_"]), replay.item_ids[replay.items[rows]])
    known = (users >= 0) & (items >= 0)
    values = model.rating_map_.to_model(replay.ratings[rows][known].astype(np.float64))
    return (users[known].astype(np.int32), items[known].astype(np.int32),
            np.asarray(values, dtype=np.float32))


# ---------------------------------------------------------------------------------- factor rows
def sgd_update_settings(model: Any, n_epochs: int | None, lr: float | None
                        ) -> tuple[int, float, float]:
    """Epochs and the (factor, bias) step sizes of an SGD model's update: those given, else
    the model's ``_update_defaults`` (``n_epochs``; ``lr_scale`` times the step its fit
    ended on, ``lr / (1 + lr_decay t)`` at the kept epoch ``t``). The bias step keeps the
    fit's ratio ``lr_bias / lr``."""
    from recsys.models import _checks as checks

    defaults = model._update_defaults
    epochs = checks.integer("partial_fit", "n_epochs",
                            defaults["n_epochs"] if n_epochs is None else n_epochs, 1, 100_000)
    if lr is None:
        step = 1.0 / (1.0 + float(model.lr_decay) * int(model.best_epoch_))
        lr = float(model.lr) * step * float(defaults["lr_scale"])
    else:
        lr = checks.number("partial_fit", "lr", lr, 0.0, strict=True)
    ratio = 1.0 if model.lr_bias is None else float(model.lr_bias) / float(model.lr)
    return epochs, lr, lr * ratio


def grown(array: np.ndarray, n_rows: int, rng: np.random.Generator | None = None,
          std: float = 0.0) -> np.ndarray:
    """A copy of ``array`` with rows appended up to ``n_rows``: ``N(0, std^2)`` draws from
    ``rng`` (factor rows, as a fit initialises them), else zeros (biases)."""
    shape = (n_rows - array.shape[0],) + array.shape[1:]
    extra = np.zeros(shape, dtype=array.dtype) if rng is None else \
        rng.standard_normal(shape, dtype=array.dtype) * array.dtype.type(std)
    return np.concatenate([array, extra])


def ridge_rows(rows: np.ndarray, cols: np.ndarray, targets: np.ndarray, solve_for: np.ndarray,
               other_factors: np.ndarray, usable: np.ndarray,
               penalties: Any) -> dict[int, tuple[float, np.ndarray]]:
    r"""Closed-form ``(bias, factors)`` of each row in ``solve_for`` against the fixed other
    side (fold-in, :func:`recsys.models.foldin.ridge_user`, for a new user or a new item).

    Parameters
    ----------
    rows, cols : ndarray of int
        The ratings' index on the side being solved (users for new users) and on the other.
    targets : ndarray of float
        What the row's ``b + p . q`` should explain (the rating less ``mu`` and the other
        side's bias; model units).
    solve_for : ndarray of int
        The rows to solve (each with at least one rating).
    other_factors : ndarray, shape (n_other, k)
        The other side's factors.
    usable : ndarray of bool, shape (n_other,)
        Which of the other side's rows carry information (a rating against a row that is itself
        new and unsolved is left out).
    penalties : callable
        ``penalties(n) -> (lambda', lambda_b' or None)`` for a row with ``n`` usable ratings.

    Returns
    -------
    dict row -> (bias, factors) for the rows with at least one usable rating.
    """
    from recsys.models.foldin import ridge_user

    keep = np.isin(rows, solve_for) & usable[cols]
    rows, cols, targets = rows[keep], cols[keep], targets[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols, targets = rows[order], cols[order], targets[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(rows)]
    out = {}
    for start, end in zip(starts, ends):
        penalty, penalty_bias = penalties(int(end - start))
        out[int(rows[start])] = ridge_user(other_factors[cols[start:end]], targets[start:end],
                                           penalty, penalty_bias)
    return out
