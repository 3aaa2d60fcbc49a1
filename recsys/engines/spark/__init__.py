"""Matrix factorisation on Apache Spark by distributed stratified SGD (DSGD).

``recsys fit --engine spark [--master local[*]|spark://HOST:PORT]`` and, in Python,
:class:`SparkEngine` (see :mod:`recsys.engines.spark.model`). The modules, one job each:

* ``session``: checks (pyspark, Java, the master) and a quiet Spark context on loopback;
* ``grid``: users, items and ratings cut into the ``B x B`` grid (numpy);
* ``tasks``: what a Spark task runs on a worker (the local engine's numba kernel on a cell);
* ``dsgd``: the driver's epoch loop over the strata, on RDDs;
* ``frame_sources``, ``frame_checks``, ``frames``: Parquet and CSV ratings read, checked and
  encoded by Spark itself, held as :class:`~recsys.engines.spark.frames.FrameRatings`;
* ``frame_cells``, ``frame_dsgd``: the grid's cells built by Spark from those, and their fit;
* ``model``: :class:`SparkMatrixFactorization` and :class:`SparkEngine`;
* ``cli``: what ``recsys fit --engine spark`` calls.

Importing this package imports neither pyspark nor numba; they load when an engine starts.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SparkEngine", "SparkMatrixFactorization"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("recsys.engines.spark.model"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
