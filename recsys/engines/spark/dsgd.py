r"""Distributed stratified SGD (Gemulla, Nijkamp, Haas and Sismanis, KDD 2011) on Spark RDDs.

The driver loop of :class:`~recsys.engines.spark.model.SparkMatrixFactorization`: the same
model, settings, initialisation, step-size schedule, per-epoch training RMSE, validation,
early stopping and divergence guard as
:class:`~recsys.models.mf.MatrixFactorization`'s local epochs, with the epochs cut into
strata (:mod:`recsys.engines.spark.grid`) that run as Spark tasks
(:mod:`recsys.engines.spark.tasks`).

Data layout (``B`` partitions, record keys are user blocks, one partitioner throughout):

* ``strata[s]``: the ratings cells of stratum ``s``, cell ``(a, (a + s) mod B)`` in partition
  ``a``; cached for the whole fit, so a stratum's tasks read only their own cells;
* ``state``: user block ``a`` in partition ``a`` and the ``B`` item blocks, each in the
  partition that last trained it (item biases travel with the item factors, user biases stay
  with the user factors), and the last tasks' stats.

Sub-epoch (stratum) ``s``: the item blocks are re-keyed to the partition that trains them,
``a = (b - s) mod B``, and shuffled there (the only data that moves: ``n_items x k`` floats);
the result is unioned with ``strata[s]`` and the state, which share the partitioner and so
stay where they are; each of the ``B`` tasks trains its cell and returns the new state. The
new state is cached and locally checkpointed (lineage cut), and the driver collects only the
tasks' squared errors. The factors reach the driver once, at the end of the fit.

The strata run in a random order each epoch (drawn from the fit's generator); the order of
the ratings inside a cell (the local engine's within-block order, ratings grouped by user as
:func:`~recsys.models._sgd.block_partition` leaves them) is seeded per (cell, epoch), so a
fit is repeatable for a seed and ``B``, and a task that fails and is retried gives the
identical model.

:func:`fit_dsgd` fits ratings the driver holds (any data ``recsys`` reads): it encodes the
ids, builds the grid and sends the cells out once. Ratings that Spark reads itself (Parquet,
CSV) never reach the driver: :mod:`recsys.engines.spark.frame_dsgd` builds their cells in
Spark and then runs the same epochs (:func:`fit_on_grid`).
"""

from __future__ import annotations

import functools
import math
import re
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from recsys.data.ratings import Ratings
from recsys.engines.spark import tasks
from recsys.engines.spark.grid import Grid, cell_arrays, cell_seed, make_grid
from recsys.errors import RecsysError
from recsys.models._blocks import PREFETCH_MIN_BYTES
from recsys.models.progress import FitProgress

if TYPE_CHECKING:  # pragma: no cover
    from recsys.models.mf import MatrixFactorization

__all__ = ["fit_dsgd", "fit_on_grid", "start_factors", "grid_size", "Layout", "collect"]


def _job_error(exc: Exception) -> RecsysError:
    """A failed Spark job as one line: the Python error the task raised, when there is one."""
    text = str(exc)
    found = re.findall(r"^\s*(\w+(?:Error|Exception): .+)$", text, flags=re.MULTILINE)
    reason = (found[-1] if found else " ".join(text.split())[:300]).strip()
    hint = ("; install recsys on every Spark worker" if "No module named 'recsys" in reason
            else "")
    return RecsysError(f"a Spark task of the DSGD fit failed ({reason[:300]}){hint}")


def collect(rdd: Any) -> list:
    """``rdd.collect()``, a failed job as one :class:`RecsysError` line."""
    try:
        return rdd.collect()
    except RecsysError:
        raise
    except Exception as exc:  # Py4J / PythonException from the job
        raise _job_error(exc) from None


