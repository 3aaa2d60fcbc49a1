"""Stream (user, item) pairs from a file, for batch prediction.

Any layout the ratings reader accepts works (CSV, TSV, ``::``, pipe; with or without a header;
a rating or timestamp column is read on request), and so does a plain two-column ``user,item``
file.
Ids are kept as the text of the file, so the output repeats them exactly; the model maps them
to its own ids (integers spelled as text match integer ids).
"""

from __future__ import annotations

import codecs
import csv
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from recsys.data.messages import os_error
from recsys.data.sniff import COLUMN_NAMES, SEPARATORS, check_binary, normalise_name
from recsys.errors import DataError

__all__ = ["iter_pairs"]


def _first_line(path: Path) -> str:
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file of (user, item) pairs; pass the file")
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    try:
        with open(path, "rb") as handle:
            check_binary(handle.read(8192), str(path))
            handle.seek(0)
            for raw in handle:
                line = raw.decode("utf-8", errors="replace").strip("\r\n").lstrip("\ufeff")
                if line.strip():
                    return line
    except OSError as exc:
        raise os_error(exc, str(path)) from None
    raise DataError(f"{path}: the file is empty (no pairs found); write one user, item per line")


def _encoding(path: Path) -> str:
    """``"utf-8-sig"`` when the whole file is UTF-8 (a BOM is dropped), else ``"latin-1"``
    (every byte is a character), as for ratings files. Decodes in 1 MiB blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    except OSError as exc:
        raise os_error(exc, str(path)) from None
    return "utf-8-sig"


def iter_pairs(
    path: str | Path, chunk_size: int = 200_000, *, with_ratings: bool = False,
    with_times: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield ``(users, items)`` arrays of raw ids, ``chunk_size`` rows at a time, in file order.

    With ``with_ratings``, yield ``(users, items, ratings)``: ``ratings`` holds the file's
    rating column as floats (NaN where a line has none or a non-number), or is None when the
    file has no rating column: the column named like a rating in a header, else the third
    field (``user item rating ...``, as a held-out test file such as ML-100k's ``u1.test``).
    With ``with_times`` as well, yield ``(users, items, ratings, times)``: ``times`` holds the
    timestamp column as int64 unix seconds (the column named like a timestamp in a header, else
    the fourth field), or is None when the file has none or a line of the chunk lacks one (the
    pairs are then predicted at "now").

    Raises
    ------
    DataError
        Empty file, no recognisable separator, a line with too few fields (file and line).
    """
    path = Path(path)
    first = _first_line(path)
    sep = next((s for s in SEPARATORS if s in first), None)
    if sep is None:
        if len(first.split()) < 2:
            raise DataError(f"{path}, line 1: expected a user and an item per line, "
                            f"found {first[:60]!r}")
        sep = r"\s+"
    fields = first.split() if sep == r"\s+" else [f.strip().strip('"') for f in first.split(sep)]
    if len(fields) < 2:
        raise DataError(f"{path}, line 1: expected a user and an item per line")
    names = [normalise_name(f) for f in fields]
    header = any(name in COLUMN_NAMES[role] for name in names for role in COLUMN_NAMES)
    user_col, item_col = 0, 1
    if header:
        found = {role: next((k for k, name in enumerate(names) if name in COLUMN_NAMES[role]),
                            None)
                 for role in ("user", "item")}
        if None in found.values():
            raise DataError(
                f"{path}, line 1: cannot tell which columns hold the user and the item "
                f"(columns: {', '.join(fields)}); name them e.g. userId, movieId"
            )
        user_col, item_col = found["user"], found["item"]
    rating_col = None
    if with_ratings:
        if header:
            rating_col = next((k for k, name in enumerate(names)
                               if name in COLUMN_NAMES["rating"]), None)
        elif len(fields) >= 3:
            rating_col = 2
    read_sep = ":" if sep == "::" else sep
    if sep == "::":
        user_col, item_col = 2 * user_col, 2 * item_col
        rating_col = None if rating_col is None else 2 * rating_col
    time_col = None
    if with_ratings and with_times:
        if header:
            time_col = next((k for k, name in enumerate(names)
                             if name in COLUMN_NAMES["timestamp"]), None)
        elif len(fields) >= 4:
            time_col = 3
        if time_col is not None and sep == "::":
            time_col *= 2
    columns = [user_col, item_col] + [c for c in (rating_col, time_col) if c is not None]
    reader = pd.read_csv(
        path, sep=read_sep, encoding=_encoding(path), header=None,
        skiprows=1 if header else 0, usecols=columns,
        dtype=str, chunksize=chunk_size, engine="c" if sep != r"\s+" else "python",
        quoting=csv.QUOTE_MINIMAL if sep == "," else csv.QUOTE_NONE, keep_default_na=False,
        skip_blank_lines=True,
    )
    line = 2 if header else 1
    try:
        for chunk in reader:
            users = chunk[user_col].str.strip().to_numpy()
            items = chunk[item_col].str.strip().to_numpy()
            empty = (users == "") | (items == "")
            if empty.any():
                row = int(np.flatnonzero(empty)[0])
                raise DataError(f"{path}, line {line + row}: missing user or item")
            line += len(chunk)
            if not with_ratings:
                yield users, items
            else:
                ratings = None if rating_col is None else pd.to_numeric(
                    chunk[rating_col].str.strip(), errors="coerce").to_numpy(np.float64)
                if with_times:
                    yield users, items, ratings, _times(chunk, time_col)
                else:
                    yield users, items, ratings
    except (pd.errors.ParserError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot parse"
        raise DataError(f"{path}: {message}") from None


def _times(chunk: pd.DataFrame, column: int | None) -> np.ndarray | None:
    """The chunk's timestamps as int64 unix seconds (numbers, or dates pandas can read), or
    None when there is no such column or a value is missing or unreadable."""
    if column is None:
        return None
    text = chunk[column].str.strip()
    seconds = pd.to_numeric(text, errors="coerce")
    if seconds.isna().any():
        dates = pd.to_datetime(text, errors="coerce", utc=True)
        if dates.isna().any():
            return None
        return ((dates - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(
            np.int64)
    return seconds.to_numpy(np.float64).astype(np.int64)
