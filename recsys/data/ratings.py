"""The one ratings container that flows through the whole library.

A :class:`Ratings` holds dense ``int32`` user and item *indices*, ``float32`` ratings, optional
``int64`` timestamps, and the raw-id <-> index maps both ways. Item metadata (title, genres,
year) and user metadata (age, gender, occupation, zip) ride alongside as DataFrames indexed by
raw id. Splits cut a container into parts that keep the *same* id maps, so a model fitted on the
training part can score the test part without any re-encoding.

Validation happens once, at the edge (:meth:`Ratings.from_dataframe`): missing ids, ratings that
are not numbers, NaN/inf, ratings outside the scale, and empty data raise :class:`DataError`
naming the file and line; duplicate (user, item) pairs keep the *last* occurrence (the latest
rating in file order) and are counted in a warning.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from recsys.errors import DataError, UnknownIdError

__all__ = ["Ratings", "DuplicateRatingsWarning", "lookup_ids"]


class DuplicateRatingsWarning(UserWarning):
    """Emitted when a (user, item) pair occurs more than once; the last occurrence is kept."""


def _where(source: str | None, first_line: int | None, row: int | None) -> str:
    """Format the 'file, line N' prefix of a validation message."""
    parts = []
    if source:
        parts.append(str(source))
    if row is not None and first_line is not None:
        parts.append(f"line {first_line + row}")
    elif row is not None:
        parts.append(f"row {row + 1}")
    return (", ".join(parts) + ": ") if parts else ""


_EXACT_FLOAT = 2.0**53  # integers beyond this are not all representable as float64


def _exact_int64(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value as an exact int64 where it is one (an integer, a string spelling one such as
    ``"42"`` or ``"-9223372036854775808"``, or a whole float such as ``42.0`` below 2**53);
    returns the integers and a mask of where that worked."""
    flat = pd.Series(values.ravel(), dtype=object)
    quick = pd.to_numeric(flat, errors="coerce")
    if quick.dtype == np.int64:  # the common case: every value an integer within int64
        return quick.to_numpy().reshape(values.shape), np.ones(values.shape, dtype=bool)
    text = flat.astype(str).str.strip()
    ints = np.zeros(len(text), dtype=np.int64)
    ok = np.zeros(len(text), dtype=bool)
    digits = text.str.fullmatch(r"[+-]?\d{1,19}").to_numpy(dtype=bool)
    if digits.any():
        parsed = pd.to_numeric(text[digits], errors="coerce")
        if parsed.dtype == np.int64:  # every one fits: exact
            ints[digits], ok[digits] = parsed.to_numpy(), True
        else:  # some beyond int64 (rare): one by one, exactly
            low, high = np.iinfo(np.int64).min, np.iinfo(np.int64).max
            for k in np.flatnonzero(digits):
                number = int(text.iat[k])
                if low <= number <= high:
                    ints[k], ok[k] = number, True
    rest = ~digits
    if rest.any():
        floats = pd.to_numeric(text[rest], errors="coerce").to_numpy(dtype=np.float64)
        whole = np.isfinite(floats) & (np.abs(floats) < _EXACT_FLOAT) & (floats == np.floor(floats))
        where = np.flatnonzero(rest)[whole]
        ints[where], ok[where] = floats[whole].astype(np.int64), True
    return ints.reshape(values.shape), ok.reshape(values.shape)


def lookup_ids(index: pd.Index, raw: Any) -> np.ndarray:
    """Map raw ids to dense indices, ``-1`` for ids not in ``index``.

    Strings that spell integers are matched against integer ids (the command line hands over
    ``"42"`` for user 42), and integers against string ids.
    """
    values = np.atleast_1d(np.asarray(raw, dtype=object if isinstance(raw, str) else None))
    if len(index) and values.size:
        if pd.api.types.is_integer_dtype(index.dtype) and not pd.api.types.is_integer_dtype(
            values.dtype
        ):
            ints, ok = _exact_int64(values)
            out = np.full(values.shape, -1, dtype=np.int64)
            if ok.any():
                out[ok] = index.get_indexer(ints[ok])
            return out
        if index.dtype == object and values.dtype != object:
            values = values.astype(str)
    return index.get_indexer(values).astype(np.int64)


@dataclass(eq=False)
class Ratings:
    """Explicit ratings with dense indices and raw-id maps.

    Parameters
    ----------
    users, items : ndarray of int32, shape (n_ratings,)
        Dense indices into ``user_ids`` / ``item_ids``.
    ratings : ndarray of float32, shape (n_ratings,)
    user_ids, item_ids : ndarray
        Raw id of each index (``user_ids[users[k]]`` is the raw user of rating ``k``).
    timestamps : ndarray of int64, optional
        Seconds since the epoch, when the data set has them.
    rating_scale : (float, float)
        Lowest and highest possible rating; predictions are clipped to it.
    item_info, user_info : DataFrame, optional
        Side information indexed by raw id: ``title``, ``genres`` (``"A|B"``), ``year`` for
        items; ``age``, ``gender``, ``occupation``, ``zip`` for users.
    name : str
        A label for reports (data set name or file name).
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray | None = None
    rating_scale: tuple[float, float] = (1.0, 5.0)
    item_info: pd.DataFrame | None = None
    user_info: pd.DataFrame | None = None
    name: str = "ratings"
    _user_index: pd.Index | None = field(default=None, repr=False)
    _item_index: pd.Index | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.users = np.ascontiguousarray(self.users, dtype=np.int32)
        self.items = np.ascontiguousarray(self.items, dtype=np.int32)
        self.ratings = np.ascontiguousarray(self.ratings, dtype=np.float32)
        if self.timestamps is not None:
            self.timestamps = np.ascontiguousarray(self.timestamps, dtype=np.int64)
        self.user_ids = np.asarray(self.user_ids)
        self.item_ids = np.asarray(self.item_ids)
        self.rating_scale = (float(self.rating_scale[0]), float(self.rating_scale[1]))
        n = len(self.ratings)
        if len(self.users) != n or len(self.items) != n:
            raise DataError("users, items and ratings must have the same length")
        if self.timestamps is not None and len(self.timestamps) != n:
            raise DataError("timestamps must have the same length as ratings")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dataframe(
        cls,
        frame: pd.DataFrame,
        user: str = "user",
        item: str = "item",
        rating: str = "rating",
        timestamp: str | None = "timestamp",
        *,
        rating_scale: tuple[float, float] | None = None,
        item_info: pd.DataFrame | None = None,
        user_info: pd.DataFrame | None = None,
        name: str | None = None,
        source: str | None = None,
        first_line: int | None = None,
    ) -> "Ratings":
        """Validate a DataFrame of raw ratings and encode its ids.

        Parameters
        ----------
        frame : DataFrame
            One row per rating.
        user, item, rating, timestamp : str
            Column names; ``timestamp`` is optional (ignored when absent or None).
        rating_scale : (low, high), optional
            Allowed range; read from the data (min, max) when not given.
        source, first_line : optional
            File name and the line number of the first data row, used in error messages.

        Raises
        ------
        DataError
            Empty data, a missing id, a rating that is not a number, NaN/inf, or a rating
            outside ``rating_scale``; the message names the file and line.
        """
        label = name or (str(source) if source else "ratings")
        if frame is None or len(frame) == 0:
            raise DataError(f"{_where(source, None, None)}no ratings found (the data is empty)")
        for col in (user, item, rating):
            if col not in frame.columns:
                raise DataError(
                    f"{_where(source, None, None)}missing column {col!r} "
                    f"(columns: {', '.join(map(str, frame.columns))})"
                )
        for col, what in ((user, "user id"), (item, "item id")):
            missing = frame[col].isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise DataError(
                    f"{_where(source, first_line, row)}missing {what}; fill it in or delete "
                    "the line"
                )
        values = cls._numeric_ratings(frame[rating], source, first_line)
        if rating_scale is None:
            rating_scale = (float(values.min()), float(values.max()))
        low, high = float(rating_scale[0]), float(rating_scale[1])
        if not low < high and not (low == high and values.size):
            raise DataError(f"invalid rating scale [{low:g}, {high:g}]")
        # compared in float32, the ratings' type: 0.3 is inside [0.1, 0.3]
        outside = (values < np.float32(low)) | (values > np.float32(high))
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise DataError(
                f"{_where(source, first_line, row)}rating {values[row]:g} is outside the "
                f"rating scale [{low:g}, {high:g}] ({int(outside.sum())} such ratings); fix "
                "those lines or give the true scale (rating_scale=(low, high), or --scale LOW,HIGH "
                "on the command line)"
            )
        ts = None
        if timestamp is not None and timestamp in frame.columns:
            column = frame[timestamp]
            if pd.api.types.is_integer_dtype(column.dtype):
                ts = column.to_numpy(dtype=np.int64)
            else:
                stamps = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
                bad = ~(np.abs(stamps) < 2.0**63)  # NaN, inf, beyond int64
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise DataError(
                        f"{_where(source, first_line, row)}timestamp "
                        f"{str(column.iloc[row])[:40]!r} is "
                        "not a number of seconds (or a date); fix the line or drop the column"
                    )
                ts = np.floor(stamps).astype(np.int64)

        user_codes, user_ids = pd.factorize(frame[user], sort=True)
        item_codes, item_ids = pd.factorize(frame[item], sort=True)
        users = user_codes.astype(np.int32)
        items = item_codes.astype(np.int32)
        keep = cls._last_of_duplicates(users, items, len(item_ids), source)
        if keep is not None:
            users, items, values = users[keep], items[keep], values[keep]
            ts = ts[keep] if ts is not None else None
        return cls(
            users=users,
            items=items,
            ratings=values,
            user_ids=np.asarray(user_ids),
            item_ids=np.asarray(item_ids),
            timestamps=ts,
            rating_scale=(low, high),
            item_info=item_info,
            user_info=user_info,
            name=label,
        )

    @classmethod
    def from_arrays(
        cls,
        users: Sequence[Any] | np.ndarray,
        items: Sequence[Any] | np.ndarray,
        ratings: Sequence[float] | np.ndarray,
        timestamps: Sequence[int] | np.ndarray | None = None,
        **kwargs: Any,
    ) -> "Ratings":
        """Build a container from raw-id arrays (validated like :meth:`from_dataframe`)."""
        data = {"user": np.asarray(users), "item": np.asarray(items), "rating": np.asarray(ratings)}
        if timestamps is not None:
            data["timestamp"] = np.asarray(timestamps)
        return cls.from_dataframe(pd.DataFrame(data), **kwargs)

    @staticmethod
    def _numeric_ratings(
        column: pd.Series, source: str | None, first_line: int | None
    ) -> np.ndarray:
        if pd.api.types.is_numeric_dtype(column.dtype):
            numeric = column.astype(np.float64)
            not_number = np.zeros(len(column), dtype=bool)
        else:
            numeric = pd.to_numeric(column, errors="coerce")
            not_number = (numeric.isna() & column.notna()).to_numpy()
            text = column.astype(str).str.strip().str.lower()
            not_number = not_number & ~text.isin(["nan", ""]).to_numpy()
        if not_number.any():
            row = int(np.flatnonzero(not_number)[0])
            raise DataError(
                f"{_where(source, first_line, row)}rating {str(column.iloc[row])[:40]!r} is not "
                "a number; fix or delete the line"
            )
        values = numeric.to_numpy(dtype=np.float64)
        with np.errstate(over="ignore"):
            single = values.astype(np.float32)
        bad = ~np.isfinite(single)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            what = ("missing (NaN)" if np.isnan(values[row])
                    else "infinite" if np.isinf(values[row]) else f"too large ({values[row]:g})")
            raise DataError(
                f"{_where(source, first_line, row)}rating is {what}; fix or delete the line"
            )
        return single

    @staticmethod
    def _last_of_duplicates(
        users: np.ndarray, items: np.ndarray, n_items: int, source: str | None
    ) -> np.ndarray | None:
        """Positions to keep so each (user, item) pair appears once (its last occurrence)."""
        key = users.astype(np.int64) * max(n_items, 1) + items
        ordered = np.sort(key)
        if not (ordered[1:] == ordered[:-1]).any():
            return None
        del ordered
        keep = np.flatnonzero(~pd.Series(key).duplicated(keep="last").to_numpy())
        dropped = len(key) - len(keep)
        warnings.warn(
            f"{_where(source, None, None)}{dropped} duplicate (user, item) rating(s); "
            "kept the last occurrence of each pair",
            DuplicateRatingsWarning,
            stacklevel=3,
        )
        return keep

    # ------------------------------------------------------------------ basic facts
    def __len__(self) -> int:
        return int(self.ratings.shape[0])

    @property
    def n_users(self) -> int:
        """Number of users in the id map (including users with no rating in this part)."""
        return int(self.user_ids.shape[0])

    @property
    def n_items(self) -> int:
        """Number of items in the id map (including items with no rating in this part)."""
        return int(self.item_ids.shape[0])

    @property
    def global_mean(self) -> float:
        """Mean rating (``mu``)."""
        return float(self.ratings.mean(dtype=np.float64)) if len(self) else 0.0

    def user_counts(self) -> np.ndarray:
        """Number of ratings of each user index, shape (n_users,)."""
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Number of ratings of each item index, shape (n_items,)."""
        return np.bincount(self.items, minlength=self.n_items)

    # ------------------------------------------------------------------ ids
    @property
    def user_index(self) -> pd.Index:
        """Raw user id -> dense index, as a pandas Index (``get_indexer`` for many)."""
        if self._user_index is None:
            self._user_index = pd.Index(self.user_ids)
        return self._user_index

    @property
    def item_index(self) -> pd.Index:
        """Raw item id -> dense index, as a pandas Index."""
        if self._item_index is None:
            self._item_index = pd.Index(self.item_ids)
        return self._item_index

    def encode_users(self, raw: Any) -> np.ndarray:
        """Dense indices of raw user ids, ``-1`` where unknown."""
        return lookup_ids(self.user_index, raw)

    def encode_items(self, raw: Any) -> np.ndarray:
        """Dense indices of raw item ids, ``-1`` where unknown."""
        return lookup_ids(self.item_index, raw)

    def user_of(self, raw: Any) -> int:
        """Dense index of one raw user id; raises :class:`UnknownIdError` if absent."""
        idx = int(self.encode_users([raw])[0])
        if idx < 0:
            raise UnknownIdError(f"unknown user {raw!r} (not in {self.name})")
        return idx

    def item_of(self, raw: Any) -> int:
        """Dense index of one raw item id; raises :class:`UnknownIdError` if absent."""
        idx = int(self.encode_items([raw])[0])
        if idx < 0:
            raise UnknownIdError(f"unknown item {raw!r} (not in {self.name})")
        return idx

    # ------------------------------------------------------------------ views
    def subset(self, rows: np.ndarray | Iterable[int], name: str | None = None) -> "Ratings":
        """Ratings at ``rows`` (positions or a boolean mask), keeping the same id maps."""
        rows = np.asarray(rows)
        if rows.dtype != bool:
            rows = rows.astype(np.int64)
        return replace(
            self,
            users=self.users[rows],
            items=self.items[rows],
            ratings=self.ratings[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            name=name or self.name,
            _user_index=self._user_index,
            _item_index=self._item_index,
        )

    def to_dataframe(self, raw_ids: bool = True) -> pd.DataFrame:
        """Ratings as a DataFrame with columns user, item, rating (and timestamp)."""
        data: dict[str, np.ndarray] = {
            "user": self.user_ids[self.users] if raw_ids else self.users,
            "item": self.item_ids[self.items] if raw_ids else self.items,
            "rating": self.ratings,
        }
        if self.timestamps is not None:
            data["timestamp"] = self.timestamps
        return pd.DataFrame(data)

    def item_titles(self) -> np.ndarray:
        """Title of each item index (the raw id as text where no title is known)."""
        titles = self.item_ids.astype(str).astype(object)
        if self.item_info is not None and "title" in self.item_info.columns:
            known = self.item_info["title"].reindex(self.item_ids)
            mask = known.notna().to_numpy()
            titles[mask] = known.to_numpy()[mask]
        return titles

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the encoded ratings: identifies the training data."""
        digest = hashlib.sha256()
        for array in (self.users, self.items, self.ratings):
            digest.update(np.ascontiguousarray(array))
        digest.update(f"{self.n_users}:{self.n_items}".encode())
        return digest.hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"Ratings(name={self.name!r}, n_ratings={len(self)}, n_users={self.n_users}, "
            f"n_items={self.n_items}, scale={self.rating_scale})"
        )
