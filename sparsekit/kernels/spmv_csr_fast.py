"""y = A @ x for CSR A: the fast variants beside the reference loop of :mod:`.spmv_csr`.

SpMV does two flops per stored value and reads ``8`` (float32 + int32 index)
or ``12`` bytes for it, so on a matrix larger than the caches it is limited by
memory bandwidth, not by SIMD width.  What helps: unsigned indices (numba then
emits no negative-index wraparound code), ``fastmath`` so LLVM may reorder
the row sum into several partial sums, and threads (each core brings its own
share of memory bandwidth).

* :func:`spmv_csr_simd` -- one pointer ``k`` runs through ``data`` and ``indices``
  from the first row to the last (each ``indptr[i + 1]`` is read once, as the end of
  row ``i``), with ``fastmath=True`` so LLVM may split the row sum into partial sums.
  Measured on the reference machine (matrix 4x the LLC, ``sparsekit.bench``'s
  ``spmv_llc``): about 3% more bandwidth than the ``for k in range(indptr[i],
  indptr[i + 1])`` loop of :mod:`.spmv_csr`, which reads two ``indptr`` entries per row;
* :func:`spmv_csr_scalar` -- the same body, to be compiled with the vectorisers off
  (:func:`~sparsekit.kernels.codegen.scalar_codegen`);
* :func:`spmv_csr_parallel` -- ``prange`` over rows.

``y`` is overwritten; no bounds checks (the caller validated ``A`` and ``x``).
"""
import numba
import numpy as np

U = np.uint64


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_csr_simd(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    k = U(indptr[0])
    for i in range(n_rows):
        k_end = U(indptr[i + 1])
        acc = data.dtype.type(0)
        while k < k_end:
            acc += data[k] * x[U(indices[k])]
            k += U(1)
        y[i] = acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def spmv_csr_scalar(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    k = U(indptr[0])
    for i in range(n_rows):
        k_end = U(indptr[i + 1])
        acc = data.dtype.type(0)
        while k < k_end:
            acc += data[k] * x[U(indices[k])]
            k += U(1)
        y[i] = acc


@numba.njit(cache=True, nogil=True, fastmath=True, parallel=True)
def spmv_csr_parallel(data, indices, indptr, x, y):
    n_rows = indptr.shape[0] - 1
    for i in numba.prange(n_rows):
        acc = data.dtype.type(0)
        for k in range(U(indptr[i]), U(indptr[i + 1])):
            acc += data[k] * x[U(indices[k])]
        y[i] = acc
