r"""The DSGD grid's cells built from a Spark DataFrame by Spark's own partitioning.

For ratings that stay in Spark (:mod:`recsys.engines.spark.frames`), what
:func:`~recsys.engines.spark.grid.cell_arrays` does on the driver is done by the workers:

1. each Arrow batch of ``u, i, r, o`` (global indices, rating, place in the file) is cut by
   cell ``g = a * B + b`` (the user's block ``a`` and the item's block ``b``, looked up in the
   broadcast grid), one record ``(g, bytes...)`` per cell present in the batch
   (:func:`cut_batches`);
2. the records are shuffled by ``g`` into ``B x B`` partitions, one cell each, and
   concatenated there (:func:`assemble`): ordered as the local engine orders a grid block
   (by user, a user's ratings in file order: :func:`~recsys.models._sgd.block_partition`),
   with local rows (``-1`` for a user or item the model does not know, in a validation
   cell) and the ratings in model units, ``z = (r - c) / s`` in float32 as
   :meth:`RatingMap.apply <recsys.models.scaling.RatingMap.apply>` computes them;
3. the cells go to the strata RDDs of :mod:`recsys.engines.spark.dsgd` (:func:`to_record`).

The driver collects per cell only its size, the sum of its ``z`` and the (user, item) pairs
the model file keeps as each user's rated items (:func:`summary`).

Plain numpy and pyarrow: these run on the workers.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from recsys.engines.spark.grid import cell_seed

__all__ = ["CELL_SCHEMA", "cut_batches", "assemble", "summary", "in_stratum", "to_record",
           "cell_key"]

CELL_SCHEMA = "g int, u binary, i binary, r binary, o binary"
"""The Spark schema of :func:`cut_batches`'s output."""


def cut_batches(batches: Iterator[Any], grid: Any) -> Iterator[Any]:
    """Arrow batches of ``u, i, r, o`` as one row per cell present: ``g`` and the cell's
    ``u`` (int32), ``i`` (int32), ``r`` (float32) and ``o`` (int64) as bytes. ``grid``: a
    broadcast ``(B, user_block, item_block)``."""
    import pyarrow as pa

    B, user_block, item_block = grid.value
    for batch in batches:
        if batch.num_rows == 0:
            continue
        u = batch.column("u").to_numpy().astype(np.int32, copy=False)
        i = batch.column("i").to_numpy().astype(np.int32, copy=False)
        r = batch.column("r").to_numpy().astype(np.float32, copy=False)
        o = batch.column("o").to_numpy().astype(np.int64, copy=False)
        g = user_block[u].astype(np.int64) * B + item_block[i]
        order = np.argsort(g, kind="stable")
        g = g[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ends = np.r_[starts[1:], len(g)]
        cells, parts = [], {"u": [], "i": [], "r": [], "o": []}
        for lo, hi in zip(starts, ends):
            rows = order[lo:hi]
            cells.append(int(g[lo]))
            for name, values in (("u", u), ("i", i), ("r", r), ("o", o)):
                parts[name].append(values[rows].tobytes())
        yield pa.RecordBatch.from_arrays(
            [pa.array(cells, type=pa.int32())]
            + [pa.array(parts[name], type=pa.binary()) for name in ("u", "i", "r", "o")],
            names=["g", "u", "i", "r", "o"])


def cell_key(row: Any) -> tuple[int, tuple]:
    """A row of :func:`cut_batches` as ``(g, (u, i, r, o))``."""
    return int(row[0]), (row[1], row[2], row[3], row[4])


def assemble(pieces: Iterable[tuple], tables: Any) -> tuple[np.ndarray, ...]:
    """One cell from its pieces: ``(local users, local items, z, users, items)``, in the
    local engine's order inside a block. ``tables``: a broadcast ``(user_local, item_local,
    center, spread)``, the local rows ``-1`` for unknown users / items."""
    user_local, item_local, center, spread = tables.value
    pieces = list(pieces)
    u = np.concatenate([np.frombuffer(p[0], dtype=np.int32) for p in pieces])
    i = np.concatenate([np.frombuffer(p[1], dtype=np.int32) for p in pieces])
    r = np.concatenate([np.frombuffer(p[2], dtype=np.float32) for p in pieces])
    o = np.concatenate([np.frombuffer(p[3], dtype=np.int64) for p in pieces])
    order = np.lexsort((o, u))  # by user, then in file order
    u, i, r = u[order], i[order], r[order]
    z = ((r.astype(np.float64) - center) / spread).astype(np.float32)
    return (user_local[u].astype(np.int32), item_local[i].astype(np.int32), z, u, i)


def summary(cell: tuple[int, tuple]) -> tuple[int, int, float, bytes, bytes]:
    """What the driver collects of a training cell: ``g``, its size, the sum of its ``z``
    (float64) and its (user, item) pairs as int32 bytes."""
    g, (_, _, z, u, i) = cell
    return g, len(z), float(z.sum(dtype=np.float64)), u.tobytes(), i.tobytes()


def in_stratum(cell: tuple[int, tuple], stratum: int, n_blocks: int) -> bool:
    """Whether cell ``g = a * B + b`` is in stratum ``(b - a) mod B``."""
    a, b = divmod(cell[0], n_blocks)
    return (b - a) % n_blocks == stratum


def to_record(cell: tuple[int, tuple], n_blocks: int, seed: int | None) -> tuple[int, tuple]:
    """A cell as the strata record of :mod:`recsys.engines.spark.tasks`:
    ``(a, ("r", b, cell seed, local users, local items, z))``."""
    g, (ul, il, z, _, _) = cell
    a, b = divmod(g, n_blocks)
    cs = cell_seed(seed, a, b, n_blocks) if seed is not None else 0
    return a, ("r", b, cs, ul, il, z)
