r"""DSGD on ratings that stay in Spark (:class:`~recsys.engines.spark.frames.FrameRatings`).

The same fit as :func:`recsys.engines.spark.dsgd.fit_dsgd` (same generator order for the
factors, the seed and the grid; same strata, epochs, validation, early stopping; the same
learned attributes), with the cells built by Spark (:mod:`recsys.engines.spark.frame_cells`)
from the per-user and per-item counts the driver holds: the grid is balanced on them, its
block and local row of every user and item are broadcast, and the ratings are cut and
shuffled into the ``B x B`` cells on the workers.

The driver receives, per training cell, its size, the sum of its ratings in model units (for
``mu``) and its (user, item) pairs: the model file keeps each user's rated items
(``seen_items_``, 4 bytes a rating), so those pairs, and only they, come to the driver, once.

Early stopping without a validation part carves one in Spark
(:meth:`FrameRatings.carve <recsys.engines.spark.frames.FrameRatings.carve>`, seeded by
``random_state``) rather than drawing it from the fit's generator as the local engine does:
for the same data and settings the factors start the same, but the held-out ratings differ.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from recsys.engines.spark import frame_cells, tasks
from recsys.engines.spark.dsgd import Layout, collect, fit_on_grid, grid_size, start_factors
from recsys.engines.spark.frames import map_in_arrow
from recsys.engines.spark.grid import Grid, make_grid
from recsys.errors import RecsysError
from recsys.models._bookkeeping import seen_items
from recsys.models.progress import FitProgress

if TYPE_CHECKING:  # pragma: no cover
    from recsys.engines.spark.frames import FrameRatings
    from recsys.models.mf import MatrixFactorization

__all__ = ["fit_dsgd_frame"]


def _cells(layout: Layout, part: "FrameRatings", grid: Grid, center: float, spread: float,
           broadcasts: list, user_known: np.ndarray | None = None,
           item_known: np.ndarray | None = None) -> Any:
    """The cells of ``part`` as a cached RDD ``(g, cell)`` with one cell per partition."""
    context, B = layout.context, layout.B
    user_local, item_local = grid.user_local, grid.item_local
    if user_known is not None:
        user_local = np.where(user_known, user_local, -1)
    if item_known is not None:
        item_local = np.where(item_known, item_local, -1)
    blocks = context.broadcast((B, grid.user_block.astype(np.int32),
                                grid.item_block.astype(np.int32)))
    tables = context.broadcast((user_local.astype(np.int32), item_local.astype(np.int32),
                                float(center), float(spread)))
    broadcasts += [blocks, tables]
    cells = (map_in_arrow(part.rows(), functools.partial(frame_cells.cut_batches, grid=blocks),
                          frame_cells.CELL_SCHEMA)
             .rdd.map(frame_cells.cell_key)
             .groupByKey(B * B, tasks.user_key)
             .mapValues(functools.partial(frame_cells.assemble, tables=tables)))
    cells.persist(layout.level)
    layout.cached.append(cells)
    return cells


def _strata(layout: Layout, cells: Any, seed: int | None) -> list[Any]:
    """One cached RDD per stratum from the cells, laid out as
    :meth:`Layout.strata <recsys.engines.spark.dsgd.Layout.strata>` lays them out."""
    out = []
    for s in range(layout.B):
        rdd = (cells.filter(functools.partial(frame_cells.in_stratum, stratum=s,
                                              n_blocks=layout.B))
               .map(functools.partial(frame_cells.to_record, n_blocks=layout.B, seed=seed))
               .partitionBy(layout.B, tasks.user_key))
        rdd.persist(layout.level)
        layout.cached.append(rdd)
        out.append(rdd)
    return out


def _pairs(stats: list) -> tuple[np.ndarray, np.ndarray]:
    users = [np.frombuffer(st[3], dtype=np.int32) for st in stats]
    items = [np.frombuffer(st[4], dtype=np.int32) for st in stats]
    empty = np.zeros(0, dtype=np.int32)
    return (np.concatenate(users) if users else empty,
            np.concatenate(items) if items else empty)


def fit_dsgd_frame(model: "MatrixFactorization", context: Any, ratings: "FrameRatings",
                   validation: "FrameRatings | None", progress: FitProgress, n_blocks: int,
                   fail_once_file: str | None = None) -> None:
    """Fit ``model`` by DSGD on ratings held in Spark (see the module docstring).

    ``model`` must already hold what ``Estimator.fit`` records of ``ratings`` (id maps,
    counts, ``rating_map_``): ratings are mapped to model units on the workers. Sets the
    learned factors and biases, ``mu_``, and each user's rated items (``seen_indptr_``,
    ``seen_items_``).
    """
    B = grid_size(n_blocks)
    rng = np.random.default_rng(model.random_state)
    train, carved = ratings, False
    if int(model.patience or 0) and validation is None:
        train, validation = ratings.carve(float(model.valid_size), model.random_state)
        carved = True
    n_users, n_items = ratings.n_users, ratings.n_items
    P, Q, seed = start_factors(model, rng, n_users, n_items)
    grid = make_grid(train.user_counts, train.item_counts, B, rng)
    center, spread = model.rating_map_.center, model.rating_map_.spread
    broadcasts: list = []

    def build(layout: Layout) -> tuple[list, list | None]:
        cells = _cells(layout, train, grid, center, spread, broadcasts)
        stats = collect(cells.map(frame_cells.summary))
        n = sum(st[1] for st in stats)
        if n != len(train):
            raise RecsysError(f"internal: the DSGD cells hold {n} of {len(train)} ratings")
        model.mu_ = math.fsum(st[2] for st in stats) / n if model.biased else 0.0
        users, items = _pairs(stats)
        valid_strata = None
        if validation is not None:
            known = _cells(layout, validation, grid, center, spread, broadcasts,
                           model.user_counts_ > 0, model.item_counts_ > 0)
            if carved:  # the model's rated items include the carve's
                more = _pairs(collect(known.map(frame_cells.summary)))
                users, items = np.concatenate([users, more[0]]), np.concatenate([items, more[1]])
            valid_strata = _strata(layout, known, None)
        _set_seen(model, users, items, n_users, n_items)
        return _strata(layout, cells, seed), valid_strata

    try:
        fit_on_grid(model, context, grid, P, Q, build, rng, len(train), model.model_scale_,
                    progress, fail_once_file)
    finally:
        for value in broadcasts:
            try:
                value.unpersist()
            except Exception:  # the context may be gone already (Ctrl-C)
                pass


def _set_seen(model: "MatrixFactorization", users: np.ndarray, items: np.ndarray,
              n_users: int, n_items: int) -> None:
    """Each user's rated items, as ``Estimator.fit`` records them; they must agree with the
    counts Spark reported."""
    indptr, seen = seen_items(users, items, n_users, n_items)
    if not np.array_equal(np.diff(indptr), model.user_counts_):
        raise RecsysError("internal: the ratings Spark read changed during the fit (the "
                          "users' counts differ); do not change the input while fitting")
    model.seen_indptr_, model.seen_items_ = indptr, seen
