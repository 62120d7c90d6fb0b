"""Measurements beside the SpMM sweep: memory bandwidth, SpMV past the cache, axpy vs dimension.

* :func:`stream_triad` -- the STREAM triad ``a = b + s*c`` in numba (serial
  and ``prange``), arrays each four times the last-level cache; bandwidth
  counts 24 bytes per element as STREAM does (write-allocate traffic not
  counted).
* :func:`spmv_past_cache` -- CSR SpMV (float32 values, the goals' dtype, and
  float64 beside it; int32 indices; 16 nonzeros per row within a band, so ``x``
  is reused from cache) on a matrix four times the last-level cache, and BCSR
  SpMV with 4x1 and 8x1 blocks (float32, the same bytes) beside it; its
  bandwidth is the bytes it must read and write at least (values, indices,
  indptr, x, y) over its time, shown as a fraction of the triad bandwidth at
  the same thread count.
* :func:`axpy_scaling` -- ``SparseVector.axpy`` with 1e3 nonzeros at
  dimensions 1e3 .. 1e7: the method as a user calls it and the bare kernel.
  ``u`` and ``v`` hold the same 1000 indices in different orders at every
  dimension, so the work is identical and only the dimension changes.
* :func:`thread_scaling` -- the MobileNetV1 stack at 90% sparsity on 1 thread
  (``numba-simd``) and on 2 (``numba-parallel``), dense BLAS beside it, timed in
  *pairs*: each round times both sides back to back, and the figure is the median
  of the per-round ratios, so a drift of the machine between the 1- and the
  2-thread passes of the main sweep cannot make or break the ratio.
* :func:`stack_in_sequence` -- the MobileNetV1 stack at 90% sparsity run as a network
  runs it: one pass calls the 13 layers one after the other, each once, so a layer
  finds in cache only what the layers before it left there.  The main sweep times
  each layer in a loop of its own (its weights and activations warm in cache), which
  helps the sparse kernels more than BLAS: their time is in loads, not FMAs.
"""
from __future__ import annotations

import importlib
import os
import time

import numba
import numpy as np

from .timing import SETTLE_S, WARM_AFTER_PAUSE_S, calibrate, summarize, threads as thread_limit, time_interleaved, warm

__all__ = ["llc_bytes", "stream_triad", "spmv_past_cache", "axpy_scaling", "thread_scaling",
           "stack_in_sequence", "run_extras"]
EXTRAS = ("stream", "spmv_llc", "axpy", "threads", "sequence")


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


