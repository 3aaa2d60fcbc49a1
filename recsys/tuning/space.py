"""Search spaces: the range of each setting, and seeded quasi-random points in them.

A :class:`SearchSpace` maps setting names to dimensions (:class:`LogUniform`, :class:`Uniform`,
:class:`IntLogUniform`, :class:`Choice`) and holds ``fixed`` settings that every trial and the
refit share. :meth:`SearchSpace.sample` draws points from a randomly shifted Halton sequence
(each dimension a van der Corput sequence in its own prime base, shifted modulo 1 by a seeded
offset): it covers the space more evenly than independent random draws, which matters for a
few dozen trials, and the same seed gives the same points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from recsys.errors import ParameterError

__all__ = ["Dimension", "LogUniform", "Uniform", "IntLogUniform", "Choice", "SearchSpace",
           "halton"]

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


class Dimension:
    """One setting's range; :meth:`value` maps a number ``u`` in ``[0, 1)`` into it."""

    def value(self, u: float) -> Any:
        """The setting for the point ``u`` in ``[0, 1)``."""
        raise NotImplementedError

    def describe(self) -> str:
        """A short text of the range, for help and the README."""
        raise NotImplementedError


def _check_bounds(kind: str, low: float, high: float, positive: bool) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high or (
            positive and low <= 0):
        need = "0 < low < high" if positive else "low < high"
        raise ParameterError(f"{kind}({low!r}, {high!r}): the bounds must satisfy {need}")


@dataclass(frozen=True)
class LogUniform(Dimension):
    """A float whose logarithm is uniform on ``[log low, log high]`` (rates, weights)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("LogUniform", self.low, self.high, positive=True)

    def value(self, u: float) -> float:
        return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))

    def describe(self) -> str:
        return f"log-uniform {self.low:g} to {self.high:g}"


@dataclass(frozen=True)
class Uniform(Dimension):
    """A float uniform on ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_bounds("Uniform", self.low, self.high, positive=False)

    def value(self, u: float) -> float:
        return float(self.low + u * (self.high - self.low))

    def describe(self) -> str:
        return f"uniform {self.low:g} to {self.high:g}"


@dataclass(frozen=True)
class IntLogUniform(Dimension):
    """An integer from ``low`` to ``high`` (both included), log-uniform (sizes, counts)."""

    low: int
    high: int

    def __post_init__(self) -> None:
        _check_bounds("IntLogUniform", self.low, self.high, positive=True)

    def value(self, u: float) -> int:
        span = math.log(self.high + 1) - math.log(self.low)  # floor of [low, high + 1)
        return int(min(max(math.floor(self.low * math.exp(u * span)), self.low), self.high))

    def describe(self) -> str:
        return f"integer, log-uniform {self.low} to {self.high}"


@dataclass(frozen=True)
class Choice(Dimension):
    """One of a few options, each equally likely."""

    options: tuple

    def __post_init__(self) -> None:
        if not self.options:
            raise ParameterError("Choice(): give at least one option")

    def value(self, u: float) -> Any:
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]

    def describe(self) -> str:
        return "one of " + ", ".join(str(o) for o in self.options)


def halton(n: int, dims: int, seed: int | None) -> np.ndarray:
    """``n`` points of a randomly shifted Halton sequence in ``[0, 1)^dims``.

    Point ``j`` (from 1: the all-zero point 0 is skipped) has coordinate ``d`` equal to the
    radical inverse of ``j`` in the ``d``-th prime base plus a seeded offset, modulo 1.
    """
    if dims > len(_PRIMES):
        raise ParameterError(f"a search space of {dims} settings is too large; use at most "
                             f"{len(_PRIMES)}")
    shift = np.random.default_rng(seed).random(dims)
    points = np.empty((n, dims))
    for d in range(dims):
        base = _PRIMES[d]
        for j in range(n):
            k, f, x = j + 1, 1.0 / base, 0.0
            while k:
                x += f * (k % base)
                k //= base
                f /= base
            points[j, d] = x
    return (points + shift) % 1.0


@dataclass(frozen=True)
class SearchSpace:
    """What a search varies (``dims``) and what it holds fixed (``fixed``), for one model.

    Parameters
    ----------
    dims : mapping of setting name to Dimension
    fixed : mapping of setting name to value
        Settings of every trial and of the refit (for example ``patience`` and the epoch cap
        of the trials; the refit replaces those two by the chosen epochs and no early
        stopping).
    """

    dims: Mapping[str, Dimension]
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, dim in self.dims.items():
            if not isinstance(dim, Dimension):
                raise ParameterError(
                    f"search space: {name} must be a range such as LogUniform(0.001, 0.1) or "
                    f"Choice((8, 16)), got {type(dim).__name__}")

    @property
    def names(self) -> Sequence[str]:
        return tuple(self.dims)

    def sample(self, n: int, seed: int | None) -> list[dict[str, Any]]:
        """``n`` settings (the varied ones only), the same for the same ``seed``."""
        names = list(self.dims)
        points = halton(n, len(names), seed) if names else np.zeros((n, 0))
        return [{name: self.dims[name].value(float(u)) for name, u in zip(names, row)}
                for row in points]

    def with_fixed(self, **settings: Any) -> "SearchSpace":
        """A copy with more (or other) fixed settings; a fixed name is no longer varied."""
        dims = {k: v for k, v in self.dims.items() if k not in settings}
        return SearchSpace(dims, {**self.fixed, **settings})

    def describe(self) -> dict[str, str]:
        """Each varied setting's range in words."""
        return {name: dim.describe() for name, dim in self.dims.items()}
