"""y = A @ x for CSR A: the fast variants beside the reference loop of :mod:`.spmv_csr`.

SpMV does two flops per stored value and reads ``8`` (float32 + int32 index)
or ``12`` bytes for it, so on a matrix larger than the caches it is limited by
memory bandwidth, not by SIMD width.  What helps: unsigned indices (numba then
emits no negative-index wraparound code), ``fastmath`` so LLVM may reorder
the row sum into several partial sums, and threads (each core brings its own
share of memory bandwidth).

* :func:`spmv_csr_simd` -- the row loop with ``fastmath=True`` (reassociation
  allowed, so LLVM may vectorise the row sum with gathers);
* :func:`spmv_csr_scalar` -- the same body, to be compiled with the vectorisers off
  (:func:`~sparsekit.kernels.spmm_bcsr_tiled.scalar_codegen`);
* :func:`spmv_csr_parallel` -- ``prange`` over rows.

``y`` is overwritten; no bounds checks (the caller validated ``A`` and ``x``).
"""
import numba
import numpy as np

U = np.uint64


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_csr_simd(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    for i in range(n_rows):
        acc = data.dtype.type(0)
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            acc += data[k] * x[U(indices[k])]
        y[i] = acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_csr_scalar(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    for i in range(n_rows):
        acc = data.dtype.type(0)
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            acc += data[k] * x[U(indices[k])]
        y[i] = acc


@numba.njit(cache=True, nogil=True, fastmath=True, parallel=True)
def spmv_csr_parallel(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    for i in numba.prange(n_rows):
        acc = data.dtype.type(0)
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            acc += data[k] * x[U(indices[k])]
        y[i] = acc
