"""``A @ x`` for :class:`~sparsekit.CSR` and :class:`~sparsekit.BCSR`: check ``x``, then run
:func:`sparsekit.dispatch.matmul`.

:mod:`sparsekit.dispatch` imports the containers, so the containers import it late: here, once,
on the first product (an ``import`` statement inside ``__matmul__`` would cost ~2.5 us a call).
"""
from __future__ import annotations

import numpy as np

from .validation import as_operand

_matmul = None


def matmul(A, x):
    """``A @ x`` with ``x`` a dense vector or matrix; ``NotImplemented`` for a sparse ``x``."""
    global _matmul
    if type(x) is not np.ndarray and (isinstance(x, type(A)) or hasattr(x, "tocsr")):
        return NotImplemented
    x = as_operand(x, A.shape[1], A.dtype)
    if _matmul is None:
        from ..dispatch import matmul as _matmul
    return _matmul(A, x)
