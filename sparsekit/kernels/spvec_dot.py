"""Dot product of two sparse vectors through a scattered work array.

Scatter v into ``w``, walk u summing u_i * w[i], then clear the slots v used.
O(nnz(u) + nnz(v)); ``w`` is left all zeros.
"""
import numba


@numba.njit(cache=True, nogil=True)
def spvec_dot(u_idx, u_val, nu, v_idx, v_val, nv, w):
    for k in range(nv):
        w[v_idx[k]] = v_val[k]
    s = 0.0
    for k in range(nu):
        s += u_val[k] * w[u_idx[k]]
    for k in range(nv):
        w[v_idx[k]] = 0.0
    return s
