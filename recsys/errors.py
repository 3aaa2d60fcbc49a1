"""Exception types that carry a message meant for the user.

Every error a user can cause (bad input file, unknown data set, corrupt model file, a setting
that makes training diverge) is raised as a :class:`RecsysError` subclass with a one-line,
self-explanatory message. The command line turns these into one line on stderr and a non-zero
exit code; library users can catch :class:`RecsysError`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RecsysError",
    "DataError",
    "DownloadError",
    "ModelFileError",
    "DivergenceError",
    "NotFittedError",
    "ParameterError",
    "UnknownIdError",
    "EvaluationError",
    "EvaluationWarning",
    "short_repr",
]


class RecsysError(Exception):
    """Base class of all errors whose message is meant for the user."""


class DataError(RecsysError, ValueError):
    """Ratings or side information that cannot be read or fail validation."""


class DownloadError(RecsysError):
    """A data set could not be downloaded, verified or found in the cache."""


class ModelFileError(RecsysError):
    """A model file is missing, truncated, foreign or of a newer format."""


class DivergenceError(RecsysError, FloatingPointError):
    """Training produced NaN/inf or an exploding error; the message names what to lower."""


class ParameterError(RecsysError, ValueError):
    """A model setting of the wrong type or outside its allowed range (raised by ``fit``)."""


class NotFittedError(RecsysError, AttributeError):
    """An estimator was used before ``fit`` (or ``load``)."""


class UnknownIdError(RecsysError, KeyError):
    """A raw user or item id that the model or data set does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EvaluationError(RecsysError, ValueError):
    """A setting of the evaluation that cannot work (unknown split or model, wrong data)."""


class EvaluationWarning(UserWarning):
    """A result that is valid but easy to misread: figures that are n/a because no test rating
    is relevant, a test side predicted by fallbacks only, or ``k`` cut to the catalogue size."""


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` (of the Python value for a numpy scalar), cut to ``limit`` characters
    for a one-line message."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
