"""Synthetic ratings from a planted low-rank model, with a known best possible RMSE.

The model is the biased matrix factorisation that :mod:`recsys.models.mf` learns,

.. math::

    r_{ui} = \\mu + b_u + b_i + p_u \\cdot q_i + \\varepsilon_{ui}, \\qquad
    \\varepsilon_{ui} \\sim \\mathcal N(0, \\sigma^2),

with :math:`b_u, b_i \\sim \\mathcal N(0, s_b^2)` and every entry of :math:`p_u, q_i` drawn from
:math:`\\mathcal N(0, s_f^2)`. Ratings are *not* rounded or clipped, so the noise is exactly
Gaussian and the best possible test RMSE (that of the noiseless value
:math:`\\mu + b_u + b_i + p_u \\cdot q_i`) is ``noise`` (:math:`\\sigma`), up to sampling error.
The container's ``rating_scale`` is the (min, max) of the generated ratings, so clipping a
prediction to it never moves the noiseless value except in the rare case where it falls outside
every observed rating.

Which (user, item) pairs are rated follows a popularity skew: item ``k`` in a random order of
popularity has weight :math:`1 / (k + 1)^{a}` (Zipf-like, ``a = popularity_skew``) and users have
log-normal activity weights. Every user and every item has at least one rating, every user at
least ``min(min_user_ratings, n_items, n_ratings // n_users)``; no pair occurs twice.

Everything is vectorised: pairs are drawn as 64-bit keys ``user * n_items + item`` (multinomial
counts per user and per item, matched by a random permutation, which is the same as independent
draws), de-duplicated by a sort and topped up until there are exactly ``n_ratings``. 25M ratings
over 160k users x 60k items take about 20 s and 1 GB peak on a loaded 2-core machine. When
more than a quarter of the matrix is requested, pairs are instead drawn exactly without
replacement by the Gumbel top-k trick over all cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys._random import make_rng
from recsys.data.ratings import Ratings
from recsys.errors import DataError

__all__ = ["PlantedTruth", "make_planted", "make_planted_with_truth"]

_CHUNK = 1 << 21  # rows per vectorised block: bounds temporary memory
_T0 = 946_684_800  # 2000-01-01 00:00:00 UTC
_SPAN = 10 * 365 * 86_400  # timestamps cover about ten years
_DENSE = 0.25  # above this fraction of the matrix, use exact sampling without replacement


@dataclass(frozen=True)
class PlantedTruth:
    """The parameters that generated a synthetic data set (indices as in the ``Ratings``).

    Attributes
    ----------
    mean : float
        :math:`\\mu`.
    user_bias, item_bias : ndarray, shape (n_users,) / (n_items,)
        :math:`b_u`, :math:`b_i`.
    user_factors, item_factors : ndarray, shape (n_users, k) / (n_items, k)
        :math:`p_u`, :math:`q_i`.
    noise : float
        :math:`\\sigma`, the standard deviation of the added noise: the best possible RMSE.
    item_popularity : ndarray, shape (n_items,)
        Sampling weight of each item (sums to 1).
    user_activity : ndarray, shape (n_users,)
        Sampling weight of each user (sums to 1).
    """

    mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    noise: float
    item_popularity: np.ndarray
    user_activity: np.ndarray

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Noiseless ratings :math:`\\mu + b_u + b_i + p_u \\cdot q_i` for dense indices."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        if users.shape != items.shape:
            raise ValueError("users and items must have the same shape")
        out = np.empty(users.shape, dtype=np.float64)
        flat_u, flat_i, flat_out = users.ravel(), items.ravel(), out.reshape(-1)
        for start in range(0, flat_u.size, _CHUNK):
            u = flat_u[start : start + _CHUNK]
            i = flat_i[start : start + _CHUNK]
            dot = np.einsum("ij,ij->i", self.user_factors[u], self.item_factors[i])
            base = self.mean + self.user_bias[u] + self.item_bias[i]
            flat_out[start : start + _CHUNK] = base + dot
        return out


def make_planted(
    n_users: int = 1000,
    n_items: int = 500,
    n_ratings: int = 50_000,
    n_factors: int = 10,
    noise: float = 0.5,
    mean: float = 3.5,
    bias_scale: float = 0.5,
    factor_scale: float | None = None,
    popularity_skew: float = 1.0,
    with_timestamps: bool = True,
    random_state: int | np.random.Generator | None = 0,
    *,
    user_skew: float = 0.5,
    min_user_ratings: int = 5,
) -> Ratings:
    """Ratings drawn from a planted biased low-rank model (see the module docstring).

    Parameters
    ----------
    n_users, n_items : int
        Size of the id maps; raw ids are ``1..n_users`` and ``1..n_items`` (index + 1).
    n_ratings : int
        Exact number of distinct (user, item) pairs; at least ``max(n_users, n_items)`` (so
        everyone has a rating) and at most ``n_users * n_items``.
    n_factors : int
        Rank ``k`` of the interaction term (0 gives a biases-only model).
    noise : float
        :math:`\\sigma`: standard deviation of the Gaussian noise, the best possible RMSE.
    mean, bias_scale : float
        :math:`\\mu` and the standard deviation :math:`s_b` of the user and item biases.
    factor_scale : float, optional
        Standard deviation :math:`s_f` of each factor entry; default :math:`k^{-1/4}`, which
        gives the interaction :math:`p_u \\cdot q_i` unit variance whatever ``k``.
    popularity_skew : float
        Zipf exponent of item popularity (0 = uniform items).
    with_timestamps : bool
        Attach int64 timestamps (seconds, from 2000-01-01 over about ten years) that are
        non-decreasing in row order, with random gaps; rows are in random order.
    random_state : int, Generator or None
        Seed; the same seed gives identical data.
    user_skew : float
        Standard deviation of the log of user activity weights (0 = uniform users).
    min_user_ratings : int
        Every user gets at least ``min(min_user_ratings, n_items, n_ratings // n_users)``
        ratings (items picked uniformly for this floor).

    Returns
    -------
    Ratings
        Continuous (unrounded, unclipped) ``float32`` ratings; ``rating_scale`` is their
        (min, max). Use :func:`make_planted_with_truth` to get the parameters as well.
    """
    return make_planted_with_truth(
        n_users=n_users,
        n_items=n_items,
        n_ratings=n_ratings,
        n_factors=n_factors,
        noise=noise,
        mean=mean,
        bias_scale=bias_scale,
        factor_scale=factor_scale,
        popularity_skew=popularity_skew,
        with_timestamps=with_timestamps,
        random_state=random_state,
        user_skew=user_skew,
        min_user_ratings=min_user_ratings,
    )[0]


def make_planted_with_truth(
    n_users: int = 1000,
    n_items: int = 500,
    n_ratings: int = 50_000,
    n_factors: int = 10,
    noise: float = 0.5,
    mean: float = 3.5,
    bias_scale: float = 0.5,
    factor_scale: float | None = None,
    popularity_skew: float = 1.0,
    with_timestamps: bool = True,
    random_state: int | np.random.Generator | None = 0,
    *,
    user_skew: float = 0.5,
    min_user_ratings: int = 5,
) -> tuple[Ratings, PlantedTruth]:
    """Like :func:`make_planted`, and also return the :class:`PlantedTruth` behind the data.

    ``truth.predict(ratings.users, ratings.items)`` is the noiseless rating; the residual
    ``ratings.ratings - truth.predict(...)`` is the drawn noise (standard deviation ``noise``).
    """
    n_users, n_items, n_ratings, n_factors = (
        _count(n_users, "n_users", 1),
        _count(n_items, "n_items", 1),
        _count(n_ratings, "n_ratings", 1),
        _count(n_factors, "n_factors", 0),
    )
    min_user_ratings = _count(min_user_ratings, "min_user_ratings", 1)
    cells = n_users * n_items
    if n_ratings < max(n_users, n_items):
        raise DataError(
            f"n_ratings={n_ratings} is too small to give each of {n_users} users and "
            f"{n_items} items a rating; use at least {max(n_users, n_items)}"
        )
    if n_ratings > cells:
        raise DataError(
            f"n_ratings={n_ratings} exceeds the {n_users} x {n_items} = {cells} possible "
            "(user, item) pairs; lower n_ratings or raise n_users/n_items"
        )
    for value, label in (
        (noise, "noise"),
        (bias_scale, "bias_scale"),
        (popularity_skew, "popularity_skew"),
        (user_skew, "user_skew"),
    ):
        if not (np.isfinite(value) and value >= 0):
            raise DataError(f"{label} must be a finite number >= 0, got {value!r}")
    if not np.isfinite(mean):
        raise DataError(f"mean must be finite, got {mean!r}")
    if factor_scale is None:
        factor_scale = n_factors ** -0.25 if n_factors else 0.0
    elif not (np.isfinite(factor_scale) and factor_scale >= 0):
        raise DataError(f"factor_scale must be a finite number >= 0, got {factor_scale!r}")

    rng = make_rng(random_state)
    # Popularity: Zipf weights over a random ranking of the items; log-normal user activity.
    item_w = np.empty(n_items)
    item_w[rng.permutation(n_items)] = 1.0 / np.arange(1, n_items + 1) ** popularity_skew
    item_w /= item_w.sum()
    user_w = rng.lognormal(0.0, user_skew, size=n_users) if user_skew > 0 else np.ones(n_users)
    user_w /= user_w.sum()

    floor = min(min_user_ratings, n_items, n_ratings // n_users)
    required = _required_keys(n_users, n_items, floor, rng)
    if n_ratings > _DENSE * cells:
        keys = _dense_keys(user_w, item_w, required, n_ratings, rng)
    else:
        keys = _sparse_keys(user_w, item_w, required, n_ratings, rng)
    users = (keys // n_items).astype(np.int32)  # grouped by user: cache-friendly below
    items = (keys % n_items).astype(np.int32)
    del keys

    truth = PlantedTruth(
        mean=float(mean),
        user_bias=rng.normal(0.0, bias_scale, size=n_users),
        item_bias=rng.normal(0.0, bias_scale, size=n_items),
        user_factors=rng.normal(0.0, factor_scale, size=(n_users, n_factors)),
        item_factors=rng.normal(0.0, factor_scale, size=(n_items, n_factors)),
        noise=float(noise),
        item_popularity=item_w,
        user_activity=user_w,
    )
    values = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, _CHUNK):
        stop = min(start + _CHUNK, n_ratings)
        clean = truth.predict(users[start:stop], items[start:stop])
        values[start:stop] = clean + rng.normal(0.0, noise, size=stop - start)
    order = rng.permutation(n_ratings)  # random row order
    users, items, values = users[order], items[order], values[order]
    del order

    timestamps = None
    if with_timestamps:
        gap = max(1, _SPAN // n_ratings)
        timestamps = _T0 + np.cumsum(rng.integers(0, 2 * gap + 1, size=n_ratings, dtype=np.int64))
    ratings = Ratings(
        users=users,
        items=items,
        ratings=values,
        user_ids=np.arange(1, n_users + 1, dtype=np.int64),
        item_ids=np.arange(1, n_items + 1, dtype=np.int64),
        timestamps=timestamps,
        rating_scale=(float(values.min()), float(values.max())),
        name="planted",
    )
    return ratings, truth


# ---------------------------------------------------------------------------- helpers
def _count(value: int, label: str, low: int) -> int:
    """Validate an integer argument >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise DataError(f"{label} must be an integer >= {low}, got {value!r}")
    return int(value)


def _required_keys(n_users: int, n_items: int, floor: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct keys that give each user ``floor`` items and each item at least one user.

    User ``u`` gets items ``perm[(u * floor + j) mod n_items]`` for ``j < floor`` (distinct since
    ``floor <= n_items``); items not reached that way get one random user each.
    """
    perm = rng.permutation(n_items).astype(np.int64)
    slots = np.arange(n_users * floor, dtype=np.int64)
    keys = (slots // floor) * n_items + perm[slots % n_items]
    if n_users * floor < n_items:
        rest = perm[n_users * floor :]
        extra_users = rng.permutation(n_users).astype(np.int64)[np.arange(rest.size) % n_users]
        keys = np.concatenate([keys, extra_users * n_items + rest])
    return _unique_sorted(keys)


def _unique_sorted(keys: np.ndarray) -> np.ndarray:
    """Distinct values of ``keys`` in increasing order (sorts ``keys`` in place).

    A sort and a neighbour comparison: faster than :func:`numpy.unique` on tens of millions of
    64-bit keys.
    """
    keys.sort()
    if keys.size < 2:
        return keys
    first = np.empty(keys.size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def _draw_pairs(
    user_w: np.ndarray, item_w: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` keys of (user, item) pairs drawn with replacement with weight ``w_u * w_i``.

    Equivalent to independent draws, without a per-draw search: the number of draws of each
    user and of each item are multinomial, and users and items are matched by a random
    permutation. Returns the distinct keys, sorted.
    """
    n_users, n_items = user_w.size, item_w.size
    user_counts = rng.multinomial(size, user_w)
    item_counts = rng.multinomial(size, item_w)
    item_dtype = np.int32 if n_items < 2**31 else np.int64
    items = np.repeat(np.arange(n_items, dtype=item_dtype), item_counts)
    rng.shuffle(items)
    keys = np.repeat(np.arange(n_users, dtype=np.int64) * n_items, user_counts)
    keys += items
    del items
    return _unique_sorted(keys)


def _sparse_keys(
    user_w: np.ndarray,
    item_w: np.ndarray,
    required: np.ndarray,
    n_ratings: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Exactly ``n_ratings`` distinct keys: ``required`` plus weighted draws, de-duplicated.

    Pairs are drawn with replacement, duplicates and already-held keys are dropped and the draw
    repeats for what is missing; the last batch is trimmed at random to the exact count.
    """
    keys = required  # sorted, unique
    accept = 1.0  # running estimate of the fraction of draws that turn out new
    for _ in range(200):
        need = n_ratings - keys.size
        if need <= 0:
            break
        size = int(need / max(accept, 0.02) * 1.05) + 64
        batch = _draw_pairs(user_w, item_w, size, rng)
        pos = np.searchsorted(keys, batch)
        held = keys[np.minimum(pos, keys.size - 1)] == batch
        new, pos = batch[~held], pos[~held]
        del batch, held
        accept = max(new.size / size, 1e-3)
        if new.size > need:
            pick = np.sort(rng.permutation(new.size)[:need])
            new, pos = new[pick], pos[pick]
        keys = np.insert(keys, pos, new)  # stays sorted
    else:  # pragma: no cover - only for pathological weights
        raise DataError("could not draw enough distinct (user, item) pairs; lower popularity_skew")
    return keys


def _dense_keys(
    user_w: np.ndarray,
    item_w: np.ndarray,
    required: np.ndarray,
    n_ratings: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Exactly ``n_ratings`` keys drawn without replacement with weight ``w_u * w_i``.

    Gumbel top-k: the ``n`` largest of :math:`\\log w_u + \\log w_i + G` with
    :math:`G \\sim \\mathrm{Gumbel}(0, 1)` are a weighted sample without replacement; the
    required keys get :math:`+\\infty`.
    """
    score = (np.log(user_w)[:, None] + np.log(item_w)[None, :]).ravel()
    score += rng.gumbel(size=score.size)
    score[required] = np.inf
    if n_ratings == score.size:
        return np.arange(score.size, dtype=np.int64)
    return np.sort(np.argpartition(-score, n_ratings - 1)[:n_ratings]).astype(np.int64)
