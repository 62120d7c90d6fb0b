"""Y = A @ X for BCSR A with any block shape and dense row-major X: the reference loop.

``X`` must have ``n_block_cols * c`` rows (padded) and ``Y`` has
``n_block_rows * r`` rows; the caller pads and slices.
"""
import numba


@numba.njit(cache=True, nogil=True)
def spmm_bcsr(data, indices, indptr, X, Y):
    n_brows = indptr.shape[0] - 1
    r = data.shape[1]
    c = data.shape[2]
    n_cols = X.shape[1]
    for bi in range(n_brows):
        for ii in range(r):
            for m in range(n_cols):
                Y[bi * r + ii, m] = 0.0
        for k in range(indptr[bi], indptr[bi + 1]):
            col0 = indices[k] * c
            for ii in range(r):
                row = bi * r + ii
                for jj in range(c):
                    a = data[k, ii, jj]
                    for m in range(n_cols):
                        Y[row, m] += a * X[col0 + jj, m]
