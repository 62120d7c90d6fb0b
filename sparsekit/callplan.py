"""Call plans: what a repeated ``spmm`` / ``spmm_int8`` call on the same matrix skips.

A :class:`Plan` holds the kernel chosen for one matrix and one kind of operand, the flattened
weights and the checks already passed; :func:`cached_plan` finds it again while the matrix
still holds the arrays it was checked with.  :func:`run` pads ``X``, runs the plan's kernel
into ``out`` (or a new array) and trims the padded rows.  Shared by
:func:`sparsekit.dispatch.spmm` and :func:`sparsekit.quant.spmm_int8`; not part of the
public API.
"""
from __future__ import annotations

import weakref

import numpy as np

from .formats.csr import CSR
from .formats.validation import unchanged
from .kernels import spmm_bcsr_general as _gen
from .kernels import spmm_bcsr_tiled as _tiled
from .kernels.codegen import compile_for
from .kernels.spmm_bcsr import spmm_bcsr as _ref_spmm_bcsr
from .kernels.spmm_csr import spmm_csr as _ref_spmm_csr


class Plan:
    """What ``spmm`` needs to call one kernel for one matrix and one kind of operand.

    Built on the first call of a (variant, tile, dtype, HW, X writeable, threads) for a
    matrix and kept until the matrix is garbage-collected, so that a repeated call (a
    layer run again on new activations, the benchmark's loop) skips the choice, the
    checks and the compile check: measured 8.3 -> 4.4 us per call on one thread, 11.8 ->
    7.2 us on two, about 5% of the two-thread MobileNetV1 stack (13 calls, ~1.1 ms).  It
    holds the matrix's arrays and is used only while ``A.data``, ``A.indices`` and
    ``A.indptr`` are still those same objects, with the shapes and dtypes they had when
    they were checked (arrays assigned or reshaped since are checked again:
    :func:`checked`).  Weights of another dtype than the product are converted on every
    call (a kept copy would miss changes made in place).
    """

    __slots__ = ("data", "indices", "indptr", "state", "kern", "wf", "dtype", "rows", "tail", "flat", "zero")

    def __init__(self, A, X, variant, tile, n_threads):
        dtype = X.dtype
        out_dtype = np.int32 if variant == "int8" else dtype  # int8 kernels accumulate in int32
        n_cols = X.shape[1]
        self.data, self.indices, self.indptr = A.data, A.indices, A.indptr
        self.state = A._checked  # the caller ran checked(A): these arrays passed the checks
        self.dtype = dtype
        self.rows = n_rows_padded(A)
        self.zero = A.nnz == 0 or n_cols == 0 or self.rows == 0
        block = (1, 1) if isinstance(A, CSR) else tuple(A.blocksize)
        self.flat = variant != "reference"
        if variant == "reference":
            self.kern = _ref_spmm_csr if isinstance(A, CSR) else _ref_spmm_bcsr
            self.tail = ()
        elif tile is not None:
            self.kern = _tiled.get_kernel(*block, tile, variant)
            self.tail = (n_cols, n_threads) if variant == "parallel" else (n_cols,)
        else:
            self.kern = {"simd": _gen.spmm_bcsr_general, "scalar": _gen.spmm_bcsr_general_scalar,
                         "parallel": _gen.spmm_bcsr_general_parallel}[variant]
            self.tail = (n_cols,) + block
        # the weights as the kernel takes them, or None: converted on each call
        self.wf = None if self.data.dtype != dtype else self.data.reshape(-1) if self.flat else self.data
        if not self.zero:  # compile now, with the variant's vectoriser settings
            Y = np.empty((self.rows, n_cols), dtype=out_dtype)
            compile_for(self.kern, self.args(padded_x(A, X), Y), variant)

    def args(self, Xp, Y) -> tuple:
        wf = self.wf
        if wf is None:
            wf = self.data.astype(self.dtype)
            wf = wf.reshape(-1) if self.flat else wf
        if self.flat:
            return (wf, self.indices, self.indptr, Xp.reshape(-1), Y.reshape(-1)) + self.tail
        return (wf, self.indices, self.indptr, Xp, Y)


#: ``id(A) -> {key: Plan}``; an entry is dropped when its matrix is garbage-collected
plans: dict = {}


def checked(A) -> None:
    """Run ``A.check_format()`` if ``A`` holds other arrays than those last checked.

    The containers check their arrays when built and remember them (``A._checked``), but
    ``A.indices = ...`` can be assigned later, and a kernel does no bounds checks: the
    checks run again, once per new set of arrays, before any kernel sees them.  The checked
    ``indices`` and ``indptr`` are read-only copies (:func:`~sparsekit.formats.validation.read_only`),
    so they cannot be edited in place behind the checks' back; an array whose shape,
    dtype or strides were changed in place (``A.data.dtype = np.float64``) counts as new
    (:func:`~sparsekit.formats.validation.unchanged`), and ``A.shape`` cannot be assigned.
    """
    if not unchanged(getattr(A, "_checked", None), A.data, A.indices, A.indptr):
        A.check_format()


def plan_key(variant, tile, X, n_threads) -> tuple:
    # type(tile): 8.0 == 8 and True == 1 hash alike, and must not find the plan an int 8 or 1 made
    return (variant, type(tile), tile, X.dtype, X.shape[1], X.flags.writeable, n_threads)


def cached_plan(A, key):
    """The :class:`Plan` kept for ``A`` under ``key`` if ``A`` still holds its arrays, else None."""
    mine = plans.get(id(A))
    try:
        p = mine.get(key) if mine is not None else None
    except TypeError:  # an unhashable variant or tile: the caller's checks name it
        return None
    if p is not None and unchanged(p.state, A.data, A.indices, A.indptr):
        return p
    return None


def keep_plan(A, key, p: Plan) -> Plan:
    mine = plans.get(id(A))
    if mine is None:
        mine = plans[id(A)] = {}
        weakref.finalize(A, plans.pop, id(A), None)
    mine[key] = p
    return p


def padded_x(A, X):
    if isinstance(A, CSR):
        return X
    c = A.blocksize[1]
    padded = -(-A.shape[1] // c) * c
    if X.shape[0] == padded:
        return X
    xp = np.zeros((padded,) + X.shape[1:], dtype=X.dtype)
    xp[: X.shape[0]] = X
    return xp


def n_rows_padded(A) -> int:
    if isinstance(A, CSR):
        return A.shape[0]
    return (A.indptr.shape[0] - 1) * A.blocksize[0]


def result_buffer(out, rows: int, shape: tuple, dtype) -> np.ndarray:
    """Where a kernel writes: ``out`` itself when it has the padded row count, else a new array."""
    if out is not None and rows == shape[0]:
        return out
    return np.empty((rows, shape[1]), dtype=dtype)


def trim_result(Y: np.ndarray, out, n_rows: int) -> np.ndarray:
    """Drop the padded rows of ``Y``; copy into ``out`` when the kernel could not write there."""
    if Y is out:
        return out
    if out is not None:
        out[...] = Y[:n_rows]
        return out
    return Y[:n_rows]


def run(p: Plan, A, X, out, shape: tuple, dtype) -> np.ndarray:
    """Run plan ``p`` for ``A @ X`` (``X`` checked, ``out`` checked or None); the ``shape`` result."""
    Y = result_buffer(out, p.rows, shape, dtype)
    if p.zero:
        Y[...] = 0
    else:
        p.kern(*p.args(padded_x(A, X), Y))
    return trim_result(Y, out, shape[0])
