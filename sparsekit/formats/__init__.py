"""Sparse matrix containers: :class:`CSR` and :class:`BCSR` (plus their validation)."""
from .bcsr import BCSR
from .csr import CSR

__all__ = ["CSR", "BCSR"]
