"""Argument checks shared by every container, in the spirit of scipy's ``check_format``.

Every public constructor and operator calls these before any numba kernel
runs: a kernel does no bounds checks, so malformed data must never reach it.
Errors name the field that is wrong.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def check_shape(shape, ndim: int = 2) -> tuple:
    """Return ``shape`` as a tuple of ``ndim`` non-negative Python ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of {ndim} integers, got {shape!r}") from None
    if len(dims) != ndim:
        raise ValueError(f"shape must have {ndim} entries, got {shape!r}")
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (numbers.Integral, np.integer)):
            raise TypeError(f"shape entries must be integers, got {shape!r}")
        if d < 0:
            raise ValueError(f"shape entries must be non-negative, got {shape!r}")
        if d > np.iinfo(np.int64).max:
            raise ValueError(f"shape entries must fit an int64 index (at most 2**63 - 1), got {shape!r}")
        out.append(int(d))
    return tuple(out)


def check_blocksize(blocksize, name: str = "blocksize") -> tuple:
    """``(r, c)`` as two Python ints >= 1, the one block-shape check of the package (also used, with
    ``name``, for any other pair of positive integers, such as a widget's matrix shape).

    ``TypeError`` for anything but a pair of integers (a number, a string, floats, bools);
    ``ValueError`` for a sequence of the wrong length or an entry below 1.
    """
    what = f"{name} must be a pair of positive integers (r, c), got {blocksize!r}"
    if isinstance(blocksize, (str, bytes)):
        raise TypeError(what)
    try:
        items = tuple(blocksize)
    except TypeError:
        raise TypeError(what) from None
    if len(items) != 2:
        raise ValueError(what)
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)) for v in items):
        raise TypeError(what)
    r, c = (int(v) for v in items)
    if r < 1 or c < 1:
        raise ValueError(what)
    return r, c


def parse_blocksize(text, name: str = "block shape") -> tuple:
    """``"4x1"`` (or ``"4X1"``) -> ``(4, 1)``: the one parser of an ``"RxC"`` block label.

    ``ValueError`` naming ``name`` for anything else, or an entry below 1.
    """
    parts = str(text).strip().lower().split("x")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"{name} must look like 'RxC' (rows x cols, e.g. '4x1'), got {text!r}")
    r, c = int(parts[0]), int(parts[1])
    if r < 1 or c < 1:
        raise ValueError(f"{name} entries must be >= 1, got {text!r}")
    return r, c


def check_out(out, shape, dtype):
    """``out`` for a product: None, or a C-contiguous writeable array of ``shape`` and ``dtype``."""
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out must have dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError("out must be C-contiguous and writeable")


def check_no_overlap(out, X, A=None):
    """A kernel reads ``X`` and the weights ``A.data`` while it writes ``out``: they must not
    share memory."""
    if out is None:
        return
    if np.may_share_memory(out, X):
        raise ValueError("out must not share memory with X (the kernel reads X while it writes out)")
    if A is not None and np.may_share_memory(out, A.data):
        raise ValueError("out must not share memory with the matrix's data (the kernel reads the "
                         "weights while it writes out)")


def as_float_array(name: str, values, *, ndim: int | None = None, dtype=None) -> np.ndarray:
    """A C-contiguous float32/float64 array; ints and bools become float64.

    ``dtype`` forces one of the two float types.  Complex, object and string
    arrays are rejected with ``TypeError``.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real; complex dtype {arr.dtype} is not supported")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if dtype is not None:
        target = np.dtype(dtype)
        if target not in FLOAT_DTYPES:
            raise TypeError(f"dtype must be float32 or float64, got {target}")
    elif arr.dtype in FLOAT_DTYPES:
        target = arr.dtype
    else:  # ints, bools, float16, longdouble
        target = np.dtype(np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=target)


def read_only(arr: np.ndarray) -> np.ndarray:
    """``arr`` if it is already one of these, else a copy of it that can never be written.

    The containers keep ``indices`` and ``indptr`` this way: a numba kernel does no
    bounds checks, so an index edited in place after the checks (``A.indices[0] = 10**6``)
    would send it outside its arrays and could kill the process.  With the arrays
    read-only such an edit raises numpy's ``ValueError: assignment destination is
    read-only`` at once; the structure changes only by assigning new arrays (checked
    before the next product) or by building a new matrix.  The copy lives in an immutable
    ``bytes`` object, so no writeable view of it exists anywhere and
    ``setflags(write=True)`` is refused too (a read-only array that owns its memory can be
    made writeable again).  The caller's own array stays writeable.  ``data`` stays
    writeable: a value edited in place cannot send a kernel astray.
    """
    owner = arr
    while isinstance(owner, np.ndarray):
        owner = owner.base
    if not arr.flags.writeable and isinstance(owner, bytes):
        return arr
    out = np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=arr.dtype)
    return out if arr.ndim == 1 else out.reshape(arr.shape)


def fixed(name: str) -> property:
    """A read-only attribute the constructor sets once: ``shape``, ``blocksize``.

    The kernels trust them as they trust ``indptr``: a matrix whose ``shape`` shrank
    after the checks (``A.shape = (1, 1)``) would send a kernel writing rows past the end
    of its result.  Assigning again raises ``AttributeError`` naming the attribute; build a
    new matrix instead (``CSR(A.data, A.indices, A.indptr, new_shape)`` checks it).  Read
    through a C getter (``operator.attrgetter``): ~0.08 us, a plain attribute's speed.
    """
    slot = "_" + name

    def set_once(obj, value):
        if hasattr(obj, slot):
            raise AttributeError(
                f"{type(obj).__name__}.{name} is fixed when the matrix is built (the kernels "
                f"trust it); build a new {type(obj).__name__} with the {name} you want"
            )
        setattr(obj, slot, value)

    return property(operator.attrgetter(slot), set_once, doc=f"``{name}``, fixed when the matrix is built")


def _layout(*arrays: np.ndarray) -> tuple:
    return tuple((a.shape, a.dtype, a.strides) for a in arrays)


def checked_state(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> tuple:
    """What the checks of a matrix passed: its three arrays, and the shape, dtype and strides of each.

    numpy changes an array's shape, dtype or strides in place when told to (``a.dtype =
    np.int64`` reinterprets the bytes, ``a.strides = (1,)`` reads them misaligned, read-only
    or not), so the same three objects are not enough to say nothing changed;
    :func:`unchanged` compares this record with the arrays now.
    """
    return (data, indices, indptr, _layout(data, indices, indptr))


def unchanged(state, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> bool:
    """True when ``state`` (from :func:`checked_state`) still describes these arrays (~0.5 us)."""
    return (state is not None and state[0] is data and state[1] is indices and state[2] is indptr
            and state[3] == _layout(data, indices, indptr))


def check_index_dtype(dtype) -> np.dtype:
    """``dtype`` as an index dtype: int32 or int64, else ``TypeError`` (a narrower type would
    wrap large indices around before any range check could see them)."""
    try:
        target = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"index dtype must be int32 or int64, got {dtype!r}") from None
    if target not in INDEX_DTYPES:
        raise TypeError(f"index dtype must be int32 or int64, got {target}")
    return target


def as_index_array(name: str, values, dtype=None) -> np.ndarray:
    """A 1-D C-contiguous int32/int64 array (other integer types become int64)."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {arr.shape}")
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # np.asarray([]) is float64
    if arr.dtype.kind not in "iu" or arr.dtype.kind == "b":
        raise TypeError(f"{name} must have an integer dtype, got {arr.dtype}")
    if dtype is not None:
        target = check_index_dtype(dtype)
    elif arr.dtype in INDEX_DTYPES:
        target = arr.dtype
    else:
        target = np.dtype(np.int64)
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(target).max:
        raise ValueError(f"{name} has values too large for {target}")
    if arr.dtype.itemsize > target.itemsize and arr.size:
        info = np.iinfo(target)
        if arr.min() < info.min or arr.max() > info.max:
            raise ValueError(f"{name} has values that do not fit in {target}")
    return np.ascontiguousarray(arr, dtype=target)


