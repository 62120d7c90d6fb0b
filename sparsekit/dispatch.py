"""Choose and run the kernel for ``A @ X``: the public entry points of the numba kernels.

``A @ X`` on a :class:`~sparsekit.CSR` or :class:`~sparsekit.BCSR` checks ``X`` and calls
:func:`_matmul_checked`, which uses ``variant="auto"``: the
kernel that measured fastest on this course's reference machine for the block
shape, dtype and operand size.  The benchmark and the lessons call the same
kernels by name through :func:`spmm` and :func:`spmv`.

API (stable)
------------
``spmm(A, X, *, variant="auto", tile=None, out=None) -> Y``
    ``Y = A @ X`` for a CSR/BCSR ``A`` (``C_out x C_in``, a pruned 1x1
    convolution) and a dense 2-D ``X`` (``C_in x HW``, HW contiguous: NCHW
    activations).  ``Y`` is C-contiguous ``C_out x HW`` in the dtype of the
    product (float32 if both are float32, else float64).
``spmv(A, x, *, variant="auto") -> y``
    ``y = A @ x`` for a dense 1-D ``x``.
``available_variants(A) -> tuple[str, ...]``
    The variants that run for ``A`` (all of them, for every CSR/BCSR).
``tiles(A) -> tuple[int, ...]``
    The HW tile widths accepted by ``spmm(..., tile=...)`` for ``A``'s block
    shape (empty when the block has no register-tiled kernel).
``choose(A, X) -> (variant, tile)``
    What ``variant="auto"`` runs for these operands.
``kernel_name(A, X, variant="auto", tile=None) -> str``
    The name of the numba function that runs (for reports and plots).

Variants (``VARIANTS``)
    ``"reference"``  the plain loops the lessons start from (:mod:`sparsekit.kernels.spmm_bcsr`,
                     ``spmm_csr``, ``spmv_csr``, ``spmv_bcsr``);
    ``"scalar"``     the fast kernel's own source compiled with LLVM's vectorisers off (no ymm
                     instructions: ``tests/test_asm.py`` checks the machine code);
    ``"simd"``       the fast kernel: register-tiled and vectorised, one thread;
    ``"parallel"``   the same split into ``numba.get_num_threads()`` pieces: block rows cut at
                     equal numbers of stored blocks, or HW tiles when there are few block rows
                     (``kernels.work_split.work_part``);
    ``"auto"``       ``simd`` or ``parallel`` and the tile, chosen from :data:`AUTO_TILE`.

``tile`` (spmm only): the HW tile width of the register-tiled kernels (block
shapes in :data:`sparsekit.kernels.spmm_bcsr_tiled.BLOCKS`: 1x1, 1x4, 4x1, 2x2, 4x4, 8x1,
1x8, 8x8; widths in ``TILES``).  ``None`` takes the measured best for the block and
dtype.  Other block shapes run the general loop
(:mod:`sparsekit.kernels.spmm_bcsr_general`) and reject a tile.  A CSR matrix
runs the 1x1 kernels (its ``data`` *is* a list of 1x1 blocks).

Block convention: ``BCSR.blocksize = (r, c)`` = (output channels, input
channels).  MNN's/XNNPACK's "1x4" (4 output channels share one activation
load) is our ``(4, 1)``.

Errors: a non-CSR/BCSR ``A``, a ``tile`` that is no int or an ``out`` that is no array raises
``TypeError``; a wrong ``variant`` or ``tile`` value, a shape mismatch or an ``out`` of the wrong
shape, dtype or layout raises ``ValueError`` -- always before a kernel runs (``spmm_int8`` alike).
The first call of a (kernel, dtype) compiles it (seconds); numba caches
it on disk for later processes.  Time kernels after a warm-up call.

Repeated calls: ``spmm`` keeps a call plan per matrix (:mod:`sparsekit.callplan`: the kernel,
the flattened weights, the checks already passed) for each kind of operand, so the Python
around a repeated product is ~4 us (one thread) instead of ~8 us.  A plan is used only
while ``A.data``, ``A.indices`` and ``A.indptr`` are the same array objects (values of
``data`` changed in place are seen; ``indices`` and ``indptr`` are read-only once checked;
assigning new arrays makes a new plan) and is dropped with the matrix.

Timing: single-thread comparisons should set ``numba.set_num_threads(1)`` and limit
only BLAS (``threadpool_limits(1, user_api="blas")``).  "parallel" needs idle cores:
on a machine whose cores are busy with other jobs a parallel region waits for
its second thread to be scheduled (measured: ~8 ms per call under load, 20 us idle).

The int8 kernels (int8 weights and activations, int32 accumulation) are in
:mod:`sparsekit.quant` (``Int8BCSR``, ``spmm_int8``); ``spmm_int8`` keeps its call
plans the same way (measured on a small product: 24 -> 6 us per call).
"""
from __future__ import annotations

