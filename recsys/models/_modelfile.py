"""Reading a model file without trusting it.

A model file is a zip archive of ``.npy`` arrays (what ``np.savez`` writes). This reader
parses it member by member instead of handing it to ``np.load``, so that it can refuse,
before allocating or decoding anything:

* members that are not ``.npy`` arrays, or use an ``.npy`` format version we do not write;
* arrays of Python objects (which ``np.load`` could only read by unpickling: never done),
  and any dtype other than booleans, integers, floats and unicode text;
* arrays whose declared shape does not match the bytes stored (a truncated or forged
  header that would otherwise make numpy allocate a huge buffer).

The ``state_*`` helpers check the arrays a model's ``_set_state`` reads (presence, dtype,
shape, finiteness) and raise ``ValueError`` naming the array; :func:`recsys.models.base.
load_model` turns that into a one-line :class:`~recsys.errors.ModelFileError`.
"""

from __future__ import annotations

import math
import os
import zipfile
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.lib import format as npy

from recsys.errors import ModelFileError

__all__ = ["read_archive", "one_line", "state_array", "state_int", "state_ints",
           "state_text"]

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
