"""Numba kernels, one operation per module.

Module names say operation, format and variant (``spmv_csr``, ``spmm_bcsr``,
``spvec_axpy`` ...).  Kernels do no bounds checks: every caller validates its
arguments first (see :mod:`sparsekit.formats.validation`), so a kernel never
sees malformed data.
"""
