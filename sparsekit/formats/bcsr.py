"""Block Compressed Sparse Row storage (scipy's BSR) with any block shape.

The matrix is cut into ``r x c`` tiles; only tiles holding a nonzero are
stored, each as a dense ``r x c`` block.  ``data`` has shape
``(nblocks, r, c)``, ``indices`` holds the block-column of each block and
``indptr`` the start of each block-row.  One index per block instead of one
per value is where the memory saving comes from; the zeros stored inside kept
blocks are what it costs.

**Padding.** A matrix whose shape is not a multiple of the block shape is
covered by ``ceil(M/r) x ceil(N/c)`` blocks; the blocks on the bottom and
right edges reach past the matrix, and those positions must hold zeros (the
constructor checks).  Products pad the operand with zeros and drop the extra
output rows, so the padding never shows.  scipy's BSR cannot represent such a
shape, so :meth:`BCSR.to_scipy` then needs ``format="csr"``.
"""
from __future__ import annotations

import numpy as np

from .products import matmul
from .validation import (
    as_float_array,
    as_index_array,
    check_blocksize,
    check_index_dtype,
    check_indices_in_range,
    check_indptr,
    check_shape,
    checked_state,
    common_index_dtype,
    fixed,
    read_only,
)

__all__ = ["BCSR"]


