"""Read a user's own ratings file: CSV, TSV, ``::``-separated ``.dat``, pipe or whitespace.

The separator is guessed from the first line (``::``, tab, comma, pipe, semicolon, blanks), a
header is recognised when its third field is not a number or when a field carries a known
column name, and the columns are found by name:

=========  ====================================================================
role       accepted names (case, blanks, ``_`` and ``-`` ignored)
=========  ====================================================================
user       userId, user_id, user, uid, customer_id, reviewer_id
item       movieId, itemId, item_id, item, movie, iid, product_id, asin
rating     rating, score, stars, value, rating_value
timestamp  timestamp, time, ts, date, datetime, unix_time
=========  ====================================================================

A file without a header is read by position: ``user, item, rating[, timestamp]`` (the layout
of MovieLens ``u.data`` and ``u1.base``).

Reading uses pandas' C parser with explicit dtypes (``int32`` ids where they are integers,
``float32`` ratings); only when that fast pass fails is the file read again as text so that the
error can name the offending line. Every problem is a :class:`~recsys.errors.DataError` whose
message gives the file and the 1-based line number (the header counts as line 1): a line with
the wrong number of fields, a missing id or rating, a rating that is not a number, NaN, a rating
outside the scale, an empty file. Duplicate (user, item) pairs keep the last occurrence and
emit a :class:`~recsys.data.ratings.DuplicateRatingsWarning`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np
import pandas as pd

from recsys.data.ratings import Ratings
from recsys.errors import DataError

__all__ = [
    "FileFormat",
    "sniff_format",
    "guess_columns",
    "read_delimited",
    "read_ratings_file",
]

ROLES = ("user", "item", "rating", "timestamp")

_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user", "uid", "customerid", "reviewerid", "username"),
    "item": ("movieid", "itemid", "item", "movie", "iid", "productid", "asin", "film", "filmid"),
    "rating": ("rating", "score", "stars", "value", "ratingvalue", "rate"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtime", "unixreviewtime"),
}

_PARSER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")

Opener = Callable[[], IO[bytes]]


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def guess_columns(names: Sequence[str]) -> dict[str, str]:
    """Map the roles user, item, rating (and timestamp) to column names.

    Parameters
    ----------
    names : sequence of str
        Column names as written in the header.

    Returns
    -------
    dict
        ``{"user": name, "item": name, "rating": name[, "timestamp": name]}``.

    Raises
    ------
    DataError
        When no column can be found for user, item or rating and the file does not have
        exactly 3 or 4 columns to take by position.
    """
    found: dict[str, str] = {}
    normal = [_normalise(n) for n in names]
    for role, accepted in _NAMES.items():
        for candidate in accepted:
            if candidate in normal:
                name = names[normal.index(candidate)]
                if name not in found.values():
                    found[role] = name
                    break
    if all(role in found for role in ROLES[:3]):
        return found
    if len(names) in (3, 4) and not found:
        return dict(zip(ROLES, names))
    missing = [role for role in ROLES[:3] if role not in found]
    raise DataError(
        f"cannot tell which column holds the {' and '.join(missing)} "
        f"(columns: {', '.join(map(str, names))}); name them e.g. userId, movieId, rating"
    )


@dataclass(frozen=True)
class FileFormat:
    """How a delimited ratings file is laid out.

    Attributes
    ----------
    sep : str
        Field separator (``"::"``, ``"\\t"``, ``","``, ``"|"``, ``";"`` or ``r"\\s+"``).
    header : bool
        Whether the first line names the columns.
    names : tuple of str
        Column names (from the header, or ``user, item, rating[, timestamp]``).
    encoding : str
        Text encoding.
    """

    sep: str
    header: bool
    names: tuple[str, ...]
    encoding: str = "utf-8"


def _split(line: str, sep: str) -> list[str]:
    if sep == r"\s+":
        return line.split()
    if sep == ",":
        return next(csv.reader([line]))
    return line.split(sep)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def sniff_format(
    first_line: str, suffix: str = "", sep: str | None = None, header: bool | None = None
) -> FileFormat:
    """Guess the separator, the header and the column names from a file's first line.

    Parameters
    ----------
    first_line : str
        The first non-empty line of the file, without its line end.
    suffix : str
        The file name's extension (``".tsv"`` prefers a tab).
    sep, header : optional
        Known separator / header presence (not guessed then).
    """
    line = first_line.strip("\r\n").lstrip("\ufeff")
    if sep is not None:
        pass
    elif "::" in line:
        sep = "::"
    elif "\t" in line or suffix == ".tsv":
        sep = "\t"
    elif "," in line:
        sep = ","
    elif "|" in line:
        sep = "|"
    elif ";" in line:
        sep = ";"
    elif len(line.split()) > 1:
        sep = r"\s+"
    else:
        raise DataError(
            "cannot find a field separator in the first line "
            f"{line[:60]!r}: expected user, item and rating separated by ',', tab, '::' or '|'"
        )
    fields = [f.strip().strip('"') for f in _split(line, sep)]
    known = {n for names in _NAMES.values() for n in names}
    if header is None:
        header = any(_normalise(f) in known for f in fields) or (
            len(fields) >= 3 and not _is_number(fields[2])
        )
    if header:
        names = tuple(fields)
    else:
        if len(fields) < 3:
            raise DataError(
                f"the first line has {len(fields)} field(s); a ratings file needs at least "
                "user, item and rating"
            )
        names = ROLES[: min(len(fields), 4)] + tuple(f"extra{k}" for k in range(4, len(fields)))
    return FileFormat(sep=sep, header=header, names=names)


def _open_text_head(opener: Opener, encoding: str) -> str:
    with opener() as raw:
        head = raw.read(1 << 16)
    text = head.decode(encoding, errors="replace")
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _parser_error(exc: Exception, source: str, double_colon: bool = False) -> DataError:
    match = _PARSER_LINE.search(str(exc))
    if match:
        expected, line, saw = (int(g) for g in match.groups())
        if double_colon:  # fields counted between single ':'
            expected, saw = (expected + 1) // 2, (saw + 1) // 2
        return DataError(
            f"{source}, line {line}: expected {expected} fields, found {saw} "
            "(is a separator missing or doubled, or a title unquoted?)"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{source}: cannot parse the file ({first})")


def read_delimited(
    opener: Opener,
    *,
    sep: str,
    names: Sequence[str],
    header: bool,
    dtypes: dict[str, type] | None = None,
    source: str,
    encoding: str = "utf-8",
    required: Sequence[str] = (),
) -> tuple[pd.DataFrame, int]:
    """Read a delimited table fast, or fail with the file and line of the first bad line.

    The fast pass uses pandas' C parser with ``dtypes``; ``::`` is read as ``:`` with an empty
    (``float32``) gap column between fields that is checked and dropped, so no Python engine
    and no per-row loop is involved. If the fast pass fails
    (a stray word in a numeric column, a missing field), the file is read again as text so that
    the caller's validation (:meth:`Ratings.from_dataframe`) can name the line.

    Parameters
    ----------
    opener : callable
        Returns a fresh binary file object each time it is called.
    sep, names, header :
        Separator, column names, and whether the first line is a header to skip.
    dtypes : dict, optional
        Column name -> numpy dtype for the fast pass.
    source : str
        File name used in messages.
    required : sequence of str
        Columns that must have a value on every line; a missing one raises with its line.

    Returns
    -------
    frame : DataFrame
        One row per data line, blank lines at the end dropped.
    first_line : int
        1-based line number of the first data row (2 with a header).
    """
    names = list(names)
    first_line = 2 if header else 1
    kwargs: dict = dict(
        header=None,
        skiprows=1 if header else 0,
        encoding=encoding,
        skip_blank_lines=False,
        engine="c",
    )
    if sep == "::":
        # Parsed as ':' with an empty "gap" column between fields: the C parser then still
        # counts fields per line, and a single ':' shows up as a value in a gap.
        gaps = [f"_gap{k}" for k in range(len(names) - 1)]
        wide = [x for pair in zip(names, gaps + [None]) for x in pair if x is not None]
        kwargs.update(sep=":", names=wide, quoting=csv.QUOTE_NONE)
    else:
        gaps = []
        kwargs.update(sep=sep, names=names)
        if sep != ",":
            kwargs["quoting"] = csv.QUOTE_NONE

    def _read(types: dict | None) -> pd.DataFrame:
        with opener() as stream:
            return pd.read_csv(stream, dtype=types, **kwargs)

    fast_types = dict(dtypes) if dtypes else None
    if fast_types is not None:
        fast_types.update({gap: np.float32 for gap in gaps})
    try:
        try:
            frame = _read(fast_types)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, pd.errors.ParserError) and _PARSER_LINE.search(str(exc)):
                raise
            frame = None
            wider = {k: (np.int64 if v is np.int32 else v) for k, v in (fast_types or {}).items()}
            if wider != (fast_types or {}):  # an id beyond int32 after the sampled lines
                try:
                    frame = _read(wider)
                except (ValueError, OverflowError) as again:
                    if isinstance(again, pd.errors.ParserError):
                        raise
            if frame is None:  # read as text: validation then names the bad line
                frame = _read({k: str for k in list(dtypes or {}) + gaps} or None)
    except pd.errors.EmptyDataError:
        raise DataError(f"{source}: the file is empty (no ratings found)") from None
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, source, double_colon=bool(gaps)) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not {encoding} text ({exc.reason})") from None
    if gaps:
        stray = frame[gaps].notna().any(axis=1).to_numpy()
        if stray.any():
            raise DataError(
                f"{source}, line {first_line + int(np.flatnonzero(stray)[0])}: a single ':' "
                "where '::' should separate the fields"
            )
        frame = frame[names]

    if len(frame) and not pd.api.types.is_integer_dtype(frame.iloc[:, 0].dtype):
        blank = frame.isna().all(axis=1).to_numpy()
        if blank.any():
            nonblank = np.flatnonzero(~blank)
            end = int(nonblank[-1]) + 1 if nonblank.size else 0
            frame = frame.iloc[:end]
            inner = np.flatnonzero(blank[:end])
            if inner.size:
                raise DataError(
                    f"{source}, line {first_line + int(inner[0])}: empty line "
                    f"({inner.size} such line(s)); remove blank lines between ratings"
                )
    if len(frame) == 0:
        raise DataError(f"{source}: no ratings found (the file has no data lines)")
    for column in required:
        if column not in frame.columns:
            raise DataError(f"{source}: missing column {column!r}")
        missing = frame[column].isna().to_numpy()
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{source}, line {first_line + row}: missing {column} "
                f"(each line needs {len(names)} fields: {', '.join(map(str, names))})"
            )
    return frame, first_line


def _id_dtype_guess(sample: pd.Series) -> type | None:
    """int32 when every sampled id is a small integer, else None (keep as text)."""
    try:
        values = pd.to_numeric(sample, errors="raise")
    except (ValueError, TypeError):
        return None
    if not pd.api.types.is_integer_dtype(values.dtype):
        return None
    if len(values) and (values.min() < -(2**31) or values.max() >= 2**31):
        return np.int64
    return np.int32


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
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    source = str(path)

    def opener() -> IO[bytes]:
        return open(path, "rb")

    encoding = "utf-8"
    with opener() as raw:
        head = raw.read(1 << 16)
    if not head.strip():
        raise DataError(f"{source}: the file is empty (no ratings found)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sample's end
            encoding = "latin-1"
    first = next(line for line in head.decode(encoding, "replace").splitlines() if line.strip())
    fmt = sniff_format(first, path.suffix.lower(), sep=sep, header=header)
    fmt = FileFormat(fmt.sep, fmt.header, fmt.names, encoding)
    roles = guess_columns(list(fmt.names)) if fmt.header else {
        role: role for role in ROLES if role in fmt.names
    }
    for role, override in (("user", user), ("item", item), ("rating", rating),
                           ("timestamp", timestamp)):
        if override is not None:
            if override not in fmt.names:
                raise DataError(
                    f"{source}: no column {override!r} (columns: {', '.join(fmt.names)})"
                )
            roles[role] = override

    sample, _ = read_delimited(
        lambda: io.BytesIO(head.rsplit(b"\n", 1)[0] if len(head) == 1 << 16 else head),
        sep=fmt.sep, names=fmt.names, header=fmt.header, source=source, encoding=encoding,
    )
    dtypes: dict[str, type] = {roles["rating"]: np.float32}
    for role in ("user", "item"):
        guess = _id_dtype_guess(sample[roles[role]].dropna())
        if guess is not None:
            dtypes[roles[role]] = guess
    if "timestamp" in roles and _id_dtype_guess(sample[roles["timestamp"]].dropna()) is not None:
        dtypes[roles["timestamp"]] = np.int64

    frame, first_line = read_delimited(
        opener,
        sep=fmt.sep,
        names=fmt.names,
        header=fmt.header,
        dtypes=dtypes,
        source=source,
        encoding=encoding,
        required=[roles["user"], roles["item"], roles["rating"]],
    )
    ts_col = roles.get("timestamp")
    if ts_col is not None and not pd.api.types.is_numeric_dtype(frame[ts_col].dtype):
        parsed = pd.to_datetime(frame[ts_col], errors="coerce", utc=True, format="mixed")
        if parsed.notna().all():  # dates as text: seconds since the epoch
            frame[ts_col] = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
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
