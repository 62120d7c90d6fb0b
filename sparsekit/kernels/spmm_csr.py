"""Y = A @ X for CSR A and a dense row-major X (K x N): the reference loop.

For each stored a_ij the whole row X[j, :] is scaled and added into Y[i, :];
the innermost loop runs along contiguous memory, which is the layout of NCHW
activations in a 1x1 convolution (X is C_in x HW).
"""
import numba


@numba.njit(cache=True, nogil=True)
def spmm_csr(data, indices, indptr, X, Y):
    """Y[i, :] = sum_k data[k] * X[indices[k], :]; Y is overwritten."""
    n_rows = indptr.shape[0] - 1
    n_cols = X.shape[1]
    for i in range(n_rows):
        for m in range(n_cols):
            Y[i, m] = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            a = data[k]
            j = indices[k]
            for m in range(n_cols):
                Y[i, m] += a * X[j, m]
