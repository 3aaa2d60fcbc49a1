"""Model names used by the command line and the evaluation runner.

``"mean"`` is the global mean, ``"baseline"`` the regularised user + item biases, ``"mf"`` biased
matrix factorisation by per-rating SGD, ``"hybrid"`` the tanh network on top of the factors.
Classes are imported lazily so that naming a model does not compile every numba kernel.
"""

from __future__ import annotations

import importlib
from typing import Any

from recsys.errors import RecsysError
from recsys.models.base import Estimator

__all__ = ["MODELS", "model_class", "make_model"]

MODELS: dict[str, tuple[str, str]] = {
    "mean": ("recsys.models.baseline", "GlobalMean"),
    "baseline": ("recsys.models.baseline", "BiasBaseline"),
    "mf": ("recsys.models.mf", "MatrixFactorization"),
    "hybrid": ("recsys.models.hybrid", "HybridRecommender"),
}


def model_class(name: str) -> type[Estimator]:
    """The estimator class registered under ``name``."""
    try:
        module, attr = MODELS[name]
    except KeyError:
        raise RecsysError(
            f"unknown model {name!r} (choose from {', '.join(MODELS)})"
        ) from None
    return getattr(importlib.import_module(module), attr)


def make_model(name: str, **params: Any) -> Estimator:
    """A new estimator ``name`` with ``params`` (None values are left at their defaults).

    Raises
    ------
    RecsysError
        Unknown model name, or a parameter the model does not take.
    """
    cls = model_class(name)
    accepted = set(cls._param_names())
    given = {k: v for k, v in params.items() if v is not None}
    wrong = sorted(set(given) - accepted)
    if wrong:
        raise RecsysError(
            f"model {name!r} takes no parameter {', '.join(wrong)} "
            f"(it takes: {', '.join(sorted(accepted))})"
        )
    return cls(**given)