def _banded_bcsr(n_brows: int, per_row: int, band: int, block: tuple, seed: int = 0):
    """BCSR with ``r x c`` blocks, ``per_row // c`` blocks per block row (``per_row`` values in
    each row, as :func:`_banded_csr`) in block columns near the diagonal."""
    from ..formats import BCSR

    r, c = block
    nb = max(1, per_row // c)
    n_bcols = max(1, n_brows * r // c)
    rng = np.random.default_rng(seed)
    brows = np.repeat(np.arange(n_brows, dtype=np.int64), nb)
    centre = brows * r // c
    cols = (centre + rng.integers(-max(1, band // c), max(1, band // c), size=brows.size)) % n_bcols
    cols = np.sort(cols.reshape(n_brows, nb), axis=1)
    indptr = np.arange(0, n_brows * nb + 1, nb, dtype=np.int32)
    data = rng.uniform(-1.0, 1.0, size=(n_brows * nb, r, c))
    return BCSR(data, cols.ravel().astype(np.int32), indptr, (n_brows * r, n_bcols * c), blocksize=(r, c))


def _spmv(A, x, variant: str):
    d = importlib.import_module("sparsekit.dispatch")
    f = getattr(d, "spmv", None)
    if f is None:
        return lambda: A @ x
    return lambda: f(A, x, variant=variant)


def _spmv_case(dtype, per_row: int, band: int, target: int, block=None) -> dict:
    """A banded CSR matrix (BCSR with ``block``) of about ``target`` bytes in ``dtype``, its ``x``
    and scipy's ``A @ x``."""
    from ..formats import BCSR, CSR
    from .cases import block_label

    dtype = np.dtype(dtype)
    if block is None:
        n = -(-target // (per_row * (dtype.itemsize + 4)))
        A = _banded_csr(n, per_row, band)
        A = CSR(A.data.astype(dtype), A.indices, A.indptr, A.shape)
    else:
        r, c = block
        per_value = dtype.itemsize + 4 / (r * c)  # a block's index shared by its r*c values
        n_brows = max(1, int(target / (per_row * r * per_value)))
        A = _banded_bcsr(n_brows, per_row, band, block)
        A = BCSR(A.data.astype(dtype), A.indices, A.indptr, A.shape, blocksize=block)
    n = A.shape[0]
    x = np.random.default_rng(1).uniform(-1.0, 1.0, size=A.shape[1]).astype(dtype)
    matrix = A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    fmt = "CSR" if block is None else f"BCSR {block_label(block)}"
    return {"A": A, "x": x, "ref": A.to_scipy() @ x,
            "meta": {"format": fmt, "dtype": dtype.name, "n": n, "nnz": A.nnz, "per_row": per_row,
                     "band": band, "matrix_mib": matrix / 2 ** 20, "llc_mib": llc_bytes() / 2 ** 20,
                     "bytes_moved": matrix + (A.shape[0] + A.shape[1]) * dtype.itemsize, "threads": {}}}


def spmv_past_cache(per_row: int = 16, band: int = 1024, repeats: int = 15, thread_counts=(1, 2),
                    target_bytes: int | None = None, triad_n: int | None = None,
                    dtypes=("float32", "float64"), blocks=("4x1", "8x1")) -> dict:
    """SpMV bandwidth on a CSR matrix of 4x the last-level cache, as a fraction of the triad's.

    One CSR matrix per dtype (the first is the headline: the issue's goals are float32;
    float64, a solver's dtype, is measured beside it), and one BCSR matrix per block
    shape in ``blocks`` in the first dtype (the same number of bytes, ``per_row``
    values in every row: a block's one index serves ``r * c`` values, so a stored
    value costs fewer bytes).  The triad and the SpMVs are timed round-robin at each
    thread count, so load from other processes hits all alike, each sample after one
    untimed call of its own (else the SpMV after the triad writes the triad's dirty
    lines back to memory in its own time).  Returns ``{"stream": ..., "spmv": ...}``;
    ``spmv["threads"][t]["fraction_of_triad"]`` is the headline, ``spmv["dtypes"][name]``
    holds every dtype's figures and ``spmv["blocks"]["RxC"]`` every block shape's.
    """
    from .cases import block_label, parse_block

    target = target_bytes or 4 * llc_bytes()
    cases = {np.dtype(d).name: _spmv_case(d, per_row, band, target) for d in dtypes}
    shapes = {block_label(parse_block(b)): parse_block(b) for b in blocks}  # "4X1" and "4x1" are one shape
    for label, block in shapes.items():
        cases[label] = _spmv_case(dtypes[0], per_row, band, target, block=block)
    tn = triad_n or max(4 * llc_bytes() // 8, 1024)
    a, b, c = np.zeros(tn), np.full(tn, 1.0), np.full(tn, 2.0)
    stream = {"n": tn, "array_mib": tn * 8 / 2 ** 20, "bytes_per_iter": 24, "threads": {}}
    for t in thread_counts:
        if t > numba.config.NUMBA_NUM_THREADS:
            continue
        variant = "simd" if t == 1 else "parallel"
        with thread_limit(t):
            funcs = {"triad": (lambda: _triad(a, b, c, 3.0)) if t == 1 else (lambda: _triad_par(a, b, c, 3.0))}
            for name, case in cases.items():
                f = _spmv(case["A"], case["x"], variant)
                err = float(np.max(np.abs(f() - case["ref"]))) if case["ref"].size else 0.0
                tol = (1e-9 if case["meta"]["dtype"] == "float64" else 1e-4) * per_row
                if err > tol:
                    raise AssertionError(f"SpMV ({variant}, {name}) differs from scipy by {err:g}")
                funcs[name] = f
            res = time_interleaved(funcs, repeats, 0.0, clock="cpu" if t == 1 else "wall", untimed_first=True)
        st_t = summarize(res["samples"]["triad"])
        tri_gbs = 24 * tn / st_t["median_s"] / 1e9
        stream["threads"][str(t)] = dict(st_t, gbs_median=tri_gbs, gbs_best=24 * tn / st_t["min_s"] / 1e9)
        for name, case in cases.items():
            st_s = summarize(res["samples"][name])
            moved = case["meta"]["bytes_moved"]
            gbs = moved / st_s["median_s"] / 1e9
            case["meta"]["threads"][str(t)] = dict(st_s, variant=variant, gbs_median=gbs, triad_gbs=tri_gbs,
                                                   fraction_of_triad=gbs / tri_gbs,
                                                   gbs_best=moved / st_s["min_s"] / 1e9)
    assert np.allclose(a[:1000], 7.0)
    metas = {name: case["meta"] for name, case in cases.items() if name not in shapes}
    spmv = dict(next(iter(metas.values())), dtypes=metas,
                blocks={label: cases[label]["meta"] for label in shapes})
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
        expected = u.toarray() + 1e-3 * v.toarray()  # checked once on copies before anything is timed
        if not np.allclose(u.copy().axpy(1e-3, v, ws).toarray(), expected, rtol=1e-12, atol=0.0):
            raise AssertionError(f"SparseVector.axpy differs from the dense u + r*v at n = {n}")
        uidx2, uv2 = uidx.copy(), uv.copy()
        k = spvec_axpy(uidx2, uv2, nnz, vi, vv, nnz, 1e-3, w, -1.0)
        got, expected = np.zeros(n), np.zeros(n)
        got[uidx2[:k]] = uv2[:k]
        expected[idx] = uv[:nnz]
        expected[vi] += 1e-3 * vv
        if k != nnz or not np.allclose(got, expected, rtol=1e-12, atol=0.0) or w.any():
            raise AssertionError(f"the axpy kernel differs from the dense u + r*v at n = {n}")
        runs[("method", n)] = lambda u=u, v=v, ws=ws: u.axpy(1e-3, v, ws)
        runs[("kernel", n)] = lambda uidx=uidx, uv=uv, vi=vi, vv=vv, w=w: spvec_axpy(
            uidx, uv, nnz, vi, vv, nnz, 1e-3, w, -1.0)
        checks.append((u, ws, w))
    with thread_limit(1):
        time.sleep(SETTLE_S)  # no worker threads of earlier multi-threaded calls left spinning
        res = time_interleaved(runs, repeats, min_time, clock="cpu")
    for (kind, n), samples in res["samples"].items():
        out[kind][str(n)] = summarize(samples)
    for u, ws, w in checks:
        assert ws.is_clean() and not w.any() and u.nnz == nnz
    for name in ("method", "kernel"):
        med = [out[name][str(n)]["median_s"] for n in sizes]
        out[name + "_ratio_max_min"] = max(med) / min(med)
    return out


def thread_scaling(blocks=("4x1", "8x1"), sparsity: float = 0.9, n_threads: int = 2, rounds: int = 9,
                   min_time: float = 0.003, layers=None) -> dict:
    """``n_threads`` against 1 thread on the MobileNetV1 stack, timed in pairs (see the module doc).

    A round times the stack four times: ``numba-simd`` on 1 thread, ``numba-parallel`` on
    ``n_threads``, dense BLAS on 1 and on ``n_threads`` -- each layer after
    :data:`~.timing.WARM_AFTER_PAUSE_S` of untimed calls, then a calibrated loop (wall
    clock).  Returns per block the median, quartiles and every per-round ratio.
    """
    from ..backends import get_backend
    from .cases import Case, make_operands, parse_block
    from .harness import reference, verify
    from .presets import MOBILENET_LAYERS

    if n_threads > numba.config.NUMBA_NUM_THREADS:
        return {"skipped": f"numba was started with {numba.config.NUMBA_NUM_THREADS} thread(s)"}
    layers = layers or MOBILENET_LAYERS
    sides = (("numba-simd", 1), ("numba-parallel", n_threads), ("dense-blas", 1), ("dense-blas", n_threads))
    out = {"sparsity": sparsity, "threads": n_threads, "rounds": rounds, "blocks": {}}
    for label in blocks:
        r, c = parse_block(label)
        prepared = {name: [] for name, _ in sides[:3]}
        for lname, cin, cout, hw in layers:
            W, X = make_operands(Case(lname, cout, cin, hw, sparsity, (r, c)))
            ref, scale, tol = reference(W, X)
            for name, _ in sides[:3]:
                p = get_backend(name).prepare(W, X, (r, c))
                with thread_limit(n_threads if name == "numba-parallel" else 1):
                    ok, err = verify(p.run(), ref, scale, tol)
                if not ok:
                    raise AssertionError(f"{name} differs from W @ X on {lname} ({label}): {err}")
                prepared[name].append(p.run)
        loops = {}
        times = {side: [] for side in sides}
        for _ in range(rounds):
            for side in sides:
                name, nt = side
                total = 0.0
                time.sleep(SETTLE_S)  # the other side's workers stop spinning first
                with thread_limit(nt):
                    for i, f in enumerate(prepared[name]):
                        warm(f, WARM_AFTER_PAUSE_S)
                        n = loops.setdefault((side, i), calibrate(f, min_time))
                        t0 = time.perf_counter()
                        for _ in range(n):
                            f()
                        total += (time.perf_counter() - t0) / n
                times[side].append(total)
        t = {side: np.asarray(v) for side, v in times.items()}
        sparse = t[sides[0]] / t[sides[1]]
        dense = t[sides[2]] / t[sides[3]]
        q = lambda a: [float(v) for v in np.percentile(a, [25, 50, 75])]  # noqa: E731
        out["blocks"][label] = {
            "ratio_median": q(sparse)[1], "ratio_q1_q3": [q(sparse)[0], q(sparse)[2]],
            "ratios": sparse.tolist(), "dense_ratio_median": q(dense)[1], "dense_ratios": dense.tolist(),
            "simd_1t_s": float(np.median(t[sides[0]])), "parallel_s": float(np.median(t[sides[1]])),
            "dense_1t_s": float(np.median(t[sides[2]])), "dense_nt_s": float(np.median(t[sides[3]])),
        }
    return out


def stack_in_sequence(blocks=("1x1", "1x4", "4x1", "2x2", "4x4", "8x1"), sparsity: float = 0.9,
                      rounds: int = 9, min_time: float = 0.05, layers=None) -> dict:
    """The stack on 1 thread with its layers called one after the other, ``numba-simd``
    against dense BLAS (see the module doc).

    Each round times a calibrated loop of whole passes over the layers for each side (process
    CPU time, the two sides back to back); the figure is the median of the per-round
    ratios.  Every layer's result is checked against ``W @ X`` first.
    """
    from ..backends import get_backend
    from .cases import Case, make_operands, parse_block
    from .harness import reference, verify
    from .presets import MOBILENET_LAYERS

    layers = layers or MOBILENET_LAYERS
    out = {"sparsity": sparsity, "rounds": rounds, "threads": 1, "blocks": {}}
    for label in blocks:
        r, c = parse_block(label)
        passes = {"sparse": [], "dense": []}
        with thread_limit(1):  # the checks too: 2-thread BLAS calls would leave workers spinning into the timing
            for lname, cin, cout, hw in layers:
                W, X = make_operands(Case(lname, cout, cin, hw, sparsity, (r, c)))
                ref, scale, tol = reference(W, X)
                for side, name in (("sparse", "numba-simd"), ("dense", "dense-blas")):
                    p = get_backend(name).prepare(W, X, (r, c))
                    ok, err = verify(p.run(), ref, scale, tol)
                    if not ok:
                        raise AssertionError(f"{name} differs from W @ X on {lname} ({label}): {err}")
                    passes[side].append(p.run)
            runs = {side: (lambda fs=fs: [f() for f in fs]) for side, fs in passes.items()}
            time.sleep(SETTLE_S)
            res = time_interleaved(runs, rounds, min_time, clock="cpu")
        sp, de = (np.asarray(res["samples"][k]) for k in ("sparse", "dense"))
        ratios = de / sp
        q1, med, q3 = (float(v) for v in np.percentile(ratios, [25, 50, 75]))
        out["blocks"][label] = {"speedup_median": med, "speedup_q1_q3": [q1, q3], "speedups": ratios.tolist(),
                                "sparse_s": float(np.median(sp)), "dense_s": float(np.median(de))}
    return out


def run_extras(which, progress: bool = True) -> dict:
    """Run the named extras (:data:`EXTRAS`) and return their results."""
    import sys

    which = list(which)
    bad = [w for w in which if w not in EXTRAS]
    if bad:
        raise ValueError(f"unknown extra measurement(s) {bad}; choose from {', '.join(EXTRAS)}")
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
    if "threads" in which:
        if progress:
            print("extras: 1 vs 2 threads on the MobileNetV1 stack, in pairs", file=sys.stderr)
        out["threads"] = thread_scaling()
    if "sequence" in which:
        if progress:
            print("extras: the MobileNetV1 stack with its layers run back to back", file=sys.stderr)
        out["sequence"] = stack_in_sequence()
    return out
