"""y = A @ x for BCSR A with any block shape (r, c): the reference loop.

``x`` must be padded to ``n_block_cols * c`` entries and ``y`` has
``n_block_rows * r`` entries; the caller pads and slices.
"""
import numba


@numba.njit(cache=True, nogil=True)
def spmv_bcsr(data, indices, indptr, x, y):
    n_brows = indptr.shape[0] - 1
    r = data.shape[1]
    c = data.shape[2]
    for bi in range(n_brows):
        for ii in range(r):
            y[bi * r + ii] = 0.0
        for k in range(indptr[bi], indptr[bi + 1]):
            col0 = indices[k] * c
            for ii in range(r):
                acc = 0.0
                for jj in range(c):
                    acc += data[k, ii, jj] * x[col0 + jj]
                y[bi * r + ii] += acc
