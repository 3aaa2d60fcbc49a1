"""One way to turn a ``random_state`` into a generator, with a clear error for a bad seed."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.errors import ParameterError, short_repr

__all__ = ["make_rng"]


def make_rng(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """:func:`numpy.random.default_rng` of ``random_state`` (None, an integer >= 0, or a
    Generator, which is used as it is).

    Raises
    ------
    ParameterError
        For a seed numpy refuses (a negative integer, a float, a string...).
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    problem = ParameterError(f"{name} must be None, an integer >= 0 or a numpy Generator, "
                             f"got {short_repr(random_state, 40)}")
    if isinstance(random_state, bool):  # True/False are not seeds, though numpy takes them
        raise problem
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError):
        raise problem from None
