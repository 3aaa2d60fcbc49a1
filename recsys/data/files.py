"""Read a user's own ratings file: CSV, TSV, ``::``-separated ``.dat``, pipe or whitespace.

The layout is guessed from the head of the file (:mod:`recsys.data.sniff`: the separator from
the first line, a header when its third field is not a number or when a field carries a known
column name, the columns by name); a file without a header is read by position:
``user, item, rating[, timestamp]`` (the layout of MovieLens ``u.data`` and ``u1.base``).

Reading uses pandas' C parser with explicit dtypes (``int32`` ids where they are integers,
``float32`` ratings; :func:`recsys.data.delimited.read_delimited`); only when that fast pass
fails is the file read again as text so that the error can name the offending line. Every
problem is a :class:`~recsys.errors.DataError` whose one-line message gives the file, the
1-based line number where there is one (the header counts as line 1) and what to do: a line
with the wrong number of fields, a missing id or rating, a rating that is not a number, NaN or
infinite, a rating outside the scale, an empty file, a separator that cannot be guessed (or a
``sep=`` that does not match the file), a binary, compressed or UTF-16 file, a folder, a
missing or unreadable path. Duplicate (user, item) pairs keep the last occurrence and emit a
:class:`~recsys.data.ratings.DuplicateRatingsWarning`.

Decisions a user can rely on:

* **Ids are opaque labels.** A user or item column whose every value is an integer literal
  that fits in ``int64`` is read as integers (``int32`` when they fit), negative ones included;
  any other column (words, ``1.5``, ``007x``, integers beyond ``int64``) is kept as *text*,
  exactly as written minus surrounding blanks, so nothing wraps around or loses precision.
  Only an empty field is a missing id (``NA`` or ``null`` are ids like any other word).
* **Extra columns** are allowed: with a header, columns without a known name are ignored;
  without one, the 4th column is the timestamp (numbers of seconds or dates) and the 5th and
  later are ignored.
* **Encoding**: UTF-8 (a byte-order mark is skipped); a file that is not valid UTF-8 is read
  as Latin-1 (every byte is a character), so text ids still round-trip. UTF-16 files, compressed
  files and binary files are refused with a message saying what to do.
* Windows (CRLF) and old Mac (CR) line ends, leading blank lines and trailing blank lines are
  fine; a blank line *between* ratings is an error naming its line.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from recsys.data.delimited import read_delimited
from recsys.data.messages import os_error
from recsys.data.ratings import Ratings
from recsys.data.sniff import (
    ROLES,
    FileFormat,
    check_binary,
    guess_columns,
    guess_encoding,
    head_lines,
    sniff_format,
)
from recsys.errors import DataError

__all__ = ["read_ratings_file", "dates_as_seconds"]


def _id_dtype_guess(sample: pd.Series) -> type:
    """int32 when every sampled id is an integer literal that fits, int64 when it fits there,
    else ``str`` (the ids stay text). ``sample`` holds the ids as text."""
    text = sample.astype(str).str.strip()
    if not text.str.fullmatch(r"[+-]?\d{1,19}").all():
        return str
    if not len(text):
        return np.int32
    values = pd.to_numeric(text, errors="coerce")
    if values.dtype != np.int64:  # uint64, float or object: beyond int64
        return str
    if values.min() < -(2**31) or values.max() >= 2**31:
        return np.int64
    return np.int32


def _timestamp_dtype(sample: pd.Series) -> type | None:
    """int64 when the sampled timestamps are integers (seconds), else let pandas infer."""
    guess = _id_dtype_guess(sample)
    return np.int64 if guess is not str else None


def read_ratings_file(
    path: str | Path,
    *,
    rating_scale: tuple[float, float] | None = None,
    sep: str | None = None,
    header: bool | None = None,
    user: str | None = None,
    item: str | None = None,
    rating: str | None = None,
    timestamp: str | None = None,
    name: str | None = None,
    item_info: pd.DataFrame | None = None,
    user_info: pd.DataFrame | None = None,
) -> Ratings:
    """Read any delimited ratings file into a :class:`Ratings`.

    Parameters
    ----------
    path : str or Path
        A ``.csv``, ``.tsv``, ``.dat``, ``.txt``, ``.base``/``.test`` (or any) text file.
    rating_scale : (low, high), optional
        Allowed range; read from the data (min, max) when not given.
    sep, header : optional
        Override the guessed separator / header presence.
    user, item, rating, timestamp : str, optional
        Override the guessed column names (with a header) .
    name : str, optional
        Label of the data set; the file name by default.

    Raises
    ------
    DataError
        With the file and line of the first problem (see the module docstring).
    """
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise DataError(
            f"{source}: is a folder, not a ratings file; pass the ratings file inside it "
            "(load() also reads a MovieLens release's folder)"
        )
    if not path.exists():
        raise DataError(f"{source}: no such file; check the path")

    def opener() -> IO[bytes]:
        return open(path, "rb")

    try:
        with opener() as raw:
            head = raw.read(1 << 16)
    except OSError as exc:
        raise os_error(exc, source) from None
    check_binary(head, source)
    encoding = guess_encoding(head)
    skip, first = head_lines(head, encoding)
    if first is None:
        raise DataError(
            f"{source}: the file is empty (no ratings found); write one rating per line: "
            "user, item, rating"
        )
    fmt = sniff_format(first, path.suffix.lower(), sep=sep, header=header, source=source,
                       line=skip + 1)
    fmt = FileFormat(fmt.sep, fmt.header, fmt.names, encoding)
    roles = guess_columns(list(fmt.names), source) if fmt.header else {
        role: role for role in ROLES if role in fmt.names
    }
    for role, override in (("user", user), ("item", item), ("rating", rating),
                           ("timestamp", timestamp)):
        if override is not None:
            if override not in fmt.names:
                raise DataError(
                    f"{source}: no column {override!r} (columns: {', '.join(fmt.names)}); "
                    f"pass {role}= one of them"
                )
            roles[role] = override
    common = dict(sep=fmt.sep, names=fmt.names, header=fmt.header, source=source,
                  encoding=encoding, skiprows=skip)
    sample, _ = read_delimited(  # as text: the ids' literal form decides their type
        lambda: io.BytesIO(head.rsplit(b"\n", 1)[0] if len(head) == 1 << 16 else head),
        dtypes={column: str for column in fmt.names}, **common,
    )
    dtypes: dict[str, type] = {roles["rating"]: np.float32}
    for role in ("user", "item"):
        dtypes[roles[role]] = _id_dtype_guess(sample[roles[role]].dropna())
    if "timestamp" in roles:
        guess = _timestamp_dtype(sample[roles["timestamp"]].dropna())
        if guess is not None:
            dtypes[roles["timestamp"]] = guess

    frame, first_line = read_delimited(
        opener, dtypes=dtypes, required=[roles["user"], roles["item"], roles["rating"]],
        fallback_encoding="latin-1" if encoding == "utf-8" else None, **common,
    )
    for role in ("user", "item"):  # read as text (a bad line elsewhere, a blank line...)
        column = frame[roles[role]]
        if not pd.api.types.is_integer_dtype(column.dtype) and column.notna().all():
            kind = _id_dtype_guess(column)
            if kind is not str:  # every id an integer literal: integers after all
                frame[roles[role]] = pd.to_numeric(column.str.strip()).astype(kind)
    ts_col = roles.get("timestamp")
    if ts_col is not None and not pd.api.types.is_numeric_dtype(frame[ts_col].dtype):
        frame[ts_col] = dates_as_seconds(frame[ts_col])
    return Ratings.from_dataframe(
        frame,
        user=roles["user"],
        item=roles["item"],
        rating=roles["rating"],
        timestamp=ts_col,
        rating_scale=rating_scale,
        item_info=item_info,
        user_info=user_info,
        name=name or path.name,
        source=source,
        first_line=first_line,
    )


def dates_as_seconds(column: pd.Series) -> pd.Series:
    """Dates written as text -> seconds since the epoch; the column unchanged otherwise."""
    if pd.to_numeric(column, errors="coerce").notna().any():
        return column  # numbers, with some bad values: validation names the line
    try:  # (OutOfBoundsDatetime is a ValueError: year 1 is a "date" but not in range)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
            if parsed.notna().all():
                return (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    except (ValueError, TypeError, OverflowError):
        pass
    return column
