r"""Numba kernels for matrix factorisation by per-rating stochastic gradient descent.

Everything here works on flat, contiguous arrays (``int32`` indices, ``float32`` ratings and
parameters) and is compiled with ``@njit(cache=True, nogil=True)``; the classes in
:mod:`recsys.models.mf` are thin wrappers.

The model and the per-rating loss (BellKor's biased form; Funk's when ``biased`` is False,
which drops ``mu``, ``b_u`` and ``b_i``):

.. math::
    \hat r_{ui} = \mu + b_u + b_i + p_u \cdot q_i, \qquad e_{ui} = r_{ui} - \hat r_{ui},

    L_{ui} = \tfrac12 e_{ui}^2 + \tfrac{\lambda}{2}(\lVert p_u\rVert^2 + \lVert q_i\rVert^2)
             + \tfrac{\lambda_b}{2}(b_u^2 + b_i^2).

One SGD step on rating ``(u, i, r)`` moves every parameter against its gradient of
:math:`L_{ui}`, with ``p_u`` and ``q_i`` updated *simultaneously* from their old values:

.. math::
    b_u \leftarrow b_u + \eta_b (e - \lambda_b b_u), \quad
    b_i \leftarrow b_i + \eta_b (e - \lambda_b b_i),

    p_u \leftarrow p_u + \eta (e\, q_i - \lambda p_u), \quad
    q_i \leftarrow q_i + \eta (e\, p_u - \lambda q_i).

Epochs follow the FPSGD scheme (Chin et al., 2015): users are cut into ``B`` blocks and
items into ``B_i``, giving a ``B x B_i`` grid of rating blocks (chosen in
:mod:`recsys.models._blocks`: ``B`` so one block's factor rows fit in a core's L2, ``B = 1``
a plain global shuffle; ``B_i = B`` unless blocks run user by user, see
:func:`recsys.models._blocks.choose_item_blocks`), and blocks run in a fresh random order
each epoch. With several threads,
each runs :func:`parallel_epoch_kernel` and takes blocks that share no user and no item with
any block in flight (a spin lock on a small int64 array guards that bookkeeping), so the
updates need no locks and never race.

Inside a block (:data:`WITHIN_BLOCK_ORDER`; by default whenever the factor tables take at
least :data:`GROUPED_MIN_BYTES`, 8 MB) the ratings are stored sorted by user
(:func:`block_partition`, once per fit) and learned one user's run at a time,
the runs in a fresh random order each epoch (:func:`user_runs`; counter-based draws seeded per
epoch and block): ``p_u`` stays in L1 through its run, the rating arrays are only read, and
the next runs' user rows and the next ratings' item rows are prefetched. At the Netflix
Prize's shape (480k users x 17.8k items, 100M ratings, 100 factors) that doubled the updates
per CPU second of one thread against the ``"shuffle"`` order, with the same RMSE
(``bench/bench_netflix_shape.py``; ML-100k ``u1``: the same test RMSE). ``"shuffle"`` shuffles
the block's ratings in place (forward Fisher-Yates) in the same sweep that learns them, a few
positions ahead of the rating being learned, and prefetches the rows of upcoming ratings.

The estimator's kernels (:func:`epoch_kernel`, :func:`parallel_epoch_kernel`) are compiled
for its number of factors: with the loop length known at compile time LLVM vectorises the
update whole (about 25% faster at 100 factors than the generic :func:`sgd_range`), and the
dot product is :func:`recsys.models._simd.row_dot`, 8-wide FMAs spread over four independent
accumulators (the kernels are compiled without reassociation, which would chain them again):
the next rating of a user waits on that dot product, and the plain loop's one chain of twelve
FMAs made it twice as long. With it, the grouped order runs one user at a time per thread
(:data:`GROUPED_LANES`) and fuses each step with the next dot product (:data:`FUSED_STEP`).
At the Netflix Prize's shape, 2 threads, 20 epochs, these kernel changes with the rectangular
grid of :func:`recsys.models._blocks.choose_item_blocks` and a faster in-block sort took the
whole fit from 94.4 and 89.7 s to 59.9 and 54.9 s (interleaved runs of the two commits,
``bench/bench_netflix_shape.py``; this shared host's speed drifts by half from hour to hour,
so only same-run figures compare).

:func:`sgd_step`, :func:`sgd_range`, :func:`sgd_block` and :func:`sgd_epoch_serial` are not used
in fitting: they are the plain reference versions that ``tests/test_sgd_kernels.py`` compares
the compiled kernels against.
"""

from __future__ import annotations

import functools

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from recsys.models import _grouping
from recsys.models._grouping import user_ranks
from recsys.models._simd import row_dot, row_step_dot

__all__ = [
    "sgd_step",
    "sgd_range",
    "shuffle_range",
    "sgd_epoch_serial",
    "sgd_block",
    "predict_pairs",
    "squared_error_clipped",
    "block_order",
    "block_partition",
    "user_runs",
    "grouped_positions",
    "grouped_positions2",
    "epoch_kernel",
    "new_claim",
    "parallel_epoch_kernel",
    "learns_by_user",
]

