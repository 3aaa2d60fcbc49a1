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
one-line message gives the file, the 1-based line number where there is one (the header counts
as line 1) and what to do: a line with the wrong number of fields, a missing id or rating, a
rating that is not a number, NaN or infinite, a rating outside the scale, an empty file, a
separator that cannot be guessed (or a ``sep=`` that does not match the file), a binary,
compressed or UTF-16 file, a folder, a missing or unreadable path. Duplicate (user, item) pairs
keep the last occurrence and emit a :class:`~recsys.data.ratings.DuplicateRatingsWarning`.

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

import csv
import io
import re
import warnings
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
    "os_error",
]

ROLES = ("user", "item", "rating", "timestamp")

_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user", "uid", "customerid", "reviewerid", "username"),
    "item": ("movieid", "itemid", "item", "movie", "iid", "productid", "asin", "film", "filmid"),
    "rating": ("rating", "score", "stars", "value", "ratingvalue", "rate"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtime", "unixreviewtime"),
}

_PARSER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PARSER_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")
_LINE_END = re.compile(r"\r\n|\r|\n")
#: Separators tried, in order, on the first line (then blanks, then a single ':').
_SEPARATORS = ("::", "\t", ",", "|", ";")
_SEP_NAMES = {"\t": "tab", r"\s+": "blanks", ",": "','", "::": "'::'", "|": "'|'", ";": "';'",
              ":": "':'"}

Opener = Callable[[], IO[bytes]]


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def _show(text: object, limit: int = 60) -> str:
    """``repr`` of a (shortened) piece of the file, safe inside a one-line message."""
    text = str(text)
    return repr(text[:limit] + "..." if len(text) > limit else text)


def _sep_name(sep: str) -> str:
    return _SEP_NAMES.get(sep, repr(sep))


def _prefix(source: str | None, line: int | None = None) -> str:
    parts = [p for p in (source, f"line {line}" if line is not None else None) if p]
    return ", ".join(parts) + ": " if parts else ""


def os_error(exc: OSError, source: str) -> DataError:
    """A one-line :class:`DataError` for a file that exists but cannot be opened or read."""
    if isinstance(exc, PermissionError):
        return DataError(
            f"{source}: cannot read the file (permission denied); check its permissions "
            "(or copy it to a folder you can read)"
        )
    if isinstance(exc, IsADirectoryError):
        return DataError(f"{source}: is a folder, not a file; pass the ratings file inside it")
    reason = exc.strerror or type(exc).__name__
    return DataError(f"{source}: cannot read the file ({reason}); check the path and the disk")


