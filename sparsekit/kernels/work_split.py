"""How the parallel kernels split their work among threads: rows by stored blocks, or HW tiles.

Every generated ``parallel`` SpMM kernel (:mod:`.spmm_bcsr_tiled`) runs ``n_threads``
pieces under ``prange``; piece ``p`` asks :func:`work_part` which block rows and which
HW tiles are its own.  :func:`split_work` lists every piece (for tests and for reading).
"""
import numba
import numpy as np

#: The parallel kernels split the block rows among the threads when there are at least
#: ``MIN_ROWS_PER_THREAD`` per thread; with fewer rows (and at least ``MIN_TILES_PER_THREAD``
#: whole HW tiles per thread) they split HW instead.
MIN_ROWS_PER_THREAD = 8
MIN_TILES_PER_THREAD = 4


@numba.njit(cache=True, nogil=True)
def _row_cut(indptr, n_brows, total, q, n_parts):
    """The block row where piece ``q`` starts: the running cost (stored blocks + 1 per row)
    comes closest to ``q / n_parts`` of ``total`` there (binary search; costs only grow)."""
    if q <= 0:
        return 0
    if q >= n_parts:
        return n_brows
    k_first = np.int64(indptr[0])
    target = total * q // n_parts
    lo, hi = 0, n_brows  # the last row b with cost(b) <= target, cost(b) = blocks + rows before b
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.int64(indptr[mid]) - k_first + mid <= target:
            lo = mid
        else:
            hi = mid - 1
    if lo < n_brows:
        below = target - (np.int64(indptr[lo]) - k_first + lo)
        above = np.int64(indptr[lo + 1]) - k_first + lo + 1 - target
        if above < below:
            lo += 1
    return lo


@numba.njit(cache=True, nogil=True)
def work_part(indptr, n_tiles, n_parts, p):
    """Piece ``p`` of ``n_parts``: ``(b0, b1, t0, t1, last)``.

    Thread ``p`` computes block rows ``b0:b1`` for the HW tiles ``t0:t1`` and, if
    ``last``, the columns after the last whole tile.  Normally the block rows are cut
    where the running count of (stored blocks + 1) per row comes closest to ``p /
    n_parts`` of the total -- a cut by row *count* would give one thread the denser half.
    With only a few block rows per thread (the first layers of a CNN: few channels, wide
    HW) rows are too coarse to balance, so the HW tiles are split evenly instead: every
    thread then does the same number of multiply-adds, whatever the rows hold (but reads
    all of ``W``, which is why this is not the default).  Each thread computes its own
    piece (no shared plan to allocate).
    """
    n_parts = max(n_parts, 1)
    n_brows = indptr.shape[0] - 1
    if n_brows < MIN_ROWS_PER_THREAD * n_parts and n_tiles >= MIN_TILES_PER_THREAD * n_parts:
        return 0, n_brows, n_tiles * p // n_parts, n_tiles * (p + 1) // n_parts, p == n_parts - 1
    total = np.int64(indptr[n_brows]) - np.int64(indptr[0]) + n_brows
    b0 = _row_cut(indptr, n_brows, total, p, n_parts)
    b1 = _row_cut(indptr, n_brows, total, p + 1, n_parts)
    return b0, b1, 0, n_tiles, True


@numba.njit(cache=True, nogil=True)
def split_work(indptr, n_tiles, n_parts):
    """Every piece of :func:`work_part` as rows of an ``(n_parts, 5)`` array (for tests and
    for reading: the kernels call :func:`work_part` themselves)."""
    n_parts = max(n_parts, 1)
    plan = np.zeros((n_parts, 5), np.int64)
    for p in range(n_parts):
        b0, b1, t0, t1, last = work_part(indptr, n_tiles, n_parts, p)
        plan[p, 0] = b0
        plan[p, 1] = b1
        plan[p, 2] = t0
        plan[p, 3] = t1
        plan[p, 4] = last
    return plan
