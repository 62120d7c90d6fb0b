"""sparsekit: the package of a hands-on course in sparse computation.

Sparse vectors as unsorted (index, value) pairs with the scatter algorithm of
simplex solvers (:class:`SparseVector`, :class:`Workspace`), CSR and block
CSR matrices (:class:`CSR`, :class:`BCSR`) and the numba kernels behind them.
"""
from .formats import BCSR, CSR
from .vector import SparseVector, Workspace

__version__ = "0.1.0"
__all__ = ["SparseVector", "Workspace", "CSR", "BCSR", "__version__"]
