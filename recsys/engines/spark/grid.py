r"""The DSGD grid: users and items cut into ``B`` blocks each, ratings into ``B x B`` cells.

Plain numpy, no Spark: the driver builds the grid once per fit, and the workers receive its
pieces. A user's rows live in its user block ``a``, as row ``local[u]`` of that block's
factor matrix ``P_a``; an item's in item block ``b`` alike. Cell ``(a, b)`` holds the ratings
of block ``a``'s users for block ``b``'s items, with local row numbers, so a task trains it on
``P_a`` and ``Q_b`` alone.

Stratum ``s`` is the set of cells ``(a, (a + s) mod B)``, ``a = 0 .. B-1``: they share no user
block and no item block, so their ``B`` tasks run at once without touching the same rows
(Gemulla et al., KDD 2011). An epoch runs the ``B`` strata one after the other, which visits
every cell once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.models._blocks import balanced_blocks
from recsys.models._sgd import block_partition

__all__ = ["Grid", "make_grid", "cell_arrays", "cell_seed", "stratum_of"]


@dataclass
class Grid:
    """Blocks of users and items.

    Attributes
    ----------
    n_blocks : int
        ``B``.
    user_block, item_block : ndarray of int64
        The block of each user / item.
    user_local, item_local : ndarray of int32
        Each user's / item's row in its block.
    user_members, item_members : list of ndarray of int64
        The users / items of each block, by local row.
    """

    n_blocks: int
    user_block: np.ndarray
    item_block: np.ndarray
    user_local: np.ndarray
    item_local: np.ndarray
    user_members: list[np.ndarray]
    item_members: list[np.ndarray]


def _members(blocks: np.ndarray, n_blocks: int) -> tuple[np.ndarray, list[np.ndarray]]:
    local = np.empty(len(blocks), dtype=np.int32)
    members = []
    for b in range(n_blocks):
        rows = np.flatnonzero(blocks == b)
        local[rows] = np.arange(len(rows), dtype=np.int32)
        members.append(rows)
    return local, members


def make_grid(user_counts: np.ndarray, item_counts: np.ndarray, n_blocks: int,
              rng: np.random.Generator) -> Grid:
    """Users and items assigned to ``n_blocks`` blocks at random with about equal numbers of
    training ratings each (the local engine's :func:`~recsys.models._blocks.balanced_blocks`),
    users first, then items, from ``rng``."""
    user_block = balanced_blocks(np.asarray(user_counts), n_blocks, rng)
    item_block = balanced_blocks(np.asarray(item_counts), n_blocks, rng)
    user_local, user_members = _members(user_block, n_blocks)
    item_local, item_members = _members(item_block, n_blocks)
    return Grid(n_blocks, user_block, item_block, user_local, item_local, user_members,
                item_members)


def cell_arrays(grid: Grid, users: np.ndarray, items: np.ndarray, values: np.ndarray,
                user_known: np.ndarray | None = None, item_known: np.ndarray | None = None,
                ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The ratings of each cell ``(a, b)`` as ``(local users int32, local items int32,
    values float32)``, ordered inside a cell as the local engine orders a grid block
    (:func:`~recsys.models._sgd.block_partition`: grouped by user by default). With
    ``user_known`` / ``item_known`` (a flag per user / item), the local row of an unknown one
    is ``-1`` (a prediction falls back to the biases, as the local engine's does)."""
    B = grid.n_blocks
    user_local, item_local = grid.user_local, grid.item_local
    if user_known is not None:
        user_local = np.where(user_known, user_local, -1).astype(np.int32)
    if item_known is not None:
        item_local = np.where(item_known, item_local, -1).astype(np.int32)
    u, i, r, indptr = block_partition(
        np.ascontiguousarray(users, dtype=np.int32), np.ascontiguousarray(items, dtype=np.int32),
        np.ascontiguousarray(values, dtype=np.float32), grid.user_block, grid.item_block, B)
    cells = {}
    for a in range(B):
        for b in range(B):
            g = a * B + b
            lo, hi = int(indptr[g]), int(indptr[g + 1])
            cells[(a, b)] = (user_local[u[lo:hi]], item_local[i[lo:hi]],
                             r[lo:hi].copy())
    return cells


def cell_seed(seed: int, a: int, b: int, n_blocks: int) -> int:
    """The shuffling seed of cell ``(a, b)``: fixed by the fit's seed and the cell, so a task
    that is run again (a retry) orders its ratings the same way. The kernel mixes in the
    epoch (:func:`recsys.models._sgd.epoch_kernel`), giving one seed per epoch and cell, that
    is per epoch, stratum and block."""
    state = np.random.SeedSequence([int(seed), a * n_blocks + b]).generate_state(1, np.uint64)
    return int(state[0] >> np.uint64(1))


def stratum_of(a: int, b: int, n_blocks: int) -> int:
    """The stratum ``s`` holding cell ``(a, b)``: ``b = (a + s) mod B``."""
    return (b - a) % n_blocks
