"""Add a per-channel bias and optionally clamp at zero, in one pass over an (N, C, P) array."""
import numba


@numba.njit(cache=True, nogil=True, fastmath=True)
def bias_relu_(y, b, relu):
    """In place on ``y`` (N, C, P): add ``b[c]`` and, if ``relu``, clamp at zero -- one pass."""
    N, C, P = y.shape
    for n in range(N):
        for c in range(C):
            bc = b[c]
            yr = y[n, c]
            if relu:
                for m in range(P):
                    yr[m] = max(yr[m] + bc, 0.0)
            else:
                for m in range(P):
                    yr[m] += bc
