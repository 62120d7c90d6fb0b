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


def median_time(fn, repeats: int, warmup: int = 2) -> tuple:
    """``(median seconds, all samples)`` of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples)), samples


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
