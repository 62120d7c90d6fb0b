"""Compressed Sparse Row storage.

Three arrays, with scipy.sparse's names: ``data`` (the stored values, row by
row), ``indices`` (the column of each value) and ``indptr`` (row ``i`` owns
``data[indptr[i]:indptr[i+1]]``).  Memory: ``nnz * (value + index bytes) +
(n_rows + 1) * index bytes`` -- see :attr:`CSR.nbytes`.

Duplicate column indices inside a row and unsorted rows are allowed (as in
scipy): products and ``toarray()`` sum duplicates.
"""
from __future__ import annotations

import numpy as np

from .products import matmul
from .validation import (
    as_float_array,
    as_index_array,
    check_index_dtype,
    check_indices_in_range,
    check_indptr,
    check_shape,
    checked_state,
    common_index_dtype,
    fixed,
    read_only,
)

__all__ = ["CSR"]


class CSR:
    """A sparse matrix in CSR format.

    Parameters
    ----------
    data : 1-D float32/float64 array of the stored values
    indices : 1-D int32/int64 array, the column of each value
    indptr : 1-D int32/int64 array of length ``n_rows + 1``
    shape : ``(n_rows, n_cols)``

    All arguments are validated (like scipy's ``check_format``); malformed
    input raises ``ValueError``/``TypeError`` naming the field.  ``indices`` and
    ``indptr`` are kept as read-only copies (a kernel trusts them; the caller's
    arrays stay as they were); ``data`` is shared unless ``copy=True`` and may be
    edited in place.

    >>> A = CSR.from_dense([[1., 0., 2.], [0., 0., 3.]])
    >>> A.indptr, A.indices, A.data
    (array([0, 2, 3], dtype=int32), array([0, 2, 2], dtype=int32), array([1., 2., 3.]))
    """

    format = "csr"
    shape = fixed("shape")

    def __init__(self, data, indices, indptr, shape, *, copy: bool = False):
        shape = check_shape(shape)
        data = as_float_array("data", data, ndim=1)
        indices = as_index_array("indices", indices)
        indptr = as_index_array("indptr", indptr)
        itype = common_index_dtype(indices, indptr)
        indices = read_only(indices.astype(itype, copy=False))  # checked, then never edited in place
        indptr = read_only(indptr.astype(itype, copy=False))
        if data.shape[0] != indices.shape[0]:
            raise ValueError(
                f"data and indices must have the same length, got {data.shape[0]} and {indices.shape[0]}"
            )
        check_indptr(indptr, shape[0], indices.shape[0])
        check_indices_in_range("indices", indices, shape[1])
        if copy:
            data = data.copy()
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.shape = shape
        self._checked = checked_state(data, indices, indptr)  # what the checks passed (see check_format)

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dense(cls, A, *, dtype=None, index_dtype=np.int32) -> "CSR":
        """Store the nonzeros of a 2-D array (exact zeros are not stored)."""
        index_dtype = check_index_dtype(index_dtype)
        arr = as_float_array("A", A, ndim=2, dtype=dtype)
        if index_dtype == np.int32 and arr.size >= np.iinfo(np.int32).max:
            index_dtype = np.int64
        rows, cols = np.nonzero(arr)
        counts = np.bincount(rows, minlength=arr.shape[0])
        indptr = np.zeros(arr.shape[0] + 1, dtype=index_dtype)
        np.cumsum(counts, out=indptr[1:])
        return cls(arr[rows, cols], cols.astype(index_dtype), indptr, arr.shape)

    @classmethod
    def from_scipy(cls, m) -> "CSR":
        """From any scipy.sparse matrix or array (converted to CSR first)."""
        import scipy.sparse as sp

        if not sp.issparse(m):
            raise TypeError(f"expected a scipy.sparse matrix, got {type(m).__name__}")
        m = m.tocsr()
        return cls(m.data, m.indices, m.indptr, m.shape, copy=True)

    def to_scipy(self):
        """A ``scipy.sparse.csr_array`` sharing nothing with ``self``."""
        import scipy.sparse as sp

        return sp.csr_array((self.data.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def tobcsr(self, blocksize):
        """The same matrix in BCSR format with the given block shape."""
        from .bcsr import BCSR

        return BCSR.from_csr(self, blocksize)

    # -- attributes ---------------------------------------------------------
    @property
    def nnz(self) -> int:
        """Number of stored values (explicit zeros included)."""
        return int(self.data.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def density(self) -> float:
        n = self.shape[0] * self.shape[1]
        return self.nnz / n if n else 0.0

    @property
    def nbytes(self) -> int:
        """Bytes of ``data + indices + indptr``: the number the memory lessons quote."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def row_lengths(self) -> np.ndarray:
        """Stored values per row (``np.diff(indptr)``)."""
        return np.diff(self.indptr)

    def toarray(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def astype(self, dtype) -> "CSR":
        return CSR(self.data.astype(dtype), self.indices, self.indptr, self.shape)

    def check_format(self) -> None:
        """Check ``data``, ``indices`` and ``indptr`` again, as the constructor does: after
        assigning new arrays (``indices`` and ``indptr`` are read-only; ``data`` may be
        edited).  Raises ``ValueError``/``TypeError`` naming the problem; arrays that pass
        are kept in the dtypes the constructor gives.  ``A @ X`` runs it
        by itself when the arrays are other objects than those last checked."""
        B = CSR(self.data, self.indices, self.indptr, self.shape)
        self.data, self.indices, self.indptr = B.data, B.indices, B.indptr
        self._checked = B._checked

    def __reduce__(self):
        """Pickle, copy and deepcopy rebuild the matrix through the constructor, which
        checks it again and keeps ``indices``/``indptr`` read-only (numpy unpickles arrays
        writeable)."""
        return (CSR, (self.data, self.indices, self.indptr, self.shape))

    # -- products -----------------------------------------------------------
    def __matmul__(self, x):
        return matmul(self, x)

    def __repr__(self) -> str:
        return (
            f"<CSR {self.shape[0]}x{self.shape[1]}, {self.dtype}, nnz={self.nnz}, "
            f"density={self.density:.3g}, {self.nbytes} bytes>"
        )