def guess_columns(names: Sequence[str], source: str | None = None) -> dict[str, str]:
    """Map the roles user, item, rating (and timestamp) to column names.

    Parameters
    ----------
    names : sequence of str
        Column names as written in the header.
    source : str, optional
        File name used in the message.

    Returns
    -------
    dict
        ``{"user": name, "item": name, "rating": name[, "timestamp": name]}``.

    Raises
    ------
    DataError
        When no column can be found for user, item or rating and the file does not have
        exactly 3 or 4 columns to take by position (columns that were recognised must then
        sit at their place in ``user, item, rating, timestamp``).
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
    names = list(names)
    if len(names) in (3, 4) and all(names.index(n) == ROLES.index(r) for r, n in found.items()):
        return dict(zip(ROLES, names))  # e.g. "u,i,rating": the rest by position
    missing = [role for role in ROLES[:3] if role not in found]
    shown = ", ".join(_show(n, 30)[1:-1] for n in names[:12]) + (", ..." if len(names) > 12 else "")
    raise DataError(
        f"{_prefix(source)}cannot tell which column holds the {' and '.join(missing)} "
        f"(columns: {shown}); name the columns in the header userId, movieId, rating "
        "(and timestamp)"
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


def _guess_sep(line: str) -> str | None:
    for sep in _SEPARATORS:
        if sep in line:
            return sep
    if len(line.split()) > 1:
        return r"\s+"
    if line.count(":") >= 2:
        return ":"
    return None


def _likely_sep(line: str) -> str | None:
    """The most frequent punctuation character of ``line`` (a hint for the message)."""
    marks = [c for c in line if not (c.isalnum() or c in ".-+_\"' ")]
    return max(set(marks), key=marks.count) if marks else None


def _quoted(sep: str) -> str:
    """A separator as a shell argument: ``'\t'`` for tab (the CLI understands it)."""
    return "'\\t'" if sep == "\t" else f"'{sep}'"


def sniff_format(
    first_line: str,
    suffix: str = "",
    sep: str | None = None,
    header: bool | None = None,
    *,
    source: str | None = None,
    line: int = 1,
) -> FileFormat:
    """Guess the separator, the header and the column names from a file's first line.

    The separator is the first of ``::``, tab, ``,``, ``|``, ``;`` found in the line, else
    blanks, else a single ``:``. The line is a header when its third field is not a number or
    when none of its fields is a number (a data line always has a numeric rating).

    Parameters
    ----------
    first_line : str
        The first non-empty line of the file, without its line end.
    suffix : str
        The file name's extension (kept for compatibility; the line decides).
    sep, header : optional
        Known separator / header presence (not guessed then).
    source, line : optional
        File name and line number of ``first_line``, for messages.
    """
    text = first_line.strip("\r\n").lstrip("\ufeff")
    where = _prefix(source, line)
    given = sep is not None
    if sep is None:
        sep = _guess_sep(text)
    if sep is None:
        hint = _likely_sep(text)
        todo = (f"if {hint!r} separates the fields, pass sep={hint!r} (--sep {_quoted(hint)} on "
                "the command line); otherwise"
                if hint else "a ratings file needs")
        raise DataError(
            f"{where}cannot find the field separator in {_show(text)} (tried '::', tab, ',', "
            f"'|', ';', blanks, ':'); {todo} user, item and rating on each line, separated by "
            "commas or tabs"
        )
    fields = [f.strip().strip('"') for f in _split(text, sep)]
    if given and len(fields) < 3:
        guess = _guess_sep(text)
        todo = (f"the file seems to use {_sep_name(guess)}: pass sep={guess!r} (--sep "
                f"{_quoted(guess)}) or leave it unset"
                if guess and guess != sep else "pass the separator the file uses as sep (--sep)")
        raise DataError(
            f"{where}splitting on {_sep_name(sep)} (the given sep) gives {len(fields)} field(s) "
            f"in {_show(text)}, not user, item and rating; {todo}"
        )
    if header is None:
        header = (len(fields) >= 3 and not _is_number(fields[2])) or not any(
            _is_number(f) for f in fields
        )
    if header:
        names = tuple(fields)
        if len(set(names)) < len(names):
            raise DataError(
                f"{where}the header names a column twice ({_show(text)}); give each column its "
                "own name"
            )
    else:
        if len(fields) < 3:
            raise DataError(
                f"{where}{len(fields)} field(s) separated by {_sep_name(sep)} in {_show(text)}; "
                "each line needs user, item and rating (e.g. 1,31,2.5)"
            )
        names = ROLES[: min(len(fields), 4)] + tuple(f"extra{k}" for k in range(4, len(fields)))
    return FileFormat(sep=sep, header=header, names=names)


def _parser_error(
    exc: Exception, source: str, double_colon: bool = False, first_line: int = 1
) -> DataError:
    match = _PARSER_LINE.search(str(exc))
    if match:
        expected, line, saw = (int(g) for g in match.groups())
        if double_colon:  # fields counted between single ':'
            expected, saw = (expected + 1) // 2, (saw + 1) // 2
        return DataError(
            f"{source}, line {line}: expected {expected} fields, found {saw} "
            "(is a separator missing or doubled, or a title unquoted?); fix or delete the line"
        )
    match = _PARSER_QUOTE.search(str(exc))
    if match:
        return DataError(
            f"{source}, line {int(match.group(1)) + 1}: a quote (\") opens a field that "
            "is never closed; close the quote or remove it"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        f"{source}: cannot parse the file ({_show(first, 100)}); check that it is a delimited "
        "text file with user, item and rating on each line"
    )


def _blank(column: pd.Series) -> np.ndarray:
    """Missing values, counting text that is empty after stripping blanks as missing."""
    missing = column.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(column.dtype):
        text = column.astype(object).where(~missing, "")
        missing = missing | (text.astype(str).str.strip() == "").to_numpy()
    return missing


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
    skiprows: int = 0,
    fallback_encoding: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Read a delimited table fast, or fail with the file and line of the first bad line.

    The fast pass uses pandas' C parser with ``dtypes``; ``::`` is read as ``:`` with an empty
    (``float32``) gap column between fields that is checked and dropped, so no Python engine
    and no per-row loop is involved. If the fast pass fails
    (a stray word in a numeric column, a missing field), the file is read again as text so that
    the caller's validation (:meth:`Ratings.from_dataframe`) can name the line. Only an empty
    field is missing (``NA``, ``null`` ... are kept as text); text in ``required`` columns is
    stripped of surrounding blanks.

    Parameters
    ----------
    opener : callable
        Returns a fresh binary file object each time it is called.
    sep, names, header :
        Separator, column names, and whether the first line is a header to skip.
    dtypes : dict, optional
        Column name -> numpy dtype for the fast pass (``str`` keeps a column as text).
    source : str
        File name used in messages.
    required : sequence of str
        Columns that must have a value on every line; a missing one raises with its line.
    skiprows : int
        Lines to skip before the header (or the data): leading blank lines.
    fallback_encoding : str, optional
        Encoding to read the file with when it turns out not to be ``encoding``.

    Returns
    -------
    frame : DataFrame
        One row per data line, blank lines at the end dropped.
    first_line : int
        1-based line number of the first data row (2 with a header).
    """
    names = list(names)
    first_line = 1 + skiprows + (1 if header else 0)
    kwargs: dict = dict(
        header=None,
        skiprows=first_line - 1,
        encoding=encoding,
        skip_blank_lines=False,
        keep_default_na=False,
        na_values=[""],
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
        with opener() as stream, warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # 1e300 -> float32 inf: validated
            return pd.read_csv(stream, dtype=types, **kwargs)

    fast_types = dict(dtypes) if dtypes else None
    if fast_types is not None:
        fast_types.update({gap: np.float32 for gap in gaps})
    try:
        try:
            frame = _read(fast_types)
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, (pd.errors.ParserError, UnicodeDecodeError)):
                raise
            frame = None
            wider = {k: (np.int64 if v is np.int32 else v) for k, v in (fast_types or {}).items()}
            if wider != (fast_types or {}):  # an id beyond int32 after the sampled lines
                try:
                    frame = _read(wider)
                except (ValueError, OverflowError) as again:
                    if isinstance(again, (pd.errors.ParserError, UnicodeDecodeError)):
                        raise
            if frame is None:  # read as text: validation then names the bad line
                frame = _read({k: str for k in list(dtypes or {}) + gaps} or None)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{source}: the file is empty (no ratings found); write one rating per line: "
            "user, item, rating"
        ) from None
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, source, double_colon=bool(gaps), first_line=first_line) from None
    except UnicodeDecodeError as exc:
        if fallback_encoding and fallback_encoding != encoding:
            return read_delimited(
                opener, sep=sep, names=names, header=header, dtypes=dtypes, source=source,
                encoding=fallback_encoding, required=required, skiprows=skiprows,
            )
        raise DataError(
            f"{source}: not {encoding} text ({exc.reason}); save the file as UTF-8"
        ) from None
    except OSError as exc:
        raise os_error(exc, source) from None
    if gaps:
        stray = frame[gaps].notna().any(axis=1).to_numpy()
        if stray.any():
            raise DataError(
                f"{source}, line {first_line + int(np.flatnonzero(stray)[0])}: a single ':' "
                "where '::' should separate the fields; fix the line"
            )
        frame = frame[names]

    if len(frame) and not pd.api.types.is_integer_dtype(frame.iloc[:, 0].dtype):
        blank = np.logical_and.reduce([_blank(frame[c]) for c in frame.columns])
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
        raise DataError(
            f"{source}: no ratings found (the file has no data lines); add one rating per "
            "line after the header: user, item, rating"
        )
    for column in required:
        if column not in frame.columns:
            raise DataError(f"{source}: missing column {column!r}")
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            values = values.str.strip()
            frame[column] = values
        missing = _blank(values)
        if missing.any():
            row = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{source}, line {first_line + row}: missing {column} (each line needs "
                f"{len(names)} fields: {', '.join(_show(n, 30)[1:-1] for n in names[:8])})"
                f"{_other_separator_note(frame.iloc[row], sep)}; fill it in or delete the line"
            )
    return frame, first_line


