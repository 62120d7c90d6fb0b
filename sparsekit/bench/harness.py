"""The sweep: cases x backends x threads, each product verified, then timed alike.

For every case (layer shape, sparsity, block shape) and thread count the
harness builds the operands from the case's seed, computes the float64
dense result, prepares every backend (storage conversion is never timed),
runs each product once (JIT compilation happens here) and compares it with
the dense result.  A backend whose result is wrong is recorded as
``status="wrong"`` with its error and is *not* timed.  The verified
products are then timed together, round-robin (:mod:`.timing`), and each row
gets its median, quartiles and the speedup over ``dense-blas`` measured in
the same round.

Backends that run in worker processes (``numba-sse2/avx2/avx512``) get all
their cases in one job per instruction set; the worker times the dense BLAS
product beside the sparse one, so their speedups are like with like too.
Serial backends are measured only at 1 thread; at more threads only the
backends that use them (``dense-blas``, ``numba-parallel``) run, each in its
own block of repeats after a short pause, since the spinning worker threads
of one threaded library would otherwise slow the next one down.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys

import numpy as np

from ..backends import Backend, get_backend, run_worker
from .cases import Case, make_operands
from .presets import get_preset, preset_cases
from .timing import SETTLE_S, summarize, threads as thread_limit, time_interleaved

__all__ = ["run_benchmark", "verify", "tolerance", "reference", "stack_totals", "SCHEMA"]

SCHEMA = "sparsekit.bench/1"
BASELINE = "dense-blas"


def tolerance(dtype, K: int) -> float:
    """Allowed ``max|Y - Y_ref| / max(|W| @ |X|)`` for a sum of ``K`` products in ``dtype``."""
    eps = float(np.finfo(np.dtype(dtype)).eps) if np.dtype(dtype).kind == "f" else 0.0
    return 4.0 * eps * max(1.0, np.sqrt(K)) + 2.0 * eps


def verify(Y, ref: np.ndarray, scale: float, tol: float, exact: bool = False) -> tuple:
    """``(ok, error)``: the relative max error of ``Y`` against ``ref`` and whether it is within ``tol``."""
    Y = np.asarray(Y)
    if Y.shape != ref.shape:
        return False, float("inf")
    if exact:
        ok = bool(np.array_equal(Y, ref))
        return ok, 0.0 if ok else float(np.max(np.abs(Y.astype(np.float64) - ref)))
    if not np.all(np.isfinite(Y)):
        return False, float("inf")
    err = float(np.max(np.abs(Y.astype(np.float64) - ref))) / scale if ref.size else 0.0
    return err <= tol, err


def _resolve_backends(names) -> list:
    out = []
    for b in names:
        out.append(b if isinstance(b, Backend) else get_backend(b))
    if not any(b.name == BASELINE for b in out):
        out.insert(0, get_backend(BASELINE))
    return out


def _row(case: Case, backend: str, threads: int, **kw) -> dict:
    row = {"layer": case.layer, "M": case.M, "K": case.K, "N": case.N, "sparsity": case.sparsity,
           "block": case.block, "dtype": case.dtype, "backend": backend, "threads": threads,
           "status": kw.pop("status"), "max_rel_err": kw.pop("err", None), "note": kw.pop("note", "")}
    for k in ("median_s", "q1_s", "q3_s", "iqr_rel", "min_s", "repeats", "loops",
              "dense_median_s", "dense_min_s", "speedup", "gflops", "clock", "wall_median_s"):
        row[k] = kw.pop(k, None)
    assert not kw, kw
    return row


def _timed_fields(stats: dict, loops: int, dense: dict, case: Case) -> dict:
    med = stats["median_s"]
    dense_median = dense["median_s"]
    return dict(stats, loops=loops, dense_median_s=dense_median, dense_min_s=dense["min_s"],
                speedup=dense_median / med if med > 0 else None,
                gflops=case.flops / med / 1e9 if med > 0 else None)


def _clock(nthreads: int) -> str:
    """CPU time for one thread (robust on a shared machine), wall time for more."""
    return "cpu" if nthreads == 1 else "wall"


def _runs_at(backend, case: Case, limits: dict) -> bool:
    allowed = limits.get(backend.name)
    return allowed is None or backend.name == BASELINE or any(abs(case.sparsity - s) < 1e-9 for s in allowed)


def reference(W, X) -> tuple:
    """``(ref, scale, tol)`` for checking a product ``W @ X`` with :func:`verify`: the float64
    product, ``max(|W| @ |X|)`` and the :func:`tolerance` of ``W``'s dtype."""
    W64, X64 = W.astype(np.float64), X.astype(np.float64)
    ref = W64 @ X64
    scale = float(np.max(np.abs(W64) @ np.abs(X64))) if ref.size else 1.0
    return ref, (scale if scale > 0 else 1.0), tolerance(W.dtype, W.shape[1])


