"""Y = W @ X for BCSR W with ANY block shape: the general fast path (simd, scalar, parallel).

The blocks without a generated register-tiled kernel (see
:mod:`sparsekit.kernels.spmm_bcsr_tiled`) use this loop: for each stored
block and each of its ``r x c`` weights, one contiguous ``axpy`` along HW
into the output row.  The ``m`` loop is contiguous, so LLVM vectorises it;
there is no register tile, so every FMA also loads and stores ``Y``.

Block convention: ``(r, c)`` = (output channels, input channels); MNN's "1x4"
is our ``(4, 1)``.

Three functions with the same body (numba caches each function once, so the
variants must be separate functions):

* :func:`spmm_bcsr_general` -- vectorised (``fastmath`` contraction);
* :func:`spmm_bcsr_general_scalar` -- to be compiled inside
  :func:`~sparsekit.kernels.codegen.scalar_codegen` (vectorisers off);
* :func:`spmm_bcsr_general_parallel` -- ``prange`` over block rows.

Arguments are flattened as for the tiled kernels: ``(wf, indices, indptr, xf,
yf, n_cols, r, c)`` with ``wf = data.reshape(-1)``, ``xf = X.reshape(-1)``
(``n_block_cols * c`` rows, zero-padded), ``yf = Y.reshape(-1)``
(``n_block_rows * r`` rows, overwritten).  No bounds checks.
"""
import numba
import numpy as np

from .codegen import FASTMATH

U = np.uint64


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def spmm_bcsr_general(wf, indices, indptr, xf, yf, n_cols, r, c):
    n_brows = indptr.shape[0] - 1
    hw = U(n_cols)
    ur = U(r)
    uc = U(c)
    for bi in range(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            yr = (y0 + ii) * hw
            for m in range(hw):
                yf[yr + m] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            for ii in range(ur):
                yr = (y0 + ii) * hw
                for jj in range(uc):
                    w = wf[(k * ur + ii) * uc + jj]
                    xr = (xb + jj) * hw
                    for m in range(hw):
                        yf[yr + m] += w * xf[xr + m]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def spmm_bcsr_general_scalar(wf, indices, indptr, xf, yf, n_cols, r, c):
    n_brows = indptr.shape[0] - 1
    hw = U(n_cols)
    ur = U(r)
    uc = U(c)
    for bi in range(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            yr = (y0 + ii) * hw
            for m in range(hw):
                yf[yr + m] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            for ii in range(ur):
                yr = (y0 + ii) * hw
                for jj in range(uc):
                    w = wf[(k * ur + ii) * uc + jj]
                    xr = (xb + jj) * hw
                    for m in range(hw):
                        yf[yr + m] += w * xf[xr + m]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
def spmm_bcsr_general_parallel(wf, indices, indptr, xf, yf, n_cols, r, c):
    n_brows = indptr.shape[0] - 1
    hw = U(n_cols)
    ur = U(r)
    uc = U(c)
    for bi in numba.prange(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            yr = (y0 + ii) * hw
            for m in range(hw):
                yf[yr + m] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            for ii in range(ur):
                yr = (y0 + ii) * hw
                for jj in range(uc):
                    w = wf[(k * ur + ii) * uc + jj]
                    xr = (xb + jj) * hw
                    for m in range(hw):
                        yf[yr + m] += w * xf[xr + m]
