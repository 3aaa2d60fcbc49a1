"""What ``recsys fit --engine spark`` calls: the checks that fail fast, then the engine."""

from __future__ import annotations

from recsys.engines.spark.model import SparkEngine
from recsys.engines.spark.session import check_java, check_master, check_pyspark
from recsys.errors import RecsysError

__all__ = ["engine_for_fit"]


def engine_for_fit(model_name: str, master: str) -> SparkEngine:
    """A :class:`SparkEngine` on ``master`` for ``recsys fit --model model_name``, after the
    checks that need no Spark (the model is ``mf``; pyspark 4, Java 17+ and a reachable
    master are there), each failure one line, before any data is read."""
    if model_name != "mf":
        raise RecsysError(f"--engine spark fits --model mf only, not {model_name}: use "
                          f"--model mf, or drop --engine spark")
    check_pyspark()
    check_master(master)
    check_java()
    return SparkEngine(master)
