r"""Time features of timeSVD++'s biases (Koren, "Collaborative filtering with temporal
dynamics", KDD 2009), shared by every time-aware model.

Time is counted in whole days: the day of a rating is ``floor(timestamp / 86400)`` (UTC days
since 1970; :attr:`Ratings.timestamps` are int64 unix seconds). From the *training* ratings
:meth:`TimeFeatures.fit` records

* the training period ``[first_day, last_day]`` (``span = last_day - first_day + 1`` days),
  cut into ``n_bins`` bins of equal width for the item drift ``b_{i,Bin(t)}``:

  .. math:: \mathrm{Bin}(t) = \min\bigl(n_{bins} - 1, \max(0,
            \lfloor (t - t_{first})\, n_{bins} / \mathrm{span} \rfloor)\bigr),

  so a day before the period falls in the first bin and a day after it in the last one;
* each user's mean rating day :math:`t_u` and the drift feature

  .. math:: \mathrm{dev}_u(t) = \mathrm{sign}(t - t_u)\, |t - t_u|^{\beta};

* the (user, day) pairs with at least ``min_day_ratings`` training ratings, each given a
  *slot*: the index of its per-day bias ``b_{u,t}``. Any other (user, day) has slot ``-1``
  (no per-day term).

:meth:`TimeFeatures.encode` turns (user index, timestamp) pairs into the three per-rating
features ``(dev, bin, slot)`` a kernel consumes; without timestamps it encodes "now", the day
after the training period (last bin, ``dev_u`` of that day, no per-day term). The learned
record is saved and restored with :meth:`TimeFeatures.state` / :meth:`TimeFeatures.from_state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from recsys.errors import ParameterError
from recsys.models.io import state_array

__all__ = [
    "SECONDS_PER_DAY",
    "day_numbers",
    "timestamps_of",
    "time_bins",
    "deviation",
    "user_mean_days",
    "day_slot_keys",
    "lookup_slots",
    "TimeFeatures",
]

SECONDS_PER_DAY = 86_400


def day_numbers(timestamps: np.ndarray) -> np.ndarray:
    """Whole days since 1970-01-01 (UTC) of int64 unix-second ``timestamps`` (floor, so a
    negative timestamp is a day before 1970), as int64."""
    return np.floor_divide(np.asarray(timestamps, dtype=np.int64), SECONDS_PER_DAY)


def timestamps_of(values: Any, n: int) -> np.ndarray:
    """Timestamps given to ``predict`` as int64 unix seconds, broadcast to ``n`` pairs:
    numbers of seconds (whole or not) or ``datetime64`` values; one line otherwise."""
    arr = np.atleast_1d(np.asarray(values))
    if np.issubdtype(arr.dtype, np.datetime64):
        if np.isnat(arr).any():
            raise ParameterError("timestamps must be dates or numbers of seconds, got NaT")
        arr = arr.astype("datetime64[s]").astype(np.int64)
    elif arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ParameterError(
            f"timestamps must be numbers of seconds since 1970 (or datetime64), got "
            f"{arr.dtype} values")
    elif arr.dtype.kind == "f":
        if not np.all(np.abs(arr) < 2.0**62):
            raise ParameterError("timestamps must be finite numbers of seconds since 1970")
        arr = np.floor(arr)
    if arr.ndim != 1 or arr.size not in (1, n):
        raise ParameterError(
            f"timestamps must be one value or one per pair ({n}), got {arr.size}")
    return np.ascontiguousarray(np.broadcast_to(arr.astype(np.int64), (n,)))


def time_bins(days: np.ndarray, first_day: int, last_day: int, n_bins: int) -> np.ndarray:
    """The bin of each day when ``[first_day, last_day]`` is cut into ``n_bins`` bins of equal
    width (int32). Days before the period go to bin 0, days after it to bin ``n_bins - 1``."""
    span = int(last_day) - int(first_day) + 1
    offset = np.asarray(days, dtype=np.int64) - int(first_day)
    bins = np.floor_divide(np.maximum(offset, 0) * int(n_bins), max(span, 1))
    return np.minimum(bins, int(n_bins) - 1).astype(np.int32)


def deviation(days: np.ndarray, mean_days: np.ndarray, beta: float) -> np.ndarray:
    r"""Koren's :math:`\mathrm{dev}_u(t) = \mathrm{sign}(t - t_u)\,|t - t_u|^{\beta}` of each
    day ``t`` against its user's mean day ``t_u`` (both arrays of the same shape), float64."""
    gap = np.asarray(days, dtype=np.float64) - np.asarray(mean_days, dtype=np.float64)
    return np.sign(gap) * np.abs(gap) ** float(beta)


def user_mean_days(users: np.ndarray, days: np.ndarray, n_users: int,
                   empty: float = 0.0) -> np.ndarray:
    """Each user's mean rating day :math:`t_u` (float64, length ``n_users``); ``empty`` for a
    user without ratings."""
    users = np.asarray(users, dtype=np.int64)
    counts = np.bincount(users, minlength=n_users).astype(np.float64)
    sums = np.bincount(users, weights=np.asarray(days, dtype=np.float64), minlength=n_users)
    out = np.full(n_users, float(empty))
    has = counts > 0
    out[has] = sums[has] / counts[has]
    return out


def _keys(users: np.ndarray, days: np.ndarray, first_day: int, span: int) -> np.ndarray:
    """``user * span + (day - first_day)``: one int64 key per (user, day in the period)."""
    return np.asarray(users, dtype=np.int64) * int(span) + (
        np.asarray(days, dtype=np.int64) - int(first_day))


