"""y = A @ x for CSR A: the reference row-by-row gather loop (serial)."""
import numba


@numba.njit(cache=True, nogil=True)
def spmv_csr(data, indices, indptr, x, y):
    """y[i] = sum_k data[k] * x[indices[k]] over row i; y is overwritten."""
    n_rows = indptr.shape[0] - 1
    for i in range(n_rows):
        acc = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            acc += data[k] * x[indices[k]]
        y[i] = acc
