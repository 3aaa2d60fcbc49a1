r"""Which ratings Spark reads itself, and how: the layout of a Parquet file or folder, or of a
delimited (CSV) file, found on the driver from the path, the Parquet footer or the head of the
file only (see :mod:`recsys.engines.spark.frames`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.parquet import is_parquet
from recsys.data.sniff import (
    ROLES,
    check_binary,
    guess_columns,
    guess_encoding,
    head_lines,
    sniff_format,
)
from recsys.errors import DataError

__all__ = ["FrameFormat", "frame_format", "stored_info", "INFO_KEYS", "READERS"]

READERS = ("auto", "spark", "driver")
"""Who reads the ratings of a Spark fit: ``auto`` (Spark when :func:`frame_format` accepts
the data, else the driver), ``spark`` (an error when it does not) or ``driver``."""

# what write_parquet keeps in the footer (recsys.data.parquet)
_SCALE_KEY = b"recsys.rating_scale"
INFO_KEYS = {"item_info": b"recsys.item_info", "user_info": b"recsys.user_info"}


@dataclass(frozen=True)
class FrameFormat:
    """How Spark reads a ratings source.

    Attributes
    ----------
    kind : str
        ``"parquet"`` or ``"csv"``.
    path : str
        The file or folder.
    roles : dict
        ``{"user": column, "item": column, "rating": column[, "timestamp": column]}``.
    names : tuple of str
        Every column of a delimited file, in order (empty for Parquet).
    sep, header, encoding :
        A delimited file's layout.
    rating_scale : (low, high) or None
        Given (``--scale``) or kept in the Parquet footer; None: the data's min and max.
    int_ids : dict
        For Parquet, whether the user / item column holds integers.
    metadata : dict or None
        The Parquet footer's key-value metadata.
    """

    kind: str
    path: str
    roles: dict[str, str]
    names: tuple[str, ...] = ()
    sep: str = ","
    header: bool = True
    encoding: str = "utf-8"
    rating_scale: tuple[float, float] | None = None
    int_ids: dict[str, bool] = field(default_factory=dict)
    metadata: dict | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name


def _parquet_format(path: Path, scale: tuple[float, float] | None) -> FrameFormat | None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return None
    try:
        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
    except (pa.ArrowException, OSError, ValueError):
        return None  # the driver's reader says what is wrong with it
    roles = guess_columns(list(schema.names), str(path))
    types = {role: schema.field(column).type for role, column in roles.items()}
    int_ids = {}
    for role in ("user", "item"):
        kind = types[role]
        if pa.types.is_integer(kind):
            int_ids[role] = True
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            int_ids[role] = False
        else:
            return None
    if not (pa.types.is_integer(types["rating"]) or pa.types.is_floating(types["rating"])):
        return None
    metadata = dict(schema.metadata or {})
    return FrameFormat("parquet", str(path), roles, rating_scale=scale or _stored_scale(metadata),
                       int_ids=int_ids, metadata=metadata)


def _csv_format(path: Path, sep: str | None, header: bool | None,
                scale: tuple[float, float] | None) -> FrameFormat | None:
    source = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None  # the driver's reader says why
    check_binary(head, source)
    encoding = guess_encoding(head)
    skip, first = head_lines(head, encoding)
    if first is None:
        raise DataError(f"{source}: the file is empty (no ratings found); write one rating per "
                        "line: user, item, rating")
    if skip or first.startswith("\ufeff"):
        return None
    fmt = sniff_format(first, path.suffix.lower(), sep=sep, header=header, source=source)
    if fmt.sep == r"\s+" or fmt.sep == ":":
        return None
    roles = (guess_columns(list(fmt.names), source) if fmt.header
             else {role: role for role in ROLES if role in fmt.names})
    return FrameFormat("csv", source, roles, names=tuple(fmt.names), sep=fmt.sep,
                       header=fmt.header, encoding=encoding, rating_scale=scale)


def frame_format(data: str | None, file_format: dict[str, Any] | None = None
                 ) -> FrameFormat | None:
    """How Spark reads ``data`` (``--data``), or None when the driver's loader should: the
    bundled set, a named release, a release folder or zip, a Netflix Prize folder, a
    blank-separated file.

    Raises
    ------
    DataError
        An empty, binary or compressed file, or columns that cannot be told apart (the local
        reader's messages).
    """
    if data is None:
        return None
    options = file_format or {}
    path = Path(str(data)).expanduser()
    if not path.exists():
        return None
    scale = options.get("rating_scale")
    if path.is_dir():
        from recsys.data.netflix import find_netflix_files

        if find_netflix_files(path) is not None or not is_parquet(path):
            return None
        return _parquet_format(path, scale)
    if path.suffix.lower() == ".zip" or not path.is_file():
        return None
    if is_parquet(path):
        return _parquet_format(path, scale)
    return _csv_format(path, options.get("sep"), options.get("header"), scale)


def _stored_scale(metadata: dict | None) -> tuple[float, float] | None:
    try:
        low, high = (float(x) for x in metadata[_SCALE_KEY].decode().split(","))
    except (TypeError, KeyError, ValueError, UnicodeDecodeError):
        return None
    return (low, high) if low <= high else None


def stored_info(metadata: dict | None, key: bytes, ids: np.ndarray) -> pd.DataFrame | None:
    """Side information kept in the footer by ``write_parquet``, indexed like ``ids``."""
    if not metadata or key not in metadata:
        return None
    try:
        info = pd.read_json(io.StringIO(metadata[key].decode()), orient="split", dtype=False)
        info.index = (info.index.astype(ids.dtype) if ids.dtype.kind in "iuf"
                      else info.index.astype(str))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return info
