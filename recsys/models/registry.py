"""Model names and classes, looked up without importing every model.

``MODELS`` maps the names the command line and the evaluation runner use to the module and
class that implement them: ``"mean"`` is the global mean, ``"baseline"`` the regularised user +
item biases, ``"timebias"`` the time-aware biases of timeSVD++, ``"mf"`` biased matrix
factorisation by per-rating SGD, ``"svdpp"`` SVD++ (factors plus the implicit feedback of
which items a user rated), ``"timesvdpp"`` SVD++ with the time-aware biases, ``"knn"`` item-item neighbours on baseline residuals,
``"knnglobal"`` Koren's global neighbourhood model (interpolation weights learned by SGD), ``"hybrid"``
the tanh network blending them, ``"popularity"`` the most-rated items (a top-N reference),
``"bpr"`` Bayesian personalised ranking of who rates what. ``FILE_CLASSES`` maps every class a model file may name to its
module. A class's module is imported only when the class is asked for, so naming a model (or
importing :mod:`recsys`) does not compile any numba kernel.

A new model: write its module under ``recsys/models/``, then add it to ``MODELS`` (to reach
it by name) and ``FILE_CLASSES`` (to load its files).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from recsys.errors import RecsysError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from recsys.models.base import Estimator

__all__ = ["MODELS", "FILE_CLASSES", "model_class", "class_named", "make_model"]

MODELS: dict[str, tuple[str, str]] = {
    "mean": ("recsys.models.baseline", "GlobalMean"),
    "baseline": ("recsys.models.baseline", "BiasBaseline"),
    "timebias": ("recsys.models.timebias", "TimeAwareBaseline"),
    "mf": ("recsys.models.mf", "MatrixFactorization"),
    "svdpp": ("recsys.models.svdpp", "SVDpp"),
    "timesvdpp": ("recsys.models.timesvdpp", "TimeSVDpp"),
    "knn": ("recsys.models.knn", "KNNBaseline"),
    "knnglobal": ("recsys.models.knnglobal", "GlobalNeighbourhood"),
    "hybrid": ("recsys.models.hybrid", "HybridRecommender"),
    "popularity": ("recsys.models.popularity", "Popularity"),
    "bpr": ("recsys.models.bpr", "BPR"),
}

FILE_CLASSES: dict[str, str] = {
    **{cls: module for module, cls in MODELS.values()},
    "AutoRec": "recsys.models.autorec",
}


def model_class(name: str) -> type[Estimator]:
    """The estimator class registered under ``name`` (a key of ``MODELS``)."""
    try:
        module, attr = MODELS[name]
    except KeyError:
        raise RecsysError(
            f"unknown model {name!r} (choose from {', '.join(MODELS)})"
        ) from None
    return getattr(importlib.import_module(module), attr)


def class_named(class_name: str) -> type[Estimator] | None:
    """The estimator class a model file names (``"MatrixFactorization"``), or None when no
    model of that name exists."""
    module = FILE_CLASSES.get(class_name)
    if module is None:
        return None
    return getattr(importlib.import_module(module), class_name)


def make_model(name: str, **params: Any) -> Estimator:
    """A new estimator ``name`` with ``params`` (None values are left at their defaults).

    Raises
    ------
    RecsysError
        Unknown model name, or a parameter the model does not take.
    """
    cls = model_class(name)
    accepted = set(cls.param_names())
    given = {k: v for k, v in params.items() if v is not None}
    wrong = sorted(set(given) - accepted)
    if wrong:
        raise RecsysError(
            f"model {name!r} takes no parameter {', '.join(wrong)} "
            f"(it takes: {', '.join(sorted(accepted))})"
        )
    return cls(**given)
