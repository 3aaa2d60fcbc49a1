"""Guess how a delimited ratings file is written, from its first bytes and its first line.

Nothing here reads the table itself (that is :mod:`recsys.data.delimited`): these functions
look at the head of a file and decide

* whether it is text at all (UTF-16, compressed and binary files are refused,
  :func:`check_binary`) and in which encoding (:func:`guess_encoding`);
* where the first line is (:func:`head_lines`: leading blank lines are skipped);
* the field separator, the first of ``::``, tab, ``,``, ``|``, ``;`` in the first line, else
  blanks, else a single ``:`` (:func:`guess_separator`);
* whether that line is a header: its third field is not a number, or no field is
  (:func:`sniff_format`);
* which column holds what (:func:`guess_columns`), by name:

=========  ====================================================================
role       accepted names (case, blanks, ``_`` and ``-`` ignored)
=========  ====================================================================
user       userId, user_id, user, uid, customer_id, reviewer_id
item       movieId, itemId, item_id, item, movie, iid, product_id, asin
rating     rating, score, stars, value, rating_value
timestamp  timestamp, time, ts, date, datetime, unix_time
=========  ====================================================================

A file without a header is read by position: ``user, item, rating[, timestamp]``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Sequence

from recsys.data.messages import show, where
from recsys.errors import DataError

__all__ = [
    "COLUMN_NAMES",
    "ROLES",
    "SEPARATORS",
    "FileFormat",
    "check_binary",
    "guess_columns",
    "guess_encoding",
    "guess_separator",
    "head_lines",
    "normalise_name",
    "separator_name",
    "sniff_format",
]

ROLES = ("user", "item", "rating", "timestamp")

#: Accepted column names of each role, as :func:`normalise_name` writes them.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "user": ("userid", "user", "uid", "customerid", "reviewerid", "username"),
    "item": ("movieid", "itemid", "item", "movie", "iid", "productid", "asin", "film", "filmid"),
    "rating": ("rating", "score", "stars", "value", "ratingvalue", "rate"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime", "unixtime", "unixreviewtime"),
}

#: Separators tried, in order, on the first line (then blanks, then a single ':').
SEPARATORS = ("::", "\t", ",", "|", ";")
_SEP_NAMES = {"\t": "tab", r"\s+": "blanks", ",": "','", "::": "'::'", "|": "'|'", ";": "';'",
              ":": "':'"}
_LINE_END = re.compile(r"\r\n|\r|\n")


def normalise_name(name: str) -> str:
    """A column name without blanks, ``_`` and ``-``, in lower case (``User_Id`` -> ``userid``)."""
    return re.sub(r"[\s_\-]", "", str(name)).lower()


def separator_name(sep: str) -> str:
    """How a message names a separator: ``tab``, ``blanks``, ``','``..."""
    return _SEP_NAMES.get(sep, repr(sep))


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
    normal = [normalise_name(n) for n in names]
    for role, accepted in COLUMN_NAMES.items():
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
    shown = ", ".join(show(n, 30)[1:-1] for n in names[:12]) + (", ..." if len(names) > 12 else "")
    raise DataError(
        f"{where(source)}cannot tell which column holds the {' and '.join(missing)} "
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


def guess_separator(line: str) -> str | None:
    """The first of :data:`SEPARATORS` in ``line``, else ``r"\\s+"`` (blanks), else ``":"``
    when it occurs twice, else None."""
    for sep in SEPARATORS:
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
    prefix = where(source, line)
    given = sep is not None
    if sep is None:
        sep = guess_separator(text)
    if sep is None:
        hint = _likely_sep(text)
        todo = (f"if {hint!r} separates the fields, pass sep={hint!r} (--sep {_quoted(hint)} on "
                "the command line); otherwise"
                if hint else "a ratings file needs")
        raise DataError(
            f"{prefix}cannot find the field separator in {show(text)} (tried '::', tab, ',', "
            f"'|', ';', blanks, ':'); {todo} user, item and rating on each line, separated by "
            "commas or tabs"
        )
    fields = [f.strip().strip('"') for f in _split(text, sep)]
    if given and len(fields) < 3:
        guess = guess_separator(text)
        todo = (f"the file seems to use {separator_name(guess)}: pass sep={guess!r} (--sep "
                f"{_quoted(guess)}) or leave it unset"
                if guess and guess != sep else "pass the separator the file uses as sep (--sep)")
        raise DataError(
            f"{prefix}splitting on {separator_name(sep)} (the given sep) gives {len(fields)} "
            f"field(s) in {show(text)}, not user, item and rating; {todo}"
        )
    if header is None:
        header = (len(fields) >= 3 and not _is_number(fields[2])) or not any(
            _is_number(f) for f in fields
        )
    if header:
        names = tuple(fields)
        if len(set(names)) < len(names):
            raise DataError(
                f"{prefix}the header names a column twice ({show(text)}); give each column its "
                "own name"
            )
    else:
        if len(fields) < 3:
            raise DataError(
                f"{prefix}{len(fields)} field(s) separated by {separator_name(sep)} in "
                f"{show(text)}; each line needs user, item and rating (e.g. 1,31,2.5)"
            )
        names = ROLES[: min(len(fields), 4)] + tuple(f"extra{k}" for k in range(4, len(fields)))
    return FileFormat(sep=sep, header=header, names=names)


def head_lines(head: bytes, encoding: str) -> tuple[int, str | None]:
    """Number of blank lines before the first non-blank one, and that line (None if none)."""
    text = head.decode(encoding, "replace")
    for number, line in enumerate(_LINE_END.split(text)):
        if line.strip() and line.lstrip("\ufeff").strip():
            return number, line
    return 0, None


def guess_encoding(head: bytes) -> str:
    """``"utf-8"``, or ``"latin-1"`` when ``head`` is not UTF-8 (a character cut at the end
    of the sample does not count)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the sample's end
            return "latin-1"
    return "utf-8"


def check_binary(head: bytes, source: str) -> None:
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
