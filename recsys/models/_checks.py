"""Checks of model settings, each failing with one line that names the setting, the allowed
range and the value given.

Estimators call these from ``fit`` (and :func:`recsys.models.base.load_model` calls the
estimator's ``_validate_params`` on a file's parameters), never from ``__init__``. Every
failure is a :class:`~recsys.errors.ParameterError` (a ``RecsysError`` and a ``ValueError``)::

    MatrixFactorization: n_factors must be an integer >= 1, got 2.5
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable

from recsys.errors import ParameterError, short_repr

__all__ = ["integer", "number", "flag", "choice", "seed", "patience", "layer_sizes"]


def _fail(owner: str, name: str, allowed: str, value: Any) -> ParameterError:
    return ParameterError(f"{owner}: {name} must be {allowed}, got {short_repr(value)}")


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    return isinstance(value, numbers.Real) and math.isfinite(float(value)) \
        and float(value).is_integer()


def integer(owner: str, name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (an integral float such as ``10.0`` is accepted;
    bools and strings are not)."""
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    if not _is_integer(value) or int(value) < low or (high is not None and int(value) > high):
        raise _fail(owner, name, allowed, value)
    return int(value)


def number(owner: str, name: str, value: Any, low: float = 0.0, *, strict: bool = False,
           high: float | None = None, high_strict: bool = False) -> float:
    """``value`` as a finite float with ``value > low`` (``strict``) or ``>= low``, and below
    ``high`` when given."""
    bounds = [f"{'>' if strict else '>='} {low:g}"]
    if high is not None:
        bounds.append(f"{'<' if high_strict else '<='} {high:g}")
    allowed = "a number " + " and ".join(bounds)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(owner, name, allowed, value)
    x = float(value)
    ok = math.isfinite(x) and (x > low if strict else x >= low)
    if ok and high is not None:
        ok = x < high if high_strict else x <= high
    if not ok:
        raise _fail(owner, name, allowed, value)
    return x


def flag(owner: str, name: str, value: Any) -> bool:
    """``value`` as a bool (True/False only, numpy bools included)."""
    if not (isinstance(value, bool) or type(value).__name__ == "bool_"):
        raise _fail(owner, name, "True or False", value)
    return bool(value)


def choice(owner: str, name: str, value: Any, options: Iterable[str]) -> str:
    """``value``, which must be one of ``options``."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise _fail(owner, name, "one of " + ", ".join(repr(o) for o in options), value)
    return value


def seed(owner: str, name: str, value: Any) -> int | None:
    """A ``random_state``: None or an integer >= 0."""
    if value is None:
        return None
    return integer(owner, name, value, low=0)


def patience(owner: str, value: Any, name: str = "patience") -> int | None:
    """Early stopping's patience, the same in every model: None (no early stopping, every
    epoch runs) or an integer >= 1 (epochs without a better validation error before the
    fit stops and keeps its best epoch)."""
    if value is None:
        return None
    if not _is_integer(value) or int(value) < 1:
        raise _fail(owner, name, "None (no early stopping) or an integer >= 1", value)
    return int(value)


def layer_sizes(owner: str, name: str, value: Any) -> tuple[int, ...]:
    """Hidden layer sizes: a sequence (possibly empty) of integers from 1 to 100,000."""
    allowed = "a list of integers from 1 to 100000 (e.g. (32, 16))"
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        raise _fail(owner, name, allowed, value)
    try:
        sizes = tuple(value)
    except TypeError:
        raise _fail(owner, name, allowed, value) from None
    if any(not _is_integer(h) or not 1 <= int(h) <= 100_000 for h in sizes):
        raise _fail(owner, name, allowed, value)
    return tuple(int(h) for h in sizes)