# Ratings ahead whose factor rows are prefetched: the rows of a random rating usually miss the
# core's cache, and asking for them a few updates early hides most of the memory latency.
PREFETCH_DISTANCE = 4
_CACHE_LINE_FLOATS = 16  # 64-byte lines of float32
# How an epoch orders the ratings inside a grid block (read when a kernel or a partition is
# made): "grouped" runs a user's ratings of the block one after the other, users in a fresh
# random order each epoch (the block is stored sorted by user, see :func:`block_partition`);
# "shuffle" runs them in a fresh random order (an in-place Fisher-Yates shuffle per epoch);
# "auto" is "grouped" when the factor tables (users + items) take at least
# GROUPED_MIN_BYTES, "shuffle" below that. Small problems fit in cache, where grouping gains
# nothing, and on tiny sets with large steps a user's ratings back to back fit worse (a
# 150 x 120 planted set, 8 factors, lr 0.02: test RMSE 1.071 against 1.070 for the biases).
WITHIN_BLOCK_ORDER = "auto"
GROUPED_MIN_BYTES = 8 << 20
# In the grouped order: runs ahead whose user row, and whose first entries of the three
# arrays, are prefetched.
_ROW_AHEAD_RUNS = 2
_LINES_AHEAD_RUNS = 4
# In the grouped order: how many users' runs one thread learns side by side (1 or 2). With 2,
# the ratings of two runs are taken in turn and each pair's two dot products are computed
# together (the two updates share no parameter), so the core overlaps their dependency
# chains. That paid while the dot product was one long chain of FMAs; with the split
# accumulators of recsys.models._simd.row_dot it no longer does: one lane is faster in cache
# (micro-benchmark, 200 users x 100 items: 29 against 32 ns per update) and much faster when
# the user rows come from memory (Netflix shape, 2 threads, 5 epochs: 2.42 against 2.91 s per
# epoch, bench/bench_netflix_shape.py --variant l1:_sgd.GROUPED_LANES=1 --variant l2:).
GROUPED_LANES = 1
# In the one-lane grouped order: fuse each rating's factor step with the dot product of the
# user's next rating (recsys.models._simd.row_step_dot), so the new p_u is used from registers
# and the next rating's error does not wait for a separate pass over two rows.
# (Micro-benchmark, one thread, 100 factors, A/B in one process: 200 users x 100 items
# 27 against 31 ns per update; one Netflix-shape block, 30k users x 1.1k items, 32 against
# 38; all 480k users x 1.1k items, the user rows from memory, within noise.)
FUSED_STEP = True
# In the grouped order: prefetch every cache line of an upcoming run's items and ratings, not
# only its first (a run of 13 ratings spans two lines of each array about as often as not,
# and a random run's lines are in memory: 40-43 against 45 ns per update, 480k users).
WHOLE_RUNS = True
# The compiled epoch kernels' floating-point licences: ``fastmath`` less reassociation, which
# would fold the independent accumulators of :func:`recsys.models._simd.row_dot` back into one
# chain of dependent FMAs (the kernels have no reduction loop that needs it).
_KERNEL_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@intrinsic
def _prefetch(typingctx, array, index):
    """Hint the CPU to fetch the cache line holding ``array[index]`` (1-d) for writing."""
    if not isinstance(array, types.Array) or array.ndim != 1:
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, args[0])
        address = builder.bitcast(builder.gep(view.data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # rw=1 (write), locality=3 (keep in all levels), cache type=1 (data)
        builder.call(fn, [address, ir.Constant(i32, 1), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@intrinsic
def _compare_exchange(typingctx, array, index, expected, value):
    """Atomically: ``old = array[index]; if old == expected: array[index] = value``; returns
    ``old`` (int64 1-d array; acquire-release ordering)."""
    if not isinstance(array, types.Array) or array.ndim != 1 or array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(view.data, [args[1]])
        pair = builder.cmpxchg(pointer, args[2], args[3], "acq_rel", "monotonic")
        return builder.extract_value(pair, 0)

    return types.int64(array, types.int64, types.int64, types.int64), codegen


@intrinsic
def _release_store(typingctx, array, index, value):
    """Atomically ``array[index] = value`` with release ordering (int64 1-d array)."""
    if not isinstance(array, types.Array) or array.ndim != 1 or array.dtype != types.int64:
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.gep(view.data, [args[1]])
        builder.atomic_rmw("xchg", pointer, args[2], "release")
        return context.get_dummy_value()

    return types.void(array, types.int64, types.int64), codegen


@njit(cache=True, nogil=True)
def _splitmix64(state: np.uint64) -> tuple:
    """One step of SplitMix64: returns (new state, 64 random bits)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return state, z


@njit(cache=True, nogil=True, inline="always")
def _draw(seed, pos, end):
    """The swap partner of position ``pos`` in a forward Fisher-Yates pass over ``[pos, end)``:
    uniform on ``[pos, end)`` (a span below ``2**31``), from a counter-based generator (the
    SplitMix64 finaliser of ``seed + pos * golden``), so any position's draw is at hand
    without drawing the ones before it. Returned as ``uint64``: numba indexes with an
    unsigned integer without the test and fix-up for negative indices."""
    z = np.uint64(seed) + np.uint64(pos) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return np.uint64(pos) + (((z >> np.uint64(33)) * np.uint64(end - pos)) >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _swap(users, items, ratings, pos, j):
    """Swap entries ``pos`` and ``j`` of the three arrays; returns the new ``users[pos]``."""
    u = users[j]
    users[j] = users[pos]
    users[pos] = u
    i = items[j]
    items[j] = items[pos]
    items[pos] = i
    r = ratings[j]
    ratings[j] = ratings[pos]
    ratings[pos] = r
    return u


@njit(cache=True, nogil=True)
def shuffle_range(users, items, ratings, start, end, seed):
    """Shuffle ``[start, end)`` of the three arrays in place, all by the same permutation
    (forward Fisher-Yates: position ``pos = start, start + 1, ...`` swaps with a uniform
    ``j`` in ``[pos, end)``; an index below ``2**31`` per range). Deterministic for a given
    ``seed``; the kernels that shuffle as they go produce the same permutation."""
    for pos in range(start, end - 1):
        _swap(users, items, ratings, np.uint64(pos), _draw(seed, pos, end))


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _error_and_biases(u, i, r, dot, mu, bu, bi, lr_b, reg_b, biased):
    """The error ``e = r - (mu + b_u + b_i + dot)`` (``r - dot`` when not ``biased``) and,
    biased, the bias steps ``b <- b + lr_b (e - reg_b b)``; returns ``e``."""
    if not biased:
        return r - dot
    e = r - (mu + bu[u] + bi[i] + dot)
    bu[u] += lr_b * (e - reg_b * bu[u])
    bi[i] += lr_b * (e - reg_b * bi[i])
    return e


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _update(u, i, r, mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink, zero, biased, K):
    """One SGD step on rating ``r`` of user ``u`` for item ``i`` (the update rules of the
    module docstring); returns the error ``e`` before the step. ``shrink = 1 - lr reg`` and
    ``zero`` come in the parameters' dtype; numba inlines this into each loop."""
    e = _error_and_biases(u, i, r, row_dot(P, u, Q, i, K) + zero, mu, bu, bi, lr_b, reg_b,
                          biased)
    step = lr * e
    for f in range(K):  # p + lr (e q - reg p) = (1 - lr reg) p + (lr e) q
        p = P[u, f]
        q = Q[i, f]
        P[u, f] = shrink * p + step * q
        Q[i, f] = shrink * q + step * p
    return e


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _update_pair(ua, ia, ra, ub, ib, rb, mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink, zero,
                 biased, K):
    """:func:`_update` on rating ``(ua, ia, ra)`` then on ``(ub, ib, rb)``, for two ratings
    that share no parameter (``ua != ub`` and ``ia != ib``): the same steps, with both dot
    products in one loop. Returns both errors."""
    dot_a = row_dot(P, ua, Q, ia, K) + zero
    dot_b = row_dot(P, ub, Q, ib, K) + zero
    # the two share no bias, so the first's bias steps leave the second's error as it was
    ea = _error_and_biases(ua, ia, ra, dot_a, mu, bu, bi, lr_b, reg_b, biased)
    eb = _error_and_biases(ub, ib, rb, dot_b, mu, bu, bi, lr_b, reg_b, biased)
    step_a = lr * ea
    step_b = lr * eb
    for f in range(K):
        p = P[ua, f]
        q = Q[ia, f]
        P[ua, f] = shrink * p + step_a * q
        Q[ia, f] = shrink * q + step_a * p
    for f in range(K):
        p = P[ub, f]
        q = Q[ib, f]
        P[ub, f] = shrink * p + step_b * q
        Q[ib, f] = shrink * q + step_b * p
    return ea, eb


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _update_fused(u, i, j, r, dot, mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink, biased, K):
    """:func:`_update` on rating ``(u, i, r)`` given its dot product ``dot = p_u . q_i``,
    and the dot product of the user's next rating ``p_u . q_j`` with the new ``p_u``
    (:func:`recsys.models._simd.row_step_dot`; ``j == i`` when there is none). Returns
    ``(e, next dot)``."""
    e = _error_and_biases(u, i, r, dot, mu, bu, bi, lr_b, reg_b, biased)
    return e, row_step_dot(P, u, Q, i, j, shrink, lr * e, K)


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _sgd_pass(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased,
              prefetch, K):
    """The body of :func:`sgd_range` with the factor count ``K`` as an argument: numba inlines
    it, so a caller that passes a compile-time constant (see :func:`epoch_kernel`) gets loops
    of known length that LLVM vectorises whole (``K = 100``: six 16-wide FMAs and a 4-wide
    tail instead of a 64-wide loop and a long scalar remainder)."""
    zero = lr - lr
    shrink = np.ones(1, dtype=P.dtype)[0] - lr * reg  # 1 - lr reg in the parameters' dtype
    sse = 0.0
    for idx in range(start, end):
        ahead = idx + PREFETCH_DISTANCE
        if prefetch and ahead < end:
            p_next = P[users[ahead]]
            q_next = Q[items[ahead]]
            for f in range(0, K, _CACHE_LINE_FLOATS):
                _prefetch(p_next, f)
                _prefetch(q_next, f)
            _prefetch(p_next, K - 1)  # rows need not start on a cache line
            _prefetch(q_next, K - 1)
        e = _update(users[idx], items[idx], ratings[idx], mu, bu, bi, P, Q, lr, lr_b, reg_b,
                    shrink, zero, biased, K)
        sse += e * e
    return sse


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _sgd_pass_shuffled(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg,
                       reg_b, biased, seed, prefetch, K):
    """:func:`shuffle_range` then :func:`_sgd_pass` over ``[start, end)``, fused into one
    sweep: the Fisher-Yates swap of position ``idx + D`` (``D = PREFETCH_DISTANCE``) is
    made while rating ``idx`` is learned, which fixes it before its turn, and the arrays'
    entries for the swap at ``idx + 2D`` are prefetched. Same permutation and the same
    steps as the two passes, one trip through the block's ratings instead of two.

    Positions and row numbers are cast to ``uint64`` before indexing: numba then skips the
    wrap-around of negative indices (a test and an add per index, a dozen per rating, and
    the registers they hold), 13% faster on one core at 100 factors."""
    zero = lr - lr
    shrink = np.ones(1, dtype=P.dtype)[0] - lr * reg  # 1 - lr reg in the parameters' dtype
    sse = 0.0
    for pos in range(start, min(start + PREFETCH_DISTANCE, end)):
        _swap(users, items, ratings, np.uint64(pos), _draw(seed, pos, end))
    for idx in range(start, end):
        far = idx + 2 * PREFETCH_DISTANCE
        if far < end:
            j = _draw(seed, far, end)
            _prefetch(users, j)
            _prefetch(items, j)
            _prefetch(ratings, j)
        near = idx + PREFETCH_DISTANCE
        if near < end:
            near_u = np.uint64(near)
            u_next = np.uint64(_swap(users, items, ratings, near_u, _draw(seed, near, end)))
            if prefetch:
                p_next = P[u_next]
                q_next = Q[np.uint64(items[near_u])]
                for f in range(0, K, _CACHE_LINE_FLOATS):
                    _prefetch(p_next, f)
                    _prefetch(q_next, f)
                _prefetch(p_next, K - 1)  # rows need not start on a cache line
                _prefetch(q_next, K - 1)
        ix = np.uint64(idx)
        e = _update(np.uint64(users[ix]), np.uint64(items[ix]), ratings[ix], mu, bu, bi, P, Q,
                    lr, lr_b, reg_b, shrink, zero, biased, K)
        sse += e * e
    return sse


@njit(cache=True, nogil=True)
def user_runs(users, start, end, seed):
    """The runs of equal users in ``[start, end)`` and a seeded random order of them.

    Returns ``(bounds, order)``: run ``g`` spans ``[bounds[g], bounds[g + 1])`` (int64,
    ``bounds[-1] == end``) and ``order`` (int64) is a uniform random permutation of the run
    numbers (forward Fisher-Yates with the counter-based draws of :func:`shuffle_range`). In a
    block sorted by user (:func:`block_partition`) a run is all of a user's ratings in it."""
    n_runs = 0
    prev = -1
    for idx in range(start, end):
        if users[idx] != prev:
            prev = users[idx]
            n_runs += 1
    bounds = np.empty(n_runs + 1, dtype=np.int64)
    g = 0
    prev = -1
    for idx in range(start, end):
        if users[idx] != prev:
            prev = users[idx]
            bounds[g] = idx
            g += 1
    bounds[n_runs] = end
    order = np.arange(n_runs)
    for pos in range(n_runs - 1):
        j = _draw(seed, pos, n_runs)
        g = order[j]
        order[j] = order[pos]
        order[pos] = g
    return bounds, order


@njit(cache=True, nogil=True)
def grouped_positions(users, start, end, seed):
    """The positions of ``[start, end)`` in the order the grouped pass
    (:func:`_sgd_pass_grouped`) learns them: the runs of :func:`user_runs` in its random
    order, each run front to back. The plain reference the tests compare the kernels with."""
    bounds, order = user_runs(users, start, end, seed)
    out = np.empty(end - start, dtype=np.int64)
    pos = 0
    for g in order:
        for idx in range(bounds[g], bounds[g + 1]):
            out[pos] = idx
            pos += 1
    return out


@njit(cache=True, nogil=True, inline="always")
def _prefetch_span(array, start, end):
    """Prefetch every cache line of ``array[start:end]`` (``start < end``, 4-byte entries)."""
    for pos in range(start, end, np.uint64(_CACHE_LINE_FLOATS)):
        _prefetch(array, pos)
    _prefetch(array, end - np.uint64(1))


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _prefetch_row(row, K):
    for f in range(0, K, _CACHE_LINE_FLOATS):
        _prefetch(row, f)
    _prefetch(row, K - 1)  # rows need not start on a cache line


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _sgd_pass_grouped(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg,
                      reg_b, biased, seed, prefetch, fused, K):
    """One SGD step per rating of ``[start, end)`` in the order of :func:`grouped_positions`:
    each user's run of ratings back to back (its row ``p_u`` stays in L1 for the whole run),
    runs in a seeded random order. Nothing is written to the rating arrays (they are read as
    a few short streams), unlike the in-place shuffle of :func:`_sgd_pass_shuffled`.

    With ``fused`` (:data:`FUSED_STEP`) each rating's factor step also computes the dot
    product of the user's next rating (:func:`_update_fused`; a repeated pair's takes the
    new ``q_i``); a run's first dot product is computed on its own.

    Prefetched: the run ``_LINES_AHEAD_RUNS`` runs ahead (its first user entry and, with
    :data:`WHOLE_RUNS`, every line of its items and ratings, else their first), the user
    row ``_ROW_AHEAD_RUNS`` runs ahead, and the item row ``PREFETCH_DISTANCE`` ratings ahead
    (into the next run when the current one ends sooner)."""
    zero = lr - lr
    shrink = np.ones(1, dtype=P.dtype)[0] - lr * reg  # 1 - lr reg in the parameters' dtype
    sse = 0.0
    bounds, order = user_runs(users, start, end, seed)
    n_runs = order.shape[0]
    for k in range(n_runs):
        n0 = end
        n1 = end
        if prefetch:
            if k + _LINES_AHEAD_RUNS < n_runs:
                g = order[k + _LINES_AHEAD_RUNS]
                s = np.uint64(bounds[g])
                _prefetch(users, s)
                if WHOLE_RUNS:
                    _prefetch_span(items, s, np.uint64(bounds[g + 1]))
                    _prefetch_span(ratings, s, np.uint64(bounds[g + 1]))
                else:
                    _prefetch(items, s)
                    _prefetch(ratings, s)
            if k + _ROW_AHEAD_RUNS < n_runs:
                s = np.uint64(bounds[order[k + _ROW_AHEAD_RUNS]])
                _prefetch_row(P[np.uint64(users[s])], K)
            if k + 1 < n_runs:
                g = order[k + 1]
                n0 = bounds[g]
                n1 = bounds[g + 1]
        g = order[k]
        s0 = bounds[g]
        s1 = bounds[g + 1]
        u = np.uint64(users[np.uint64(s0)])
        if fused:
            dot = row_dot(P, u, Q, np.uint64(items[np.uint64(s0)]), K) + zero
        for idx in range(s0, s1):
            if prefetch:
                ahead = idx + PREFETCH_DISTANCE
                if ahead < s1:
                    _prefetch_row(Q[np.uint64(items[np.uint64(ahead)])], K)
                elif n0 + (ahead - s1) < n1:
                    _prefetch_row(Q[np.uint64(items[np.uint64(n0 + (ahead - s1))])], K)
            ix = np.uint64(idx)
            i = np.uint64(items[ix])
            if fused:
                j = np.uint64(items[ix + np.uint64(1)]) if idx + 1 < s1 else i
                e, dot = _update_fused(u, i, j, ratings[ix], dot, mu, bu, bi, P, Q, lr, lr_b,
                                       reg_b, shrink, biased, K)
            else:
                e = _update(u, i, ratings[ix], mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink, zero,
                            biased, K)
            sse += e * e
    return sse


@njit(cache=True, nogil=True)
def grouped_positions2(users, start, end, seed):
    """The positions of ``[start, end)`` in the order the two-lane grouped pass
    (:func:`_sgd_pass_grouped2`) learns them: two lanes each hold a user's run (the runs
    of :func:`user_runs` in its random order, dealt to lane 0 then lane 1 as each empties);
    while both hold one, each step learns lane 0's next rating, then lane 1's."""
    bounds, order = user_runs(users, start, end, seed)
    out = np.empty(end - start, dtype=np.int64)
    n_runs = order.shape[0]
    taken = 0
    a = end
    a_end = end
    b = end
    b_end = end
    pos = 0
    while True:
        if a >= a_end and taken < n_runs:
            a = bounds[order[taken]]
            a_end = bounds[order[taken] + 1]
            taken += 1
        if b >= b_end and taken < n_runs:
            b = bounds[order[taken]]
            b_end = bounds[order[taken] + 1]
            taken += 1
        if a < a_end:
            out[pos] = a
            pos += 1
            a += 1
        if b < b_end:
            out[pos] = b
            pos += 1
            b += 1
        if a >= a_end and b >= b_end and taken >= n_runs:
            return out


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _take_run(users, items, ratings, P, bounds, order, taken, prefetch, K):
    """Run ``order[taken]`` for a lane of :func:`_sgd_pass_grouped2`: its ``(start, end,
    user)``; prefetches the first entries of the arrays ``_LINES_AHEAD_RUNS`` runs further
    and the user row of the run ``_ROW_AHEAD_RUNS`` further."""
    g = order[taken]
    start = bounds[g]
    n_runs = order.shape[0]
    if prefetch:
        if taken + 1 + _LINES_AHEAD_RUNS < n_runs:
            s = np.uint64(bounds[order[taken + 1 + _LINES_AHEAD_RUNS]])
            _prefetch(users, s)
            _prefetch(items, s)
            _prefetch(ratings, s)
        if taken + 1 + _ROW_AHEAD_RUNS < n_runs:
            s = np.uint64(bounds[order[taken + 1 + _ROW_AHEAD_RUNS]])
            _prefetch_row(P[np.uint64(users[s])], K)
    return start, bounds[g + 1], np.uint64(users[np.uint64(start)])


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _sgd_pass_grouped2(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg,
                       reg_b, biased, seed, prefetch, K):
    """One SGD step per rating of ``[start, end)`` in the order of
    :func:`grouped_positions2`: two users' runs side by side, a pair of ratings (one of each)
    per step through :func:`_update_pair` (one after the other when they share the item).
    The same updates as :func:`_update` in that order; only the core's overlap differs.

    Prefetched: the first entries of the arrays ``_LINES_AHEAD_RUNS`` runs ahead, the user
    rows of the next ``_ROW_AHEAD_RUNS`` runs to be taken, and each lane's item rows
    ``PREFETCH_DISTANCE`` ratings ahead inside its run."""
    zero = lr - lr
    shrink = np.ones(1, dtype=P.dtype)[0] - lr * reg  # 1 - lr reg in the parameters' dtype
    sse = 0.0
    bounds, order = user_runs(users, start, end, seed)
    n_runs = order.shape[0]
    taken = 0
    a = end
    a_end = end
    b = end
    b_end = end
    ua = np.uint64(0)
    ub = np.uint64(0)
    while True:
        if a >= a_end and taken < n_runs:
            a, a_end, ua = _take_run(users, items, ratings, P, bounds, order, taken, prefetch, K)
            taken += 1
        if b >= b_end and taken < n_runs:
            b, b_end, ub = _take_run(users, items, ratings, P, bounds, order, taken, prefetch, K)
            taken += 1
        live_a = a < a_end
        live_b = b < b_end
        if not (live_a or live_b):
            return sse
        if prefetch:
            if live_a and a + PREFETCH_DISTANCE < a_end:
                _prefetch_row(Q[np.uint64(items[np.uint64(a + PREFETCH_DISTANCE)])], K)
            if live_b and b + PREFETCH_DISTANCE < b_end:
                _prefetch_row(Q[np.uint64(items[np.uint64(b + PREFETCH_DISTANCE)])], K)
        if live_a and live_b:
            xa = np.uint64(a)
            xb = np.uint64(b)
            ia = np.uint64(items[xa])
            ib = np.uint64(items[xb])
            if ia != ib:
                ea, eb = _update_pair(ua, ia, ratings[xa], ub, ib, ratings[xb], mu, bu, bi,
                                      P, Q, lr, lr_b, reg_b, shrink, zero, biased, K)
            else:
                ea = _update(ua, ia, ratings[xa], mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink,
                             zero, biased, K)
                eb = _update(ub, ib, ratings[xb], mu, bu, bi, P, Q, lr, lr_b, reg_b, shrink,
                             zero, biased, K)
            sse += ea * ea + eb * eb
            a += 1
            b += 1
        elif live_a:
            xa = np.uint64(a)
            e = _update(ua, np.uint64(items[xa]), ratings[xa], mu, bu, bi, P, Q, lr, lr_b,
                        reg_b, shrink, zero, biased, K)
            sse += e * e
            a += 1
        else:
            xb = np.uint64(b)
            e = _update(ub, np.uint64(items[xb]), ratings[xb], mu, bu, bi, P, Q, lr, lr_b,
                        reg_b, shrink, zero, biased, K)
            sse += e * e
            b += 1


@njit(cache=True, nogil=True, fastmath=True)
def sgd_range(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased,
              prefetch=True):
    """One SGD step per rating ``start .. end-1`` in array order (update rules in the module
    docstring). Returns the sum of squared errors *before* each step (float64). With
    ``prefetch`` the factor rows of the rating ``PREFETCH_DISTANCE`` positions ahead are
    prefetched (worth it when the factors do not fit in the core's cache).

    Scalars must have the parameters' dtype (float32 for float32 arrays) so the loop stays in
    single precision. Any factor count; :func:`epoch_kernel` compiles faster loops for one.
    """
    return _sgd_pass(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b,
                     biased, prefetch, P.shape[1])


@njit(cache=True, nogil=True, fastmath=True)
def sgd_step(u, i, r, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased):
    """A single SGD step on rating ``(u, i, r)``; returns the error ``e`` before the step."""
    users = np.array([u], dtype=np.int32)
    items = np.array([i], dtype=np.int32)
    ratings = np.array([r], dtype=P.dtype)
    pred = predict_pairs(users, items, mu, bu, bi, P, Q, biased, mu)[0]
    sgd_range(users, items, ratings, 0, 1, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased)
    return r - pred


@njit(cache=True, nogil=True)
def _mix_seed(seed, epoch, block):
    """A well-mixed 64-bit seed from (seed, epoch, block)."""
    state = np.uint64(seed) * _MIX2 + np.uint64(epoch) * _GOLDEN + np.uint64(block) * _MIX1
    state, z = _splitmix64(state)
    return z


@njit(cache=True, nogil=True, fastmath=True)
def sgd_epoch_serial(users, items, ratings, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased,
                     seed, epoch, prefetch=True):
    """Shuffle all ratings in place, then one SGD pass over them. Returns the sum of squared
    errors before each step."""
    n = users.shape[0]
    return _sgd_pass_shuffled(users, items, ratings, 0, n, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b,
                              biased, _mix_seed(seed, epoch, 0), prefetch, P.shape[1])


@njit(cache=True, nogil=True, fastmath=True)
def sgd_block(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b, biased,
              seed, epoch, block, prefetch=True):
    """Shuffle the ratings of one grid block ``[start, end)`` in place (seeded by ``seed``,
    ``epoch`` and ``block``), then one SGD pass over them. Releases the GIL, so threads can
    run disjoint blocks at once. Returns the sum of squared errors before each step."""
    return _sgd_pass_shuffled(users, items, ratings, start, end, mu, bu, bi, P, Q, lr, lr_b, reg,
                              reg_b, biased, _mix_seed(seed, epoch, block), prefetch, P.shape[1])


def _grouped(order: str | None) -> int:
    """``order`` (default :data:`WITHIN_BLOCK_ORDER`) as the smallest factor-table size in
    bytes from which the kernels learn user runs: 0 always, -1 never."""
    order = WITHIN_BLOCK_ORDER if order is None else order
    if order not in ("grouped", "shuffle", "auto"):
        raise ValueError(f"within-block order must be 'grouped', 'shuffle' or 'auto', "
                         f"got {order!r}")
    return {"grouped": 0, "shuffle": -1}.get(order, int(GROUPED_MIN_BYTES))


def learns_by_user(table_bytes: int, order: str | None = None) -> bool:
    """Whether the epoch kernels learn a block user run by user run (the ``"grouped"`` order)
    when the factor tables (users + items) take ``table_bytes``; ``order`` defaults to
    :data:`WITHIN_BLOCK_ORDER`."""
    threshold = _grouped(order)
    return threshold >= 0 and table_bytes >= threshold


def _lanes() -> int:
    """:data:`GROUPED_LANES`, checked."""
    if GROUPED_LANES not in (1, 2):
        raise ValueError(f"GROUPED_LANES must be 1 or 2, got {GROUPED_LANES!r}")
    return int(GROUPED_LANES)


def epoch_kernel(n_factors: int, order: str | None = None):
    """A kernel compiled for ``n_factors`` factors (a compile-time constant; cached on disk per
    value) that runs grid blocks one after the other:

    ``kernel(users, items, ratings, indptr, blocks, mu, bu, bi, P, Q, lr, lr_b, reg, reg_b,
    biased, seed, epoch, prefetch, sse)``

    For each block ``g`` in ``blocks`` (int64, in that order) it learns the ratings
    ``[indptr[g], indptr[g + 1])`` in the block order ``order`` (default
    :data:`WITHIN_BLOCK_ORDER`): ``"grouped"``, user runs in a random order
    (:func:`grouped_positions`, seeded by ``seed``, ``epoch`` and ``g``; with
    :data:`GROUPED_LANES` 2, two runs side by side, :func:`grouped_positions2`), ``"shuffle"``,
    what :func:`sgd_block` does (same shuffle, same steps), or ``"auto"``, grouped when
    ``P`` and ``Q`` together take at least :data:`GROUPED_MIN_BYTES`; it stores the block's
    sum of squared errors in ``sse[g]``. One call per epoch and thread: no Python between blocks.
    Releases the GIL.
    """
    return _epoch_kernel(int(n_factors), _grouped(order), _lanes(), bool(FUSED_STEP))


@functools.cache
def _epoch_kernel(K: int, min_bytes: int, lanes: int, fused: bool):
    @njit(cache=True, nogil=True, fastmath=_KERNEL_FASTMATH)
    def run_blocks(users, items, ratings, indptr, blocks, mu, bu, bi, P, Q, lr, lr_b, reg,
                   reg_b, biased, seed, epoch, prefetch, sse):
        table_bytes = (P.shape[0] + Q.shape[0]) * K * P.itemsize
        grouped = min_bytes >= 0 and table_bytes >= min_bytes
        for g in blocks:
            start = indptr[g]
            end = indptr[g + 1]
            if grouped and lanes == 2:
                sse[g] = _sgd_pass_grouped2(users, items, ratings, start, end, mu, bu, bi, P,
                                            Q, lr, lr_b, reg, reg_b, biased,
                                            _mix_seed(seed, epoch, g), prefetch, K)
            elif grouped:
                sse[g] = _sgd_pass_grouped(users, items, ratings, start, end, mu, bu, bi, P,
                                           Q, lr, lr_b, reg, reg_b, biased,
                                           _mix_seed(seed, epoch, g), prefetch, fused, K)
            else:
                sse[g] = _sgd_pass_shuffled(users, items, ratings, start, end, mu, bu, bi, P,
                                            Q, lr, lr_b, reg, reg_b, biased,
                                            _mix_seed(seed, epoch, g), prefetch, K)

    return run_blocks


@njit(cache=True, nogil=True)
def _lock(claim):
    while _compare_exchange(claim, 0, 0, 1) != 0:
        pass


@njit(cache=True, nogil=True)
def _claim_block(claim, order, n_blocks, n_item_blocks):
    """Under the lock, take the first block of ``order`` not yet taken whose user block and
    item block are both free, and mark it. Returns the block, ``-1`` when every block is
    taken, ``-2`` when the untaken ones all wait for a busy row or column.

    Block ``g = a * n_item_blocks + b`` (user block ``a`` of ``n_blocks``, item block ``b``).
    ``claim`` (int64) holds: ``[0]`` the spin lock, ``[1]`` how many blocks of ``order`` are
    taken, ``[2 : 2 + n_blocks]`` the busy user blocks, the next ``n_item_blocks`` entries the
    busy item blocks, then ``[2 + n_blocks + n_item_blocks + pos]`` whether ``order[pos]`` is
    taken.
    """
    _lock(claim)
    found = -1 if claim[1] == order.shape[0] else -2
    if found == -2:
        busy_items = 2 + n_blocks
        taken = busy_items + n_item_blocks
        for pos in range(order.shape[0]):
            if claim[taken + pos] == 0:
                g = order[pos]
                a = g // n_item_blocks
                b = g - a * n_item_blocks
                if claim[2 + a] == 0 and claim[busy_items + b] == 0:
                    claim[taken + pos] = 1
                    claim[1] += 1
                    claim[2 + a] = 1
                    claim[busy_items + b] = 1
                    found = g
                    break
    _release_store(claim, 0, 0)
    return found


@njit(cache=True, nogil=True)
def _free_block(claim, g, n_blocks, n_item_blocks):
    _lock(claim)
    a = g // n_item_blocks
    claim[2 + a] = 0
    claim[2 + n_blocks + g - a * n_item_blocks] = 0
    _release_store(claim, 0, 0)


def new_claim(n_blocks: int, n_order: int, n_item_blocks: int | None = None) -> np.ndarray:
    """A zeroed claim array for :func:`parallel_epoch_kernel` (one per epoch): a grid of
    ``n_blocks`` user blocks by ``n_item_blocks`` item blocks (default ``n_blocks``)."""
    n_item_blocks = n_blocks if n_item_blocks is None else n_item_blocks
    return np.zeros(2 + n_blocks + n_item_blocks + n_order, dtype=np.int64)


def parallel_epoch_kernel(n_factors: int, order: str | None = None):
    """The FPSGD worker for ``n_factors`` factors; every thread of an epoch calls

    ``kernel(users, items, ratings, indptr, order, n_blocks, n_item_blocks, claim, mu, bu, bi,
    P, Q, lr, lr_b, reg, reg_b, biased, seed, epoch, prefetch, sse)``

    with the same ``order`` (the epoch's blocks in random order, of a grid of ``n_blocks``
    user blocks by ``n_item_blocks`` item blocks) and ``claim`` (from :func:`new_claim`). Each call repeatedly takes the first untaken block of ``order`` whose
    user block and item block no other thread holds (a spin lock guards the few bytes of
    bookkeeping; it is held for a scan of the grid, never during a block), runs it as
    :func:`epoch_kernel` does (within-block ``order`` of this factory, default
    :data:`WITHIN_BLOCK_ORDER`), and frees its row and column, until every block is taken.
    No barrier and no Python between blocks; the GIL is released throughout.
    """
    return _parallel_epoch_kernel(int(n_factors), _grouped(order), _lanes(), bool(FUSED_STEP))


@functools.cache
def _parallel_epoch_kernel(K: int, min_bytes: int, lanes: int, fused: bool):
    @njit(cache=True, nogil=True, fastmath=_KERNEL_FASTMATH)
    def run_claimed(users, items, ratings, indptr, order, n_blocks, n_item_blocks, claim, mu,
                    bu, bi, P, Q, lr, lr_b, reg, reg_b, biased, seed, epoch, prefetch, sse):
        table_bytes = (P.shape[0] + Q.shape[0]) * K * P.itemsize
        grouped = min_bytes >= 0 and table_bytes >= min_bytes
        while True:
            g = _claim_block(claim, order, n_blocks, n_item_blocks)
            if g == -1:
                return
            if g == -2:
                continue  # another thread holds the row or column every untaken block needs
            start = indptr[g]
            end = indptr[g + 1]
            if grouped and lanes == 2:
                sse[g] = _sgd_pass_grouped2(users, items, ratings, start, end, mu, bu, bi, P,
                                            Q, lr, lr_b, reg, reg_b, biased,
                                            _mix_seed(seed, epoch, g), prefetch, K)
            elif grouped:
                sse[g] = _sgd_pass_grouped(users, items, ratings, start, end, mu, bu, bi, P,
                                           Q, lr, lr_b, reg, reg_b, biased,
                                           _mix_seed(seed, epoch, g), prefetch, fused, K)
            else:
                sse[g] = _sgd_pass_shuffled(users, items, ratings, start, end, mu, bu, bi, P,
                                            Q, lr, lr_b, reg, reg_b, biased,
                                            _mix_seed(seed, epoch, g), prefetch, K)
            _free_block(claim, g, n_blocks, n_item_blocks)

    return run_claimed


@njit(cache=True, nogil=True)
def _block_order(users, items, user_block, item_block, n_blocks, n_item_blocks, by_user):
    n = users.shape[0]
    n_grid = n_blocks * n_item_blocks
    counts = np.zeros(n_grid + 1, dtype=np.int64)
    for k in range(n):
        counts[user_block[users[k]] * n_item_blocks + item_block[items[k]] + 1] += 1
    for g in range(n_grid):
        counts[g + 1] += counts[g]
    indptr = counts.copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        g = user_block[users[k]] * n_item_blocks + item_block[items[k]]
        order[counts[g]] = k
        counts[g] += 1
    if by_user:
        rank, sizes = user_ranks(user_block, n_blocks)
        for g in range(n_grid):
            start, end = indptr[g], indptr[g + 1]
            cnt = np.zeros(sizes[g // n_item_blocks] + 1, dtype=np.int64)
            for pos in range(start, end):
                cnt[rank[users[order[pos]]] + 1] += 1
            for r in range(cnt.shape[0] - 1):
                cnt[r + 1] += cnt[r]
            cell = order[start:end].copy()
            for k in cell:
                r = rank[users[k]]
                order[start + cnt[r]] = k
                cnt[r] += 1
    return order, indptr


def block_order(users, items, user_block, item_block, n_blocks, by_user=None,
                n_item_blocks=None):
    """Counting sort of ratings by (user block, item block), then, with ``by_user`` (default:
    :data:`WITHIN_BLOCK_ORDER` is not ``"shuffle"``), by user inside each block (users in index
    order; a stable sort, so a user's ratings keep their order). ``n_blocks`` user blocks by
    ``n_item_blocks`` item blocks (default ``n_blocks``).

    Returns ``(order, indptr)``: ``order`` lists rating positions grouped by block, and block
    ``g = a * n_item_blocks + b`` spans ``order[indptr[g]:indptr[g + 1]]``.
    """
    by_user = _grouped(None) >= 0 if by_user is None else bool(by_user)
    n_item_blocks = n_blocks if n_item_blocks is None else n_item_blocks
    return _block_order(users, items, user_block, item_block, int(n_blocks), int(n_item_blocks),
                        by_user)


def block_partition(users, items, ratings, user_block, item_block, n_blocks, by_user=None,
                    n_threads=1, n_item_blocks=None):
    """Copies of the three arrays grouped by grid block (and, with ``by_user``, sorted by user
    inside each block, as :func:`block_order` says): stable counting sorts on ``n_threads``
    threads (:func:`recsys.models._grouping.block_partition`).

    The result equals ``users[order], items[order], ratings[order]`` with ``(order, indptr)``
    from :func:`block_order`, without materialising ``order`` (a third less memory traffic).
    Returns ``(users, items, ratings, indptr)``.
    """
    by_user = _grouped(None) >= 0 if by_user is None else bool(by_user)
    return _grouping.block_partition(users, items, ratings, user_block, item_block, n_blocks,
                                     by_user, n_threads, n_item_blocks)


@njit(cache=True, nogil=True, fastmath=True)
def predict_pairs(users, items, mu, bu, bi, P, Q, biased, fallback):
    """Raw predictions (float64) for index pairs; ``-1`` marks an unknown user or item.

    Known pair: ``mu + b_u + b_i + p_u . q_i`` (``p_u . q_i`` when not biased). Otherwise the
    biases that are known (``mu + b_i`` for an unknown user, ``mu + b_u`` for an unknown item,
    ``mu`` for both); an unbiased model falls back to ``fallback`` (the global mean).
    """
    n = users.shape[0]
    k = P.shape[1]
    out = np.empty(n, dtype=np.float64)
    for idx in range(n):
        u = users[idx]
        i = items[idx]
        if u >= 0 and i >= 0:
            dot = 0.0
            for f in range(k):
                dot += np.float64(P[u, f]) * np.float64(Q[i, f])
            if biased:
                out[idx] = np.float64(mu) + bu[u] + bi[i] + dot
            else:
                out[idx] = dot
        elif biased:
            value = np.float64(mu)
            if u >= 0:
                value += bu[u]
            if i >= 0:
                value += bi[i]
            out[idx] = value
        else:
            out[idx] = fallback
    return out


@njit(cache=True, nogil=True, fastmath=True)
def squared_error_clipped(users, items, ratings, mu, bu, bi, P, Q, biased, fallback, low, high):
    """Sum of squared errors of the clipped predictions (float64), without allocating."""
    n = users.shape[0]
    k = P.shape[1]
    sse = 0.0
    for idx in range(n):
        u = users[idx]
        i = items[idx]
        if u >= 0 and i >= 0:
            dot = 0.0
            for f in range(k):
                dot += np.float64(P[u, f]) * np.float64(Q[i, f])
            pred = dot + ((np.float64(mu) + bu[u] + bi[i]) if biased else 0.0)
        elif biased:
            pred = np.float64(mu)
            if u >= 0:
                pred += bu[u]
            if i >= 0:
                pred += bi[i]
        else:
            pred = fallback
        pred = min(max(pred, low), high)
        e = ratings[idx] - pred
        sse += e * e
    return sse
