"""Scatter and gather between a sparse vector and a dense work array."""
import numba


@numba.njit(cache=True, nogil=True)
def spvec_scatter(idx, val, n, w):
    """w[idx[k]] = val[k] for k < n."""
    for k in range(n):
        w[idx[k]] = val[k]


@numba.njit(cache=True, nogil=True)
def spvec_gather_clear(idx, n, w, out):
    """out[k] = w[idx[k]], then clear those slots of w."""
    for k in range(n):
        i = idx[k]
        out[k] = w[i]
        w[i] = 0.0
