"""Sparse vectors as unsorted (index, value) pairs, and the scatter work array.

This is how mathematical-programming solvers store the columns and update
vectors of the simplex method: only the nonzeros are kept, as pairs, in no
particular order (keeping them sorted would make every insertion cost
O(nnz)).  Operations borrow a dense *work array* (:class:`Workspace`) of the
full dimension, scatter into it, and leave it all zeros again, so its cost is
paid once, not per operation.

Decisions (each is tested in ``tests/test_vector.py``):

* **Duplicate indices** are rejected at construction (``ValueError``): the
  scatter pass would silently keep only the last value.
* **Explicit zeros** may be stored; they behave like any other entry.  In
  ``axpy`` an explicit zero in ``v`` at an index that ``u`` lacks is *not*
  appended (the scatter cannot tell it from "absent"), which is what the seed
  article's algorithm does.
* **Exact cancellation** (``u_i + r*v_i == 0``) keeps the entry as a stored
  zero by default, as CSparse does, so the pattern can be reused.  Pass
  ``drop_tol=t`` (``t >= 0``) to drop every result entry with ``|x| <= t``;
  HiGHS uses 1e-14, CLP 1e-13.
* **NaN and inf** propagate as in dense arithmetic and are never dropped by
  ``drop_tol``.
* **r == 0** leaves ``u`` unchanged (OR-Tools glop returns early the same way),
  so ``0 * inf`` in ``v`` does not turn into NaN in ``u``.
* **Indices** must lie in ``[0, size)``; negative or too-large indices raise
  ``ValueError`` before any kernel runs (in C they are undefined behaviour, in
  Python ``-1`` silently wraps).  ``u.indices`` is a read-only view, so an index
  cannot be edited in place behind these checks; ``u.values`` may be edited.
* **The workspace** must have ``size >= u.size``; it must be zero at every
  index the operation touches (checked in O(nnz), so the O(nnz) cost holds).
  ``Workspace.is_clean()`` is the full O(n) check.  Every operation leaves the
  workspace clean, also when it raises.
* **u and v the same object**: ``u.axpy(r, u, w)`` gives ``(1 + r) * u``;
  ``u.dot(u, w)`` gives ``|u|^2``.
"""
from __future__ import annotations

import numpy as np

from .formats.validation import (
    as_float_array,
    as_index_array,
    check_indices_in_range,
    check_no_duplicates,
    check_shape,
)
from .kernels.spvec_axpy import spvec_axpy
from .kernels.spvec_dot import spvec_dot

__all__ = ["SparseVector", "Workspace"]


class Workspace:
    """The dense scatter array shared by sparse-vector operations.

    Allocated (and zeroed) once; each operation leaves it all zeros again.

    >>> w = Workspace(15)
    >>> w.is_clean()
    True
    """

    def __init__(self, size: int):
        (size,) = check_shape((size,), ndim=1)
        self.array = np.zeros(size, dtype=np.float64)

    @property
    def size(self) -> int:
        return self.array.shape[0]

    def is_clean(self) -> bool:
        """True when every slot is zero (an O(size) scan)."""
        return not np.any(self.array)

    def clear(self) -> None:
        """Zero the whole array (O(size)); never needed after our own operations."""
        self.array[:] = 0.0

    def __repr__(self) -> str:
        return f"Workspace(size={self.size}, clean={self.is_clean()})"