def check_indices_in_range(name: str, indices: np.ndarray, bound: int) -> None:
    """Every entry of ``indices`` must lie in ``[0, bound)``."""
    if indices.size == 0:
        return
    lo = int(indices.min())
    hi = int(indices.max())
    if lo < 0:
        pos = int(np.argmax(indices < 0))
        raise ValueError(f"{name} must be non-negative; {name}[{pos}] = {int(indices[pos])}")
    if hi >= bound:
        pos = int(np.argmax(indices >= bound))
        raise ValueError(
            f"{name} out of range: {name}[{pos}] = {int(indices[pos])} but the bound is {bound}"
        )


def check_no_duplicates(name: str, indices: np.ndarray) -> None:
    """Reject repeated entries in ``indices`` (O(nnz log nnz))."""
    if indices.size < 2:
        return
    s = np.sort(indices)
    dup = s[1:] == s[:-1]
    if dup.any():
        raise ValueError(f"{name} has duplicate entries (e.g. {int(s[1:][dup][0])})")


def check_indptr(indptr: np.ndarray, n_rows: int, nnz: int, what: str = "rows") -> None:
    """indptr has n_rows+1 entries, starts at 0, never decreases and ends at nnz."""
    if indptr.shape[0] != n_rows + 1:
        raise ValueError(
            f"indptr must have length {n_rows + 1} ({what} + 1), got {indptr.shape[0]}"
        )
    if indptr[0] != 0:
        raise ValueError(f"indptr must start at 0, got indptr[0] = {int(indptr[0])}")
    if n_rows:
        # compared, not subtracted: np.diff wraps around for steps beyond the dtype's range
        # (int32 [0, 2e9, -2e9, ...] has a difference of +2.3e9 wrapped to a "positive" one)
        down = indptr[1:] < indptr[:-1]
        if down.any():
            pos = int(np.argmax(down))
            raise ValueError(
                f"indptr must be non-decreasing: indptr[{pos}] = {int(indptr[pos])} > "
                f"indptr[{pos + 1}] = {int(indptr[pos + 1])}"
            )
    if indptr[-1] != nnz:
        raise ValueError(
            f"indptr must end at the number of stored entries ({nnz}), "
            f"got indptr[-1] = {int(indptr[-1])}"
        )


def common_index_dtype(*arrays: np.ndarray) -> np.dtype:
    """int64 if any array is int64, else int32."""
    return np.dtype(np.int64) if any(a.dtype == np.int64 for a in arrays) else np.dtype(np.int32)


def as_operand(x, n_rows: int, dtype: np.dtype, name: str = "x") -> np.ndarray:
    """Validate the dense right-hand side of ``A @ x``.

    ``x`` must be 1-D of length ``n_rows`` or 2-D with ``n_rows`` rows; it is
    returned C-contiguous in the float dtype of the product.
    """
    if (type(x) is np.ndarray and x.dtype == dtype and dtype in FLOAT_DTYPES and x.ndim in (1, 2)
            and x.shape[0] == n_rows and x.flags.c_contiguous):
        return x  # the common case, answered without the conversions below (~0.3 us)
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must be real; complex dtype {arr.dtype} is not supported")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D, got {arr.ndim}-D")
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"dimension mismatch: matrix has {n_rows} columns but {name} has shape {arr.shape}"
        )
    out_dtype = np.result_type(dtype, arr.dtype) if arr.dtype.kind == "f" else dtype
    if out_dtype not in FLOAT_DTYPES:
        out_dtype = np.dtype(np.float64)
    return np.ascontiguousarray(arr, dtype=out_dtype)
