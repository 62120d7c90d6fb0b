"""A small accumulator tile on the stack, for register tiling in numba kernels.

``np.empty((R, T))`` inside a kernel is a heap allocation whose address comes
from numba's runtime: LLVM cannot prove that the kernel's other loads and
stores never touch it, so the tile stays in memory, stored and reloaded for
every block.  :func:`stack_tile` returns a pointer to ``size`` elements
allocated with ``alloca`` in the function's entry block (via numba's
``cgutils.alloca_once``); wrapped with ``numba.carray(ptr, (R, T))`` it reads
like an array, and since its address never leaves the function it is provably
private: once the loop over ``T`` is vectorised, LLVM keeps each vector-wide
slice of the tile in a register across the loop over the blocks.  This is how
the generated kernels of :mod:`sparsekit.kernels.spmm_bcsr_tiled` keep an
``R x T`` accumulator tile in the 16 ymm registers of an AVX2 core.

The memory is uninitialised and lives until the function returns; ``size``
must be a compile-time constant (write it as a literal in the source).
"""
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic


@intrinsic
def stack_tile(typingctx, size, like):
    """``stack_tile(N, arr)`` -> pointer to ``N`` uninitialised elements of ``arr.dtype``.

    ``like`` may also be a scalar; its type gives the element type.
    """
    if not isinstance(size, types.IntegerLiteral):
        raise TypingError("stack_tile: size must be an integer literal")
    if isinstance(like, types.Array):
        elem = like.dtype
    elif isinstance(like, types.Number):
        elem = like
    else:
        raise TypingError(f"stack_tile: cannot take an element type from {like}")
    n = int(size.literal_value)
    if n < 1:
        raise TypingError("stack_tile: size must be positive")

    def codegen(context, builder, signature, args):
        llty = context.get_data_type(elem)
        return cgutils.alloca_once(builder, llty, size=n)

    return types.CPointer(elem)(size, like), codegen
