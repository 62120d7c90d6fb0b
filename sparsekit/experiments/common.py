"""Helpers shared by the experiments: output folder, JSON writing, timing."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[2] / "results"


def out_dir(sub: str, override=None) -> Path:
    p = Path(override) if override is not None else RESULTS / sub
    p.mkdir(parents=True, exist_ok=True)
    return p


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(_jsonable(doc), indent=1, sort_keys=False) + "\n")


def environment() -> dict:
    import numba

    env = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
           "machine": platform.machine(), "processor": platform.processor()}
    try:
        from ..machine import machine_report

        env["machine_report"] = machine_report()
    except Exception as e:  # the report is informative only
        env["machine_report_error"] = repr(e)
    return env


def interleaved_times(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Time several callables in interleaved rounds (each once per round), after warm-up.

    Returns ``{name: {"wall": [...], "cpu": [...]}}`` in seconds.  Interleaving
    spreads any load from other processes evenly over the contenders, so
    their ratios stay fair on a shared machine; ``cpu`` is the process CPU
    time (``time.process_time``), which leaves out the time the process
    waited for a core -- with one thread it is the cleanest number on a busy
    machine.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out = {k: {"wall": [], "cpu": []} for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            t1, c1 = time.perf_counter(), time.process_time()
            out[k]["wall"].append(t1 - t0)
            out[k]["cpu"].append(c1 - c0)
    return out
