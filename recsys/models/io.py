"""Model files: writing them, and reading them without trusting them.

A model file is a zip archive of ``.npy`` arrays (what ``np.savez`` writes): the arrays of
:meth:`recsys.models.base.Estimator.to_arrays` plus a JSON header stored as a text array
(format version, class, parameters, rating scale, history, package version). Loading never runs
code from the file. This reader parses the archive member by member instead of handing it to
``np.load``, so that it can refuse, before allocating or decoding anything:

* members that are not ``.npy`` arrays, or use an ``.npy`` format version we do not write;
* arrays of Python objects (which ``np.load`` could only read by unpickling: never done),
  and any dtype other than booleans, integers, floats and unicode text;
* arrays whose declared shape does not match the bytes stored (a truncated or forged
  header that would otherwise make numpy allocate a huge buffer).

(``np.load(..., allow_pickle=False)`` refuses object arrays too, but allocates whatever shape a
forged header declares before reading, and words its refusals in its own terms; the member
reader is about sixty lines.)

Then :func:`model_from_arrays` checks the header (format, version, a known class, settings the
class accepts), the training-data record every model holds (id maps, counts and seen items
must agree), the model's own arrays through the ``state_*`` helpers (presence, dtype, shape,
finiteness, each failure a ``ValueError`` naming the array), and makes a trial prediction.
Every failure is one line of :class:`~recsys.errors.ModelFileError`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib import format as npy

from recsys._atomic import atomic_write
from recsys.errors import ModelFileError, short_repr
from recsys.models.registry import FILE_CLASSES, class_named
from recsys.models.scaling import RatingMap

if TYPE_CHECKING:  # pragma: no cover - typing only
    from recsys.models.base import Estimator

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "write_model_file", "load_model",
           "model_from_arrays", "header_json", "read_archive", "one_line", "state_array",
           "state_int", "state_ints", "state_text"]

FORMAT_NAME = "recsys-model"
FORMAT_VERSION = 2  # 2: the hybrid keeps each base model as a whole model (header included)

_ALLOWED_KINDS = "biufU"
_READERS = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
_MAX_MEMBERS = 10_000


def one_line(exc: BaseException, limit: int = 160) -> str:
    """An exception as one short line (type name when its message is empty)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: os.PathLike) -> np.ndarray:
    key = info.filename[:-4]
    with archive.open(info) as handle:
        version = npy.read_magic(handle)
        if version not in _READERS:
            raise ValueError(f"array {key!r} uses .npy format {version}")
        shape, fortran, dtype = _READERS[version](handle)
        if dtype.hasobject:
            raise ModelFileError(
                f"{path} holds Python objects (array {key!r} would need unpickling, which "
                "could run code): refused and not loaded; a recsys model file never holds any"
            )
        if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype:
            raise ValueError(f"array {key!r} has an unexpected type {dtype}")
        count = math.prod(int(d) for d in shape)
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - handle.tell():
            raise ValueError(f"array {key!r} does not hold the {nbytes} bytes its shape needs")
        data = handle.read(nbytes)
        handle.read(1)  # reach the end of the member: the zip CRC check runs there
    if len(data) != nbytes:
        raise ValueError(f"array {key!r} is truncated")
    if dtype.itemsize == 0 or count == 0:
        return np.zeros(shape, dtype=dtype)
    flat = np.frombuffer(data, dtype=dtype, count=count)
    array = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return np.array(array)  # own, writable, contiguous copy


