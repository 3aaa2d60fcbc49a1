r"""What a Spark task runs: one cell of the DSGD grid, on a worker (numpy and numba only).

The RDDs of :mod:`recsys.engines.spark.dsgd` hold records ``(a, value)`` keyed by the
partition (user block) ``a`` they live in; ``value`` is a tagged tuple:

* ``("r", b, seed, users, items, values)``: the ratings of cell ``(a, b)`` (local rows);
* ``("u", P_a, bu_a)``: user block ``a``'s factors and biases;
* ``("i", b, Q_b, bi_b)``: item block ``b``'s factors and biases, in the partition that last
  trained it; ``("m", b, Q_b, bi_b)``: the same block moved to the partition that trains it
  next (:func:`moved`);
* ``("s", a, b, sse, n, finite, epoch)``: what a training task reports (squared errors,
  count, whether every parameter it holds is finite); a task passes on the ones of the same
  epoch it finds, so the epoch's last state holds all ``B x B``; ``("v", ...)`` alike from a
  validation task.

A training task takes its partition's ratings cell, user block and moved item block (and
skips the other records of the state it is given), runs the local engine's kernel on them
(:func:`recsys.models._sgd.epoch_kernel`: the cell's ratings in the local engine's order
within a block, random by a seed fixed per cell and epoch, one SGD step per rating,

.. math::
    e = z - (\mu + b_u + b_i + p_u \cdot q_i),\quad
    b_u \mathrel{+}= \eta_b (e - \lambda_b b_u),\quad b_i \mathrel{+}= \eta_b (e - \lambda_b b_i),

    p_u \mathrel{+}= \eta (e q_i - \lambda p_u),\quad q_i \mathrel{+}= \eta (e p_u - \lambda q_i)

), and returns the updated blocks. Its inputs are never changed in place (a retried task must
see what the first attempt saw), so it copies what it updates; a task is a pure function of
its inputs, and a retry gives the same blocks bit for bit.
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["train_partition", "score_partition", "moved", "is_tag",
           "user_key"]

Record = tuple[int, tuple]


def _gather(records: Iterable[Record], epoch: int = -1) -> tuple[Any, Any, Any, list]:
    """A partition's cell, user block, moved item block, and the stats records of ``epoch``
    that earlier strata left in the state (passed on, so the epoch's last state holds them
    all)."""
    cell = user = item = None
    stats = []
    for _, value in records:
        tag = value[0]
        if tag == "r":
            cell = value
        elif tag == "u":
            user = value
        elif tag == "m":
            item = value
        elif tag == "s" and value[6] == epoch:
            stats.append(value)
    return cell, user, item, stats


def _fail_once(path: str | None) -> None:
    """The fault a test injects: the first task to find ``path`` removes it and fails."""
    if not path:
        return
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    raise RuntimeError(f"injected task failure ({path})")


def train_partition(index: int, records: Iterable[Record], settings: tuple
                    ) -> Iterator[Record]:
    """Train partition ``index``'s cell; yield its user block, the visiting item block and a
    stats record (all keyed by ``index``). ``settings``: ``(k, mu, lr, lr_b, reg, reg_b,
    biased, epoch, prefetch_bytes, fault_file)``, the scalars float32 as the kernel wants."""
    k, mu, lr, lr_b, reg, reg_b, biased, epoch, prefetch_bytes, fault_file = settings
    cell, user, item, stats = _gather(records, epoch)
    if user is None or item is None:
        raise RuntimeError(f"DSGD partition {index} lacks its user or item block")
    _fail_once(fault_file)
    P, bu = user[1].copy(), user[2].copy()
    b, Q, bi = item[1], item[2].copy(), item[3].copy()
    sse = np.zeros(1)
    n = 0
    if cell is not None and len(cell[5]) > 0:
        if cell[1] != b:
            raise RuntimeError(f"DSGD partition {index}: cell ({index}, {cell[1]}) met item "
                               f"block {b}")
        from recsys.models._sgd import epoch_kernel  # numba: only on the workers

        users, items, values = cell[3].copy(), cell[4].copy(), cell[5].copy()
        n = len(values)
        prefetch = (len(P) + len(Q)) * k * 4 > prefetch_bytes
        epoch_kernel(k)(users, items, values, np.array([0, n], dtype=np.int64),
                        np.zeros(1, dtype=np.int64), mu, bu, bi, P, Q, lr, lr_b, reg, reg_b,
                        biased, cell[2], epoch, prefetch, sse)
    finite = all(math.isfinite(float(a.sum())) for a in (P, Q, bu, bi))
    yield index, ("u", P, bu)
    yield index, ("i", b, Q, bi)
    for value in stats:
        yield index, value
    yield index, ("s", index, b, float(sse[0]), n, finite, epoch)


def score_partition(index: int, records: Iterable[Record], settings: tuple
                    ) -> Iterator[Record]:
    """The squared error of clipped predictions on partition ``index``'s validation cell
    (the local engine's :func:`~recsys.models._sgd.squared_error_clipped`; a local row of
    ``-1`` falls back to the biases / mean). ``settings``: ``(mu, biased, fallback, low,
    high)``. Yields one stats record, tagged ``"v"``."""
    mu, biased, fallback, low, high = settings
    cell, user, item, _ = _gather(records)
    if cell is None or len(cell[5]) == 0:
        return
    from recsys.models._sgd import squared_error_clipped

    P, bu = user[1], user[2]
    b, Q, bi = item[1], item[2], item[3]
    sse = squared_error_clipped(cell[3], cell[4], cell[5], mu, bu, bi, P, Q, biased, fallback,
                                low, high)
    yield index, ("v", index, b, float(sse), len(cell[5]), True, -1)


def moved(records: Iterable[Record], shift: int, n_blocks: int) -> Iterator[Record]:
    """The item block records among ``records``, tagged ``"m"`` and keyed by the partition
    that trains them in stratum ``shift``: item block ``b`` meets user block
    ``a = (b - shift) mod B``."""
    for _, value in records:
        if value[0] == "i":
            yield (value[1] - shift) % n_blocks, ("m",) + value[1:]


def is_tag(record: Record, tag: str) -> bool:
    """Whether a record's value carries ``tag``."""
    return record[1][0] == tag


def user_key(key: int) -> int:
    """The partition of a record: its key, a block number below ``B``."""
    return key