import numba
import numpy as np

from .callplan import Plan, cached_plan, checked, keep_plan, n_rows_padded, padded_x, plan_key, run
from .formats.bcsr import BCSR
from .formats.csr import CSR
from .formats.validation import as_operand, check_no_overlap, check_out
from .kernels import spmm_bcsr_tiled as _tiled
from .kernels import spmv_bcsr_fast as _spmv_bcsr
from .kernels import spmv_bcsr_unrolled as _spmv_unrolled
from .kernels import spmv_csr_fast as _spmv_csr
from .kernels.codegen import compile_for
from .kernels.spmv_bcsr import spmv_bcsr as _ref_spmv_bcsr
from .kernels.spmv_csr import spmv_csr as _ref_spmv_csr

__all__ = [
    "VARIANTS",
    "AUTO_TILE",
    "spmm",
    "spmv",
    "available_variants",
    "tiles",
    "choose",
    "kernel_name",
]

VARIANTS = ("auto", "reference", "scalar", "simd", "parallel")

#: Best HW tile per (block shape, dtype) for the register-tiled kernels.
#: Measured 2026-11-24 on the reference machine (AMD EPYC Zen3, AVX2+FMA, 16 ymm
#: registers, quiet): 1 thread, MobileNetV1's 13 pointwise layers at 50%, 70% and 90%
#: block sparsity, each generated kernel called directly, median of 7 rounds (all tiles
#: of a block timed round-robin), summed over the layers; every tile in ``TILES`` for
#: float32, 8/16/32 for float64.  The tile that wins at 90% wins or ties (within 2%) at
#: 50% and 70% for every float32 block but 2x2 (t16 is 4% faster at 50%) and 8x8 (t64 is
#: 5% faster at 50%), so one tile per block is kept.  float32 totals at 90% (ms; dense
#: OpenBLAS 1 thread 12.7-16.2 ms): 8x1 t8 1.85, 4x1 t16 1.83 (t8 2.36), 4x4 t64 2.16,
#: 8x8 t8 1.98, 2x2 t24 2.54, 1x4 t48 3.13, 1x8 t48 3.31, 1x1 t48 4.75.  A tile one step
#: off costs 5-50%; the wrong one up to 2.5x.  Re-measured 2026-11-25 after tiles narrower
#: than 128 bytes started prefetching their rows of X (``PREFETCH_BYTES``): the same winners
#: (8x1 t8, 4x1 t16: now 2.54 and 1.73 ms against dense 13-15 ms), except that 2x2 t16 is
#: 5% ahead of t24 at 90% and 5-14% behind at 70% and 50%, and 4x4 t8 is within 3% of t64 at
#: 90% and 30% behind at 50%: both kept.  Checked again 2026-11-25 10:23 UTC with the 13
#: layers called back to back through ``spmm`` (weights and X not warm from the layer's own
#: previous call, so higher totals than a layer timed in a loop of its own): 8x1 t8 2.77 ms
#: (t16 4.40), 4x1 t16 3.03 (t8 3.31), dense 15.6 ms.  Re-measure on another CPU (AVX-512 has 32
#: registers: wider tiles): time each tile with ``spmm(A, X, tile=t)`` as above.
AUTO_TILE = {
    ((1, 1), "float32"): 48,
    ((1, 4), "float32"): 48,
    ((4, 1), "float32"): 16,
    ((2, 2), "float32"): 24,
    ((4, 4), "float32"): 64,
    ((8, 1), "float32"): 8,
    ((1, 8), "float32"): 48,
    ((8, 8), "float32"): 8,
    ((1, 1), "float64"): 32,
    ((1, 4), "float64"): 32,
    ((4, 1), "float64"): 8,
    ((2, 2), "float64"): 8,
    ((4, 4), "float64"): 8,
    ((8, 1), "float64"): 8,
    ((1, 8), "float64"): 16,
    ((8, 8), "float64"): 32,
}
#: Below this many multiply-adds (stored values x HW) "auto" stays on one thread:
#: waking numba's thread pool costs more than it saves.  (On a machine whose cores are
#: busy with other work a parallel region can wait a whole scheduler time slice, ~10 ms,
#: for its second thread: then set ``numba.set_num_threads(1)``.)
PARALLEL_MIN_WORK = 1_000_000
#: Below this many stored values "auto" SpMV stays on one thread.
PARALLEL_MIN_NNZ_SPMV = 50_000

_compiled: set = set()
#: ``np.dtype.name`` is computed in Python on every access (~3 us): the two float dtypes' names
_DTYPE_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


