"""Rating models: baselines, matrix factorisation, the tanh network and the hybrid.

Where things live (one job a module):

* ``base``: the estimator contract (:class:`Estimator`: fit template, ids, predict);
  ``params``: settings from the constructor; ``progress``: the per-epoch callback and stop
  requests; ``topn``: recommend and similar items; ``persistence``: what a model file holds;
  ``scaling``: model units (scale-free learning); ``selection``: epochs chosen on a
  validation part, then a refit on all the ratings;
* ``baseline``, ``mf``, ``autorec``, ``hybrid``: the rating models; ``mlp``: the tanh network
  on arrays; beside them, private modules for their numba kernels (``_sgd`` and the FPSGD
  grid ``_blocks`` for MF, ``_backprop``, ``_bookkeeping``) and the setting checks
  (``_checks``);
* ``io``: model files (writing, and reading without trusting them);
* ``registry``: model names for the command line and the evaluation runner.

The classes are imported on first use (``recsys.models.MatrixFactorization``), so that
``import recsys.models`` compiles no numba kernel and loads no model module it does not need.
"""

from __future__ import annotations

import importlib
from typing import Any

from recsys.models.registry import MODELS, make_model, model_class

__all__ = [
    "AutoRec",
    "BiasBaseline",
    "Estimator",
    "GlobalMean",
    "HybridRecommender",
    "MLP",
    "MODELS",
    "MatrixFactorization",
    "clone",
    "load_model",
    "make_model",
    "model_class",
]

_LAZY = {
    "AutoRec": "recsys.models.autorec",
    "BiasBaseline": "recsys.models.baseline",
    "Estimator": "recsys.models.base",
    "GlobalMean": "recsys.models.baseline",
    "HybridRecommender": "recsys.models.hybrid",
    "MLP": "recsys.models.mlp",
    "MatrixFactorization": "recsys.models.mf",
    "clone": "recsys.models.base",
    "load_model": "recsys.models.io",
}


def __getattr__(name: str) -> Any:
    """Import a model class the first time it is asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
