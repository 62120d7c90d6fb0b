"""Timing done the same way for every backend: warm-up, calibrated loops, median and IQR.

JIT compilation happens in the untimed first call (verification), one more
untimed call warms caches, then each *repeat* times ``loops`` back-to-back
calls (``loops`` chosen so one repeat lasts at least ``min_time``) and keeps
the time per call.  :func:`time_interleaved` runs the repeats of several
products round-robin, so a burst of load from another process hits all of
them alike and their ratios stay fair.
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

__all__ = ["summarize", "calibrate", "warm", "time_interleaved", "threads", "WARM_AFTER_PAUSE_S", "SETTLE_S"]


def summarize(samples) -> dict:
    """Median, quartiles, IQR relative to the median, min and count of per-call times (s)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no samples to summarize")
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    return {"median_s": float(med), "q1_s": float(q1), "q3_s": float(q3),
            "iqr_rel": float((q3 - q1) / med) if med > 0 else 0.0,
            "min_s": float(s.min()), "repeats": int(s.size)}


def calibrate(run, min_time: float) -> int:
    """Number of calls of ``run`` that last at least ``min_time`` seconds (after one warm-up)."""
    run()
    t0 = time.perf_counter()
    run()
    dt = max(time.perf_counter() - t0, 1e-7)
    return max(1, math.ceil(min_time / dt))


#: The pause before a block that must not share the cores with the worker threads of earlier
#: multi-threaded calls: OpenBLAS's and numba's idle workers keep spinning for about 90 ms on the
#: reference machine (and process CPU time counts them, so a 1-thread block timed by CPU time
#: right after 2-thread calls reads up to twice its time).
SETTLE_S = 0.15

#: After the pause before a multi-threaded block, the product runs untimed for this long:
#: threads woken from sleep and cores back from idle need a few milliseconds to reach full
#: speed.  Measured on the reference machine (MobileNetV1 stack, 8x1 blocks at 90%, 2
#: threads): with one warm call after the pause numba-parallel summed 1.64-1.69 ms and dense
#: BLAS 8.1-8.2 ms; with 50 ms of warm calls 1.21-1.30 ms and 7.0-7.2 ms.
WARM_AFTER_PAUSE_S = 0.05


def warm(f, seconds: float) -> None:
    """Call ``f`` untimed until ``seconds`` have passed (at least once)."""
    t_end = time.perf_counter() + seconds
    f()
    while time.perf_counter() < t_end:
        f()


def time_interleaved(runs: dict, repeats: int, min_time: float, *, interleave: bool = True,
                     settle: float = 0.0, clock: str = "wall", untimed_first: bool = False) -> dict:
    """``{key: [per-call seconds] * repeats}`` for ``{key: run}``, repeats taken round-robin.

    ``clock="cpu"`` times with the process's CPU time (``time.process_time``)
    instead of the wall clock: for single-threaded code on a machine shared
    with other work it leaves out the time the process spent descheduled,
    which is most of the noise (cache and memory-bandwidth sharing stay).  It
    is wrong for multi-threaded code (it adds the threads' times).  The wall
    times are returned too, as ``wall``.

    With ``interleave=False`` each product gets all its repeats in one block,
    after ``settle`` seconds of sleep: multi-threaded runs use this, because
    the worker threads of OpenBLAS and of numba's OpenMP layer keep spinning
    for a while after a call and would steal the cores of the next product.
    After the pause the product runs untimed for :data:`WARM_AFTER_PAUSE_S`
    before its repeats, so that its threads and cores are back at full speed.

    With ``untimed_first=True`` every timed sample follows one untimed call of
    the same product, so that no product pays for what the one before it left
    in the caches.  Products that stream more than the last-level cache need
    it: a product that writes (the STREAM triad) leaves the cache full of dirty
    lines, and whatever runs next writes them back to memory on its own time.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    loops = {k: calibrate(f, min_time) for k, f in runs.items()}
    samples = {k: [] for k in runs}
    wall = {k: [] for k in runs}
    cpu_clock = time.process_time

    def one(k, f):
        n = loops[k]
        if untimed_first:
            f()
        c0 = cpu_clock()
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        t1 = time.perf_counter()
        c1 = cpu_clock()
        wall[k].append((t1 - t0) / n)
        samples[k].append((c1 - c0) / n if clock == "cpu" else (t1 - t0) / n)

    if interleave:
        for _ in range(repeats):
            for k, f in runs.items():
                one(k, f)
    else:
        for k, f in runs.items():
            if settle > 0:
                time.sleep(settle)
            warm(f, WARM_AFTER_PAUSE_S)  # warm again after the pause
            for _ in range(repeats):
                one(k, f)
    return {"samples": samples, "wall": wall, "loops": loops, "clock": clock}


@contextlib.contextmanager
def threads(n: int):
    """Limit BLAS (threadpoolctl) and numba to ``n`` threads inside the block."""
    import numba
    from threadpoolctl import threadpool_limits

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"thread count must be a positive int, got {n!r}")
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"{n} threads requested, numba was started with {numba.config.NUMBA_NUM_THREADS}")
    old = numba.get_num_threads()
    with threadpool_limits(limits=n, user_api="blas"):  # OpenMP is numba's: limiting it here slowed prange 50x
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(old)
