"""A software prefetch for numba kernels: ``prefetch(arr, i)``.

``prefetch(arr, i)`` asks the CPU to bring the cache line that holds element
``i`` of ``arr`` (counted in elements from its data pointer: ``arr.ravel()[i]``
for a C-contiguous array) into the level-1 data cache now, so that a load of it a
little later does not wait for memory.  It is LLVM's ``llvm.prefetch``
intrinsic (``prefetcht0`` on x86, ``prfm pldl1keep`` on ARM) and only a hint:
it computes no result, and the hardware ignores an address it cannot fetch
instead of faulting, so ``i`` may run past the end of ``arr`` (the pointer is
formed without LLVM's ``inbounds`` promise).  On a target without prefetch
instructions it compiles to nothing.

The register-tiled SpMM kernels (:mod:`sparsekit.kernels.spmm_bcsr_tiled`)
use it where the hardware prefetchers give up: a narrow HW tile walks dozens of
rows of ``X`` at once, a few bytes of each per step, and the stream
prefetchers track only so many streams.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic

__all__ = ["prefetch", "elements_in"]


@intrinsic
def prefetch(typingctx, arr, i):
    """``prefetch(arr, i)``: hint that ``arr``'s element ``i`` (flat index) is read soon."""
    if not isinstance(arr, types.Array):
        raise TypingError(f"prefetch: arr must be an array, got {arr}")
    if not isinstance(i, types.Integer):
        raise TypingError(f"prefetch: the index must be an integer, got {i}")

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])  # no inbounds: past the end is allowed
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read (0), keep in all cache levels (locality 3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@intrinsic
def elements_in(typingctx, nbytes, arr):
    """``elements_in(NBYTES, arr)``: how many of ``arr``'s elements fit in ``NBYTES`` bytes, as a
    compile-time constant (``NBYTES`` must be a literal), so that a test on it folds away.
    (``arr.itemsize`` is read from the array at run time.)"""
    if not isinstance(nbytes, types.IntegerLiteral):
        raise TypingError("elements_in: the byte count must be an integer literal")
    if not isinstance(arr, types.Array) or not hasattr(arr.dtype, "bitwidth"):
        raise TypingError(f"elements_in: arr must be an array of numbers, got {arr}")
    n = int(nbytes.literal_value) // max(arr.dtype.bitwidth // 8, 1)

    def codegen(context, builder, signature, args):
        return context.get_constant(types.uint64, n)

    return types.uint64(nbytes, arr), codegen
