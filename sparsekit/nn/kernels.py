"""Numba loops behind the convolution layers: im2col/col2im and depthwise convolution.

Shapes are NCHW.  These functions do no bounds checks: the layers in
:mod:`sparsekit.nn.layers` validate shapes, stride and padding first.
``xp`` arguments are inputs already zero-padded by ``pad`` on each side.
"""
import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def im2col(xp, kh, kw, stride, oh, ow, out):
    """out[n, (c, i, j), (p, q)] = xp[n, c, p*stride + i, q*stride + j]."""
    N, C = xp.shape[0], xp.shape[1]
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for p in range(oh):
                        base = p * ow
                        for q in range(ow):
                            out[n, row, base + q] = xp[n, c, p * stride + i, q * stride + j]


@numba.njit(cache=True, nogil=True)
def col2im(cols, kh, kw, stride, oh, ow, dxp):
    """The adjoint of :func:`im2col`: scatter-add columns back into padded ``dxp`` (zeroed first)."""
    N, C = dxp.shape[0], dxp.shape[1]
    dxp[:] = 0.0
    for n in range(N):
        for c in range(C):
            for i in range(kh):
                for j in range(kw):
                    row = (c * kh + i) * kw + j
                    for p in range(oh):
                        base = p * ow
                        for q in range(ow):
                            dxp[n, c, p * stride + i, q * stride + j] += cols[n, row, base + q]


@numba.njit(cache=True, nogil=True, fastmath=True)
def depthwise_forward(xp, w, b, stride, y):
    """y[n, c] = b[c] + sum_ij w[c, i, j] * xp[n, c, stride*p + i, stride*q + j]."""
    N, C, OH, OW = y.shape
    kh, kw = w.shape[1], w.shape[2]
    for n in range(N):
        for c in range(C):
            bc = b[c]
            for p in range(OH):
                for q in range(OW):
                    y[n, c, p, q] = bc
            for i in range(kh):
                for j in range(kw):
                    wv = w[c, i, j]
                    for p in range(OH):
                        row = p * stride + i
                        if stride == 1:
                            for q in range(OW):
                                y[n, c, p, q] += wv * xp[n, c, row, q + j]
                        else:
                            for q in range(OW):
                                y[n, c, p, q] += wv * xp[n, c, row, q * stride + j]


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


def pad_nchw(x, pad):
    """Zero-pad the two spatial axes of an NCHW array by ``pad`` on each side."""
    if pad == 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp
