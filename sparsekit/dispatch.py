"""Pick the kernel for ``A @ x`` from the format, block shape, dtype and operand.

The containers call :func:`csr_matmul` / :func:`bcsr_matmul` after validating
the operand; this module owns the choice of kernel so that a learner who
writes the obvious ``A @ X`` gets the fast path.
"""
from __future__ import annotations

import numpy as np

from .kernels.spmm_bcsr import spmm_bcsr
from .kernels.spmm_csr import spmm_csr
from .kernels.spmv_bcsr import spmv_bcsr
from .kernels.spmv_csr import spmv_csr


def csr_matmul(A, x: np.ndarray) -> np.ndarray:
    """``A @ x`` for a validated CSR ``A`` and a validated, contiguous ``x``."""
    dtype = x.dtype
    data = A.data if A.data.dtype == dtype else A.data.astype(dtype)
    n_rows = A.shape[0]
    if x.ndim == 1:
        y = np.empty(n_rows, dtype=dtype)
        spmv_csr(data, A.indices, A.indptr, x, y)
    else:
        y = np.empty((n_rows, x.shape[1]), dtype=dtype)
        spmm_csr(data, A.indices, A.indptr, x, y)
    return y


def bcsr_matmul(A, x: np.ndarray) -> np.ndarray:
    """``A @ x`` for a validated BCSR ``A``; pads ``x`` to whole blocks and slices ``y``."""
    dtype = x.dtype
    data = A.data if A.data.dtype == dtype else A.data.astype(dtype)
    r, c = A.blocksize
    n_brows = A.indptr.shape[0] - 1
    n_bcols = -(-A.shape[1] // c)
    padded = n_bcols * c
    if x.shape[0] != padded:
        xp = np.zeros((padded,) + x.shape[1:], dtype=dtype)
        xp[: x.shape[0]] = x
        x = xp
    if x.ndim == 1:
        y = np.empty(n_brows * r, dtype=dtype)
        spmv_bcsr(data, A.indices, A.indptr, x, y)
    else:
        y = np.empty((n_brows * r, x.shape[1]), dtype=dtype)
        spmm_bcsr(data, A.indices, A.indptr, x, y)
    return y[: A.shape[0]]
