"""The FPSGD grid, on the Python side: how many blocks, which users and items go in each, and
one epoch on several threads.

Matrix factorisation's epochs (:mod:`recsys.models.mf`) cut the rating matrix into a grid of
``B x B`` blocks (users x items), and threads run blocks that share no user and no item (Chin
et al., 2015). Inside a block the ratings are learned user by user (:mod:`recsys.models._sgd`,
``WITHIN_BLOCK_ORDER``), so what must stay in cache during a block is its item rows, while
each user row is used for a run of ratings and then left. The numba side, the per-rating
kernels and the claiming of free blocks, is :mod:`recsys.models._sgd`.

Measured at the Netflix Prize's shape (100M ratings, 100 factors, one thread, the user-run
order): ``B`` = 8, 16 and 32 ran within noise of each other (14-15.5M updates per CPU second;
the block's item rows 0.9 MB, 444 kB, 222 kB), so the grid keeps its size rule below. Fewer
*item* blocks than user blocks did pay (:func:`choose_item_blocks`): a user's run in a block
is then longer, and its row is fetched from memory fewer times an epoch (16 x 4 against
16 x 16, 2 threads: 2.0 against 2.5-4.0 s per epoch, interleaved runs).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np

from recsys.models import _sgd

__all__ = ["BLOCK_CACHE_BYTES", "MIN_BLOCK_RATINGS", "MAX_SERIAL_BLOCKS", "ITEM_BLOCK_BYTES",
           "PREFETCH_MIN_BYTES", "resolve_threads", "balanced_blocks", "choose_n_blocks",
           "choose_item_blocks", "parallel_epoch"]

# Factor rows of one block (users + items) should fit in about this many bytes of cache.
BLOCK_CACHE_BYTES = 1 << 20
# ... but a block should hold at least this many ratings on average.
MIN_BLOCK_RATINGS = 1024
# ... and one thread runs at most this many blocks per side.
MAX_SERIAL_BLOCKS = 16
# With several threads: at least MIN_BLOCKS_PER_THREAD * n_threads blocks per side (so a free
# block is nearly always there to take), at most MAX_BLOCKS_PER_THREAD * n_threads.
MIN_BLOCKS_PER_THREAD = 4
MAX_BLOCKS_PER_THREAD = 8
# With the user-run order: the item rows of one block should take about this many bytes
# (in L2 and L3). Netflix Prize's shape, 100 factors: 4 item blocks of 1.8 MB by 16 user
# blocks. Micro-benchmark, one thread, 480k users (rows from memory), runs of a user in a block
# 13, 52 and 104 ratings long (1.1k, 4.4k and 8.9k items a block): 41-58, 31-39 and 32-34 ns
# per update.
ITEM_BLOCK_BYTES = 2 << 20
# Prefetch the factor rows of upcoming ratings when the factor matrices are larger than this:
# from L2 too, since a row is 7 cache lines that would each miss L1 (0: always; measured at
# 100 factors, ML-100k's 1 MB of factors: 2 threads +25%, 1 thread +1.5%).
PREFETCH_MIN_BYTES = 0


def resolve_threads(n_threads: int | None) -> int:
    """``None`` or ``<= 0`` means all cores numba may use; never more than that."""
    limit = int(numba.config.NUMBA_NUM_THREADS)
    if n_threads is None or n_threads <= 0:
        return limit
    return max(1, min(int(n_threads), limit))


def balanced_blocks(counts: np.ndarray, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Assign rows to ``n_blocks`` blocks at random, with about equal numbers of ratings."""
    order = rng.permutation(len(counts))
    cum = np.cumsum(counts[order]) - counts[order]
    total = max(int(counts.sum()), 1)
    blocks = np.empty(len(counts), dtype=np.int64)
    blocks[order] = np.minimum(cum * n_blocks // total, n_blocks - 1)
    return blocks


def choose_n_blocks(n_ratings: int, n_users: int, n_items: int, n_factors: int,
                    n_threads: int) -> int:
    """Grid size ``B`` for FPSGD. Large enough that one block's factor rows (users + items)
    fit in about ``BLOCK_CACHE_BYTES`` of cache, so a pass over a block runs from the core's
    cache instead of memory; for one thread that is all (1, a plain global shuffle, when every
    factor fits). With several threads at least :data:`MIN_BLOCKS_PER_THREAD` ``* n_threads``,
    so a free block is nearly always there to take, and at most
    :data:`MAX_BLOCKS_PER_THREAD` ``* n_threads`` (threads scan the grid for a free block).
    Never so large that blocks hold few ratings (nor below ``2 * n_threads``)."""
    bytes_needed = (n_users + n_items) * n_factors * 4
    by_cache = math.ceil(bytes_needed / BLOCK_CACHE_BYTES)
    by_size = int(math.sqrt(n_ratings / MIN_BLOCK_RATINGS))
    if n_threads <= 1:
        return int(max(1, min(by_cache, by_size, MAX_SERIAL_BLOCKS)))
    n_blocks = max(MIN_BLOCKS_PER_THREAD * n_threads, by_cache)
    cap = max(2 * n_threads, min(MAX_BLOCKS_PER_THREAD * n_threads, by_size))
    return int(min(n_blocks, cap))


def choose_item_blocks(n_blocks: int, n_items: int, n_factors: int, n_threads: int,
                       grouped: bool) -> int:
    """Item blocks of the FPSGD grid, given its ``n_blocks`` user blocks.

    With the user-run order inside blocks (``grouped``, large factor tables) a block's item
    rows are what stays in cache while its users' rows stream through, once per run: fewer,
    wider item blocks make each user's run in a block longer, so each user row comes from
    memory fewer times an epoch. Item blocks are sized to about :data:`ITEM_BLOCK_BYTES` of
    item rows, at least ``2 * n_threads`` of them (a free one to take), at most
    ``n_blocks``. Otherwise (small tables, shuffled blocks) the grid stays square."""
    if not grouped or n_blocks <= 1:
        return int(n_blocks)
    by_bytes = math.ceil(n_items * n_factors * 4 / ITEM_BLOCK_BYTES)
    floor = 2 * n_threads if n_threads > 1 else 1
    return int(min(n_blocks, max(by_bytes, floor)))


def parallel_epoch(pool: ThreadPoolExecutor, n_threads: int, kernel: Any, order: np.ndarray,
                    n_blocks: int, args: tuple, sse: np.ndarray,
                    n_item_blocks: int | None = None) -> float:
    """One FPSGD epoch on ``n_threads`` threads (this one and ``n_threads - 1`` of ``pool``):
    each runs :func:`recsys.models._sgd.parallel_epoch_kernel`, which takes free blocks of
    ``order`` (a grid of ``n_blocks`` user blocks by ``n_item_blocks`` item blocks, default
    ``n_blocks``) until none is left. There is no barrier inside an epoch, so a thread slowed
    down by other processes never stalls the others while some block can still run."""
    users, items, values, indptr = args[:4]
    n_item_blocks = n_blocks if n_item_blocks is None else int(n_item_blocks)
    claim = _sgd.new_claim(n_blocks, len(order), n_item_blocks)
    call = (users, items, values, indptr, order, n_blocks, n_item_blocks, claim, *args[4:], sse)
    futures = [pool.submit(kernel, *call) for _ in range(n_threads - 1)]
    try:
        kernel(*call)
    finally:
        for future in futures:
            future.result()
    return float(sse.sum())