def read_archive(path: os.PathLike) -> dict[str, np.ndarray]:
    """Every array of the model file at ``path``, keyed as ``np.savez`` named them.

    Raises
    ------
    ModelFileError
        Not a zip archive, truncated or corrupt, a member that is not a plain numeric or text
        array (in particular anything that would need unpickling).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > _MAX_MEMBERS:
                raise ValueError(f"{len(members)} members, far more than a model has")
            arrays = {}
            for info in members:
                if not info.filename.endswith(".npy") or info.is_dir():
                    raise ValueError(f"unexpected member {info.filename[:60]!r}")
                arrays[info.filename[:-4]] = _read_member(archive, info, path)
            return arrays
    except ModelFileError:
        raise
    except MemoryError:
        raise ModelFileError(
            f"{path} is not a readable recsys model file (an array is too large for memory)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
        raise ModelFileError(
            f"{path} is not a readable recsys model file (truncated or corrupt: "
            f"{one_line(exc)}); save the model again"
        ) from None


def state_array(arrays: Mapping[str, np.ndarray], key: str,
                shape: Sequence[int | None] | None = None, dtype: Any = np.float32,
                finite: bool = True) -> np.ndarray:
    """``arrays[key]`` as a contiguous numeric array of ``dtype``.

    ``shape`` may hold ``None`` for a free dimension. Raises ``ValueError`` naming ``key`` if
    the array is missing, not numeric, of another shape, or (``finite``) holds NaN/inf after
    conversion (a float64 beyond float32's range included).
    """
    if key not in arrays:
        raise ValueError(f"array {key!r} is missing")
    a = arrays[key]
    if a.dtype.kind not in "biuf":
        raise ValueError(f"array {key!r} holds {a.dtype} values, not numbers")
    if shape is not None and (a.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(a.shape, shape))):
        expected = "(" + ", ".join("*" if d is None else str(d) for d in shape) + ")"
        raise ValueError(f"array {key!r} has shape {a.shape}, expected {expected}")
    if np.dtype(dtype).kind in "iu" and a.dtype.kind == "f":
        raise ValueError(f"array {key!r} holds floats where integers belong")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(a, dtype=dtype, order="C")
    if finite and out.dtype.kind == "f" and not np.isfinite(out).all():
        raise ValueError(f"array {key!r} holds NaN or infinite values")
    return out


def state_ints(arrays: Mapping[str, np.ndarray], key: str, length: int,
               low: int = 0) -> list[int]:
    """``arrays[key]``: ``length`` integers, each >= ``low``."""
    a = arrays.get(key)
    if a is None:
        raise ValueError(f"array {key!r} is missing")
    if a.dtype.kind not in "iu" or a.shape != (length,):
        raise ValueError(f"array {key!r} must hold {length} integers, got {a.dtype} {a.shape}")
    values = [int(x) for x in a]
    if any(v < low for v in values):
        raise ValueError(f"array {key!r} holds values below {low}")
    return values


def state_int(arrays: Mapping[str, np.ndarray], key: str, low: int = 0) -> int:
    """``arrays[key]``: one integer (a 0-d or one-element array) >= ``low``."""
    a = arrays.get(key)
    if a is None:
        raise ValueError(f"array {key!r} is missing")
    return state_ints({key: np.reshape(a, -1)}, key, 1, low)[0] if a.size == 1 else \
        state_ints(arrays, key, 1, low)[0]


def state_text(arrays: Mapping[str, np.ndarray], key: str, length: int) -> np.ndarray:
    """``arrays[key]``: ``length`` strings."""
    a = arrays.get(key)
    if a is None:
        raise ValueError(f"array {key!r} is missing")
    if a.dtype.kind != "U" or a.shape != (length,):
        raise ValueError(f"array {key!r} must hold {length} strings, got {a.dtype} {a.shape}")
    return a


# ---------------------------------------------------------------------------------- writing
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a model header")


def header_json(header: dict[str, Any]) -> np.ndarray:
    """A header as the 0-d text array a model file stores under ``"header"``."""
    return np.array(json.dumps(header, default=_json_default))


def _write_npz(handle: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """``arrays`` as an ``.npz`` archive (what ``np.savez`` writes, so ``np.load`` reads it)
    whose members are deflated at level 1: the text arrays (titles, genres) shrink about
    20-fold and factor matrices by a few percent, for about a second per 50 MB; a hybrid of
    every base model on the bundled data goes from 61 to 45 MB."""
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                         allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                npy.write_array(member, np.asanyarray(value), allow_pickle=False)


def write_model_file(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` (see :meth:`Estimator.to_arrays`) to ``path`` atomically (temporary
    name, then rename): an interrupted or failed write leaves any earlier file untouched and no
    temporary file behind. A missing folder is created.

    Raises
    ------
    ModelFileError
        ``path`` is a folder or cannot be written (no permission, disk full...).
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(
            f"cannot write the model to {path}: it is a folder; give a file name such as "
            f"{path / 'model.npz'}"
        )
    try:
        with atomic_write(path) as handle:
            _write_npz(handle, arrays)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ModelFileError(
            f"cannot write the model file {path}: {reason}; choose a folder you can write "
            "to (and check the free disk space)"
        ) from None
    return path


# ---------------------------------------------------------------------------------- reading
def _restore_common(model: Estimator, arrays: Mapping[str, np.ndarray]) -> None:
    """Install and cross-check the record of the training data every model file holds: id
    maps, counts and seen items must agree with each other (``ValueError`` naming the array
    otherwise), so that a loaded model cannot index out of bounds later."""
    ids = {}
    for name in ("user_ids_", "item_ids_"):
        key = f"common/{name}"
        a = arrays.get(key)
        if a is None:
            raise ValueError(f"array {key!r} is missing")
        if a.ndim != 1 or a.dtype.kind not in "iuU" or len(a) == 0:
            raise ValueError(f"array {key!r} must be a non-empty list of integer or text ids")
        if a.dtype.kind == "u" and len(a) and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"array {key!r} holds ids beyond int64")
        a = a.astype(np.int64) if a.dtype.kind in "iu" else a
        if not pd.Index(a).is_unique:
            raise ValueError(f"array {key!r} lists an id twice")
        ids[name] = a
    n_users, n_items = len(ids["user_ids_"]), len(ids["item_ids_"])
    user_counts = state_array(arrays, "common/user_counts_", (n_users,), np.int64)
    item_counts = state_array(arrays, "common/item_counts_", (n_items,), np.int64)
    indptr = state_array(arrays, "common/seen_indptr_", (n_users + 1,), np.int64)
    seen = state_array(arrays, "common/seen_items_", (None,), np.int64)
    total = int(user_counts.sum())
    if (user_counts.min() < 0 or item_counts.min() < 0 or total == 0
            or int(item_counts.sum()) != total):
        raise ValueError("the user and item rating counts disagree")
    if indptr[0] != 0 or not np.array_equal(np.diff(indptr), user_counts) or len(seen) != total:
        raise ValueError("the seen-items index disagrees with the user rating counts")
    if seen.size and (seen.min() < 0 or seen.max() >= n_items):
        raise ValueError("the seen-items list names items beyond the id map")
    if not np.array_equal(np.bincount(seen, minlength=n_items), item_counts):
        raise ValueError("the seen-items list disagrees with the item rating counts")
    model.user_ids_, model.item_ids_ = ids["user_ids_"], ids["item_ids_"]
    model.user_counts_, model.item_counts_ = user_counts, item_counts
    model.seen_indptr_, model.seen_items_ = indptr, seen.astype(np.int32)
    model.item_titles_ = state_text(arrays, "common/item_titles_", n_items)
    model.item_genres_ = state_text(arrays, "common/item_genres_", n_items)
    years = state_array(arrays, "common/item_years_", (n_items,), np.float64, finite=False)
    if np.any(np.abs(years[~np.isnan(years)]) > 1e5):
        raise ValueError("array 'common/item_years_' holds years out of range")
    model.item_years_ = years


def _header_number(header: Mapping[str, Any], key: str) -> float:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"header field {key!r} must be a finite number, got {short_repr(value)}")
    return float(value)


def _restore_header(model: Estimator, header: Mapping[str, Any]) -> None:
    """Install the header's facts (rating scale, global mean, history, ...), checked."""
    scale = header.get("rating_scale")
    if not isinstance(scale, list) or len(scale) != 2:
        raise ValueError("header field 'rating_scale' must be [low, high]")
    low, high = (_header_number({"rating_scale": v}, "rating_scale") for v in scale)
    if low > high:
        raise ValueError(f"header field 'rating_scale' is reversed ({low} > {high})")
    model.rating_scale_ = (low, high)
    model.global_mean_ = _header_number(header, "global_mean")
    for key, kind in (("data_fingerprint", str), ("data_name", str), ("history", dict),
                      ("extra", dict)):
        if key in header and not isinstance(header[key], kind):
            raise ValueError(f"header field {key!r} must be a {kind.__name__}")
    mapping = header.get("rating_map", [0.0, 1.0])  # files before model units: identity
    if not isinstance(mapping, list) or len(mapping) != 2:
        raise ValueError("header field 'rating_map' must be [center, spread]")
    center, spread = (_header_number({"rating_map": v}, "rating_map") for v in mapping)
    if not spread > 0:
        raise ValueError(f"header field 'rating_map' has a spread of {spread} (must be > 0)")
    model.rating_map_ = RatingMap(center, spread)
    selection = header.get("selection")
    if selection is not None:
        if not isinstance(selection, dict):
            raise ValueError("header field 'selection' must be a mapping")
        model.selection_ = selection
    model.data_fingerprint_ = header.get("data_fingerprint", "")
    model.data_name_ = header.get("data_name", "")
    model.history_ = header.get("history", {})


def _smoke_test(model: Estimator) -> None:
    """Predict and score a few pairs (known and unknown) as a loaded model will: a file whose
    arrays do not work together fails here, at load time, not later."""
    known_u = np.flatnonzero(model.user_counts_ > 0)[:3]
    known_i = np.flatnonzero(model.item_counts_ > 0)[:3]
    u = np.concatenate([np.repeat(known_u, len(known_i)), [-1, -1, known_u[0]]])
    i = np.concatenate([np.tile(known_i, len(known_u)), [known_i[0], -1, -1]])
    with np.errstate(all="ignore"):
        pred = np.asarray(model.predict_indices(u, i, clip=False), dtype=np.float64)
        scores = np.asarray(model.score_users(np.array([known_u[0], -1])), dtype=np.float64)
    if pred.shape != u.shape or not np.isfinite(pred).all():
        raise ValueError("its parameters give non-finite predictions")
    if scores.shape != (2, model.n_items_):
        raise ValueError("its parameters do not score every item")


def _parse_header(raw: np.ndarray | None, source: str) -> dict[str, Any]:
    """The header's JSON, checked to be a recsys header of a format this version reads."""
    if raw is None:
        raise ModelFileError(f"{source} is not a recsys model file (an .npz archive without a "
                             "recsys header)")
    try:
        if raw.dtype.kind != "U" or raw.ndim != 0:
            raise ValueError("the header is not a text")
        header = json.loads(str(raw[()]))
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source} has a damaged model header ({one_line(exc)})") \
            from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{source} is not a recsys model file (foreign format)")
    version = header.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{source} has a damaged model header (format version "
                             f"{short_repr(version)})")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{source} uses model format {version}, newer than this recsys reads "
            f"({FORMAT_VERSION}): upgrade recsys"
        )
    return header


