"""Measurements beside the SpMM sweep: memory bandwidth, SpMV past the cache, axpy vs dimension.

* :func:`stream_triad` -- the STREAM triad ``a = b + s*c`` in numba (serial
  and ``prange``), arrays each four times the last-level cache; bandwidth
  counts 24 bytes per element as STREAM does (write-allocate traffic not
  counted).
* :func:`spmv_past_cache` -- CSR SpMV (float64 values, int32 indices, 16
  nonzeros per row within a band, so ``x`` is reused from cache) on a matrix
  four times the last-level cache; its bandwidth is the bytes it must read
  and write at least (values, indices, indptr, x, y) over its time, shown as a
  fraction of the triad bandwidth at the same thread count.
* :func:`axpy_scaling` -- ``SparseVector.axpy`` with 1e3 nonzeros at
  dimensions 1e3 .. 1e7: the method as a user calls it and the bare kernel.
  ``u`` and ``v`` hold the same 1000 indices in different orders at every
  dimension, so the work is identical and only the dimension changes.
"""
from __future__ import annotations

import importlib
import os
import time

import numba
import numpy as np

from .timing import summarize, threads as thread_limit, time_interleaved

__all__ = ["llc_bytes", "stream_triad", "spmv_past_cache", "axpy_scaling", "run_extras"]


def llc_bytes() -> int:
    """Size of the largest CPU cache (sysfs), 32 MiB if it cannot be read."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in os.listdir(base):
            try:
                with open(os.path.join(base, d, "size")) as f:
                    txt = f.read().strip().upper()
            except OSError:
                continue
            mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(txt[-1:], 1)
            best = max(best, int(txt.rstrip("KMG")) * mult)
    except OSError:
        pass
    return best or 32 * 1024 ** 2


@numba.njit(cache=True, fastmath=True)
def _triad(a, b, c, s):
    for i in range(a.shape[0]):
        a[i] = b[i] + s * c[i]


@numba.njit(cache=True, fastmath=True, parallel=True)
def _triad_par(a, b, c, s):
    for i in numba.prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def _samples(f, repeats: int) -> list:
    f()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return out


def stream_triad(n: int | None = None, repeats: int = 15, thread_counts=(1, 2)) -> dict:
    """Triad bandwidth (GB/s, median and best) per thread count."""
    n = n or 4 * llc_bytes() // 8
    a = np.zeros(n)
    b = np.full(n, 1.0)
    c = np.full(n, 2.0)
    out = {"n": n, "array_mib": n * 8 / 2 ** 20, "bytes_per_iter": 24, "threads": {}}
    for t in thread_counts:
        if t > numba.config.NUMBA_NUM_THREADS:
            continue
        with thread_limit(t):
            f = (lambda: _triad(a, b, c, 3.0)) if t == 1 else (lambda: _triad_par(a, b, c, 3.0))
            st = summarize(_samples(f, repeats))
        out["threads"][str(t)] = dict(st, gbs_median=24 * n / st["median_s"] / 1e9,
                                      gbs_best=24 * n / st["min_s"] / 1e9)
    assert np.allclose(a[:1000], 7.0)
    return out


def _banded_csr(n: int, per_row: int, band: int, seed: int = 0):
    from ..formats import CSR

    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n, dtype=np.int64), per_row)
    cols = (rows + rng.integers(-band, band, size=rows.size)) % n
    cols = cols.reshape(n, per_row)
    cols.sort(axis=1)
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int32)
    data = rng.uniform(-1.0, 1.0, size=n * per_row)
    return CSR(data, cols.ravel().astype(np.int32), indptr, (n, n))


def _spmv(A, x, variant: str):
    d = importlib.import_module("sparsekit.dispatch")
    f = getattr(d, "spmv", None)
    if f is None:
        return lambda: A @ x
    return lambda: f(A, x, variant=variant)


def spmv_past_cache(per_row: int = 16, band: int = 1024, repeats: int = 15, thread_counts=(1, 2),
                    target_bytes: int | None = None, triad_n: int | None = None) -> dict:
    """SpMV bandwidth on a CSR matrix of 4x the last-level cache, as a fraction of the triad's.

    The triad and the SpMV are timed round-robin at each thread count, so
    load from other processes hits both alike.  Returns ``{"stream": ...,
    "spmv": ...}``; ``spmv["threads"][t]["fraction_of_triad"]`` is the headline.
    """
    target = target_bytes or 4 * llc_bytes()
    n = -(-target // (per_row * 12))
    A = _banded_csr(n, per_row, band)
    x = np.random.default_rng(1).uniform(-1.0, 1.0, size=n)
    ref = A.to_scipy() @ x
    moved = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes + 2 * n * 8
    tn = triad_n or max(4 * llc_bytes() // 8, 1024)
    a, b, c = np.zeros(tn), np.full(tn, 1.0), np.full(tn, 2.0)
    stream = {"n": tn, "array_mib": tn * 8 / 2 ** 20, "bytes_per_iter": 24, "threads": {}}
    spmv = {"n": n, "nnz": A.nnz, "per_row": per_row, "band": band,
            "matrix_mib": (A.data.nbytes + A.indices.nbytes + A.indptr.nbytes) / 2 ** 20,
            "llc_mib": llc_bytes() / 2 ** 20, "bytes_moved": moved, "threads": {}}
    for t in thread_counts:
        if t > numba.config.NUMBA_NUM_THREADS:
            continue
        variant = "simd" if t == 1 else "parallel"
        with thread_limit(t):
            f = _spmv(A, x, variant)
            y = f()
            err = float(np.max(np.abs(y - ref)))
            if err > 1e-9 * per_row:
                raise AssertionError(f"SpMV ({variant}) differs from scipy by {err:g}")
            tri = (lambda: _triad(a, b, c, 3.0)) if t == 1 else (lambda: _triad_par(a, b, c, 3.0))
            res = time_interleaved({"triad": tri, "spmv": f}, repeats, 0.0, clock="cpu" if t == 1 else "wall")
        st_t = summarize(res["samples"]["triad"])
        st_s = summarize(res["samples"]["spmv"])
        tri_gbs = 24 * tn / st_t["median_s"] / 1e9
        stream["threads"][str(t)] = dict(st_t, gbs_median=tri_gbs, gbs_best=24 * tn / st_t["min_s"] / 1e9)
        gbs = moved / st_s["median_s"] / 1e9
        spmv["threads"][str(t)] = dict(st_s, variant=variant, gbs_median=gbs, triad_gbs=tri_gbs,
                                       fraction_of_triad=gbs / tri_gbs,
                                       gbs_best=moved / st_s["min_s"] / 1e9)
    assert np.allclose(a[:1000], 7.0)
    return {"stream": stream, "spmv": spmv}


def axpy_scaling(sizes=(10 ** 3, 10 ** 4, 10 ** 5, 10 ** 6, 10 ** 7), nnz: int = 1000,
                 repeats: int = 15, min_time: float = 0.01) -> dict:
    """Median time of ``u.axpy(r, v, ws)`` (method) and of the bare kernel per dimension.

    All dimensions are timed round-robin (:func:`.timing.time_interleaved`).
    """
    from .. import SparseVector, Workspace
    from ..kernels.spvec_axpy import spvec_axpy

    rng = np.random.default_rng(7)
    out = {"nnz": nnz, "sizes": list(sizes), "method": {}, "kernel": {}}
    runs, checks = {}, []
    for n in sizes:
        idx = rng.choice(n, size=nnz, replace=False).astype(np.int64)
        u = SparseVector(idx, rng.uniform(1, 2, nnz), n)
        v = SparseVector(rng.permutation(idx), rng.uniform(1, 2, nnz), n)
        ws = Workspace(n)
        ws.array[:] = 0.0  # touch every page before timing
        uidx = np.concatenate([idx, np.zeros(nnz, np.int64)])
        uv = rng.uniform(1, 2, 2 * nnz)
        vi, vv = v.indices.copy(), v.values.copy()
        w = np.zeros(n)
        runs[("method", n)] = lambda u=u, v=v, ws=ws: u.axpy(1e-3, v, ws)
        runs[("kernel", n)] = lambda uidx=uidx, uv=uv, vi=vi, vv=vv, w=w: spvec_axpy(
            uidx, uv, nnz, vi, vv, nnz, 1e-3, w, -1.0)
        checks.append((u, ws, w))
    res = time_interleaved(runs, repeats, min_time, clock="cpu")
    for (kind, n), samples in res["samples"].items():
        out[kind][str(n)] = summarize(samples)
    for u, ws, w in checks:
        assert ws.is_clean() and not w.any() and u.nnz == nnz
    for name in ("method", "kernel"):
        med = [out[name][str(n)]["median_s"] for n in sizes]
        out[name + "_ratio_max_min"] = max(med) / min(med)
    return out


def run_extras(which, progress: bool = True) -> dict:
    """Run the named extras (``stream``, ``spmv_llc``, ``axpy``) and return their results."""
    import sys

    which = list(which)
    bad = [w for w in which if w not in ("stream", "spmv_llc", "axpy")]
    if bad:
        raise ValueError(f"unknown extra measurement(s) {bad}; choose from stream, spmv_llc, axpy")
    out = {}
    if "spmv_llc" in which:
        if progress:
            print("extras: STREAM triad and SpMV on a matrix 4x the last-level cache", file=sys.stderr)
        both = spmv_past_cache()
        out["stream"], out["spmv_llc"] = both["stream"], both["spmv"]
    elif "stream" in which:
        if progress:
            print("extras: STREAM triad", file=sys.stderr)
        out["stream"] = stream_triad()
    if "axpy" in which:
        if progress:
            print("extras: SparseVector.axpy vs dimension", file=sys.stderr)
        out["axpy"] = axpy_scaling()
    return out
