r"""An explicitly vectorised dot product of two ``float32`` factor rows, for the SGD kernels.

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

__all__ = ["ACCUMULATORS", "row_dot"]

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


def _emit_dot(builder, p, q, k: int, n_acc: int):
    """IR for the dot product of ``k`` floats at ``p`` and ``q``; returns a ``float``."""
    f32 = ir.FloatType()
    v8 = ir.VectorType(f32, _WIDTH)
    v4 = ir.VectorType(f32, 4)
    module = builder.module
    fma8 = cgutils.get_or_insert_function(module, ir.FunctionType(v8, [v8] * 3), "llvm.fma.v8f32")
    fma4 = cgutils.get_or_insert_function(module, ir.FunctionType(v4, [v4] * 3), "llvm.fma.v4f32")
    i32 = ir.IntType(32)

    def load(pointer, offset, vector):
        address = builder.gep(pointer, [ir.Constant(i32, offset)])
        return builder.load(builder.bitcast(address, vector.as_pointer()), align=4)

    n_chunks = k // _WIDTH
    acc = []
    for c in range(n_chunks):
        a = load(p, c * _WIDTH, v8)
        b = load(q, c * _WIDTH, v8)
        slot = c % n_acc
        if slot < len(acc):
            acc[slot] = builder.call(fma8, [a, b, acc[slot]])
        else:
            acc.append(builder.fmul(a, b))
    while len(acc) > 1:  # pairwise tree
        acc = [builder.fadd(acc[j], acc[j + 1]) if j + 1 < len(acc) else acc[j]
               for j in range(0, len(acc), 2)]
    if acc:
        v = acc[0]
        four = builder.fadd(builder.shuffle_vector(v, v, _mask(0, 1, 2, 3)),
                            builder.shuffle_vector(v, v, _mask(4, 5, 6, 7)))
    else:
        four = ir.Constant(v4, [0.0] * 4)
    done = n_chunks * _WIDTH
    if k - done >= 4:
        four = builder.call(fma4, [load(p, done, v4), load(q, done, v4), four])
        done += 4
    pair = builder.fadd(builder.shuffle_vector(four, four, _mask(0, 1)),
                        builder.shuffle_vector(four, four, _mask(2, 3)))
    total = builder.fadd(builder.extract_element(pair, ir.Constant(i32, 0)),
                         builder.extract_element(pair, ir.Constant(i32, 1)))
    for f in range(done, k):
        x = builder.load(builder.gep(p, [ir.Constant(i32, f)]))
        y = builder.load(builder.gep(q, [ir.Constant(i32, f)]))
        total = builder.fadd(total, builder.fmul(x, y))
    return total


@intrinsic
def _row_dot_simd(typingctx, P, u, Q, i, K):
    """``P[u, :K] . Q[i, :K]`` for 2-d C-contiguous float32 arrays and a literal ``K``."""
    if not (isinstance(K, types.IntegerLiteral) and K.literal_value > 0):
        return None
    for array in (P, Q):
        if not (isinstance(array, types.Array) and array.ndim == 2 and array.layout == "C"
                and array.dtype == types.float32):
            return None
    k = int(K.literal_value)
    n_acc = max(1, min(int(ACCUMULATORS), 8))

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
    simd = (isinstance(K, types.IntegerLiteral) and K.literal_value > 0
            and all(isinstance(a, types.Array) and a.ndim == 2 and a.layout == "C"
                    and a.dtype == types.float32 for a in (P, Q)))
    if simd:
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