def _new_model(header: Mapping[str, Any], source: str) -> Estimator:
    """An unfitted model of the header's class and settings, the settings checked."""
    name = header.get("class")
    cls = class_named(name) if isinstance(name, str) else None
    if cls is None:
        raise ModelFileError(
            f"{source} holds an unknown model class {short_repr(name)}: it was written by "
            f"another program or a newer recsys (this one knows "
            f"{', '.join(sorted(FILE_CLASSES))})"
        )
    params = header.get("params")
    try:
        if not isinstance(params, dict):
            raise TypeError("the settings are not a mapping")
        model = cls(**cls._upgrade_params(params, header["format_version"]))
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{source} holds settings this {cls.__name__} does not accept ({one_line(exc)})"
        ) from None
    return model


_DAMAGE = (KeyError, TypeError, ValueError, IndexError, OverflowError, ZeroDivisionError,
           FloatingPointError)


def _build(arrays: Mapping[str, np.ndarray], source: str) -> Estimator:
    arrays = dict(arrays)
    header = _parse_header(arrays.pop("header", None), source)
    model = _new_model(header, source)
    _restore_common(model, arrays)
    _restore_header(model, header)
    prefix = "state/"
    model._restore_state(header.get("extra", {}),
                         {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    _smoke_test(model)
    return model


def model_from_arrays(arrays: Mapping[str, np.ndarray], source: str = "the model", *,
                      context: str | None = None) -> Estimator:
    """The fitted model that :meth:`Estimator.to_arrays` described, every array checked.

    ``source`` names the arrays' origin in messages (a file's path). A model kept inside
    another (the hybrid's base models) passes ``context`` instead (``"base model 'mf/'"``):
    then every failure is a ``ValueError`` starting with it, for the enclosing model's loader
    to report.

    Raises
    ------
    ModelFileError
        A foreign or damaged header, a newer format, an unknown class, settings the class
        refuses, arrays that are missing, of the wrong shape or type, or not finite.
    """
    if context is not None:
        try:
            return _build(arrays, context)
        except ModelFileError as exc:
            raise ValueError(str(exc)) from None
        except _DAMAGE as exc:
            raise ValueError(f"{context}: {one_line(exc)}") from None
    try:
        return _build(arrays, source)
    except ModelFileError:
        raise
    except _DAMAGE as exc:
        raise ModelFileError(
            f"{source} is an incomplete or damaged recsys model file ({one_line(exc)}); "
            "save the model again"
        ) from None


def load_model(path: str | os.PathLike) -> Estimator:
    """Load any recsys model file, never running code from it.

    The file is checked from its bytes up: zip structure, array types (anything needing
    unpickling is refused unread), the JSON header (format, version, class, settings), the
    shapes and values of every array against the id maps, and a trial prediction.

    Raises
    ------
    ModelFileError
        Missing, truncated or corrupt file; a file that is not a recsys model; a model of a
        newer format or an unknown class; arrays that are missing, of the wrong shape or type,
        or not finite. The message (one line) says which.
    """
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file: give the .npz file's path")
    if not path.is_file():
        raise ModelFileError(f"model file {path} not found: check the path (fit one with "
                             "`recsys fit -o FILE`)")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {path}: {exc.strerror or exc}") \
            from None
    if magic != b"PK\x03\x04":
        what = "an empty file" if not magic else "not an .npz archive"
        raise ModelFileError(f"{path} is not a recsys model file ({what})")
    return model_from_arrays(read_archive(path), str(path))
