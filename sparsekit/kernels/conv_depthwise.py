"""Depthwise convolution (one k x k filter per channel, NCHW): forward, 3x3 fast path, backward.

No bounds checks: the layers in :mod:`sparsekit.nn.layers` validate shapes,
stride and padding first.  ``xp`` arguments are inputs already zero-padded.
"""
import numba
import numpy as np


@numba.njit(cache=True, nogil=True, fastmath=True)
def depthwise_forward(xp, w, b, stride, y, relu=False):
    """y[n, c] = b[c] + sum_ij w[c, i, j] * xp[n, c, stride*p + i, stride*q + j] (then max(., 0) if ``relu``).

    One output row at a time: the row stays in L1 while the taps are added,
    and the innermost loop over ``q`` reads contiguous memory so LLVM
    vectorises it.  For stride 2 each padded input row is first split into
    its even and odd columns, which turns the strided reads into contiguous
    ones.
    """
    N, C, OH, OW = y.shape
    kh, kw = w.shape[1], w.shape[2]
    Hp, Wp = xp.shape[2], xp.shape[3]
    if kh == 3 and kw == 3 and stride == 1:
        _dw3x3_s1(xp, w, b, y, relu)
        return
    if kh == 3 and kw == 3 and stride == 2:
        _dw3x3_s2(xp, w, b, y, relu)
        return
    if stride == 2:
        # split each padded row into even and odd columns: every tap then reads contiguously
        We = (Wp + 1) // 2
        ev = np.zeros((Hp, We), dtype=xp.dtype)
        od = np.zeros((Hp, We), dtype=xp.dtype)
        for n in range(N):
            for c in range(C):
                for r in range(Hp):
                    for k in range(Wp // 2):
                        ev[r, k] = xp[n, c, r, 2 * k]
                        od[r, k] = xp[n, c, r, 2 * k + 1]
                    if Wp % 2:
                        ev[r, Wp // 2] = xp[n, c, r, Wp - 1]
                bc = b[c]
                for p in range(OH):
                    yr = y[n, c, p]
                    for q in range(OW):
                        yr[q] = bc
                    for i in range(kh):
                        r = 2 * p + i
                        er = ev[r]
                        orr = od[r]
                        for j in range(kw):
                            wv = w[c, i, j]
                            h = j // 2
                            if j % 2 == 0:
                                for q in range(OW):
                                    yr[q] += wv * er[q + h]
                            else:
                                for q in range(OW):
                                    yr[q] += wv * orr[q + h]
                    if relu:
                        for q in range(OW):
                            yr[q] = max(yr[q], 0.0)
        return
    for n in range(N):
        for c in range(C):
            bc = b[c]
            for p in range(OH):
                yr = y[n, c, p]
                for q in range(OW):
                    yr[q] = bc
                for i in range(kh):
                    xr = xp[n, c, p * stride + i]
                    for j in range(kw):
                        wv = w[c, i, j]
                        if stride == 1:
                            for q in range(OW):
                                yr[q] += wv * xr[q + j]
                        else:
                            for q in range(OW):
                                yr[q] += wv * xr[q * stride + j]
                if relu:
                    for q in range(OW):
                        yr[q] = max(yr[q], 0.0)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _dw3x3_s1(xp, w, b, y, relu):
    """3x3, stride 1: all nine taps summed in registers, one store per output."""
    N, C, OH, OW = y.shape
    for n in range(N):
        for c in range(C):
            w00, w01, w02 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2]
            w10, w11, w12 = w[c, 1, 0], w[c, 1, 1], w[c, 1, 2]
            w20, w21, w22 = w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
            bc = b[c]
            for p in range(OH):
                x0 = xp[n, c, p]
                x1 = xp[n, c, p + 1]
                x2 = xp[n, c, p + 2]
                yr = y[n, c, p]
                for q in range(OW):
                    acc = (bc + w00 * x0[q] + w01 * x0[q + 1] + w02 * x0[q + 2]
                           + w10 * x1[q] + w11 * x1[q + 1] + w12 * x1[q + 2]
                           + w20 * x2[q] + w21 * x2[q + 1] + w22 * x2[q + 2])
                    if relu:
                        acc = max(acc, 0.0)
                    yr[q] = acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def _s2_rows(ev, od, w, c, bc, yc, relu):
    """3x3 stride 2 for one channel: padded row ``r`` split into ``ev[r]`` (even columns) and
    ``od[r]`` (odd columns), so that the nine taps of output ``(p, q)`` are contiguous reads."""
    OH, OW = yc.shape
    w00, w01, w02 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2]
    w10, w11, w12 = w[c, 1, 0], w[c, 1, 1], w[c, 1, 2]
    w20, w21, w22 = w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
    for p in range(OH):
        e0, o0 = ev[2 * p], od[2 * p]
        e1, o1 = ev[2 * p + 1], od[2 * p + 1]
        e2, o2 = ev[2 * p + 2], od[2 * p + 2]
        yr = yc[p]
        for q in range(OW):
            acc = (bc + w00 * e0[q] + w01 * o0[q] + w02 * e0[q + 1]
                   + w10 * e1[q] + w11 * o1[q] + w12 * e1[q + 1]
                   + w20 * e2[q] + w21 * o2[q] + w22 * e2[q + 1])
            yr[q] = max(acc, 0.0) if relu else acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def _dw3x3_s2(xp, w, b, y, relu):
    """3x3, stride 2: each padded row split into even/odd columns, then as for stride 1."""
    N, C, OH, OW = y.shape
    Hp, Wp = xp.shape[2], xp.shape[3]
    We = (Wp + 1) // 2
    ev = np.zeros((Hp, We), dtype=xp.dtype)
    od = np.zeros((Hp, We), dtype=xp.dtype)
    for n in range(N):
        for c in range(C):
            for r in range(Hp):
                for k in range(Wp // 2):
                    ev[r, k] = xp[n, c, r, 2 * k]
                    od[r, k] = xp[n, c, r, 2 * k + 1]
                if Wp % 2:
                    ev[r, Wp // 2] = xp[n, c, r, Wp - 1]
            _s2_rows(ev, od, w, c, b[c], y[n, c], relu)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _edge3x3(x0, x1, x2, W, q, w, c, bc):
    """One output column of a 3x3/stride-1/pad-1 row where a tap falls outside the row."""
    acc = bc
    for j in range(3):
        col = q + j - 1
        if 0 <= col < W:
            acc += w[c, 0, j] * x0[col] + w[c, 1, j] * x1[col] + w[c, 2, j] * x2[col]
    return acc


@numba.njit(cache=True, nogil=True, fastmath=True)
def depthwise3x3_pad1(x, w, b, stride, y, relu):
    """3x3 depthwise with padding 1 read straight from the unpadded ``x`` (stride 1 or 2).

    Rows outside the image read a zero row; for stride 1 the two edge
    columns are done separately so the interior loop has no bounds tests;
    for stride 2 each input row is split into the even and odd columns of
    its padded version (the pad positions stay zero).  Saves building a
    padded copy of every activation.
    """
    N, C, H, W = x.shape
    OH, OW = y.shape[2], y.shape[3]
    zero = np.zeros(W + 2, dtype=x.dtype)
    if stride == 1:
        for n in range(N):
            for c in range(C):
                w00, w01, w02 = w[c, 0, 0], w[c, 0, 1], w[c, 0, 2]
                w10, w11, w12 = w[c, 1, 0], w[c, 1, 1], w[c, 1, 2]
                w20, w21, w22 = w[c, 2, 0], w[c, 2, 1], w[c, 2, 2]
                bc = b[c]
                for p in range(OH):
                    x0 = x[n, c, p - 1] if p >= 1 else zero
                    x1 = x[n, c, p]
                    x2 = x[n, c, p + 1] if p + 1 < H else zero
                    yr = y[n, c, p]
                    for q in range(1, OW - 1):
                        acc = (bc + w00 * x0[q - 1] + w01 * x0[q] + w02 * x0[q + 1]
                               + w10 * x1[q - 1] + w11 * x1[q] + w12 * x1[q + 1]
                               + w20 * x2[q - 1] + w21 * x2[q] + w22 * x2[q + 1])
                        yr[q] = max(acc, 0.0) if relu else acc
                    for q in (0, OW - 1):
                        if q < OW:
                            acc = _edge3x3(x0, x1, x2, W, q, w, c, bc)
                            yr[q] = max(acc, 0.0) if relu else acc
        return
    Hp, Wp = H + 2, W + 2
    We = (Wp + 1) // 2
    ev = np.zeros((Hp, We + 1), dtype=x.dtype)
    od = np.zeros((Hp, We + 1), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for r in range(H):
                for k in range(1, We + 1):
                    if 2 * k - 1 < W:
                        ev[r + 1, k] = x[n, c, r, 2 * k - 1]
                for k in range(We):
                    if 2 * k < W:
                        od[r + 1, k] = x[n, c, r, 2 * k]
            _s2_rows(ev, od, w, c, b[c], y[n, c], relu)


@numba.njit(cache=True, nogil=True)
def depthwise_backward(xp, w, dy, stride, dw, dxp):
    """Gradients of :func:`depthwise_forward`: ``dw`` and padded ``dxp`` (both overwritten)."""
    N, C, OH, OW = dy.shape
    kh, kw = w.shape[1], w.shape[2]
    dw[:] = 0.0
    dxp[:] = 0.0
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    wv = w[c, i, j]
                    acc = 0.0
                    for p in range(OH):
                        row = p * stride + i
                        for q in range(OW):
                            g = dy[n, c, p, q]
                            acc += g * xp[n, c, row, q * stride + j]
                            dxp[n, c, row, q * stride + j] += wv * g
                    dw[c, i, j] += acc