class Layout:
    """The RDDs of one fit and the operations on them (see the module docstring)."""

    def __init__(self, context: Any, n_blocks: int) -> None:
        from pyspark import StorageLevel

        self.context = context
        self.B = n_blocks
        self.level = StorageLevel.MEMORY_AND_DISK
        self.cached: list[Any] = []

    def keyed(self, records: list) -> Any:
        """Records ``(partition, value)`` as an RDD partitioned by key, cached."""
        rdd = self.context.parallelize(records, self.B).partitionBy(self.B, tasks.user_key)
        rdd.persist(self.level)
        self.cached.append(rdd)
        return rdd

    def strata(self, cells: dict, seed: int | None) -> list[Any]:
        """One cached RDD per stratum: cell ``(a, (a + s) mod B)`` in partition ``a``."""
        B = self.B
        out = []
        for s in range(B):
            records = []
            for a in range(B):
                b = (a + s) % B
                u, i, r = cells[(a, b)]
                cs = cell_seed(seed, a, b, B) if seed is not None else 0
                records.append((a, ("r", b, cs, u, i, r)))
            out.append(self.keyed(records))
        return out

    def meet(self, state: Any, cells: Any, shift: int) -> Any:
        """``cells`` with ``state`` and its item blocks moved to the partitions of stratum
        ``shift`` (tagged ``"m"``), co-partitioned: only the item blocks shuffle, and the
        cached cells and state are read where they are."""
        items = (state.mapPartitions(functools.partial(tasks.moved, shift=shift,
                                                       n_blocks=self.B))
                 .partitionBy(self.B, tasks.user_key))
        joined = cells.union(state).union(items)
        if joined.getNumPartitions() != self.B:  # the union kept the partitioner
            raise RecsysError("internal: the DSGD blocks lost their partitioning")
        return joined

    def train(self, state: Any, cells: Any, shift: int, settings: tuple) -> Any:
        """One stratum, lazily: the new state (to be cached and locally checkpointed, which
        cuts its lineage, when the epoch's job computes it)."""
        new = self.meet(state, cells, shift).mapPartitionsWithIndex(
            functools.partial(tasks.train_partition, settings=settings),
            preservesPartitioning=True)
        new.persist(self.level)
        new.localCheckpoint()
        self.cached.append(new)
        return new

    def score(self, state: Any, valid_strata: list[Any], settings: tuple) -> list[Any]:
        """Lazily, the validation tasks' stats records (``"v"``) for ``state``."""
        return [self.meet(state, cells, s).mapPartitionsWithIndex(
            functools.partial(tasks.score_partition, settings=settings),
            preservesPartitioning=True).values() for s, cells in enumerate(valid_strata)]

    def run(self, state: Any, extra: list[Any]) -> list:
        """One Spark job for an epoch: computes its strata's states, each once, and returns
        every stats record (training ``"s"``, all in the last ``state``; validation ``"v"``
        from ``extra``)."""
        stats = state.filter(functools.partial(tasks.is_tag, tag="s")).values()
        return collect(self.context.union([stats] + extra) if extra else stats)

    def release(self, rdd: Any) -> None:
        rdd.unpersist(blocking=False)

    def release_all(self) -> None:
        for rdd in self.cached:
            try:
                rdd.unpersist(blocking=False)
            except Exception:  # the context may be gone already (Ctrl-C)
                pass
        self.cached.clear()


def _gather_state(rows: list, grid: Grid, n_users: int, n_items: int, k: int
                  ) -> tuple[np.ndarray, ...]:
    """The collected state records as full ``P, Q, b_u, b_i`` in global row order."""
    P = np.zeros((n_users, k), dtype=np.float32)
    Q = np.zeros((n_items, k), dtype=np.float32)
    bu = np.zeros(n_users, dtype=np.float32)
    bi = np.zeros(n_items, dtype=np.float32)
    for key, value in rows:
        if value[0] == "u":
            rows_of = grid.user_members[key]
            P[rows_of], bu[rows_of] = value[1], value[2]
        elif value[0] == "i":
            rows_of = grid.item_members[value[1]]
            Q[rows_of], bi[rows_of] = value[2], value[3]
    return P, Q, bu, bi


