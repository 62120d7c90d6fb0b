"""im2col / col2im: turn a k x k convolution into one matrix product (NCHW).

``xp`` is the input already zero-padded by ``pad`` on each side (see
:func:`pad_nchw`).  No bounds checks: the layers in :mod:`sparsekit.nn.layers`
validate shapes, stride and padding first.
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


def pad_nchw(x, pad):
    """Zero-pad the two spatial axes of an NCHW array by ``pad`` on each side."""
    if pad == 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp
