r"""Fold-in: a profile for a user the model has not seen, from a few of their ratings.

A fitted factor model keeps its item side (``q_i``, ``b_i``) fixed and solves only the new
user's parameters against it, with the model's own regularised objective; no refit. This
module holds what every such model shares:

* :class:`UserProfile`, the solved user (model units) and the items they rated;
* :func:`parse_ratings`, which turns ``{raw item id or title: rating}`` into dense item indices
  and ratings in model units (titles matched by :func:`match_item`);
* :func:`ridge_user`, the closed-form ridge solve of a user's bias and factors.

The models that implement the ``_fold_in`` / ``_score_profile`` hooks are listed in
:data:`FOLD_IN_MODELS`; :meth:`recsys.models.topn.TopN.fold_in` is the public entry point.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.ratings import lookup_ids
from recsys.errors import ParameterError, RecsysError, UnknownIdError, short_repr

__all__ = ["UserProfile", "FOLD_IN_MODELS", "parse_ratings", "match_item", "ridge_user",
           "step_sum", "sgd_penalties", "bias_penalty", "read_user_ratings", "parse_rate"]

FOLD_IN_MODELS = {"baseline": "BiasBaseline", "timebias": "TimeAwareBaseline",
                  "mf": "MatrixFactorization", "svdpp": "SVDpp", "timesvdpp": "TimeSVDpp",
                  "knn": "KNNBaseline", "knnglobal": "GlobalNeighbourhood",
                  "hybrid": "HybridRecommender"}
"""Registry name -> class of the models that can fold in a new user."""

_YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
_ARTICLE = re.compile(r"^(.*), (the|a|an|les|la|le|l'|il|el|die|der|das)$")


@dataclass(frozen=True, eq=False)
class UserProfile:
    """A user solved against a fitted model's fixed item side (see :meth:`TopN.fold_in`).

    Everything is in the model's units (``z = (r - c) / s``, :mod:`recsys.models.scaling`);
    a profile belongs to the model that made it.

    Parameters
    ----------
    model : str
        Class name of the model that made the profile.
    bias : float
        The user bias ``b_u`` (0 for a model without one).
    factors : ndarray of float64, shape (k,)
        The user factors ``p_u`` (empty for a model without factors).
    items : ndarray of int64
        Dense indices of the rated items (sorted); recommendations leave them out.
    values : ndarray of float64
        The given ratings of ``items``, in model units.
    skipped : tuple
        Keys of the given ratings that were left out (unknown to the model) when fold-in was
        asked to ignore them.
    parts : mapping
        What a model built on others keeps of each (the hybrid: its bases' profiles).
    """

    model: str
    bias: float
    factors: np.ndarray
    items: np.ndarray
    values: np.ndarray
    skipped: tuple = field(default=())
    parts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_ratings(self) -> int:
        """Number of ratings the profile was solved from."""
        return int(self.items.shape[0])


def match_item(model: Any, query: Any) -> int:
    """Dense index of an item given by raw id or title, refusing ambiguity.

    An exact id wins; then an exact title (case-insensitive), then a title without its
    ``(year)`` ("Toy Story" for "Toy Story (1995)"; "The Matrix" for MovieLens's "Matrix, The
    (1999)"), then a title containing the query (not for
a number: an unknown id must not match a year). A level
    with several matches, or no match at all, raises :class:`UnknownIdError` naming up to five
    candidates (most-rated first). :meth:`TopN.resolve_item` matches the same way but takes the
    most-rated of several; a rating must land on the film the person meant.
    """
    idx = int(lookup_ids(model._item_index(), [query])[0])
    if idx >= 0:
        return idx
    text = str(query).strip().lower()
    if not text:
        raise UnknownIdError("empty item: give an item id or (part of) a title")
    titles = pd.Series(model.item_titles_).str.lower()
    bare = titles.str.replace(_YEAR, "", regex=True)
    fronted = bare.str.replace(_ARTICLE, r"\2 \1", regex=True)  # "matrix, the" -> "the matrix"
    levels = [titles == text, (bare == text) | (fronted == text)]
    if not text.replace(".", "", 1).isdigit():  # an unknown numeric id must not match a year
        levels.append(titles.str.contains(text, regex=False)
                      | fronted.str.contains(text, regex=False))
    for level in levels:
        found = np.flatnonzero(level.to_numpy())
        if found.size == 1:
            return int(found[0])
        if found.size > 1:
            found = found[np.argsort(-model.item_counts_[found], kind="stable")]
            names = "; ".join(f"{model.item_ids_[i]} {model.item_titles_[i]}" for i in found[:5])
            more = f" and {found.size - 5} more" if found.size > 5 else ""
            raise UnknownIdError(
                f"item {short_repr(query)} is ambiguous: {found.size} titles match ({names}"
                f"{more}); give the item id or more of the title")
    raise UnknownIdError(
        f"unknown item {short_repr(query)}: no item id or title in this model matches it; "
        "check the id, or give part of the title")


def _rating(model: Any, key: Any, value: Any) -> float:
    """One given rating as a float inside the model's rating scale."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise ParameterError(f"rating of {short_repr(key)} must be a number, got "
                             f"{short_repr(value)}")
    try:
        rating = float(value)
    except ValueError:
        raise ParameterError(f"rating of {short_repr(key)} must be a number, got "
                             f"{short_repr(value)}") from None
    low, high = model.rating_scale_
    if not (math.isfinite(rating) and low <= rating <= high):
        raise ParameterError(f"rating of {short_repr(key)} must be within the model's rating "
                             f"scale {low:g}-{high:g}, got {short_repr(value)}")
    return rating


def parse_ratings(model: Any, ratings: Any, unknown: str = "error"
                  ) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Dense item indices (sorted), their ratings in model units, and the skipped keys.

    Parameters
    ----------
    model : fitted Estimator
    ratings : mapping {raw item id or title: rating}, or a pandas Series indexed by item
    unknown : {"error", "ignore"}
        What to do with an item the model cannot place (no id or title matches, or no
        training rating): raise :class:`UnknownIdError`, or leave it out (its key is returned).
        An ambiguous title, a bad rating and an item given twice always raise.
    """
    if unknown not in ("error", "ignore"):
        raise ParameterError(f"unknown must be 'error' or 'ignore', got {short_repr(unknown)}")
    if isinstance(ratings, pd.Series):
        ratings = dict(zip(ratings.index, ratings.to_numpy()))
    if not isinstance(ratings, Mapping):
        raise ParameterError("ratings must be a mapping {item id or title: rating}, got "
                             f"{type(ratings).__name__}")
    items, values, skipped, first_key = [], [], [], {}
    for key, value in ratings.items():
        rating = _rating(model, key, value)
        try:
            idx = match_item(model, key)
            if model.item_counts_[idx] == 0:
                raise UnknownIdError(f"item {short_repr(key)} has no training ratings in this "
                                     "model: it cannot inform a profile")
        except UnknownIdError as exc:
            if unknown == "error" or "ambiguous" in str(exc):
                raise
            skipped.append(key)
            continue
        if idx in first_key:
            raise ParameterError(f"item {short_repr(key)} is rated twice (also as "
                                 f"{short_repr(first_key[idx])}): give each item once")
        first_key[idx] = key
        items.append(idx)
        values.append(rating)
    if not items:
        raise ParameterError("no usable rating to fold in: give at least one rating of an item "
                             "the model was trained on")
    items_arr = np.asarray(items, dtype=np.int64)
    z = np.asarray(model.rating_map_.to_model(np.asarray(values, dtype=np.float64)))
    order = np.argsort(items_arr, kind="stable")
    return items_arr[order], z[order].astype(np.float64), tuple(skipped)


def ridge_user(item_factors: np.ndarray, targets: np.ndarray, penalty: float,
               penalty_bias: float | None) -> tuple[float, np.ndarray]:
    r"""The user's ``(b_u, p_u)`` minimising a ridge objective, in closed form.

    With ``x_i = (1, q_i)`` (``q_i`` alone when ``penalty_bias`` is None: no bias) and ``y_i``
    the targets (the given rating less everything that does not involve the user):

    .. math:: \min_{b_u, p_u} \sum_{i} (y_i - b_u - p_u \cdot q_i)^2
              + \lambda_b' b_u^2 + \lambda' \|p_u\|^2

    with ``lambda' = penalty``, ``lambda_b' = penalty_bias``: ``w = (X^T X + D)^{-1} X^T y``,
    ``D = diag(lambda_b', lambda', ...)``. With fewer ratings ``n`` than unknowns it is solved
    in its dual form ``w = D^{-1} X^T (X D^{-1} X^T + I)^{-1} y`` (an ``n x n`` system; the
    same ``w``), otherwise as the ``(k+1) x (k+1)`` system. A zero penalty falls back to the
    least-squares (least-norm) solution.
    """
    Q = np.asarray(item_factors, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    n = y.shape[0]
    if penalty_bias is None:
        X, d = Q, np.full(Q.shape[1], float(penalty))
    else:
        X = np.hstack([np.ones((n, 1)), Q])
        d = np.concatenate([[float(penalty_bias)], np.full(Q.shape[1], float(penalty))])
    w = None
    if np.all(d > 0):
        with np.errstate(all="ignore"):
            try:
                if n < X.shape[1]:
                    Xd = X / d
                    gram = Xd @ X.T
                    gram[np.diag_indices_from(gram)] += 1.0
                    w = Xd.T @ np.linalg.solve(gram, y)
                else:
                    A = X.T @ X
                    A[np.diag_indices_from(A)] += d
                    w = np.linalg.solve(A, X.T @ y)
            except np.linalg.LinAlgError:
                w = None
    if w is None or not np.all(np.isfinite(w)):
        w = np.linalg.lstsq(X, y, rcond=None)[0]
    if penalty_bias is None:
        return 0.0, w
    return float(w[0]), w[1:]


def step_sum(lr: float, decay: float, epochs: int) -> float:
    """``sum_{t < epochs} lr / (1 + decay t)``: how far per-rating SGD can carry a parameter
    (the total step size over the fit)."""
    t = np.arange(max(int(epochs), 1), dtype=np.float64)
    return float(np.sum(lr / (1.0 + decay * t)))


def sgd_penalties(model: Any, n: int) -> tuple[float, float]:
    r"""The ridge penalties ``(n lambda + 1/T, n lambda_b + 1/T_b)`` of a user with ``n``
    ratings in a model fitted by per-rating SGD (``reg``, ``reg_bias``, ``lr``, ``lr_bias``,
    ``lr_decay`` and the epochs it kept, ``best_epoch_ + 1``).

    ``n lambda`` is the weight decay SGD applies once per rating of the user. ``1/T`` stands
    for the shrinkage of stopping after finitely many steps, which a user with a few ratings
    never outgrows: gradient descent from 0 run for a total step ``T`` acts as a ridge penalty
    of about ``1/T`` (Yao, Rosasco & Caponnetto 2007, *On early stopping in gradient descent
    learning*); here ``T = sum_t eta_t`` (:func:`step_sum`) and ``T_b`` likewise with
    ``eta_b``.
    """
    epochs = int(getattr(model, "best_epoch_", int(model.n_epochs) - 1)) + 1
    decay = float(model.lr_decay)
    lr_b = model.lr if model.lr_bias is None else model.lr_bias
    return (n * float(model.reg) + 1.0 / step_sum(float(model.lr), decay, epochs),
            n * float(model.reg_bias) + 1.0 / step_sum(float(lr_b), decay, epochs))


def bias_penalty(model: Any, n: int, reg: float, lr: float) -> float:
    """The ridge penalty ``n reg + 1/T`` of a user bias learned by per-rating SGD with step
    ``lr`` (decayed by the model's ``lr_decay``) over the epochs the fit kept; see
    :func:`sgd_penalties`."""
    epochs = int(getattr(model, "best_epoch_", int(model.n_epochs) - 1)) + 1
    return n * float(reg) + 1.0 / step_sum(float(lr), float(model.lr_decay), epochs)


def unsupported(model: Any) -> RecsysError:
    """The one-line error of a model without fold-in."""
    names = ", ".join(f"{name} ({cls})" for name, cls in FOLD_IN_MODELS.items())
    return RecsysError(f"{type(model).__name__} cannot fold in a new user; fold-in works with "
                       f"{names}: refit, or use one of those models")


def parse_rate(text: str) -> tuple[str, float]:
    """``"ITEM=RATING"`` (the last ``=`` splits, so a title may hold one) as (item, rating)."""
    item, sep, value = str(text).rpartition("=")
    if not sep or not item.strip():
        raise ParameterError(f"--rate {short_repr(text)}: expected ITEM=RATING, like "
                             "\"Toy Story=5\" or 2571=4.5")
    try:
        rating = float(value)
    except ValueError:
        raise ParameterError(f"--rate {short_repr(text)}: the rating {value.strip()!r} is not "
                             "a number") from None
    return item.strip(), rating


def read_user_ratings(path: str) -> dict[Any, float]:
    """One user's ratings from a file: ``item,rating`` lines (a header is allowed), or the
    usual ``user,item,rating[,timestamp]`` layout holding a single user. Separators: comma,
    tab, semicolon, ``::`` or spaces."""
    from recsys.errors import DataError

    try:
        lines = [line.strip() for line in open(path, encoding="utf-8-sig")]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read it ({exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line or line.startswith("#"):
            continue
        sep = next((s for s in ("::", "\t", ",", ";") if s in line), None)
        fields = [f.strip().strip('"') for f in (line.split(sep) if sep else line.split())]
        rows.append((number, fields))
    if rows and not _is_number(rows[0][1][1 if len(rows[0][1]) == 2 else 2:][:1]):
        rows = rows[1:]  # a header
    if not rows:
        raise DataError(f"{path}: no ratings found")
    width = len(rows[0][1])
    ratings, users = {}, set()
    for number, fields in rows:
        if len(fields) < 2 or len(fields) != width:
            raise DataError(f"{path}, line {number}: expected item,rating or "
                            f"user,item,rating per line, found {len(fields)} field(s)")
        if width >= 3:
            users.add(fields[0])
            fields = fields[1:]
        if not _is_number(fields[1:2]):
            raise DataError(f"{path}, line {number}: the rating {fields[1]!r} is not a number")
        if fields[0] in ratings:
            raise DataError(f"{path}, line {number}: item {fields[0]!r} is rated twice")
        ratings[fields[0]] = float(fields[1])
    if len(users) > 1:
        raise DataError(f"{path} holds the ratings of {len(users)} users: give one user's "
                        "ratings (item,rating lines)")
    return ratings


def _is_number(fields: list[str]) -> bool:
    try:
        return bool(fields) and math.isfinite(float(fields[0]))
    except ValueError:
        return False
