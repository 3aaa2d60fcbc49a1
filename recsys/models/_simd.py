r"""Explicitly vectorised row operations of the SGD kernels: the dot product of two
``float32`` factor rows, and a rating's factor step fused with the next dot product.

``row_dot(P, u, Q, i, K)`` returns :math:`p_u \cdot q_i = \sum_{f < K} P_{uf} Q_{if}` for
C-contiguous ``float32`` matrices, with ``K`` a compile-time constant (a literal integer in the
calling kernel: the kernels of :mod:`recsys.models._sgd` are compiled per factor count).

Why by hand: LLVM vectorises the plain loop ``for f in range(K): dot += P[u, f] * Q[i, f]``
(``fastmath``) into one chain of 8-wide fused multiply-adds, each waiting for the one before
(K = 100: twelve in a row, about 50 cycles, then the horizontal sum), and in per-rating SGD
the next rating of the same user waits for this dot product. Here the chunks of 8 go round
robin to :data:`ACCUMULATORS` independent accumulators (K = 100: three FMAs deep instead of
twelve), summed as a tree, then the 4-wide and scalar tail. Same sum up to the order of the
additions (which ``fastmath`` already leaves to the compiler).

:func:`row_dot` falls back to the plain loop when ``K`` is not a literal or the arrays are not
``float32``, so a kernel written with it compiles for any factor count and dtype.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["ACCUMULATORS", "row_dot", "row_step_dot"]

# Independent 8-wide accumulators of the dot product (a power of two, 1 to 8).
ACCUMULATORS = 4
_WIDTH = 8  # float32 lanes of an AVX register


def _row_pointer(context, builder, array_type, array, row):
    """``float*`` to ``array[row, 0]`` of a 2-d C-contiguous array (no bounds check)."""
    view = context.make_array(array_type)(context, builder, array)
    strides = cgutils.unpack_tuple(builder, view.strides, 2)
    shapes = cgutils.unpack_tuple(builder, view.shape, 2)
    return cgutils.get_item_pointer2(context, builder, data=view.data, shape=shapes,
                                     strides=strides, layout="C",
                                     inds=[row, context.get_constant(types.intp, 0)],
                                     wraparound=False, boundscheck=False)


def _mask(*lanes: int) -> ir.Constant:
    """A shufflevector mask taking ``lanes``."""
    return ir.Constant(ir.VectorType(ir.IntType(32), len(lanes)), list(lanes))


def _vector(width: int):
    """``<width x float>``, or ``float`` for width 1."""
    return ir.FloatType() if width == 1 else ir.VectorType(ir.FloatType(), width)


def _fma(builder, a, b, c):
    """``a * b + c`` as one fused multiply-add (``llvm.fma``), vectors or scalars."""
    width = 1 if isinstance(a.type, ir.FloatType) else a.type.count
    name = "llvm.fma.f32" if width == 1 else f"llvm.fma.v{width}f32"
    vector = _vector(width)
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector, [vector] * 3),
                                        name)
    return builder.call(fn, [a, b, c])


def _slot(builder, pointer, offset: int, width: int):
    """The address of ``width`` floats at ``pointer + offset``, typed for a vector access."""
    address = builder.gep(pointer, [ir.Constant(ir.IntType(32), offset)])
    return address if width == 1 else builder.bitcast(address, _vector(width).as_pointer())


def _load(builder, pointer, offset: int, width: int):
    return builder.load(_slot(builder, pointer, offset, width), align=4)


def _store(builder, value, pointer, offset: int, width: int):
    builder.store(value, _slot(builder, pointer, offset, width), align=4)


def _emit_sum_of_products(builder, k: int, n_acc: int, terms):
    """IR for ``sum(a * b)`` over ``k`` floats, where ``terms(offset, width)`` emits whatever a
    chunk needs and returns its two factors ``(a, b)``: chunks of 8 go round robin to
    ``n_acc`` accumulators, then a chunk of 4 and single floats; the accumulators are summed
    as a tree. Returns a ``float``."""
    n_chunks = k // _WIDTH
    acc = []
    for c in range(n_chunks):
        a, b = terms(c * _WIDTH, _WIDTH)
        slot = c % n_acc
        if slot < len(acc):
            acc[slot] = _fma(builder, a, b, acc[slot])
        else:
            acc.append(builder.fmul(a, b))
    while len(acc) > 1:  # pairwise tree
        acc = [builder.fadd(acc[j], acc[j + 1]) if j + 1 < len(acc) else acc[j]
               for j in range(0, len(acc), 2)]
    done = n_chunks * _WIDTH
    if acc:
        v = acc[0]
        four = builder.fadd(builder.shuffle_vector(v, v, _mask(0, 1, 2, 3)),
                            builder.shuffle_vector(v, v, _mask(4, 5, 6, 7)))
    else:
        four = ir.Constant(_vector(4), [0.0] * 4)
    if k - done >= 4:
        a, b = terms(done, 4)
        four = _fma(builder, a, b, four)
        done += 4
    pair = builder.fadd(builder.shuffle_vector(four, four, _mask(0, 1)),
                        builder.shuffle_vector(four, four, _mask(2, 3)))
    i32 = ir.IntType(32)
    total = builder.fadd(builder.extract_element(pair, ir.Constant(i32, 0)),
                         builder.extract_element(pair, ir.Constant(i32, 1)))
    for f in range(done, k):
        a, b = terms(f, 1)
        total = _fma(builder, a, b, total)
    return total


def _splat(builder, value, width: int):
    """``value`` (a float) in every lane of a ``width``-vector (itself for width 1)."""
    if width == 1:
        return value
    vector = _vector(width)
    one = builder.insert_element(ir.Constant(vector, ir.Undefined), value,
                                 ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), width),
                                                        [0] * width))


def _emit_dot(builder, p, q, k: int, n_acc: int):
    """IR for the dot product of ``k`` floats at ``p`` and ``q``; returns a ``float``."""
    return _emit_sum_of_products(
        builder, k, n_acc,
        lambda offset, width: (_load(builder, p, offset, width),
                               _load(builder, q, offset, width)))


def _emit_step_dot(builder, p, q, q_next, shrink, step, k: int, n_acc: int):
    """IR for the factor step of one rating, ``p <- shrink p + step q`` and
    ``q <- shrink q + step p`` (both from the old values), fused with the next rating's dot
    product ``p_new . q_next``, which it returns. ``q_next`` is read after ``q`` is written,
    chunk by chunk, so ``q_next`` may be ``q`` itself: the dot product then takes the new
    ``q`` too."""
    splats = {}

    def terms(offset, width):
        if width not in splats:
            splats[width] = (_splat(builder, shrink, width), _splat(builder, step, width))
        s, e = splats[width]
        old_p = _load(builder, p, offset, width)
        old_q = _load(builder, q, offset, width)
        new_p = _fma(builder, e, old_q, builder.fmul(s, old_p))
        new_q = _fma(builder, e, old_p, builder.fmul(s, old_q))
        _store(builder, new_p, p, offset, width)
        _store(builder, new_q, q, offset, width)
        return new_p, _load(builder, q_next, offset, width)

    return _emit_sum_of_products(builder, k, n_acc, terms)


def _float32_matrix(array) -> bool:
    return (isinstance(array, types.Array) and array.ndim == 2 and array.layout == "C"
            and array.dtype == types.float32)


def _vectorised(K, P, Q, *scalars) -> bool:
    """Whether the explicit vector code applies to these argument types: a literal factor
    count, C-contiguous float32 matrices and float32 scalars."""
    return (isinstance(K, types.IntegerLiteral) and K.literal_value > 0
            and _float32_matrix(P) and _float32_matrix(Q)
            and all(x == types.float32 for x in scalars))


def _accumulators() -> int:
    return max(1, min(int(ACCUMULATORS), 8))


@intrinsic
def _row_dot_simd(typingctx, P, u, Q, i, K):
    """``P[u, :K] . Q[i, :K]`` for 2-d C-contiguous float32 arrays and a literal ``K``."""
    if not _vectorised(K, P, Q):
        return None
    k, n_acc = int(K.literal_value), _accumulators()

    def codegen(context, builder, signature, args):
        p = _row_pointer(context, builder, signature.args[0], args[0],
                         context.cast(builder, args[1], signature.args[1], types.intp))
        q = _row_pointer(context, builder, signature.args[2], args[2],
                         context.cast(builder, args[3], signature.args[3], types.intp))
        return _emit_dot(builder, p, q, k, n_acc)

    return types.float32(P, u, Q, i, K), codegen


def row_dot(P, u, Q, i, K):
    """``sum(P[u, f] * Q[i, f] for f in range(K))`` (plain Python; compiled: see the module)."""
    return sum(P[u, f] * Q[i, f] for f in range(K))


@overload(row_dot, inline="always", prefer_literal=True)
def _row_dot_overload(P, u, Q, i, K):
    if _vectorised(K, P, Q):
        def impl(P, u, Q, i, K):
            return _row_dot_simd(P, u, Q, i, K)
        return impl

    zero = np.dtype(str(P.dtype)).type(0) if isinstance(P, types.Array) else 0.0

    def loop(P, u, Q, i, K):
        dot = zero
        for f in range(K):
            dot += P[u, f] * Q[i, f]
        return dot
    return loop


@intrinsic
def _row_step_dot_simd(typingctx, P, u, Q, i, j, shrink, step, K):
    """:func:`row_step_dot` for 2-d C-contiguous float32 arrays and a literal ``K``."""
    if not _vectorised(K, P, Q, shrink, step):
        return None
    k, n_acc = int(K.literal_value), _accumulators()

    def codegen(context, builder, signature, args):
        rows = []
        for array, row in ((0, 1), (2, 3), (2, 4)):
            rows.append(_row_pointer(context, builder, signature.args[array], args[array],
                                     context.cast(builder, args[row], signature.args[row],
                                                  types.intp)))
        return _emit_step_dot(builder, *rows, args[5], args[6], k, n_acc)

    return types.float32(P, u, Q, i, j, shrink, step, K), codegen


def row_step_dot(P, u, Q, i, j, shrink, step, K):
    """The factor step of rating ``(u, i)`` fused with the dot product of the next rating of
    the same user, ``(u, j)``:

    ``P[u] <- shrink P[u] + step Q[i]`` and ``Q[i] <- shrink Q[i] + step P[u]`` (both from
    the old values), then returns ``P[u] . Q[j]`` with the new rows (``j == i`` included),
    computed while the new ``P[u]`` is still in registers. Plain Python; compiled: see the
    module."""
    old_p = P[u, :K].copy()
    P[u, :K] = shrink * old_p + step * Q[i, :K]
    Q[i, :K] = shrink * Q[i, :K] + step * old_p
    return sum(P[u, f] * Q[j, f] for f in range(K))


@overload(row_step_dot, inline="always", prefer_literal=True)
def _row_step_dot_overload(P, u, Q, i, j, shrink, step, K):
    if _vectorised(K, P, Q, shrink, step):
        def impl(P, u, Q, i, j, shrink, step, K):
            return _row_step_dot_simd(P, u, Q, i, j, shrink, step, K)
        return impl

    def loop(P, u, Q, i, j, shrink, step, K):
        for f in range(K):
            p = P[u, f]
            q = Q[i, f]
            P[u, f] = shrink * p + step * q
            Q[i, f] = shrink * q + step * p
        return row_dot(P, u, Q, j, K)
    return loop
