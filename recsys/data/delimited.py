"""Read a delimited table fast, or fail naming the file and the line of its first bad line.

:func:`read_delimited` is the one table reader of the data layer: a user's ratings file
(:mod:`recsys.data.files`) and a MovieLens release's ratings (:mod:`recsys.data.movielens`)
both go through it. It uses pandas' C parser with explicit dtypes; ``::`` is read as ``:`` with
an empty gap column between fields that is checked and dropped, so no Python engine and no
per-row loop is involved while the file is good.

When pandas' parser gives up (a line with too many fields, a quote that is never closed), the
line is found by reading the text again here, with the separator and the number of fields
known (:func:`find_bad_record`): the messages never depend on the wording of pandas' errors.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from typing import IO, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from recsys.data.messages import os_error, show
from recsys.data.sniff import guess_separator, separator_name
from recsys.errors import DataError

__all__ = ["Opener", "find_bad_record", "read_delimited"]

Opener = Callable[[], IO[bytes]]

_BLANKS = re.compile(r"[ \t]+")  # what pandas' C parser splits on for sep=r"\s+"


def _fields_plain(line: str, sep: str) -> int:
    if sep == r"\s+":
        stripped = line.strip(" \t")
        return len(_BLANKS.split(stripped)) if stripped else 1
    return line.count(sep) + 1


def _scan_quoted(line: str, in_quote: bool, fields: int) -> tuple[int, bool]:
    """Separators found in ``line`` of a ``,``-separated record with ``"`` quotes, added to
    ``fields``, and whether the line ends inside a quoted field (which then goes on).

    A quote opens a field only at the field's start, ``""`` inside quotes is one quote, and
    text after a closing quote belongs to the field, as in pandas' C parser.
    """
    i = 0
    while True:
        if not in_quote:
            if line.startswith('"', i):
                in_quote, i = True, i + 1
                continue
            k = line.find(",", i)
            if k < 0:
                return fields, False
            fields, i = fields + 1, k + 1
            continue
        j = line.find('"', i)
        if j < 0:
            return fields, True
        if line.startswith('"', j + 1):  # an escaped quote
            i = j + 2
            continue
        in_quote = False
        k = line.find(",", j + 1)
        if k < 0:
            return fields, False
        fields, i = fields + 1, k + 1


def find_bad_record(lines: Iterable[str], *, sep: str, width: int, skip: int = 0
                    ) -> tuple[int, int | None] | None:
    """The first record pandas' C parser refuses, found by reading the text ourselves.

    Records are counted from the start of the text, 1-based, as pandas counts them (a line
    ending inside a quoted field does not start a record). Only ``,`` honours ``"`` quotes
    (the readers pass ``quoting=QUOTE_NONE`` for the other separators).

    Parameters
    ----------
    lines : iterable of str
        The text's lines, with or without their line ends.
    sep : str
        The separator given to pandas (``":"`` for ``::``, ``r"\\s+"`` for blanks).
    width : int
        Number of column names given to pandas; the first data record may widen it (pandas
        then reads the extra leading fields as the index).
    skip : int
        Records skipped before the data (blank lines, the header).

    Returns
    -------
    (record, fields) or (record, None) or None
        The first data record with more than the expected number of fields and how many it
        has; the record where a quote opens that is still open at the end of the text; or
        None when neither is found.
    """
    record = fields = 0
    in_quote = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not in_quote:
            record += 1
            fields = 0
        if sep == ",":
            if in_quote or '"' in line:
                fields, in_quote = _scan_quoted(line, in_quote, fields)
            else:
                fields += line.count(",")
            if in_quote:
                continue
            count = fields + 1
        else:
            count = _fields_plain(line, sep)
        if record <= skip:
            continue
        if record == skip + 1:
            width = max(width, count)
        elif count > width:
            return record, count
    if in_quote:
        return record, None
    return None


def _parser_error(exc: Exception, opener: Opener, *, sep: str, width: int, skip: int,
                  encoding: str, source: str, double_colon: bool) -> DataError:
    """The message for a table pandas' parser refused, naming the line found by
    :func:`find_bad_record`; a general one (quoting pandas) if the scan finds nothing."""
    try:
        with opener() as raw:
            text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
            found = find_bad_record(text, sep=sep, width=width, skip=skip)
    except OSError as error:
        return os_error(error, source)
    if found is not None and found[1] is None:
        return DataError(
            f"{source}, line {found[0]}: a quote (\") opens a field that "
            "is never closed; close the quote or remove it"
        )
    if found is not None:
        line, saw = found
        expected = width
        if double_colon:  # fields counted between single ':'
            expected, saw = (expected + 1) // 2, (saw + 1) // 2
        return DataError(
            f"{source}, line {line}: expected {expected} fields, found {saw} "
            "(is a separator missing or doubled, or a title unquoted?); fix or delete the line"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(
        f"{source}: cannot parse the file ({show(first, 100)}); check that it is a delimited "
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

    with opener() as stream:
        head = stream.read(1 << 16)
    if b"\r" in head and b"\n" not in head:
        # old-Mac line ends: told nothing, pandas' C parser merges a line that ends in a bare
        # CR with the next one while it skips rows, and a rating is silently lost
        kwargs["lineterminator"] = "\r"

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
        raise _parser_error(
            exc, opener, sep=kwargs["sep"], width=len(kwargs["names"]), skip=first_line - 1,
            encoding=encoding, source=source, double_colon=bool(gaps),
        ) from None
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
                f"{len(names)} fields: {', '.join(show(n, 30)[1:-1] for n in names[:8])})"
                f"{_other_separator_note(frame.iloc[row], sep)}; fill it in or delete the line"
            )
    return frame, first_line


def _other_separator_note(row: pd.Series, sep: str) -> str:
    """``"; the line seems to use tab, not ','"`` when a short line's first field holds
    another separator (a line pasted from elsewhere), else ``""``."""
    first = str(row.iloc[0])
    other = guess_separator(first)
    if other is None or other == sep or other in (" ", ":"):
        return ""
    return f"; the line seems to use {separator_name(other)}, not {separator_name(sep)}"
