"""The spark engine's estimator, and the engine that runs it.

:class:`SparkMatrixFactorization` is :class:`~recsys.models.mf.MatrixFactorization` with its
epochs run by DSGD on Spark (:mod:`recsys.engines.spark.dsgd`): the same settings, model,
model units and learned attributes, so everything built on the estimator contract works on
it unchanged (choosing the epochs on a validation part and refitting,
:mod:`recsys.models.selection`), and it saves as a plain ``MatrixFactorization`` file that
``recommend``, ``predict``, ``similar`` and ``evaluate`` read as any other.

It fits inside a :class:`SparkEngine`, which starts (or reuses) the Spark context and stops
what it started::

    with SparkEngine("local[*]") as engine:
        model = engine.fit(MatrixFactorization(n_factors=100), ratings)
    model.save("model.npz")
"""

from __future__ import annotations

from typing import Any

from recsys.data.ratings import Ratings
from recsys.engines.spark.dsgd import fit_dsgd
from recsys.engines.spark.session import SparkStart, start_context, stop_context
from recsys.errors import RecsysError
from recsys.models.mf import MatrixFactorization
from recsys.models.progress import EpochCallback, FitProgress, StopCheck

__all__ = ["SparkEngine", "SparkMatrixFactorization"]

_ENGINES: list["SparkEngine"] = []  # the engines entered, innermost last


class SparkMatrixFactorization(MatrixFactorization):
    """:class:`~recsys.models.mf.MatrixFactorization` fitted by DSGD on Spark.

    Same parameters and update rules (see the parent class); the grid is ``B x B`` with
    ``B`` the engine's ``n_blocks``, and the strata replace the local engine's block order,
    so the factors differ from a local fit's by the order of the SGD steps only. ``n_threads``
    is ignored (each Spark task runs one thread). Fit it inside a :class:`SparkEngine`.
    """

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        if not _ENGINES:
            raise RecsysError("SparkMatrixFactorization fits inside a SparkEngine: "
                              "with SparkEngine(master) as engine: engine.fit(model, ratings)")
        engine = _ENGINES[-1]
        fit_dsgd(self, engine.context, ratings, validation, progress, engine.n_blocks,
                 engine.fail_once_file)

    def as_local(self) -> MatrixFactorization:
        """The fitted model as a plain :class:`MatrixFactorization` (same state)."""
        model = MatrixFactorization(**self.get_params())
        model.__dict__.update(vars(self))
        return model

    def save(self, path: Any) -> Any:
        """Save as a ``MatrixFactorization`` file (see :meth:`Estimator.save`)."""
        self._check_fitted()
        return self.as_local().save(path)


class SparkEngine:
    """A Spark context for DSGD fits: started on entry (or reused when this process already
    runs one on the same master), stopped on exit if it was started here.

    Parameters
    ----------
    master : str
        ``local[*]``, ``local[N]``, ``local[N,F]`` (``F``: attempts per task) or
        ``spark://HOST:PORT``. Local masters are bound to 127.0.0.1.
    n_blocks : int, optional
        ``B``, the grid's blocks per side (default: the context's default parallelism,
        one task per core).
    conf : dict, optional
        Extra Spark settings.
    fail_once_file : str, optional
        For tests: the first task that finds this file removes it and fails.
    """

    def __init__(self, master: str = "local[*]", n_blocks: int | None = None,
                 conf: dict[str, str] | None = None,
                 fail_once_file: str | None = None) -> None:
        if n_blocks is not None and (isinstance(n_blocks, bool) or int(n_blocks) < 1):
            raise RecsysError(f"n_blocks must be a positive integer, got {n_blocks!r}")
        self.master = master
        self._n_blocks = n_blocks
        self.conf = conf
        self.fail_once_file = fail_once_file
        self._start: SparkStart | None = None

    def __enter__(self) -> "SparkEngine":
        self._start = start_context(self.master, conf=self.conf)
        _ENGINES.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self in _ENGINES:
            _ENGINES.remove(self)
        start, self._start = self._start, None
        stop_context(start)

    @property
    def context(self) -> Any:
        """The SparkContext (inside ``with``)."""
        if self._start is None:
            raise RecsysError("the SparkEngine is not started: use it in a with statement")
        return self._start.context

    @property
    def n_blocks(self) -> int:
        """``B``: as given, else the context's default parallelism."""
        if self._n_blocks is not None:
            return int(self._n_blocks)
        return max(int(self.context.defaultParallelism), 1)

    @staticmethod
    def wrap(model: Any) -> SparkMatrixFactorization:
        """The Spark version of a :class:`MatrixFactorization` (same settings)."""
        if isinstance(model, SparkMatrixFactorization):
            return model
        if type(model) is not MatrixFactorization:
            raise RecsysError(f"the spark engine fits matrix factorisation (--model mf) only, "
                              f"not {type(model).__name__}")
        return SparkMatrixFactorization(**model.get_params())

    def fit(self, model: Any, ratings: Ratings, validation: Ratings | None = None,
            callback: EpochCallback | None = None, *,
            should_stop: StopCheck | None = None) -> MatrixFactorization:
        """Fit a copy of ``model`` (a :class:`MatrixFactorization`) by DSGD; returns it as a
        plain fitted ``MatrixFactorization`` (arguments as :meth:`Estimator.fit`)."""
        if self._start is None:
            raise RecsysError("the SparkEngine is not started: use it in a with statement")
        spark_model = self.wrap(model)
        spark_model.fit(ratings, validation, callback, should_stop=should_stop)
        return spark_model.as_local()
