"""u <- u + r*v for sparse vectors stored as unsorted (index, value) pairs.

The three-pass scatter algorithm used by simplex codes (HiGHS, CLP, GLPK):

1. scatter v into the dense work array ``w``  (w[i] = v_i);
2. walk u:   u_i += r*w[i], then clear w[i];
3. walk v:   where w[i] is still nonzero the index is new to u, so append
   (i, r*v_i) and clear w[i].

Afterwards ``w`` is all zeros again, so the next call need not clear it and the
cost is O(nnz(u) + nnz(v)) whatever the dimension.

The kernel works in place on buffers with room for ``nu + nv`` entries and
returns the new number of entries.  It trusts its caller: indices in range,
no duplicates, ``w`` zero at every index it touches, buffers large enough.
"""
import numba


@numba.njit(cache=True, nogil=True)
def spvec_axpy(u_idx, u_val, nu, v_idx, v_val, nv, r, w, drop_tol):
    """Three-pass scatter axpy in place; returns the new nnz of u.

    ``drop_tol < 0`` keeps every entry (cancelled entries stay as stored
    zeros).  ``drop_tol >= 0`` removes entries with ``abs(x) <= drop_tol``
    (NaN is never dropped), keeping the order of the others.
    """
    # pass 1: scatter v
    for k in range(nv):
        w[v_idx[k]] = v_val[k]
    # pass 2: update u's own entries, clear their slots, compact if dropping
    out = 0
    for k in range(nu):
        i = u_idx[k]
        x = u_val[k] + r * w[i]
        w[i] = 0.0
        if drop_tol >= 0.0 and abs(x) <= drop_tol:
            continue
        u_idx[out] = i
        u_val[out] = x
        out += 1
    # pass 3: entries of v that u did not have, in v's order
    for k in range(nv):
        i = v_idx[k]
        if w[i] != 0.0:
            x = r * v_val[k]
            w[i] = 0.0
            if drop_tol >= 0.0 and abs(x) <= drop_tol:
                continue
            u_idx[out] = i
            u_val[out] = x
            out += 1
    return out