def _other_separator_note(row: pd.Series, sep: str) -> str:
    """``"; the line seems to use tab, not ','"`` when a short line's first field holds
    another separator (a line pasted from elsewhere), else ``""``."""
    first = str(row.iloc[0])
    other = _guess_sep(first)
    if other is None or other == sep or other in (" ", ":"):
        return ""
    return f"; the line seems to use {_sep_name(other)}, not {_sep_name(sep)}"


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


def _head_lines(head: bytes, encoding: str) -> tuple[int, str | None]:
    """Number of blank lines before the first non-blank one, and that line (None if none)."""
    text = head.decode(encoding, "replace")
    for number, line in enumerate(_LINE_END.split(text)):
        if line.strip() and line.lstrip("\ufeff").strip():
            return number, line
    return 0, None


def _check_binary(head: bytes, source: str) -> None:
    """Refuse UTF-16, compressed and binary files with a message saying what they are."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{source}: the file is UTF-16 text; save it as UTF-8 (e.g. CSV UTF-8)")
    kinds = {b"\x1f\x8b": "gzip-compressed", b"BZh": "bzip2-compressed",
             b"\xfd7zXZ": "xz-compressed", b"PK\x03\x04": "a zip archive (or an .xlsx workbook)",
             b"\x93NUMPY": "a NumPy array file", b"PK\x05\x06": "an empty zip archive"}
    for magic, kind in kinds.items():
        if head.startswith(magic):
            raise DataError(
                f"{source}: the file is {kind}, not a text ratings file; unpack or export it "
                "as CSV first"
            )
    if b"\x00" in head:
        raise DataError(
            f"{source}: the file holds NUL bytes, so it is not a text file; a ratings file is "
            "text (CSV, TSV) with user, item and rating on each line"
        )


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
    _check_binary(head, source)
    encoding = "utf-8"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sample's end
            encoding = "latin-1"
    skip, first = _head_lines(head, encoding)
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
        frame[ts_col] = _dates_as_seconds(frame[ts_col])
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


def _dates_as_seconds(column: pd.Series) -> pd.Series:
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
