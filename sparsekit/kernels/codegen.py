"""How numba compiles the kernels: fastmath flags and LLVM's vectorisers, per variant.

One kernel source gives the ``simd`` and the ``scalar`` variant: :func:`compile_for`
compiles it with LLVM's loop and SLP vectorisers on (``simd``, ``parallel``, ``int8``)
or both off (``scalar``: the same loops, one lane at a time), and ``reference`` with
numba's defaults (loop vectoriser on, SLP off).  Every fast kernel of the package
(:mod:`.spmm_bcsr_tiled`, :mod:`.spmm_bcsr_general`, :mod:`.spmv_csr_fast`,
:mod:`.spmv_bcsr_unrolled`) is compiled through here.
"""
from __future__ import annotations

import contextlib
import threading

#: fastmath flags of every kernel: FMA contraction, but no reassociation, so that LLVM never
#: vectorises the k loop (a reduction, through gathers) instead of the contiguous m loop.
FASTMATH = {"contract", "arcp", "nsz", "afn"}

_lock = threading.RLock()


@contextlib.contextmanager
def vectorizers(loop: bool, slp: bool):
    """Compile with LLVM's loop / SLP vectorisers switched on or off.

    numba reads ``config.LOOP_VECTORIZE`` and ``config.SLP_VECTORIZE`` each time
    it builds an LLVM pass pipeline, so switching them around one compilation
    affects only the functions compiled inside the block.  numba's default is
    loop on, SLP off.  The tiled kernels need SLP: with a literal tile width
    LLVM fully unrolls the ``m`` loop before the loop vectoriser runs, and only
    the SLP vectoriser packs the unrolled scalar FMAs into ymm FMAs.
    """
    from numba.core import config
    from numba.core.registry import cpu_target

    codegen = cpu_target.target_context.codegen()
    with _lock:
        saved = (config.LOOP_VECTORIZE, config.SLP_VECTORIZE, codegen._loopvect)
        config.LOOP_VECTORIZE = loop
        config.SLP_VECTORIZE = slp
        codegen._loopvect = loop
        try:
            yield
        finally:
            config.LOOP_VECTORIZE, config.SLP_VECTORIZE, codegen._loopvect = saved


def scalar_codegen():
    """Both vectorisers off: the same source gives scalar machine code (``vfmadd231ss``)."""
    return vectorizers(False, False)


def simd_codegen():
    """Loop and SLP vectorisers on (what the ``simd``, ``parallel`` and ``int8`` kernels use)."""
    return vectorizers(True, True)


def compile_for(kernel, args, variant: str):
    """Make sure ``kernel`` is compiled for the types of ``args`` with the vectoriser settings
    of ``variant`` ("scalar": both off; "simd"/"parallel"/"int8": loop + SLP; "reference":
    numba's defaults)."""
    from numba import typeof

    sig = tuple(typeof(a) for a in args)
    if sig in kernel.overloads:
        return kernel
    if variant == "scalar":
        ctx = scalar_codegen()
    elif variant in ("simd", "parallel", "int8"):
        ctx = simd_codegen()
    else:  # "reference": numba's defaults (loop vectoriser on, SLP off)
        ctx = vectorizers(True, False)
    with ctx:
        kernel.compile(sig)
    return kernel
