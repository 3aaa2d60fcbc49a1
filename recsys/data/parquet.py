"""Parquet ratings: read any Parquet file (or folder of parts), write ``user, item, rating[,
timestamp]`` with the items' titles, years and genres (and any user information) kept as JSON
in the file's metadata.

Reading uses pyarrow (the reader Spark and pandas use too). Columns are recognised by name as
in delimited files (``userId``/``user``/``customerId``..., ``movieId``/``item``...,
``rating``/``score``..., ``timestamp``/``time``/``date``...; see
:data:`recsys.data.sniff.COLUMN_NAMES`); other columns are not read. Timestamps may be
integers (seconds), Arrow timestamps or dates, or date text. Validation is the one every reader
shares (:meth:`Ratings.from_dataframe`), with messages naming the row. :func:`write_parquet`
writes a :class:`Ratings` atomically (the old file or the complete new one, never half), so
that a big set converted once reloads in seconds.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys._atomic import atomic_write
from recsys.data._pairs_kernels import dense_codes, has_duplicate_pairs
from recsys.data.files import dates_as_seconds
from recsys.data.messages import one_line, os_error
from recsys.data.ratings import Ratings
from recsys.data.sniff import ROLES, guess_columns
from recsys.errors import DataError

__all__ = ["PARQUET_SUFFIXES", "is_parquet", "read_parquet_file", "write_parquet"]

PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
_MAGIC = b"PAR1"
_SCALE_KEY = b"recsys.rating_scale"  # kept in the file's metadata by write_parquet
_INFO_KEYS = {"item_info": b"recsys.item_info", "user_info": b"recsys.user_info"}


def _pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a one-line message saying what to install."""
    try:
        import pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading or writing Parquet needs pyarrow; install it with "
                        "`pip install pyarrow`") from None
    return pyarrow, pq


def is_parquet(path: str | Path) -> bool:
    """A file named ``*.parquet`` (``.parq``, ``.pq``) or starting with Parquet's magic bytes,
    or a folder whose files are Parquet parts (as Spark writes them)."""
    path = Path(path)
    if path.is_dir():
        return any(p.suffix.lower() in PARQUET_SUFFIXES for p in path.iterdir())
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == _MAGIC
    except OSError:
        return False


def _seconds(column: pd.Series) -> pd.Series:
    """Timestamps as whole seconds since 1970: integers and floats stay; datetimes and date
    text are converted (left as they are when they do not parse: validation names the row)."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        if getattr(column.dtype, "tz", None) is None:
            column = column.dt.tz_localize("UTC")
        return (column - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    if pd.api.types.is_numeric_dtype(column.dtype):
        return column
    return dates_as_seconds(column)  # date text, as a delimited file's


def _stored_scale(metadata: dict | None) -> tuple[float, float] | None:
    """The rating scale :func:`write_parquet` kept in the file, if any."""
    try:
        low, high = (float(x) for x in metadata[_SCALE_KEY].decode().split(","))
    except (TypeError, KeyError, ValueError, UnicodeDecodeError):
        return None
    return (low, high) if low <= high else None


def read_parquet_file(
    path: str | Path,
    *,
    rating_scale: tuple[float, float] | None = None,
    name: str | None = None,
) -> Ratings:
    """Read ratings from a Parquet file (or a folder of Parquet parts).

    Parameters
    ----------
    path : str or Path
        The file or folder.
    rating_scale : (low, high), optional
        Allowed range; read from the data (min, max) when not given.
    name : str, optional
        Label of the data set; the file name by default.

    Raises
    ------
    DataError
        pyarrow missing, a file that is not Parquet (or is damaged), no column for the user,
        item or rating, or a row that fails validation (named by its number).
    """
    pa, pq = _pyarrow()
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise DataError(f"{source}: no such file; check the path")
    try:
        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
        roles = guess_columns(list(schema.names), source)
        columns = [roles[role] for role in ROLES if role in roles]
        if rating_scale is None:
            rating_scale = _stored_scale(schema.metadata)
        quick = _quick_ratings(pq, path, schema, roles, rating_scale, name or path.name)
        if quick is not None:
            return _with_side_info(quick, schema.metadata)
        table = pq.read_table(path, columns=columns)
    except DataError:
        raise
    except PermissionError as exc:
        raise os_error(exc, source) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{source}: not a readable Parquet file ({one_line(exc)[:120]}); "
                        "check that it was written completely, or write it again "
                        "(`recsys data convert IN OUT.parquet`)") from None
    frame = table.to_pandas()
    del table
    ts = roles.get("timestamp")
    if ts is not None:
        frame[ts] = _seconds(frame[ts])
    ratings = Ratings.from_dataframe(
        frame, user=roles["user"], item=roles["item"], rating=roles["rating"], timestamp=ts,
        rating_scale=rating_scale, name=name or path.name, source=source,
    )
    return _with_side_info(ratings, schema.metadata)


def _info_json(info: pd.DataFrame | None) -> bytes | None:
    """Side information (titles, years, genres; user demographics) as JSON for the file's
    metadata, or None when there is none."""
    if info is None or info.empty:
        return None
    frame = info.copy()
    frame.index = frame.index.map(lambda x: x.item() if hasattr(x, "item") else x)
    return frame.to_json(orient="split", date_format="iso").encode()


def _stored_info(metadata: dict | None, key: bytes, ids: np.ndarray) -> pd.DataFrame | None:
    """The side information :func:`write_parquet` kept under ``key``, indexed like ``ids``
    (None when absent or unreadable: the ratings do not depend on it)."""
    if not metadata or key not in metadata:
        return None
    try:
        info = pd.read_json(io.StringIO(metadata[key].decode()), orient="split",
                            dtype=False)
    except (ValueError, UnicodeDecodeError):
        return None
    try:
        info.index = info.index.astype(ids.dtype) if ids.dtype.kind in "iuf" else (
            info.index.astype(str))
    except (TypeError, ValueError):
        return None
    return info


def _with_side_info(ratings: Ratings, metadata: dict | None) -> Ratings:
    """``ratings`` with the item (and user) information stored in the file's metadata."""
    for attr, key in _INFO_KEYS.items():
        ids = ratings.item_ids if attr == "item_info" else ratings.user_ids
        info = _stored_info(metadata, key, ids)
        if info is not None:
            setattr(ratings, attr, info)
    return ratings


def _dense_ids(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(sorted distinct ids, index of each) for non-negative integer ids of moderate size,
    through a table in O(n), else None."""
    if raw.dtype.kind != "i" or not len(raw):
        return None
    low, high = int(raw.min()), int(raw.max())
    if low < 0 or high > max(4 * len(raw), 1 << 24):
        return None
    return dense_codes(raw, high, np.empty(len(raw), dtype=np.int32))


def _quick_ratings(pq: Any, path: Path, schema: Any, roles: dict[str, str],
                   rating_scale: tuple[float, float] | None, name: str) -> Ratings | None:
    """The ratings straight from the Arrow columns, read one at a time (so that at most one
    column is held twice), without pandas or sorting, when the table is the common clean
    case: integer ids, no nulls, finite ratings inside the scale, integer timestamps, no
    repeated pair. Else None: :meth:`Ratings.from_dataframe` then validates (and names the
    first bad row)."""
    kinds = {role: str(schema.field(column).type) for role, column in roles.items()}
    if not (kinds["user"].startswith("int") and kinds["item"].startswith("int")
            and kinds["rating"] in ("float", "double", "halffloat")
            and kinds.get("timestamp", "int").startswith("int")):
        return None

    def column(role: str) -> np.ndarray | None:
        values = pq.read_table(path, columns=[roles[role]]).column(0)
        return None if values.null_count else values.to_numpy()

    raw = column("user")
    users = _dense_ids(raw) if raw is not None else None
    raw = column("item") if users is not None else None
    items = _dense_ids(raw) if raw is not None else None
    raw = column("rating") if items is not None else None
    if users is None or items is None or raw is None or not len(raw):
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        ratings = raw.astype(np.float32, copy=False)
    del raw
    if not np.isfinite(ratings).all():
        return None
    low, high = rating_scale or (float(ratings.min()), float(ratings.max()))
    if not low <= high or ((ratings < np.float32(low)) | (ratings > np.float32(high))).any():
        return None
    if has_duplicate_pairs(users[1], items[1], len(users[0]), len(items[0])):
        return None
    timestamps = None
    if "timestamp" in roles:
        timestamps = column("timestamp")
        if timestamps is None:
            return None
    return Ratings(users=users[1], items=items[1], ratings=ratings, user_ids=users[0],
                   item_ids=items[0], timestamps=timestamps, rating_scale=(low, high),
                   name=name)


def write_parquet(ratings: Ratings, path: str | Path) -> Path:
    """Write ``ratings`` as Parquet columns ``user, item, rating[, timestamp]`` (raw ids),
    atomically: the old file stays until the new one is complete.

    Returns
    -------
    Path
        The file written.
    """
    pa, pq = _pyarrow()
    path = Path(path)
    columns: dict[str, Any] = {
        "user": ratings.user_ids[ratings.users],
        "item": ratings.item_ids[ratings.items],
        "rating": ratings.ratings,
    }
    if ratings.timestamps is not None:
        columns["timestamp"] = ratings.timestamps
    table = pa.table({k: (v.astype(str) if v.dtype.kind in "OU" else v)
                      for k, v in columns.items()})
    low, high = ratings.rating_scale
    metadata = {_SCALE_KEY: f"{low!r},{high!r}".encode()}
    for attr, key in _INFO_KEYS.items():
        stored = _info_json(getattr(ratings, attr))
        if stored is not None:
            metadata[key] = stored
    table = table.replace_schema_metadata(metadata)
    try:
        with atomic_write(path) as handle:
            pq.write_table(table, handle)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the file ({exc.strerror or one_line(exc)}); "
                        "check the folder and the disk") from None
    return path
