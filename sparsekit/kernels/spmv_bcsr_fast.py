"""y = A @ x for BCSR A (any block shape): fast variants beside the reference :mod:`.spmv_bcsr`.

Per block row, ``r`` partial sums; per stored block, one index load serves
``r * c`` values, which is why blocks cut SpMV's memory traffic (4 bytes of
index per block instead of per value).  Arguments are flattened:
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
