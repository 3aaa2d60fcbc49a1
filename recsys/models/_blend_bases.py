"""The base models a hybrid can blend: their names, classes, file prefixes and the default set.

=============  ======================================================  ====================
name           model                                                   needs
=============  ======================================================  ====================
``mf``         :class:`~recsys.models.mf.MatrixFactorization`           (always blended)
``autorec``    :class:`~recsys.models.autorec.AutoRec` (I-AutoRec)
``svdpp``      :class:`~recsys.models.svdpp.SVDpp`
``knn``        :class:`~recsys.models.knn.KNNBaseline`
``knnglobal``  :class:`~recsys.models.knnglobal.GlobalNeighbourhood`  (not in the default set)
``timebias``   :class:`~recsys.models.timebias.TimeAwareBaseline`      timestamps
``timesvdpp``  :class:`~recsys.models.timesvdpp.TimeSVDpp`              timestamps
=============  ======================================================  ====================

MF is always among the bases: its fallback predicts pairs the others cannot, and its biases
``b_u``, ``b_i`` are network inputs. Classes are imported only when a base is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover - typing only
    from recsys.data.ratings import Ratings
    from recsys.models.base import Estimator

__all__ = ["BASE_MODELS", "TIME_AWARE", "DEFAULT_BASES", "base_class", "file_prefix",
           "bases_for"]

BASE_MODELS: dict[str, tuple[str, str]] = {
    "mf": ("recsys.models.mf", "MatrixFactorization"),
    "autorec": ("recsys.models.autorec", "AutoRec"),
    "svdpp": ("recsys.models.svdpp", "SVDpp"),
    "knn": ("recsys.models.knn", "KNNBaseline"),
    "knnglobal": ("recsys.models.knnglobal", "GlobalNeighbourhood"),
    "timebias": ("recsys.models.timebias", "TimeAwareBaseline"),
    "timesvdpp": ("recsys.models.timesvdpp", "TimeSVDpp"),
}

TIME_AWARE = frozenset({"timebias", "timesvdpp"})
"""Bases that need the ratings' timestamps (left out of the default set without them)."""

DEFAULT_BASES: tuple[str, ...] = ("mf", "autorec", "svdpp", "knn", "timebias")
"""What ``bases=None`` blends: every base the data allows."""


def base_class(name: str) -> type[Estimator]:
    """The estimator class of base ``name`` (a key of :data:`BASE_MODELS`)."""
    module, attr = BASE_MODELS[name]
    return getattr(importlib.import_module(module), attr)


def file_prefix(name: str) -> str:
    """Where a hybrid's model file keeps base ``name`` (``ar/`` for AutoRec, as format 2
    files have it; ``name/`` for the others)."""
    return "ar/" if name == "autorec" else f"{name}/"


def bases_for(requested: Sequence[str] | None, ratings: Ratings) -> tuple[str, ...]:
    """The bases a fit on ``ratings`` blends: ``requested``, or by default every base of
    :data:`DEFAULT_BASES` the data allows (the time-aware ones only with timestamps)."""
    if requested is not None:
        return tuple(str(name) for name in requested)
    timed = ratings.timestamps is not None
    return tuple(name for name in DEFAULT_BASES if timed or name not in TIME_AWARE)


def check_bases(owner: str, bases: Any, base_params: Any) -> None:
    """One-line :class:`~recsys.errors.ParameterError` for a bad ``bases`` or
    ``base_params`` setting of a hybrid."""
    from recsys.errors import ParameterError

    known = ", ".join(BASE_MODELS)
    if bases is not None:
        if isinstance(bases, str) or not isinstance(bases, (list, tuple)) or not bases:
            raise ParameterError(f"{owner}: bases must be a non-empty list of base model "
                                 f"names ({known}), got {bases!r}")
        unknown = [b for b in bases if b not in BASE_MODELS]
        if unknown:
            raise ParameterError(f"{owner}: bases names no base model {unknown[0]!r} "
                                 f"(choose from {known})")
        if len(set(bases)) != len(bases):
            raise ParameterError(f"{owner}: bases lists a model twice: {list(bases)}")
        if "mf" not in bases:
            raise ParameterError(f"{owner}: bases must include 'mf' (its fallback and biases "
                                 f"are the blend's), got {list(bases)}")
    if base_params is None:
        return
    if not isinstance(base_params, dict):
        raise ParameterError(f"{owner}: base_params must map base names to settings, e.g. "
                             f"{{'svdpp': {{'n_factors': 50}}}}, got {base_params!r}")
    for name, params in base_params.items():
        if name not in BASE_MODELS:
            raise ParameterError(f"{owner}: base_params names no base model {name!r} "
                                 f"(choose from {known})")
        if not isinstance(params, dict):
            raise ParameterError(f"{owner}: base_params[{name!r}] must map settings to "
                                 f"values, got {params!r}")
        accepted = set(base_class(name).param_names())
        wrong = sorted(set(params) - accepted)
        if wrong:
            raise ParameterError(f"{owner}: base_params[{name!r}]: {BASE_MODELS[name][1]} has "
                                 f"no setting {wrong[0]!r} (it takes: "
                                 f"{', '.join(sorted(accepted))})")