# -- validation ------------------------------------------------------------------------------

def _check_matrix(A):
    if not isinstance(A, (CSR, BCSR)):
        raise TypeError(f"A must be a sparsekit CSR or BCSR matrix, got {type(A).__name__}")


def _check_variant(variant):
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def _block(A) -> tuple:
    return (1, 1) if isinstance(A, CSR) else tuple(A.blocksize)


def available_variants(A) -> tuple:
    """Variants :func:`spmm` / :func:`spmv` accept for ``A`` (every one, for every CSR/BCSR)."""
    _check_matrix(A)
    return VARIANTS


def tiles(A) -> tuple:
    """HW tile widths of the register-tiled kernels for ``A``'s block shape (``()`` if none)."""
    _check_matrix(A)
    return tuple(_tiled.TILES) if _block(A) in _tiled.BLOCKS else ()


def _check_tile(A, tile):
    if tile is None:
        return
    if isinstance(tile, (bool, np.bool_)) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be an int or None, got {tile!r}")
    allowed = tiles(A)
    if not allowed:
        raise ValueError(
            f"block shape {_block(A)} has no register-tiled kernel; tile must be None "
            f"(tiled blocks: {list(_tiled.BLOCKS)})"
        )
    if int(tile) not in allowed:
        raise ValueError(f"tile must be one of {allowed} for block {_block(A)}, got {tile}")


# -- choice --------------------------------------------------------------------------------

def _work(A, n_cols: int) -> int:
    return A.nnz * max(n_cols, 1)


def _choose(A, dtype, n_cols, variant, tile):
    block = _block(A)
    if variant == "auto":
        par = numba.get_num_threads() > 1 and _work(A, n_cols) >= PARALLEL_MIN_WORK
        variant = "parallel" if par else "simd"
    if variant in ("scalar", "simd", "parallel") and block in _tiled.BLOCKS and tile is None:
        tile = AUTO_TILE.get((block, _DTYPE_NAMES.get(dtype) or np.dtype(dtype).name), 8)
    if block not in _tiled.BLOCKS or variant == "reference":
        tile = None
    return variant, (None if tile is None else int(tile))


def choose(A, X) -> tuple:
    """``(variant, tile)`` that ``spmm(A, X)`` (``variant="auto"``) runs; ``tile`` may be None."""
    _check_matrix(A)
    X = as_operand(X, A.shape[1], A.dtype, name="X")
    n_cols = X.shape[1] if X.ndim == 2 else 1
    return _choose(A, X.dtype, n_cols, "auto", None)


def kernel_name(A, X, variant: str = "auto", tile=None) -> str:
    """Name of the numba function ``spmm``/``spmv`` runs for these arguments."""
    _check_matrix(A)
    _check_variant(variant)
    _check_tile(A, tile)
    X = as_operand(X, A.shape[1], A.dtype, name="X")
    if X.ndim == 1:
        return _spmv_kernel(A, _spmv_variant(A, variant))[0].__name__
    v, t = _choose(A, X.dtype, X.shape[1], variant, tile)
    if v == "reference":
        return "spmm_csr" if isinstance(A, CSR) else "spmm_bcsr"
    block = _block(A)
    if t is None:
        return "spmm_bcsr_general" + ("" if v == "simd" else f"_{v}")
    return _tiled.kernel_name(*block, t, v)


# -- running -------------------------------------------------------------------------------

def _ensure_compiled(kernel, args, variant):
    """Compile on first use with the vectoriser settings of the variant (:mod:`.kernels.codegen`)."""
    # a cheap stand-in for numba's types of the arguments (numba.typeof costs ~10 us per array):
    # every array argument here is C-contiguous; dtype, ndim and writeability decide the type
    key = (id(kernel),) + tuple(
        (a.dtype.char, a.ndim, a.flags.writeable) if type(a) is np.ndarray else type(a) for a in args
    )  # (~2 us for 7 arguments; numba's own dispatch on the call costs about the same)
    if key in _compiled:
        return
    compile_for(kernel, args, variant)
    _compiled.add(key)


def _plan(A, X, variant, tile) -> Plan:
    """The cached :class:`Plan` for these operands (validating ``variant``/``tile`` on a miss)."""
    n_threads = numba.get_num_threads() if variant == "auto" or variant == "parallel" else 1
    key = plan_key(variant, tile, X, n_threads)
    p = cached_plan(A, key)
    if p is not None:
        return p
    _check_variant(variant)
    _check_tile(A, tile)
    checked(A)
    v, t = _choose(A, X.dtype, X.shape[1], variant, tile)
    return keep_plan(A, key, Plan(A, X, v, t, n_threads))