class BCSR:
    """A sparse matrix stored as dense ``r x c`` blocks in CSR order.

    Parameters
    ----------
    data : float32/float64 array of shape ``(nblocks, r, c)``
    indices : block-column of each block, int32/int64, ``nblocks`` entries
    indptr : start of each block-row, length ``ceil(M / r) + 1``
    shape : ``(M, N)``, the logical shape (need not be a multiple of the block)
    blocksize : ``(r, c)``; taken from ``data`` when omitted

    Validated as :class:`~sparsekit.CSR` is; ``indices`` and ``indptr`` are kept as
    read-only copies, ``data`` may be edited in place.

    >>> A = BCSR.from_dense([[1., 2., 0., 0.], [0., 3., 0., 0.]], blocksize=(2, 2))
    >>> A.data.shape, A.indices, A.indptr
    ((1, 2, 2), array([0], dtype=int32), array([0, 1], dtype=int32))
    """

    format = "bcsr"
    shape = fixed("shape")
    blocksize = fixed("blocksize")

    def __init__(self, data, indices, indptr, shape, blocksize=None, *, copy: bool = False):
        shape = check_shape(shape)
        data = as_float_array("data", data)
        if data.ndim != 3:
            raise ValueError(f"data must be 3-D (nblocks, r, c), got shape {data.shape}")
        if blocksize is None:
            blocksize = data.shape[1:]
        r, c = check_blocksize(blocksize)
        if data.shape[1:] != (r, c):
            raise ValueError(f"data blocks have shape {data.shape[1:]} but blocksize is {(r, c)}")
        indices = as_index_array("indices", indices)
        indptr = as_index_array("indptr", indptr)
        itype = common_index_dtype(indices, indptr)
        indices = read_only(indices.astype(itype, copy=False))  # checked, then never edited in place
        indptr = read_only(indptr.astype(itype, copy=False))
        if data.shape[0] != indices.shape[0]:
            raise ValueError(
                f"data and indices must have the same number of blocks, got {data.shape[0]} and {indices.shape[0]}"
            )
        n_brows = -(-shape[0] // r)
        n_bcols = -(-shape[1] // c)
        check_indptr(indptr, n_brows, indices.shape[0], what="block rows")
        check_indices_in_range("indices", indices, n_bcols)
        _check_padding(data, indices, indptr, shape, r, c)
        if copy:
            data = data.copy()
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.shape = shape
        self._checked = checked_state(data, indices, indptr)  # what the checks passed (see check_format)
        self.blocksize = (r, c)

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dense(cls, A, blocksize=(1, 1), *, dtype=None, index_dtype=np.int32) -> "BCSR":
        """Keep every ``r x c`` tile of ``A`` that holds a nonzero."""
        r, c = check_blocksize(blocksize)
        index_dtype = check_index_dtype(index_dtype)
        arr = as_float_array("A", A, ndim=2, dtype=dtype)
        if index_dtype == np.int32 and arr.size >= np.iinfo(np.int32).max:
            index_dtype = np.dtype(np.int64)
        M, N = arr.shape
        mb, nb = -(-M // r), -(-N // c)
        padded = np.zeros((mb * r, nb * c), dtype=arr.dtype)
        padded[:M, :N] = arr
        tiles = padded.reshape(mb, r, nb, c).transpose(0, 2, 1, 3)  # (mb, nb, r, c)
        keep = tiles.reshape(mb, nb, r * c).any(axis=2)
        brow, bcol = np.nonzero(keep)
        indptr = np.zeros(mb + 1, dtype=index_dtype)
        np.cumsum(np.bincount(brow, minlength=mb), out=indptr[1:])
        data = np.ascontiguousarray(tiles[brow, bcol])
        return cls(data, bcol.astype(index_dtype), indptr, (M, N), (r, c))

    @classmethod
    def from_csr(cls, A, blocksize) -> "BCSR":
        """Group the entries of a :class:`~sparsekit.CSR` into blocks (duplicates are summed)."""
        r, c = check_blocksize(blocksize)
        M, N = A.shape
        mb, nb = -(-M // r), -(-N // c)
        rows = np.repeat(np.arange(M, dtype=np.int64), np.diff(A.indptr))
        cols = A.indices.astype(np.int64)
        key = (rows // r) * nb + cols // c
        uniq, slot = np.unique(key, return_inverse=True)
        data = np.zeros((uniq.shape[0], r, c), dtype=A.dtype)
        np.add.at(data, (slot, rows % r, cols % c), A.data)
        brow = uniq // nb
        indptr = np.zeros(mb + 1, dtype=A.indptr.dtype)
        np.cumsum(np.bincount(brow, minlength=mb), out=indptr[1:])
        return cls(data, (uniq % nb).astype(A.indices.dtype), indptr, (M, N), (r, c))

    @classmethod
    def from_scipy(cls, m, blocksize=None) -> "BCSR":
        """From a scipy.sparse matrix; a BSR input keeps its blocksize unless one is given."""
        import scipy.sparse as sp

        from .csr import CSR

        if not sp.issparse(m):
            raise TypeError(f"expected a scipy.sparse matrix, got {type(m).__name__}")
        if blocksize is not None:
            blocksize = check_blocksize(blocksize)
        if m.format == "bsr" and (blocksize is None or blocksize == m.blocksize):
            return cls(m.data, m.indices, m.indptr, m.shape, m.blocksize, copy=True)
        return cls.from_csr(CSR.from_scipy(m), blocksize if blocksize is not None else (1, 1))

    def to_scipy(self, format: str = "bsr"):
        """A ``scipy.sparse.bsr_array`` (or ``csr_array`` with ``format="csr"``).

        scipy's BSR needs a shape that is a multiple of the block; for other
        shapes ask for ``format="csr"``.
        """
        import scipy.sparse as sp

        if format == "csr":
            return self.tocsr().to_scipy()
        if format != "bsr":
            raise ValueError(f"format must be 'bsr' or 'csr', got {format!r}")
        r, c = self.blocksize
        if self.shape[0] % r or self.shape[1] % c:
            raise ValueError(
                f"scipy's BSR needs a shape that is a multiple of the block: shape {self.shape}, "
                f"blocksize {self.blocksize}; use to_scipy(format='csr')"
            )
        return sp.bsr_array(
            (self.data.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape, blocksize=(r, c)
        )

    def tocsr(self):
        """The stored values inside the matrix as a CSR (zeros inside blocks stay stored)."""
        from .csr import CSR

        r, c = self.blocksize
        M, N = self.shape
        nblk = self.data.shape[0]
        brow = np.repeat(np.arange(self.indptr.shape[0] - 1, dtype=np.int64), np.diff(self.indptr))
        rows = (brow[:, None, None] * r + np.arange(r)[None, :, None]).repeat(c, axis=2)
        cols = (self.indices.astype(np.int64)[:, None, None] * c + np.arange(c)[None, None, :]).repeat(r, axis=1)
        rows, cols, vals = rows.reshape(nblk * r * c), cols.reshape(nblk * r * c), self.data.reshape(-1)
        inside = (rows < M) & (cols < N)
        rows, cols, vals = rows[inside], cols[inside], vals[inside]
        order = np.lexsort((cols, rows))
        indptr = np.zeros(M + 1, dtype=self.indptr.dtype)
        np.cumsum(np.bincount(rows, minlength=M), out=indptr[1:])
        return CSR(vals[order], cols[order].astype(self.indices.dtype), indptr, self.shape)

    # -- attributes ---------------------------------------------------------
    @property
    def nblocks(self) -> int:
        return int(self.data.shape[0])

    @property
    def nnz(self) -> int:
        """Number of stored values: ``nblocks * r * c`` (zeros inside blocks count, as in scipy)."""
        return int(self.data.size)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def nbytes(self) -> int:
        """Bytes of ``data + indices + indptr``."""
        return int(self.data.nbytes + self.indices.nbytes + self.indptr.nbytes)

    def count_nonzero(self) -> int:
        """Nonzero values actually stored (excludes the zeros blocks carry)."""
        return int(np.count_nonzero(self.data))

    def toarray(self) -> np.ndarray:
        r, c = self.blocksize
        M, N = self.shape
        mb, nb = self.indptr.shape[0] - 1, -(-N // c)
        tiles = np.zeros((mb, nb, r, c), dtype=self.dtype)
        brow = np.repeat(np.arange(mb), np.diff(self.indptr))
        np.add.at(tiles, (brow, self.indices), self.data)
        return tiles.transpose(0, 2, 1, 3).reshape(mb * r, nb * c)[:M, :N].copy()

    def astype(self, dtype) -> "BCSR":
        return BCSR(self.data.astype(dtype), self.indices, self.indptr, self.shape, self.blocksize)

    def check_format(self) -> None:
        """Check ``data``, ``indices`` and ``indptr`` again, as the constructor does: after
        assigning new arrays (``indices`` and ``indptr`` are read-only; ``data`` may be
        edited).  Raises ``ValueError``/``TypeError`` naming the problem; arrays that pass
        are kept in the dtypes the constructor gives.  ``A @ X`` runs it
        by itself when the arrays are other objects than those last checked."""
        B = BCSR(self.data, self.indices, self.indptr, self.shape, self.blocksize)
        self.data, self.indices, self.indptr = B.data, B.indices, B.indptr
        self._checked = B._checked

    def __reduce__(self):
        """Rebuilt through the constructor, as :meth:`CSR.__reduce__`."""
        return (BCSR, (self.data, self.indices, self.indptr, self.shape, self.blocksize))

    # -- products -----------------------------------------------------------
    def __matmul__(self, x):
        return matmul(self, x)

    def __repr__(self) -> str:
        r, c = self.blocksize
        return (
            f"<BCSR {self.shape[0]}x{self.shape[1]}, blocksize {r}x{c}, {self.dtype}, "
            f"nblocks={self.nblocks}, nnz={self.nnz}, {self.nbytes} bytes>"
        )


def _check_padding(data, indices, indptr, shape, r, c) -> None:
    """Positions of edge blocks that fall outside ``shape`` must be zero."""
    M, N = shape
    if not data.shape[0]:
        return
    extra_rows = (-M) % r
    extra_cols = (-N) % c
    if extra_cols:
        last = indices == (-(-N // c) - 1)
        if np.any(data[last][:, :, c - extra_cols:]):
            raise ValueError(f"data has nonzero values in padded columns beyond shape {shape}")
    if extra_rows:
        n_brows = indptr.shape[0] - 1
        lo, hi = int(indptr[n_brows - 1]), int(indptr[n_brows])
        if np.any(data[lo:hi, r - extra_rows:, :]):
            raise ValueError(f"data has nonzero values in padded rows beyond shape {shape}")
