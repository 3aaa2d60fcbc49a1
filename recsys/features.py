"""Side information as numeric feature matrices, and standardisation from training data.

Items: genres multi-hot (one column per genre seen in ``item_info["genres"]``, ``"A|B"``) and
release year (missing years get the mean year and a ``year_missing`` flag). Users: age, gender
one-hot and occupation one-hot from ``user_info`` (ML-100k / ML-1M; ``ml-latest-small`` has no
user information and yields a matrix with zero columns).

Nothing here looks at ratings, so no feature can carry the target. Statistics that *do* depend
on the training data (means and scales) are learned by :class:`Standardizer` from training rows
only and then applied unchanged to validation and test rows.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings

__all__ = ["item_features", "user_features", "log_counts", "Standardizer"]

_NO_GENRE = {"", "(no genres listed)", "unknown"}
_YEARS = (0.0, 10_000.0)
"""Release years outside this range count as missing (they would overflow float32 or swamp
the standardisation)."""
_AGES = (0.0, 200.0)
"""Ages outside this range count as missing."""


def item_features(ratings: Ratings) -> tuple[np.ndarray, list[str]]:
    """Genre multi-hot and release year of every item index.

    Returns
    -------
    matrix : ndarray of float32, shape (n_items, n_features)
    names : list of str, one per column (``genre:Drama``, ``year``, ``year_missing``)
    """
    info = ratings.item_info
    n = ratings.n_items
    columns: list[np.ndarray] = []
    names: list[str] = []
    if info is not None and "genres" in info.columns:
        genres = info["genres"].reindex(ratings.item_ids).fillna("").astype(str)
        split = genres.str.split("|")
        vocab = sorted({g for gs in split for g in gs if g.strip() not in _NO_GENRE})
        position = {g: k for k, g in enumerate(vocab)}
        hot = np.zeros((n, len(vocab)), dtype=np.float32)
        for row, gs in enumerate(split):
            for g in gs:
                if g in position:
                    hot[row, position[g]] = 1.0
        columns.append(hot)
        names += [f"genre:{g}" for g in vocab]
    if info is not None and "year" in info.columns:
        year = pd.to_numeric(info["year"].reindex(ratings.item_ids), errors="coerce").to_numpy(
            dtype=np.float64)
        missing = ~((year >= _YEARS[0]) & (year <= _YEARS[1]))  # NaN, inf, 1e300: unknown
        fill = float(year[~missing].mean()) if (~missing).any() else 0.0
        columns.append(np.where(missing, fill, year)[:, None].astype(np.float32))
        names.append("year")
        if missing.any():
            columns.append(missing[:, None].astype(np.float32))
            names.append("year_missing")
    matrix = np.hstack(columns) if columns else np.zeros((n, 0), dtype=np.float32)
    return matrix, names


def user_features(ratings: Ratings) -> tuple[np.ndarray, list[str]]:
    """Age, gender one-hot and occupation one-hot of every user index (zero columns when the
    data set has no user information)."""
    info = ratings.user_info
    n = ratings.n_users
    columns: list[np.ndarray] = []
    names: list[str] = []
    if info is not None and "age" in info.columns:
        age = pd.to_numeric(info["age"].reindex(ratings.user_ids), errors="coerce").to_numpy(
            dtype=np.float64)
        known = (age >= _AGES[0]) & (age <= _AGES[1])  # NaN, inf, -5, 1e300: unknown
        fill = float(age[known].mean()) if known.any() else 0.0
        columns.append(np.where(known, age, fill)[:, None].astype(np.float32))
        names.append("age")
    for col in ("gender", "occupation"):
        if info is not None and col in info.columns:
            values = info[col].reindex(ratings.user_ids).fillna("").astype(str).to_numpy()
            vocab = sorted(set(values) - {""})
            hot = (values[:, None] == np.array(vocab, dtype=object)[None, :]).astype(np.float32)
            columns.append(hot.reshape(n, len(vocab)))
            names += [f"{col}:{v}" for v in vocab]
    matrix = np.hstack(columns) if columns else np.zeros((n, 0), dtype=np.float32)
    return matrix, names


def log_counts(counts: np.ndarray) -> np.ndarray:
    """``log(1 + n)`` of rating counts (how much the model knows about a user or item)."""
    return np.log1p(np.asarray(counts, dtype=np.float64)).astype(np.float32)


class Standardizer:
    """Column-wise ``z = (x - mean) / scale`` with statistics from the training rows only.

    Columns that are constant in training get scale 1 (they become 0). Unknown entries can be
    set to the training mean before transforming, which maps them to 0.
    """

    def fit(self, X: np.ndarray) -> "Standardizer":
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        scale = X.std(axis=0) if len(X) else np.ones(X.shape[1])
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        return self

    def transform(self, X: np.ndarray, dtype: str | np.dtype = np.float64) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(dtype)

    @classmethod
    def from_arrays(cls, mean: Sequence[float], scale: Sequence[float]) -> "Standardizer":
        out = cls()
        out.mean_ = np.asarray(mean, dtype=np.float64)
        out.scale_ = np.asarray(scale, dtype=np.float64)
        return out