def spmm(A, X, *, variant: str = "auto", tile=None, out=None) -> np.ndarray:
    """``Y = A @ X`` for sparse ``A`` (CSR/BCSR) and dense 2-D ``X``; see the module docstring.

    >>> import numpy as np
    >>> from sparsekit import BCSR
    >>> A = BCSR.from_dense(np.eye(8, dtype=np.float32), blocksize=(4, 1))
    >>> X = np.arange(24, dtype=np.float32).reshape(8, 3)
    >>> bool(np.array_equal(spmm(A, X, variant="simd", tile=8), X))
    True
    """
    _check_matrix(A)
    X = as_operand(X, A.shape[1], A.dtype, name="X")
    if X.ndim != 2:
        raise ValueError(f"spmm needs a 2-D X (C_in x HW); got {X.ndim}-D, use spmv for vectors")
    shape = (A.shape[0], X.shape[1])
    if out is not None:
        check_out(out, shape, X.dtype)
        check_no_overlap(out, X, A)
    return run(_plan(A, X, variant, tile), A, X, out, shape, X.dtype)


def spmv(A, x, *, variant: str = "auto") -> np.ndarray:
    """``y = A @ x`` for sparse ``A`` (CSR/BCSR) and dense 1-D ``x``."""
    _check_matrix(A)
    _check_variant(variant)
    x = as_operand(x, A.shape[1], A.dtype, name="x")
    if x.ndim != 1:
        raise ValueError(f"spmv needs a 1-D x; got {x.ndim}-D, use spmm for matrices")
    return _spmv_run(A, x, variant)


def _spmv_variant(A, variant):
    if variant == "auto":
        par = numba.get_num_threads() > 1 and A.nnz >= PARALLEL_MIN_NNZ_SPMV
        return "parallel" if par else "simd"
    return variant


_SPMV_CSR = {"reference": _ref_spmv_csr, "simd": _spmv_csr.spmv_csr_simd,
             "scalar": _spmv_csr.spmv_csr_scalar, "parallel": _spmv_csr.spmv_csr_parallel}
_SPMV_BCSR = {"simd": _spmv_bcsr.spmv_bcsr_simd, "scalar": _spmv_bcsr.spmv_bcsr_scalar,
              "parallel": _spmv_bcsr.spmv_bcsr_parallel}


def _spmv_kernel(A, variant):
    """``(kernel, kind)`` that ``spmv`` runs for ``A`` and a resolved variant; ``kind`` says how
    it is called: "csr" (CSR, and BCSR with 1x1 blocks, whose ``data`` is CSR's), "unrolled"
    (a generated block shape), "general" (any other block), "reference"."""
    if isinstance(A, CSR) or (A.blocksize == (1, 1) and variant != "reference"):
        return _SPMV_CSR[variant], "csr"
    if variant == "reference":
        return _ref_spmv_bcsr, "reference"
    if A.blocksize in _spmv_unrolled.BLOCKS:
        return _spmv_unrolled.get_kernel(*A.blocksize, variant), "unrolled"
    return _SPMV_BCSR[variant], "general"


def _spmv_run(A, x, variant):
    checked(A)
    dtype = x.dtype
    data = A.data if A.data.dtype == dtype else A.data.astype(dtype)
    variant = _spmv_variant(A, variant)
    kern, kind = _spmv_kernel(A, variant)
    if isinstance(A, CSR):
        y = np.empty(A.shape[0], dtype=dtype)
        if A.shape[0] == 0:
            return y
        args = (data, A.indices, A.indptr, x, y)
        _ensure_compiled(kern, args, variant)
        kern(*args)
        return y
    xp = padded_x(A, x)
    y = np.empty(n_rows_padded(A), dtype=dtype)
    if y.shape[0] == 0:
        return y[: A.shape[0]]
    if kind == "reference":
        args = (data, A.indices, A.indptr, xp, y)
    elif kind == "general":
        args = (data.reshape(-1), A.indices, A.indptr, xp, y, *A.blocksize)
    else:
        args = (data.reshape(-1), A.indices, A.indptr, xp, y)
    _ensure_compiled(kern, args, variant)
    kern(*args)
    return y[: A.shape[0]]


# -- what the containers call ------------------------------------------------------------------

def _matmul_checked(A, x: np.ndarray) -> np.ndarray:
    """``A @ x`` (``variant="auto"``) for a CSR/BCSR ``A`` and an ``x`` already checked by
    :func:`~sparsekit.formats.validation.as_operand`: what ``A @ x`` runs after its checks
    (:func:`sparsekit.formats.products.matmul`).  Private: it checks nothing itself."""
    if x.ndim == 1:
        return _spmv_run(A, x, "auto")
    return spmm(A, x)