def _measure_case(case: Case, backends: list, nthreads: int, repeats: int, min_time: float) -> list:
    W, X = make_operands(case)
    ref, scale, tol = reference(W, X)
    rows, runs = [], {}
    for b in backends:
        ok, why = b.supports(case.blocksize, case.dtype)
        if not ok:
            rows.append(_row(case, b.name, nthreads, status="unsupported", note=why))
            continue
        try:
            p = b.prepare(W, X, case.blocksize)
            Y = p.run()
        except NotImplementedError as exc:
            rows.append(_row(case, b.name, nthreads, status="unsupported", note=str(exc)))
            continue
        except Exception as exc:  # recorded, never hides the other backends' results
            rows.append(_row(case, b.name, nthreads, status="error", note=f"{type(exc).__name__}: {exc}"))
            continue
        if p.reference is not None:
            good, err = verify(Y, p.reference, 1.0, 0.0, exact=p.exact)
        else:
            good, err = verify(Y, ref, scale, tol)
        if not good:
            rows.append(_row(case, b.name, nthreads, status="wrong", err=err,
                             note=f"result differs from the dense result (error {err:.3g} > {tol:.3g})"))
            continue
        if p.measure is not None:
            try:
                m = p.measure(repeats, min_time)
            except Exception as exc:
                rows.append(_row(case, b.name, nthreads, status="error", err=err,
                                 note=f"timing failed: {type(exc).__name__}: {exc}"))
                continue
            med = m["median_s"]
            rows.append(_row(case, b.name, nthreads, status="ok", err=err, note=p.note,
                             **dict(m, speedup=m["dense_median_s"] / med, gflops=case.flops / med / 1e9)))
            continue
        runs[b.name] = (p.run, err, p.note)
    if BASELINE not in runs:
        for r in rows:
            r["note"] = (r["note"] + "; " if r["note"] else "") + "no dense baseline"
        return rows
    # one thread: round-robin (fair under load); more: blocks after a pause (no spinning neighbours)
    timed = time_interleaved({k: v[0] for k, v in runs.items()}, repeats, min_time,
                             interleave=nthreads == 1, settle=0.0 if nthreads == 1 else SETTLE_S,
                             clock=_clock(nthreads))
    stats = {k: dict(summarize(s), clock=timed["clock"], wall_median_s=summarize(timed["wall"][k])["median_s"])
             for k, s in timed["samples"].items()}
    dense = stats[BASELINE]
    for name, (_, err, note) in runs.items():
        rows.append(_row(case, name, nthreads, status="ok", err=err, note=note,
                         **_timed_fields(stats[name], timed["loops"][name], dense, case)))
    return rows


def _measure_remote(backend: Backend, cases: list, repeats: int, min_time: float) -> tuple:
    job = {"mode": "bench", "variant": backend.variant, "repeats": repeats, "min_time": min_time,
           "clock": _clock(1),
           "cases": [c.to_json() for c in cases]}
    try:
        res = run_worker(backend.isa, job)
    except Exception as exc:
        note = f"worker failed: {exc}"
        return [_row(c, backend.name, 1, status="error", note=note) for c in cases], {"error": note}
    rows = []
    for c, r in zip(cases, res["results"]):
        if r["status"] != "ok":
            rows.append(_row(c, backend.name, 1, status=r["status"], err=r.get("err"), note=r.get("note", "")))
            continue
        st = dict(summarize(r["samples"]), clock=r.get("clock", "wall"),
                  wall_median_s=summarize(r["wall_samples"])["median_s"] if r.get("wall_samples") else None)
        dense = summarize(r["dense_samples"])
        rows.append(_row(c, backend.name, 1, status="ok", err=r["err"], note=r.get("note", ""),
                         **_timed_fields(st, r["loops"], dense, c)))
    info = {k: v for k, v in res.items() if k != "results"}
    return rows, info


def stack_totals(rows: list) -> list:
    """Per (backend, threads, block, sparsity, dtype): the summed medians over the layers.

    A total is formed only when every layer of the group was timed; the
    speedup divides the summed dense medians of the same rows.  ``q1``/``q3``
    are the summed quartiles, a rough band (not the quartiles of the sum).
    ``speedup_min`` divides the summed best-of-repeats times instead: on a
    machine shared with other work it is the steadier estimate of what the
    code can do (the median says what it did).
    """
    groups = {}
    for r in rows:
        key = (r["backend"], r["threads"], r["block"], r["sparsity"], r["dtype"])
        groups.setdefault(key, []).append(r)
    out = []
    for (backend, t, block, s, dtype), rs in groups.items():
        if not all(r["status"] == "ok" for r in rs):
            continue
        total = sum(r["median_s"] for r in rs)
        dense = sum(r["dense_median_s"] for r in rs)
        ok_min = all(r.get("min_s") and r.get("dense_min_s") for r in rs)
        walls = [r.get("wall_median_s") for r in rs]
        best = sum(r["min_s"] for r in rs) if ok_min else None
        dense_best = sum(r["dense_min_s"] for r in rs) if ok_min else None
        out.append({"backend": backend, "threads": t, "block": block, "sparsity": s, "dtype": dtype,
                    "layers": len(rs), "total_s": total, "q1_s": sum(r["q1_s"] for r in rs),
                    "q3_s": sum(r["q3_s"] for r in rs), "dense_total_s": dense,
                    "speedup": dense / total if total > 0 else None,
                    "min_total_s": best, "dense_min_total_s": dense_best,
                    "clock": rs[0].get("clock"),
                    "wall_total_s": sum(walls) if all(w is not None for w in walls) else None,
                    "speedup_min": dense_best / best if best and dense_best else None})
    out.sort(key=lambda d: (d["backend"], d["threads"], d["block"], d["sparsity"]))
    return out