def grid_size(n_blocks: int) -> int:
    """``B``, checked."""
    B = int(n_blocks)
    if B < 1:
        raise RecsysError(f"the DSGD grid needs at least 1 block, got {n_blocks}")
    return B


def start_factors(model: "MatrixFactorization", rng: np.random.Generator, n_users: int,
                  n_items: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The initial ``P``, ``Q`` and the shuffling seed, drawn from ``rng`` in the local
    engine's order."""
    k, f32 = int(model.n_factors), np.float32
    P = rng.standard_normal((n_users, k), dtype=f32)
    Q = rng.standard_normal((n_items, k), dtype=f32)
    P *= f32(model.init_std)
    Q *= f32(model.init_std)
    return P, Q, int(rng.integers(0, 2**63 - 1))


def fit_dsgd(model: "MatrixFactorization", context: Any, ratings: Ratings,
             validation: Ratings | None, progress: FitProgress, n_blocks: int,
             fail_once_file: str | None = None) -> None:
    """Fit ``model`` (its settings; model units, as ``Estimator.fit`` hands them to ``_fit``)
    by DSGD on ``context`` with a ``n_blocks x n_blocks`` grid; sets the same learned
    attributes as :meth:`MatrixFactorization._fit <recsys.models.mf.MatrixFactorization>`.

    The generator is drawn in the local engine's order (validation carve, ``P``, ``Q``, the
    shuffling seed, then the blocks), so both engines start from the same factors.
    ``fail_once_file`` is for tests: the first task that finds this file removes it and
    fails (Spark retries it when ``spark.task.maxFailures`` allows).
    """
    B = grid_size(n_blocks)
    rng = np.random.default_rng(model.random_state)
    patience = int(model.patience or 0)
    n_users, n_items = ratings.n_users, ratings.n_items
    train = ratings
    if patience and validation is None:  # the local engine's carve, drawn the same way
        carve = rng.random(len(ratings)) < float(model.valid_size)
        if carve.all() or not carve.any():
            raise RecsysError(
                f"valid_size={model.valid_size} leaves no training or no validation ratings "
                f"out of {len(ratings)}: change valid_size or pass a validation set")
        train, validation = ratings.subset(~carve), ratings.subset(carve)
    model.mu_ = float(train.global_mean) if bool(model.biased) else 0.0
    P, Q, seed = start_factors(model, rng, n_users, n_items)
    grid = make_grid(np.bincount(train.users, minlength=n_users),
                     np.bincount(train.items, minlength=n_items), B, rng)

    def build(layout: Layout) -> tuple[list, list | None]:
        strata = layout.strata(cell_arrays(grid, train.users, train.items, train.ratings), seed)
        if validation is None:
            return strata, None
        known = cell_arrays(grid, validation.users, validation.items, validation.ratings,
                            model.user_counts_ > 0, model.item_counts_ > 0)
        return strata, layout.strata(known, None)

    fit_on_grid(model, context, grid, P, Q, build, rng, len(train), ratings.rating_scale,
                progress, fail_once_file)


def fit_on_grid(model: "MatrixFactorization", context: Any, grid: Grid, P: np.ndarray,
                Q: np.ndarray, build: Callable[[Layout], tuple[list, list | None]],
                rng: np.random.Generator, n_train: int, scale: tuple[float, float],
                progress: FitProgress, fail_once_file: str | None) -> None:
    """The DSGD epochs on ``grid`` from the factors ``P``, ``Q``: ``build(layout)`` returns
    the training strata RDDs and the validation strata (or None); ``n_train`` ratings are
    trained, ``scale`` is the rating scale in model units. Sets the learned factors."""
    B, k, f32 = grid.n_blocks, int(model.n_factors), np.float32
    n_users, n_items = len(grid.user_block), len(grid.item_block)
    layout = Layout(context, B)
    try:
        strata, valid_strata = build(layout)
        zeros = np.zeros
        state = layout.keyed(
            [(a, ("u", P[grid.user_members[a]], zeros(len(grid.user_members[a]), f32)))
             for a in range(B)]
            + [(b, ("i", b, Q[grid.item_members[b]], zeros(len(grid.item_members[b]), f32)))
               for b in range(B)])
        final = _epochs(model, layout, strata, valid_strata, state, rng, n_train, scale,
                        progress, fail_once_file)
        rows = collect(final.filter(lambda rec: rec[1][0] != "s"))
    finally:
        layout.release_all()
    P, Q, bu, bi = _gather_state(rows, grid, n_users, n_items, k)
    model.user_factors_, model.item_factors_ = P, Q
    model.user_bias_, model.item_bias_ = bu, bi


def _epochs(model: "MatrixFactorization", layout: Layout, strata: list,
            valid_strata: list | None, state: Any, rng: np.random.Generator, n_train: int,
            scale: tuple[float, float], progress: FitProgress,
            fail_once_file: str | None) -> Any:
    """The epochs (the local engine's loop, strata instead of blocks); returns the state
    RDD to keep (the best epoch's with early stopping, else the last)."""
    f32, biased = np.float32, bool(model.biased)
    k, B = int(model.n_factors), layout.B
    patience = int(model.patience or 0)
    low, high = scale
    scale_range = max(high - low, 1.0)
    history: dict[str, list[float]] = {"train_rmse": []}
    if valid_strata is not None:
        history["valid_rmse"] = []
    model.history_ = history
    lr_b0 = model.lr if model.lr_bias is None else model.lr_bias
    best: tuple[float, int, Any] = (math.inf, -1, None)
    first_rmse = math.inf
    n_run = 0
    lo_m, hi_m = model.model_scale_
    score_settings = (f32(model.mu_), biased, float(model.model_mean_), float(lo_m),
                      float(hi_m))
    for epoch in range(int(model.n_epochs)):
        step = 1.0 / (1.0 + float(model.lr_decay) * epoch)
        settings = (k, f32(model.mu_), f32(model.lr * step), f32(lr_b0 * step), f32(model.reg),
                    f32(model.reg_bias), biased, epoch, PREFETCH_MIN_BYTES, fail_once_file)
        previous, news = state, []
        for shift in rng.permutation(B):
            state = layout.train(state, strata[int(shift)], int(shift), settings)
            news.append(state)
        scoring = [] if valid_strata is None else layout.score(state, valid_strata,
                                                                  score_settings)
        stats = sorted(layout.run(state, scoring))
        for old in [previous] + news[:-1]:  # the strata's states, computed and cached
            if old is not best[2]:
                layout.release(old)
        train_stats = [st for st in stats if st[0] == "s"]
        if len(train_stats) != B * B:
            raise RecsysError(f"internal: the DSGD epoch reported {len(train_stats)} of "
                              f"{B * B} cells")
        sse = math.fsum(st[3] for st in train_stats)
        finite = all(st[5] for st in train_stats) and math.isfinite(sse)
        n_run = epoch + 1
        train_rmse = math.sqrt(sse / n_train) if finite else math.inf
        first_rmse = train_rmse if epoch == 0 else first_rmse
        history["train_rmse"].append(model.in_rating_units(train_rmse))
        model._check_divergence(epoch, first_rmse, train_rmse if finite else math.nan,
                                scale_range, (), False)
        if valid_strata is not None:
            valid_stats = [st for st in stats if st[0] == "v"]
            v_sse, v_n = math.fsum(st[3] for st in valid_stats), sum(st[4] for st in valid_stats)
            valid_rmse = math.sqrt(v_sse / max(v_n, 1))
            history["valid_rmse"].append(model.in_rating_units(valid_rmse))
            if valid_rmse < best[0] - 1e-6:
                replaced = best[2]
                best = (valid_rmse, epoch, state if patience else None)
                if replaced is not None and replaced is not state:
                    layout.release(replaced)
        progress.epoch_done(epoch, history)
        if patience and epoch - best[1] >= patience:
            break
    model.n_epochs_ = n_run
    model.best_epoch_ = n_run - 1
    if patience and best[2] is not None:
        model.best_epoch_ = best[1]
        return best[2]
    return state
