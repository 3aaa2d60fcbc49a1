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

import dataclasses
import hashlib
from typing import Any

import numpy as np

from recsys.data.ratings import Ratings
from recsys.engines.spark.dsgd import fit_dsgd
from recsys.engines.spark.frame_dsgd import fit_dsgd_frame
from recsys.engines.spark.frame_sources import frame_format
from recsys.engines.spark.frames import FrameRatings, read_frame
from recsys.engines.spark.session import SparkStart, start_context, stop_context
from recsys.errors import RecsysError
from recsys.models.mf import MatrixFactorization
from recsys.models.progress import EpochCallback, FitProgress, StopCheck
from recsys.models.scaling import RatingMap

__all__ = ["SparkEngine", "SparkMatrixFactorization"]

_ENGINES: list["SparkEngine"] = []  # the engines entered, innermost last


class SparkMatrixFactorization(MatrixFactorization):
    """:class:`~recsys.models.mf.MatrixFactorization` fitted by DSGD on Spark.

    Same parameters and update rules (see the parent class); the grid is ``B x B`` with
    ``B`` the engine's ``n_blocks``, and the strata replace the local engine's block order,
    so the factors differ from a local fit's by the order of the SGD steps only. ``n_threads``
    is ignored (each Spark task runs one thread). Fit it inside a :class:`SparkEngine`.
    """

    def fit(self, ratings: Ratings | FrameRatings, validation: Any = None,
            callback: EpochCallback | None = None, *,
            should_stop: StopCheck | None = None) -> "SparkMatrixFactorization":
        """As :meth:`Estimator.fit <recsys.models.base.Estimator.fit>`; ``ratings`` (and
        ``validation``) may also be :class:`~recsys.engines.spark.frames.FrameRatings`, read
        by :meth:`SparkEngine.read`, whose ratings stay in Spark
        (:func:`~recsys.engines.spark.frame_dsgd.fit_dsgd_frame`)."""
        if not isinstance(ratings, FrameRatings):
            return super().fit(ratings, validation, callback, should_stop=should_stop)
        engine = _current_engine()
        try:
            self._validate_params()
            self._remember_frame(ratings)
            if validation is not None and not (isinstance(validation, FrameRatings)
                                               and ratings.same_maps(validation)):
                raise RecsysError("validation ratings do not share the training data's id "
                                  "maps: carve both from the same FrameRatings")
            fit_dsgd_frame(self, engine.context, ratings, validation,
                           FitProgress(callback, should_stop), engine.n_blocks,
                           engine.fail_once_file)
        except BaseException:
            self._forget()
            raise
        return self

    def _remember_frame(self, ratings: FrameRatings) -> None:
        """What ``Estimator.fit`` records of its training data, from what the driver knows of
        ratings held in Spark; each user's rated items follow when the cells are built. The
        fingerprint is a digest of the counts, the id maps and the ratings' sum (the
        local one hashes the ratings in file order, which the driver does not have)."""
        stub = Ratings(users=np.zeros(1), items=np.zeros(1), ratings=np.zeros(1),
                       user_ids=ratings.user_ids, item_ids=ratings.item_ids,
                       rating_scale=ratings.rating_scale, item_info=ratings.item_info,
                       user_info=ratings.user_info, name=ratings.name)
        self._remember_data(stub)
        self.global_mean_ = ratings.global_mean
        self.user_counts_ = np.asarray(ratings.user_counts, dtype=np.int64)
        self.item_counts_ = np.asarray(ratings.item_counts, dtype=np.int64)
        digest = hashlib.sha256()
        for array in (self.user_counts_, self.item_counts_, self.user_ids_, self.item_ids_):
            digest.update(np.ascontiguousarray(array).tobytes())
        digest.update(f"{len(ratings)}:{ratings.rating_sum!r}".encode())
        self.data_fingerprint_ = digest.hexdigest()[:16]
        summary = getattr(RatingMap, "from_summary", None)  # the map of the ratings' summary
        if summary is not None:
            self.rating_map_ = summary(ratings.rating_scale, ratings.global_mean,
                                       ratings.rating_std)
        else:
            self.rating_map_ = dataclasses.replace(RatingMap.of(stub),
                                                   center=ratings.global_mean)

    def _fit(self, ratings: Ratings, validation: Ratings | None,
             progress: FitProgress) -> None:
        engine = _current_engine()
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


def _current_engine() -> "SparkEngine":
    if not _ENGINES:
        raise RecsysError("SparkMatrixFactorization fits inside a SparkEngine: "
                          "with SparkEngine(master) as engine: engine.fit(model, ratings)")
    return _ENGINES[-1]


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

    @property
    def session(self) -> Any:
        """A SparkSession on the context (inside ``with``)."""
        context = self.context
        from pyspark.sql import SparkSession

        session = SparkSession.builder.getOrCreate()
        if session.sparkContext is not context:  # pragma: no cover - one context a process
            raise RecsysError("internal: the Spark session is not on the engine's context")
        return session

    def read(self, path: Any, file_format: dict[str, Any] | None = None) -> FrameRatings:
        """Ratings from a Parquet file or folder, or a delimited file, read, checked and
        encoded by Spark (:func:`~recsys.engines.spark.frames.read_frame`): the ratings stay
        in Spark; fit them with :meth:`fit`. ``file_format``: ``sep``, ``header`` and
        ``rating_scale``, as ``recsys.load`` takes them.

        Raises
        ------
        RecsysError
            Data Spark does not read (a release folder, the bundled set: use
            ``recsys.load``), or a problem in the data (one line).
        """
        fmt = frame_format(str(path), file_format)
        if fmt is None:
            raise RecsysError(f"{path}: Spark reads Parquet and delimited (CSV) ratings files; "
                              "read this one with recsys.load and fit the Ratings")
        return read_frame(self.session, fmt)

    @staticmethod
    def wrap(model: Any) -> SparkMatrixFactorization:
        """The Spark version of a :class:`MatrixFactorization` (same settings)."""
        if isinstance(model, SparkMatrixFactorization):
            return model
        if type(model) is not MatrixFactorization:
            raise RecsysError(f"the spark engine fits matrix factorisation (--model mf) only, "
                              f"not {type(model).__name__}")
        return SparkMatrixFactorization(**model.get_params())

    def fit(self, model: Any, ratings: Ratings | FrameRatings, validation: Any = None,
            callback: EpochCallback | None = None, *,
            should_stop: StopCheck | None = None) -> MatrixFactorization:
        """Fit a copy of ``model`` (a :class:`MatrixFactorization`) by DSGD; returns it as a
        plain fitted ``MatrixFactorization`` (arguments as :meth:`Estimator.fit`)."""
        if self._start is None:
            raise RecsysError("the SparkEngine is not started: use it in a with statement")
        spark_model = self.wrap(model)
        spark_model.fit(ratings, validation, callback, should_stop=should_stop)
        return spark_model.as_local()
