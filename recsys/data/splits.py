"""Cutting a :class:`~recsys.data.ratings.Ratings` into training and test parts.

Every function returns parts made by :meth:`Ratings.subset`, so they share the *same* id maps
(a model fitted on the training part scores the test part without re-encoding), and keeps the
rows of each part in their original order. Randomness comes from ``random_state`` through
:func:`numpy.random.default_rng`: the same seed gives the same split.

No (user, item) pair is ever on both sides: the input must hold each pair once (what
:meth:`Ratings.from_dataframe` guarantees; a container with repeated pairs raises
:class:`DataError`).

=============================  ======================================================
``holdout_split``              random fraction of the ratings as test
``kfold_splits``               k random folds that partition the ratings (yields k pairs)
``user_holdout_split``         ``n`` random ratings (or a fraction) of each user as test
``temporal_split``             the latest ratings as test (global cut, or per user)
``validation_split``           a random validation part carved out of training data, where
                               every validation user and item keeps training ratings
``split``                      the above by name: ``holdout``, ``kfold``, ``user``,
                               ``temporal``, ``validation``
=============================  ======================================================

(The fixed MovieLens-100k splits ``u1..u5``, ``ua``, ``ub`` are read by
:func:`recsys.data.predefined_splits.load_predefined_split`.)
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Iterator

import numpy as np

from recsys._random import make_rng
from recsys.data.ratings import Ratings
from recsys.errors import DataError

__all__ = [
    "holdout_split",
    "kfold_splits",
    "user_holdout_split",
    "temporal_split",
    "validation_split",
    "split",
    "SPLIT_METHODS",
]

Split = tuple[Ratings, Ratings]
RandomState = int | np.random.Generator | None


# ---------------------------------------------------------------------------- checks
def _check_ratings(ratings: Ratings, what: str = "ratings", minimum: int = 2) -> None:
    """Container of at least ``minimum`` ratings holding each (user, item) pair once."""
    if not isinstance(ratings, Ratings):
        raise DataError(f"{what} must be a Ratings container, got {type(ratings).__name__}")
    if len(ratings) < minimum:
        raise DataError(
            f"{what} ({ratings.name}) has {len(ratings)} rating(s); at least {minimum} are "
            "needed to split; use a larger data set"
        )
    keys = ratings.users.astype(np.int64) * max(ratings.n_items, 1) + ratings.items
    keys.sort()
    if np.any(keys[1:] == keys[:-1]):
        raise DataError(
            f"{ratings.name} holds the same (user, item) pair more than once; build it with "
            "Ratings.from_dataframe, which keeps the last rating of each pair"
        )


def _n_test(size: float | int, n: int, label: str) -> int:
    """Number of test rows: a fraction in (0, 1) (rounded up) or a count in [1, n - 1].

    A fraction whose count rounds to 0 or to all ``n`` rows would leave a part empty: that is
    a :class:`DataError`, not a silent adjustment.
    """
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise DataError(f"{label} must be a fraction in (0, 1) or a count, got {size!r}")
    if isinstance(size, (int, np.integer)):
        count = int(size)
        if not 1 <= count < n:
            raise DataError(
                f"{label}={count} must be between 1 and {n - 1} (there are {n} ratings)"
            )
        return count
    if not 0.0 < float(size) < 1.0:
        raise DataError(f"{label}={size!r} must be a fraction strictly between 0 and 1")
    count = math.ceil(round(float(size) * n, 6))  # 0.07 * 100 = 7.000000000000001 -> 7
    if not 1 <= count < n:
        part = "the held-out part" if count < 1 else "the training part"
        raise DataError(
            f"{label}={size!r} of {n} ratings leaves {part} empty; use a fraction that keeps "
            f"ratings on both sides, or a count between 1 and {n - 1}"
        )
    return count


def _parts(ratings: Ratings, test_mask: np.ndarray, train: str, test: str) -> Split:
    return (
        ratings.subset(np.flatnonzero(~test_mask), name=f"{ratings.name}:{train}"),
        ratings.subset(np.flatnonzero(test_mask), name=f"{ratings.name}:{test}"),
    )


# ---------------------------------------------------------------------------- random splits
def holdout_split(
    ratings: Ratings, test_size: float | int = 0.2, random_state: RandomState = 0
) -> Split:
    """Random holdout: a uniformly random ``test_size`` of the ratings form the test part.

    Parameters
    ----------
    ratings : Ratings
    test_size : float or int
        Fraction in (0, 1) (the count is rounded up) or number of test ratings.
    random_state : int, Generator or None

    Returns
    -------
    (train, test) : Ratings, Ratings
        Disjoint, together exactly ``ratings``. Users or items may end up only in the test
        part (models fall back for them); use :func:`validation_split` to avoid that.
    """
    _check_ratings(ratings)
    n = len(ratings)
    n_test = _n_test(test_size, n, "test_size")
    mask = np.zeros(n, dtype=bool)
    mask[make_rng(random_state).permutation(n)[:n_test]] = True
    return _parts(ratings, mask, "train", "test")


def kfold_splits(ratings: Ratings, k: int = 5, random_state: RandomState = 0) -> Iterator[Split]:
    """K-fold cross-validation: ``k`` random folds of (nearly) equal size.

    The ratings are permuted once and cut into ``k`` folds whose sizes differ by at most one;
    split ``j`` tests on fold ``j`` and trains on the rest, so the test parts partition the data.
    Arguments are checked at the call; the ``k`` (train, test) pairs are built lazily, one at a
    time (``list(...)`` to keep them all).

    Yields
    ------
    (train, test) : Ratings, Ratings
    """
    _check_ratings(ratings)
    n = len(ratings)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= n:
        raise DataError(
            f"k={k!r} folds: use an integer between 2 and {n} (the number of ratings), so that "
            "no fold is empty"
        )
    fold = np.empty(n, dtype=np.int32)
    fold[make_rng(random_state).permutation(n)] = np.arange(n) % int(k)

    def folds() -> Iterator[Split]:
        for j in range(int(k)):
            yield _parts(ratings, fold == j, f"fold{j + 1}-train", f"fold{j + 1}-test")

    return folds()


# ---------------------------------------------------------------------------- per-user splits
def _per_user_counts(
    counts: np.ndarray, n_test: float | int, min_train: int, label: str
) -> np.ndarray:
    """Test ratings wanted from each user: ``n_test``, or for a fraction
    ``round(frac * n_u)`` clipped to ``[1, n_u - min_train]``; 0 for users who would keep fewer
    than ``min_train`` training ratings."""
    if isinstance(min_train, bool) or not isinstance(min_train, (int, np.integer)) or min_train < 0:
        raise DataError(f"min_train must be an integer >= 0, got {min_train!r}")
    if isinstance(n_test, bool) or not isinstance(n_test, (int, float, np.integer, np.floating)):
        raise DataError(f"{label} must be a count >= 1 or a fraction in (0, 1), got {n_test!r}")
    if isinstance(n_test, (int, np.integer)):
        if n_test < 1:
            raise DataError(f"{label}={n_test} must be at least 1")
        want = np.full(counts.shape, int(n_test), dtype=np.int64)
    else:
        if not 0.0 < float(n_test) < 1.0:
            raise DataError(f"{label}={n_test!r} must be a fraction strictly between 0 and 1")
        want = np.floor(float(n_test) * counts + 0.5).astype(np.int64)
        want = np.clip(want, 1, np.maximum(counts - int(min_train), 1))
    return np.where(counts - want >= int(min_train), want, 0)


def _tail_per_user(users: np.ndarray, order: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Mask of the last ``want[u]`` rows of each user ``u`` in ``order``.

    ``order`` lists row positions grouped by user (increasing user index), each group sorted
    by the key that decides which rows go to test (random or time).
    """
    sorted_users = users[order]
    n_u = np.bincount(users, minlength=want.size)
    end = np.cumsum(n_u)  # one past the last row of each user in ``order``
    rank_from_end = end[sorted_users] - np.arange(users.size)  # 1 for a user's last row
    mask = np.zeros(users.size, dtype=bool)
    mask[order] = rank_from_end <= want[sorted_users]
    return mask


def user_holdout_split(
    ratings: Ratings,
    n_test: int | float = 1,
    random_state: RandomState = 0,
    min_train: int = 1,
) -> Split:
    """Leave-``n``-out per user: each user's test part is ``n_test`` of their ratings at random.

    Parameters
    ----------
    n_test : int or float
        Ratings per user in the test part, or a fraction in (0, 1) of each user's ratings
        (``round(frac * n_u)`` clipped to ``[1, n_u - min_train]``).
    min_train : int
        Ratings a user must keep for training. Users with fewer than ``n_test + min_train``
        ratings (``1 + min_train`` for a fraction) keep *all* of them in the training part
        (they are not tested).
    random_state : int, Generator or None

    Returns
    -------
    (train, test) : Ratings, Ratings
        Every eligible user has exactly ``n_test`` test ratings and at least ``min_train``
        training ratings.
    """
    _check_ratings(ratings)
    want = _per_user_counts(ratings.user_counts(), n_test, min_train, "n_test")
    if not want.any():
        raise DataError(
            f"no user of {ratings.name} has enough ratings to hold out {n_test!r} and keep "
            f"{min_train} for training; lower n_test or min_train, or use the 'holdout' split"
        )
    rng = make_rng(random_state)
    # group rows by user, in random order inside each user: sort on (user, random 32-bit key)
    key = (ratings.users.astype(np.int64) << 32) | rng.integers(0, 2**32, len(ratings))
    order = np.argsort(key, kind="stable")
    mask = _tail_per_user(ratings.users, order, want)
    return _parts(ratings, mask, "train", "test")


def temporal_split(
    ratings: Ratings,
    test_size: float | int = 0.2,
    per_user: bool = False,
    min_train: int = 1,
) -> Split:
    """The latest ratings form the test part.

    Global cut (``per_user=False``): rows are ordered by timestamp (ties by row position) and
    the last ``test_size`` (fraction, rounded up, or count) are the test part, so every training
    timestamp is ``<=`` every test timestamp (equal only for ties at the cut).

    Per user (``per_user=True``): each user's latest ``test_size`` ratings (a count, or a
    fraction of that user's ratings, at least 1) are tested, like :func:`user_holdout_split`
    with time instead of chance (same counts and ``min_train`` rule; users too small keep all
    in training). Within each user, training times are ``<=`` test times.

    Raises
    ------
    DataError
        The ratings have no timestamps.
    """
    _check_ratings(ratings)
    if ratings.timestamps is None:
        raise DataError(
            f"{ratings.name} has no timestamps, so it cannot be split by time; use the "
            "'holdout' or 'user' split instead"
        )
    if ratings.timestamps.min() == ratings.timestamps.max():
        raise DataError(
            f"all {len(ratings)} ratings of {ratings.name} have the same timestamp, so none is "
            "later than another; use the 'holdout' or 'user' split instead"
        )
    if per_user:
        want = _per_user_counts(ratings.user_counts(), test_size, min_train, "test_size")
        if not want.any():
            raise DataError(
                f"no user of {ratings.name} has enough ratings to hold out {test_size!r} by "
                "time; lower test_size or min_train, or use the global cut (per_user=False)"
            )
        order = np.lexsort((ratings.timestamps, ratings.users))  # stable: ties by position
        mask = _tail_per_user(ratings.users, order, want)
    else:
        n = len(ratings)
        n_test = _n_test(test_size, n, "test_size")
        order = np.argsort(ratings.timestamps, kind="stable")
        mask = np.zeros(n, dtype=bool)
        mask[order[n - n_test :]] = True
    return _parts(ratings, mask, "train", "test")


def validation_split(
    train: Ratings,
    valid_size: float | int = 0.1,
    random_state: RandomState = 0,
    stratify: bool = True,
) -> Split:
    """Carve a validation part out of training data (for early stopping and tuning).

    A random holdout of ``valid_size`` (fraction, rounded up, or count). With ``stratify``
    (default), any user or item whose every rating fell into validation gets one of them, at
    random, moved back to training, so every validation user and item has training ratings
    wherever the data allows (an item rated once can then not be validated). The validation
    part can therefore be slightly smaller than asked.

    ``valid_size=0`` means no validation: the training part is all of ``train`` and the
    validation part is empty (pass ``validation=None`` to a model's ``fit`` then).

    Returns
    -------
    (train, valid) : Ratings, Ratings

    Raises
    ------
    DataError
        When no rating can be validated while its user and item keep training ratings.
    """
    if not isinstance(valid_size, bool) and isinstance(
        valid_size, (int, float, np.integer, np.floating)
    ) and valid_size == 0:
        _check_ratings(train, "training data", minimum=1)
        return _parts(train, np.zeros(len(train), dtype=bool), "train", "valid")
    _check_ratings(train, "training data")
    n = len(train)
    n_valid = _n_test(valid_size, n, "valid_size")
    rng = make_rng(random_state)
    mask = np.zeros(n, dtype=bool)
    mask[rng.permutation(n)[:n_valid]] = True
    if stratify:
        for index, size in ((train.users, train.n_users), (train.items, train.n_items)):
            in_train = np.bincount(index[~mask], minlength=size)
            orphans = mask & (in_train[index] == 0)
            if orphans.any():
                rows = np.flatnonzero(orphans)
                rows = rows[rng.permutation(rows.size)]  # random representative per group
                _, first = np.unique(index[rows], return_index=True)
                mask[rows[first]] = False
        if not mask.any():  # tiny data: validate one rating whose user and item have others
            spare = (train.user_counts()[train.users] > 1) & (train.item_counts()[train.items] > 1)
            if not spare.any():
                raise DataError(
                    f"{train.name} has too few ratings to carve a validation part (each "
                    "held-out rating's user and item need other ratings); hold out fewer or "
                    "none (validation=0 in the library, --validation 0 on the command line)"
                )
            mask[rng.choice(np.flatnonzero(spare))] = True
    return _parts(train, mask, "train", "valid")


# ---------------------------------------------------------------------------- by name
SPLIT_METHODS = {
    "holdout": holdout_split,
    "kfold": kfold_splits,
    "user": user_holdout_split,
    "temporal": temporal_split,
    "validation": validation_split,
}
"""Split name -> function, for :func:`split` and the command line."""


def split(ratings: Ratings, method: str = "holdout", **kwargs: Any) -> Split | Iterator[Split]:
    """Split by name: ``holdout``, ``kfold`` (yields k pairs), ``user``, ``temporal``,
    ``validation``; ``kwargs`` go to the function (e.g. ``test_size``, ``k``, ``n_test``,
    ``per_user``, ``random_state``)."""
    func = SPLIT_METHODS.get(str(method).lower().replace("-", "_"))
    if func is None:
        raise DataError(
            f"unknown split method {method!r}; choose one of {', '.join(SPLIT_METHODS)}"
        )
    params = list(inspect.signature(func).parameters)[1:]
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise DataError(
            f"split {method!r} does not take {', '.join(unknown)}; it takes {', '.join(params)}"
        )
    return func(ratings, **kwargs)
