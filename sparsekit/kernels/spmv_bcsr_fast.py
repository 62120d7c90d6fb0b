"""y = A @ x for BCSR A (any block shape): the general variants beside the reference :mod:`.spmv_bcsr`.

Per stored block, one index load serves ``r * c`` values, which is why blocks
cut SpMV's memory traffic (4 bytes of index per block instead of per value).
But ``r`` and ``c`` are run-time loop bounds here and each block adds its ``r``
partial sums into ``y`` in memory, so the loop is slow (float32 past the LLC:
25-55% of the STREAM triad against 70-85% for CSR): the dispatcher runs these
only for block shapes without a generated kernel of :mod:`.spmv_bcsr_unrolled`
(the ``r x c`` sums in registers; 4x1, 8x1, 1x4, 2x2, 4x4, 1x8, 8x8).  Reordering
the loops (one output row of the block row at a time, its sum in a register)
measured the same.  Arguments are flattened:
``(wf, indices, indptr, x, y, r, c)`` with ``wf = data.reshape(-1)``, ``x``
padded to ``n_block_cols * c`` entries and ``y`` of ``n_block_rows * r``
entries (overwritten).  No bounds checks.

* :func:`spmv_bcsr_simd` -- ``fastmath=True``;
* :func:`spmv_bcsr_scalar` -- the same body, compiled with the vectorisers off;
* :func:`spmv_bcsr_parallel` -- ``prange`` over block rows.
"""
import numba
import numpy as np

U = np.uint64


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_bcsr_simd(wf, indices, indptr, x, y, r, c):
    n_brows = indptr.shape[0] - 1
    ur = U(r)
    uc = U(c)
    for bi in range(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            y[y0 + ii] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            wb = k * ur * uc
            for ii in range(ur):
                acc = wf.dtype.type(0)
                for jj in range(uc):
                    acc += wf[wb + ii * uc + jj] * x[xb + jj]
                y[y0 + ii] += acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_bcsr_scalar(wf, indices, indptr, x, y, r, c):
    n_brows = indptr.shape[0] - 1
    ur = U(r)
    uc = U(c)
    for bi in range(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            y[y0 + ii] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            wb = k * ur * uc
            for ii in range(ur):
                acc = wf.dtype.type(0)
                for jj in range(uc):
                    acc += wf[wb + ii * uc + jj] * x[xb + jj]
                y[y0 + ii] += acc


@numba.njit(cache=True, nogil=True, fastmath=True, parallel=True)
def spmv_bcsr_parallel(wf, indices, indptr, x, y, r, c):
    n_brows = indptr.shape[0] - 1
    ur = U(r)
    uc = U(c)
    for bi in numba.prange(n_brows):
        y0 = U(bi) * ur
        for ii in range(ur):
            y[y0 + ii] = 0
        for k in range(U(indptr[bi]), U(indptr[bi + 1])):
            xb = U(indices[k]) * uc
            wb = k * ur * uc
            for ii in range(ur):
                acc = wf.dtype.type(0)
                for jj in range(uc):
                    acc += wf[wb + ii * uc + jj] * x[xb + jj]
                y[y0 + ii] += acc
