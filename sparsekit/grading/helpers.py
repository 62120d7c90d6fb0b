"""Building blocks for question cases: result checks, comparisons, cost measurements.

Each helper raises :class:`~sparsekit.grading.engine.CaseFailure` with a clear
message when the learner's result is not what the prompt asks for.
"""
from __future__ import annotations

import contextlib
import time
import tracemalloc

import numpy as np

from .engine import CaseFailure, show


def as_array(value, what: str, *, kind: str | None = None, ndim: int | None = None,
             shape: tuple | None = None, input=None) -> np.ndarray:
    """``value`` as an ndarray, checked for dtype kind ('i' integer, 'f' float, 'b' bool), ndim, shape."""
    if value is None:
        raise CaseFailure(f"{what} is None: did you forget to return it?", input=input)
    if isinstance(value, (str, bytes, dict, set)):
        raise CaseFailure(f"{what} must be a numpy array, got {type(value).__name__}", input=input,
                          actual=value)
    try:
        arr = np.asarray(value)
    except Exception:
        raise CaseFailure(f"{what} must be a numpy array, got {type(value).__name__}", input=input) from None
    if arr.dtype == object:
        raise CaseFailure(f"{what} must be a numeric numpy array, got dtype object", input=input, actual=value)
    if kind is not None:
        ok = {"i": arr.dtype.kind in "iu", "f": arr.dtype.kind == "f", "b": arr.dtype.kind == "b",
              "n": arr.dtype.kind in "iuf"}[kind]
        if not ok and not (kind in "fn" and arr.dtype.kind in "iu" and arr.size == 0):
            want = {"i": "an integer", "f": "a float", "b": "a bool", "n": "a numeric"}[kind]
            hint = None
            if kind == "i" and arr.size == 0 and arr.dtype.kind == "f":
                hint = ("numpy makes an empty list a float64 array, which cannot index anything: "
                        "give it an integer dtype, e.g. np.array(my_list, dtype=np.int64)")
            raise CaseFailure(f"{what} must have {want} dtype, got {arr.dtype}", input=input, actual=value,
                              hint=hint)
    if ndim is not None and arr.ndim != ndim:
        raise CaseFailure(f"{what} must be {ndim}-D, got shape {arr.shape}", input=input, actual=value)
    if shape is not None and arr.shape != tuple(shape):
        raise CaseFailure(f"{what} must have shape {tuple(shape)}, got {arr.shape}", input=input, actual=value)
    return arr


def as_pair(value, what: str = "the result", input=None):
    """A 2-tuple (or list) returned by the learner."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise CaseFailure(f"{what} must be a tuple of two arrays (idx, val), got {type(value).__name__}",
                          input=input, actual=value)
    return value


def as_tuple(value, n: int, what: str, names: str, input=None):
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise CaseFailure(f"{what} must be a tuple of {n} items ({names}), got {type(value).__name__}"
                          + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else ""),
                          input=input, actual=value)
    return value


def as_number(value, what: str, input=None) -> int | float:
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise CaseFailure(f"{what} must be a number, got {show(value)}", input=input)
    try:
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "iuf":
            raise TypeError
        return arr.item() if arr.dtype.kind in "iu" else float(arr)  # an int stays an int in messages
    except Exception:
        raise CaseFailure(f"{what} must be a single number, got {type(value).__name__}",
                          input=input, actual=value) from None


def assert_close(actual, expected, what: str, *, input=None, hint=None, rtol=1e-9, atol=1e-12):
    a = np.asarray(actual, dtype=float)
    e = np.asarray(expected, dtype=float)
    if a.shape != e.shape:
        raise CaseFailure(f"{what} has shape {a.shape}, expected {e.shape}", input=input,
                          expected=expected, actual=actual, hint=hint)
    if not np.allclose(a, e, rtol=rtol, atol=atol, equal_nan=True):
        low = np.asarray(actual).dtype
        if low.kind == "f" and low.itemsize < 8 and np.asarray(expected).dtype.itemsize >= 8:
            loose = 1e3 * float(np.finfo(low).eps)  # a few thousand roundings of the narrow dtype
            narrow_only = np.allclose(a, e, rtol=loose, atol=atol + loose * np.abs(e).max(initial=0.0), equal_nan=True)
        else:
            narrow_only = False
        if narrow_only:
            raise CaseFailure(f"{what} is {low}: it agrees with the reference only to {low} rounding",
                              input=input, expected=expected, actual=actual,
                              hint=f"the reference is float64: compute in float64 too (np.zeros(n) is float64; "
                                   f"a {low} array or accumulator keeps about {np.finfo(low).precision} digits)")
        bad = np.flatnonzero(~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True).ravel())
        where = f" (first difference at flat position {bad[0]})" if bad.size else ""
        raise CaseFailure(f"{what} differs from the reference{where}", input=input,
                          expected=expected, actual=actual, hint=hint)


def assert_equal(actual, expected, what: str, *, input=None, hint=None):
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape or not np.array_equal(a, e):
        msg = (f"{what} has shape {a.shape}, expected {e.shape}" if a.shape != e.shape
               else f"{what} differs from the reference")
        raise CaseFailure(msg, input=input, expected=expected, actual=actual, hint=hint)


def snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, after, names, *, input=None):
    for b, a, name in zip(before, after, names):
        if b.shape != a.shape or not np.array_equal(b, a, equal_nan=True):
            raise CaseFailure(f"your function modified its input {name!r}",
                              input=input, expected=b, actual=a,
                              hint="work on copies or on new arrays; callers keep using their inputs")


def assert_new_arrays(results, args, *, input=None):
    """The prompt asks for new arrays: none of ``results`` may share memory with an argument
    (returning an argument itself, or a view of it, hands the caller's own array back)."""
    for r in results:
        for a in args:
            if isinstance(r, np.ndarray) and isinstance(a, np.ndarray) and np.shares_memory(r, a):
                raise CaseFailure("the result shares memory with an argument (the same array, or a view of it)",
                                  input=input, hint="return new arrays (np.array(...) or .copy()), "
                                                    "even when nothing changes")


def assert_clean(work, what: str = "the work array", *, input=None, hint=None):
    nz = np.flatnonzero(work)
    if nz.size:
        raise CaseFailure(f"{what} has {nz.size} nonzero slot(s) after the call, at indices "
                          f"{show(nz[:10])}", input=input,
                          hint=hint or "every slot you set must be reset to zero before returning")


@contextlib.contextmanager
def blaming_leftovers(left, what: str = "the work array"):
    """Around the check of a call's result: if the result is wrong and the work array held values
    from an earlier call when it was passed in (``left``: its nonzero slots then), the hint says so,
    since the case's own hint (about the formula) would point the wrong way."""
    try:
        yield
    except CaseFailure as exc:
        if left.size:
            exc.details["hint"] = (f"{what} still held values from an earlier call (slots "
                                   f"{show(left[:10])}): reset every slot you set before returning")
        raise


def best_time(fn, *, repeats: int = 5, min_batch: float = 2e-3) -> float:
    """Seconds per call of ``fn()``: the minimum over ``repeats`` batches of at least ``min_batch`` s."""
    fn()  # warm-up (JIT, caches)
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_batch or number >= 1 << 16:
            break
        number *= 4
    best = dt / number
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def peak_bytes(fn) -> int:
    """Peak bytes that ``fn()`` allocates through Python and numpy (tracemalloc)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return max(0, tracemalloc.get_traced_memory()[1] - base)
    finally:
        if started:
            tracemalloc.stop()


def assert_cost_independent_of_n(run_small, run_big, *, n_small: int, n_big: int, input=None,
                                  ratio: float = 3.0, slack: float = 5e-4, max_bytes: int = 4_000_000):
    """Same nnz, dimension n_small vs n_big: the time and the memory must not grow with n.

    ``run_small``/``run_big`` call the learner's function once.  Passes when the
    big call allocates less than ``max_bytes`` and takes at most ``ratio`` times
    the small one plus ``slack`` seconds.
    """
    run_small()  # warm-up: a numba function compiles here, not inside the measurement,
    run_big()  # and the grader's first, bounds-checked call of each argument set (it copies them)
    mem = peak_bytes(run_big)
    if mem > max_bytes:
        raise CaseFailure(f"with n = {n_big:.0e} the call allocated {mem / 1e6:.1f} MB for the same few "
                          f"nonzeros: it builds something of length n", input=input,
                          hint="touch only the entries you are given; the work array is the only "
                               "length-n array you need")
    for _attempt in range(3):  # a busy machine can spoil one measurement; a real O(n) cost fails every time
        t_small = best_time(run_small)
        t_big = best_time(run_big)
        if t_big <= ratio * t_small + slack:
            return
    if t_big > ratio * t_small + slack:
        raise CaseFailure(f"same nnz, n = {n_small:.0e} took {t_small * 1e6:.0f} us but n = {n_big:.0e} "
                          f"took {t_big * 1e6:.0f} us: the cost grows with the dimension",
                          input=input,
                          hint="no loop or numpy operation may run over the whole work array")


def assert_faster(run_fast, run_naive, k: float, what: str, *, input=None):
    with np.errstate(all="ignore"):
        for _attempt in range(3):  # re-measure before failing: other programs share the machine
            t_fast = best_time(run_fast)
            t_naive = best_time(run_naive, repeats=3)
            if t_naive >= k * t_fast:
                return
    if t_naive < k * t_fast:
        raise CaseFailure(f"{what} must be at least {k:g}x faster than the naive loop; "
                          f"measured {t_naive / t_fast:.1f}x", input=input,
                          hint="compile it with numba.njit and keep the inner loop free of Python objects")


def random_sparse_dense(rng, m: int, n: int, density: float) -> np.ndarray:
    """A dense m x n float64 array with about ``density`` nonzeros (no exact zeros among them)."""
    A = rng.uniform(0.5, 2.0, size=(m, n)) * rng.choice([-1.0, 1.0], size=(m, n))
    A[rng.random((m, n)) >= density] = 0.0
    return A