def day_slot_keys(users: np.ndarray, days: np.ndarray, first_day: int, last_day: int,
                  min_count: int) -> np.ndarray:
    """The sorted keys (see :func:`lookup_slots`) of the (user, day) pairs with at least
    ``min_count`` ratings among ``users``/``days`` (days within ``[first_day, last_day]``);
    a pair's slot is its position in this array."""
    span = int(last_day) - int(first_day) + 1
    keys, counts = np.unique(_keys(users, days, first_day, span), return_counts=True)
    return keys[counts >= int(min_count)].astype(np.int64)


def lookup_slots(slot_keys: np.ndarray, users: np.ndarray, days: np.ndarray, first_day: int,
                 last_day: int) -> np.ndarray:
    """The slot of each (user, day) pair: its position in the sorted ``slot_keys``, or ``-1``
    for an unknown user (``-1``), a day outside ``[first_day, last_day]`` or a pair without a
    per-day term (int32)."""
    users = np.asarray(users, dtype=np.int64)
    days = np.asarray(days, dtype=np.int64)
    span = int(last_day) - int(first_day) + 1
    inside = (users >= 0) & (days >= first_day) & (days <= last_day)
    keys = _keys(np.maximum(users, 0), np.clip(days, first_day, last_day), first_day, span)
    pos = np.searchsorted(slot_keys, keys)
    found = np.zeros(keys.shape, dtype=bool)
    ok = pos < slot_keys.shape[0]
    found[ok] = slot_keys[pos[ok]] == keys[ok]
    return np.where(inside & found, pos, -1).astype(np.int32)


@dataclass(frozen=True)
class TimeFeatures:
    """What the time-aware terms need from the training period (see the module docstring).

    Attributes
    ----------
    first_day, last_day : int
        The first and last training day (days since 1970).
    n_bins : int
        Item-drift bins over ``[first_day, last_day]``.
    beta : float
        Exponent of ``dev_u``.
    mean_days : ndarray of float64, shape (n_users,)
        Each user's mean training day ``t_u`` (``last_day`` for a user without training
        ratings, whose drift weight stays 0 anyway).
    slot_keys : ndarray of int64, sorted
        The (user, day) pairs that have a per-day bias, as keys ``user * span + day -
        first_day``.
    """

    first_day: int
    last_day: int
    n_bins: int
    beta: float
    mean_days: np.ndarray
    slot_keys: np.ndarray

    @classmethod
    def fit(cls, users: np.ndarray, timestamps: np.ndarray, n_users: int, n_bins: int,
            beta: float, min_day_ratings: int | None) -> "TimeFeatures":
        """The features of a training set (dense user indices, int64 unix seconds).
        ``min_day_ratings=None`` gives no (user, day) a per-day bias."""
        days = day_numbers(timestamps)
        first, last = int(days.min()), int(days.max())
        slots = (np.zeros(0, dtype=np.int64) if min_day_ratings is None
                 else day_slot_keys(users, days, first, last, int(min_day_ratings)))
        return cls(first, last, int(n_bins), float(beta),
                   user_mean_days(users, days, n_users, empty=float(last)), slots)

    @property
    def n_slots(self) -> int:
        """How many (user, day) pairs have a per-day bias."""
        return int(self.slot_keys.shape[0])

    @property
    def now(self) -> int:
        """The day predictions without a timestamp are made for: the day after training."""
        return self.last_day + 1

    def encode(self, users: np.ndarray,
               timestamps: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dev, bin, slot)`` of each (user index, timestamp) pair: float64, int32, int32.

        A user index of ``-1`` (unknown) gets ``dev = 0`` and slot ``-1``. Without
        ``timestamps`` every pair is encoded at :attr:`now`: the last bin, ``dev_u(now)``,
        no per-day term."""
        users = np.asarray(users, dtype=np.int64)
        if timestamps is None:
            days = np.full(users.shape, self.now, dtype=np.int64)
        else:
            days = day_numbers(timestamps)
        known = users >= 0
        mean = np.where(known, self.mean_days[np.maximum(users, 0)], 0.0)
        dev = np.where(known, deviation(days, mean, self.beta), 0.0)
        bins = time_bins(days, self.first_day, self.last_day, self.n_bins)
        slots = lookup_slots(self.slot_keys, users, days, self.first_day, self.last_day)
        return dev, bins, slots

    def now_deviation(self) -> np.ndarray:
        """``dev_u(now)`` of every user (float64, shape (n_users,))."""
        return deviation(np.full(self.mean_days.shape, self.now), self.mean_days, self.beta)

    # ------------------------------------------------------------------ persistence
    def state(self, prefix: str = "time_") -> dict[str, np.ndarray]:
        """The arrays that restore these features (see :meth:`from_state`)."""
        return {
            f"{prefix}period": np.array([self.first_day, self.last_day], dtype=np.int64),
            f"{prefix}mean_days": self.mean_days,
            f"{prefix}slot_keys": self.slot_keys,
        }

    @classmethod
    def from_state(cls, arrays: Mapping[str, Any], n_users: int, n_bins: int, beta: float,
                   prefix: str = "time_") -> "TimeFeatures":
        """Features from :meth:`state`'s arrays, checked (``ValueError`` naming the array)."""
        period = state_array(arrays, f"{prefix}period", (2,), np.int64)
        first, last = int(period[0]), int(period[1])
        if first > last:
            raise ValueError(f"array '{prefix}period' is reversed ({first} > {last})")
        mean_days = state_array(arrays, f"{prefix}mean_days", (n_users,), np.float64)
        keys = state_array(arrays, f"{prefix}slot_keys", (None,), np.int64)
        span = last - first + 1
        if keys.size and (np.any(np.diff(keys) <= 0) or keys[0] < 0
                          or keys[-1] >= n_users * span):
            raise ValueError(f"array '{prefix}slot_keys' is not a sorted set of (user, day) keys")
        return cls(first, last, int(n_bins), float(beta), mean_days, keys)