def _real(name: str, value) -> float:
    """``value`` as a float; a string (``float("2")`` would parse it) or an array is a ``TypeError``."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None


def _check_workspace(ws: "Workspace", size: int, *index_arrays: np.ndarray) -> np.ndarray:
    if not isinstance(ws, Workspace):
        raise TypeError(f"workspace must be a sparsekit.Workspace, got {type(ws).__name__}")
    w = ws.array
    if not isinstance(w, np.ndarray):
        raise ValueError(f"workspace.array must be a numpy array, got {type(w).__name__}")
    if ws.size < size:
        raise ValueError(f"workspace too small: size {ws.size} < vector size {size}")
    if w.dtype != np.float64 or w.ndim != 1 or not w.flags.c_contiguous or not w.flags.writeable:
        raise ValueError("workspace.array must be a writeable, contiguous 1-D float64 array")
    for idx in index_arrays:
        if idx.size and np.any(w[idx] != 0.0):
            bad = idx[np.flatnonzero(w[idx] != 0.0)[0]]
            raise ValueError(
                f"workspace is not clean: array[{int(bad)}] = {w[bad]!r}; "
                "call workspace.clear() once to reset it"
            )
    return w


class SparseVector:
    """A sparse vector of length ``size`` kept as unsorted (index, value) pairs.

    Parameters
    ----------
    indices : array of int, no duplicates, each in ``[0, size)``
    values : array of float, same length
    size : the dimension n

    The pairs live in buffers with spare room (like ``std::vector``), so
    ``axpy`` appends in place; ``indices`` and ``values`` are views of the
    first ``nnz`` slots (int64 and float64).

    >>> u = SparseVector([3, 0], [1.5, -2.0], size=5)
    >>> u
    SparseVector(size=5, nnz=2): (3,1.5) (0,-2)
    >>> u.toarray()
    array([-2. ,  0. ,  0. ,  1.5,  0. ])
    """

    __slots__ = ("_idx", "_val", "_nnz", "_size")

    def __init__(self, indices, values, size: int):
        (size,) = check_shape((size,), ndim=1)
        idx = as_index_array("indices", indices, dtype=np.int64)
        val = as_float_array("values", values, ndim=1, dtype=np.float64)
        if idx.shape[0] != val.shape[0]:
            raise ValueError(
                f"indices and values must have the same length, got {idx.shape[0]} and {val.shape[0]}"
            )
        check_indices_in_range("indices", idx, size)
        check_no_duplicates("indices", idx)
        self._idx = idx.copy()
        self._val = val.copy()
        self._nnz = idx.shape[0]
        self._size = size

    # -- construction -------------------------------------------------------
    @classmethod
    def from_dense(cls, x) -> "SparseVector":
        """The nonzeros of a 1-D array, in index order."""
        arr = as_float_array("x", x, ndim=1, dtype=np.float64)
        nz = np.flatnonzero(arr)
        return cls(nz, arr[nz], arr.shape[0])

    @classmethod
    def from_pairs(cls, pairs, size: int) -> "SparseVector":
        """From an iterable of ``(index, value)`` tuples, kept in that order.  The indices are
        checked as the constructor checks them (``2.5`` or ``"1"`` is refused, not converted)."""
        idx, val = [], []
        for k, p in enumerate(pairs):
            try:
                i, x = p
            except (TypeError, ValueError):
                raise ValueError(f"pairs[{k}] must be an (index, value) pair, got {p!r}") from None
            idx.append(i)
            val.append(x)
        if not idx:
            return cls(np.empty(0, dtype=np.int64), np.empty(0), size)
        return cls(idx, val, size)

    def copy(self) -> "SparseVector":
        return SparseVector(self.indices, self.values, self._size)

    # -- attributes ---------------------------------------------------------
    @property
    def indices(self) -> np.ndarray:
        """The stored indices, a read-only view (an index edited in place would skip the
        range and duplicate checks); ``values`` may be edited.  The view reads through a
        read-only buffer, so ``setflags(write=True)`` is refused too."""
        return np.frombuffer(memoryview(self._live()).toreadonly(), dtype=self._idx.dtype)

    def _live(self) -> np.ndarray:
        """The stored indices as a plain (writeable) view, for this class's own use."""
        return self._idx[: self._nnz]

    @property
    def values(self) -> np.ndarray:
        return self._val[: self._nnz]

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros included)."""
        return self._nnz

    @property
    def size(self) -> int:
        return self._size

    @property
    def shape(self) -> tuple:
        return (self._size,)

    def pairs(self) -> list:
        """The stored entries as a list of ``(index, value)`` tuples, in storage order."""
        return [(int(i), float(v)) for i, v in zip(self.indices, self.values)]

    def toarray(self) -> np.ndarray:
        out = np.zeros(self._size, dtype=np.float64)
        out[self.indices] = self.values
        return out

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        body = " ".join(f"({i},{v:g})" for i, v in self.pairs())
        return f"SparseVector(size={self._size}, nnz={self._nnz}): {body}".rstrip()

    # -- operations ---------------------------------------------------------
    def _reserve(self, capacity: int) -> None:
        if self._idx.shape[0] >= capacity:
            return
        new_cap = max(capacity, 2 * self._idx.shape[0], 8)
        idx = np.empty(new_cap, dtype=np.int64)
        val = np.empty(new_cap, dtype=np.float64)
        idx[: self._nnz] = self._idx[: self._nnz]
        val[: self._nnz] = self._val[: self._nnz]
        self._idx, self._val = idx, val

    def _check_storage(self) -> None:
        """The buffers as the kernels expect them: numpy lets anyone holding a view's ``.base``
        change its dtype, shape or strides in place, and a kernel reads them unchecked."""
        idx, val = self._idx, self._val
        if not (idx.dtype == np.int64 and val.dtype == np.float64 and idx.ndim == 1 and val.ndim == 1
                and idx.flags.c_contiguous and val.flags.c_contiguous and idx.shape == val.shape
                and idx.shape[0] >= self._nnz):
            raise ValueError("this SparseVector's storage was changed in place (the dtype, shape or "
                             "strides of the buffer behind .indices or .values); build a new vector")

    def _check_other(self, v: "SparseVector") -> None:
        if not isinstance(v, SparseVector):
            raise TypeError(f"expected a SparseVector, got {type(v).__name__}")
        if v.size != self._size:
            raise ValueError(f"size mismatch: {self._size} and {v.size}")
        self._check_storage()
        v._check_storage()

    def axpy(self, r: float, v: "SparseVector", workspace: Workspace, *, drop_tol=None) -> "SparseVector":
        """In place ``self <- self + r * v`` by the three-pass scatter; returns ``self``.

        Entries already in ``self`` keep their place; indices new to ``self``
        are appended in ``v``'s order.  Cost O(nnz(self) + nnz(v)), whatever
        ``size`` is.  ``drop_tol`` (``None`` = keep everything) drops result
        entries with ``|x| <= drop_tol``.
        """
        self._check_other(v)
        r = _real("r", r)
        if drop_tol is None:
            tol = -1.0
        else:
            tol = _real("drop_tol", drop_tol)
            if not tol >= 0.0:
                raise ValueError(f"drop_tol must be >= 0 (or None), got {drop_tol!r}")
        if v is self:  # read v from a snapshot: u's buffer is rewritten below
            v = self.copy()
        w = _check_workspace(workspace, self._size, self._live(), v._live())
        if r == 0.0:
            return self
        self._reserve(self._nnz + v.nnz)
        try:
            self._nnz = int(
                spvec_axpy(self._idx, self._val, self._nnz, v._idx, v._val, v.nnz, r, w, tol)
            )
        finally:  # a kernel cannot fail on checked input, but keep the promise
            w[v._live()] = 0.0
        return self

    def dot(self, v: "SparseVector", workspace: Workspace) -> float:
        """The inner product, scattering ``v`` into the workspace; O(nnz)."""
        self._check_other(v)
        w = _check_workspace(workspace, self._size, self._live(), v._live())
        try:
            return float(spvec_dot(self._idx, self._val, self._nnz, v._idx, v._val, v.nnz, w))
        finally:
            w[v._live()] = 0.0

    def drop(self, tol: float = 0.0) -> "SparseVector":
        """Remove stored entries with ``|x| <= tol`` in place (NaN stays); returns ``self``."""
        tol = _real("tol", tol)
        keep = ~(np.abs(self.values) <= tol)
        n = int(keep.sum())
        self._idx[:n] = self.indices[keep]
        self._val[:n] = self.values[keep]
        self._nnz = n
        return self

    def sorted(self) -> "SparseVector":
        """A copy with the entries in increasing index order."""
        order = np.argsort(self.indices, kind="stable")
        return SparseVector(self.indices[order], self.values[order], self._size)
