"""``A @ x`` for :class:`~sparsekit.CSR` and :class:`~sparsekit.BCSR`: check ``x``, then run
:func:`sparsekit.dispatch._matmul_checked`.

:mod:`sparsekit.dispatch` imports the containers, so the containers import it late: here, once,
on the first product (an ``import`` statement inside ``__matmul__`` would cost ~2.5 us a call).
"""
from __future__ import annotations

import numpy as np

from .validation import as_operand

_matmul = None


def matmul(A, x):
    """``A @ x`` with ``x`` a dense vector or matrix; ``TypeError`` for a sparse ``x``."""
    global _matmul
    if type(x) is not np.ndarray and (hasattr(x, "tocsr") or hasattr(x, "indptr")):
        # said here: returning NotImplemented hands the product to scipy's reflected operator,
        # whose error ("unsupported operand type(s) for *: 'float' and 'CSR'") names neither side
        raise TypeError(f"A @ B needs a dense B (a numpy array); got a sparse {type(x).__name__}: use "
                        f"B.toarray(), or A.to_scipy() @ B for a sparse product")
    x = as_operand(x, A.shape[1], A.dtype)
    if _matmul is None:
        from ..dispatch import _matmul_checked as _matmul
    return _matmul(A, x)