def run_benchmark(preset="quick", *, backends=None, threads=None, dtype: str = "float32",
                  repeats: int | None = None, min_time: float | None = None, sparsities=None,
                  blocks=None, extras=None, progress: bool = True, command: str = "") -> dict:
    """Run a preset (name or dict) and return the results document (see :data:`SCHEMA`)."""
    from . import report

    p = get_preset(preset) if isinstance(preset, str) else dict(preset)
    name = preset if isinstance(preset, str) else p.get("name", "custom")
    if sparsities is not None:
        p["sparsities"] = [float(s) for s in sparsities]
    if blocks is not None:
        p["blocks"] = list(blocks)
    for s in p["sparsities"]:
        if not 0.0 <= s <= 1.0:
            raise ValueError(f"sparsity must be in [0, 1], got {s}")
    if np.dtype(dtype).name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    threads = sorted(threads or p["threads"])  # 1 thread first: its CPU-time clock must not see spinning workers
    repeats = int(repeats or p["repeats"])
    min_time = float(p["min_time"] if min_time is None else min_time)
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    chosen = _resolve_backends(backends or p["backends"])
    extras = list(p["extras"] if extras is None else extras)

    started = _dt.datetime.now(_dt.timezone.utc)
    load_start = _loadavg()
    info, runnable = [], []
    for b in chosen:
        ok, why = b.available()
        info.append({"name": b.name, "description": b.description, "available": ok, "reason": why})
        if ok:
            runnable.append(b)
        elif progress:
            print(f"skipping {b.name}: {why}", file=sys.stderr)
    local = [b for b in runnable if not b.remote]
    remote = [b for b in runnable if b.remote]
    cases = preset_cases(p, np.dtype(dtype).name)

    limits = {} if sparsities is not None else dict(p.get("backend_sparsities") or {})
    multi = p.get("multi_thread_sparsities")
    if multi is not None and sparsities is None:
        multi_cases = [c for c in cases if any(abs(c.sparsity - s) < 1e-9 for s in multi)]
    else:
        multi_cases = cases
    rows, workers = [], {}
    total = sum(len(cases) if t == 1 else len(multi_cases) for t in threads) + (len(remote) if 1 in threads else 0)
    bar = _progress(total, progress)
    for t in threads:
        active = [b for b in local if t == 1 or b.parallel]
        with thread_limit(t):
            for case in (cases if t == 1 else multi_cases):
                bar.set_postfix_str(f"{t}T {case.layer} s={case.sparsity:g} {case.block}", refresh=False)
                here = [b for b in active if _runs_at(b, case, limits)]
                rows.extend(_measure_case(case, here, t, repeats, min_time))
                bar.update()
    if 1 in threads:
        with thread_limit(1):
            for b in remote:
                mine = [c for c in cases if _runs_at(b, c, limits)]
                bar.set_postfix_str(f"{b.name} worker ({len(mine)} cases)", refresh=True)
                rs, winfo = _measure_remote(b, mine, repeats, min_time)
                rows.extend(rs)
                workers[b.name] = winfo
                bar.update()
    bar.close()

    doc = {
        "schema": SCHEMA, "preset": name, "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": report.machine_info(),
        "config": {"layers": [list(l) for l in p["layers"]], "sparsities": p["sparsities"],
                   "multi_thread_sparsities": sorted({c.sparsity for c in multi_cases}),
                   "backend_sparsities": limits,
                   "blocks": p["blocks"], "threads": threads, "dtype": np.dtype(dtype).name,
                   "repeats": repeats, "min_time_s": min_time, "baseline": BASELINE,
                   "timing": "per call: median (and quartiles) of repeats, each repeat a calibrated "
                             "loop of calls; at 1 thread backends timed round-robin with the process's "
                             "CPU time (wall time kept as wall_median_s), at more threads wall time, "
                             "one block per backend after a 0.15 s pause; JIT and warm-up untimed"},
        "backends": info, "workers": workers, "results": rows,
        "load": {"start": load_start, "end": _loadavg(), "cores": os.cpu_count(),
                 "note": "1/5/15-minute load averages: other processes competing for the cores"},
    }
    doc["stacks"] = stack_totals(rows)
    doc["break_even"] = report.break_even(doc)
    if extras:
        from . import extras as _extras

        doc["extras"] = _extras.run_extras(extras, progress=progress)
    return doc


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _progress(total: int, enabled: bool):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None
    if tqdm is None or not enabled:
        class _Null:
            def update(self, n=1): pass
            def set_postfix_str(self, *a, **k): pass
            def close(self): pass
        return _Null()
    return tqdm(total=total, desc="bench", unit="case", file=sys.stderr, dynamic_ncols=True)
