"""The GPU measurements lesson 09 plots: the newest run in ``results/gpu/``, one row per measurement.

Runs of ``python -m sparsekit.gpu --out results/gpu`` (schema ``sparsekit.gpu-spmm/1``) are
preferred, the newest by the date inside each file; without one, the reference run kept in
``results/gpu/reference/`` (another layout: one row per shape and sparsity, several methods per
row) stands in.  :func:`measurement_rows` brings both to one row per (shape, method, block,
sparsity) with the speed-up over the dense product of the same precision.
"""
from __future__ import annotations

import json
from pathlib import Path

from .common import RESULTS

REFERENCE = RESULTS / "gpu" / "reference" / "gpu-spmm-h100-2026-11-24.json"
#: The methods that are the dense baselines of a sparsekit.gpu run (their speed-up is 1 by definition).
DENSE_METHODS = ("dense", "dense-fp16")


def load_gpu_results(results: Path | str = RESULTS) -> tuple[dict, Path]:
    """``(document, path)`` of the newest ``results/gpu/*.json`` (by its ``"date"``), else of the
    reference run; ``FileNotFoundError`` when neither exists, ``ValueError`` for a file that is not JSON."""
    runs = []
    for p in sorted(Path(results).glob("gpu/*.json")):
        try:
            runs.append((str(json.loads(p.read_text(encoding="utf-8")).get("date", "")), p))
        except ValueError as exc:
            raise ValueError(f"{p}: not a JSON results file ({exc})") from None
    path = max(runs)[1] if runs else Path(results) / REFERENCE.relative_to(RESULTS)
    if not path.exists():
        raise FileNotFoundError(f"no GPU results: neither {Path(results) / 'gpu'}/*.json nor {path}")
    return json.loads(path.read_text(encoding="utf-8")), path


def measurement_rows(doc: dict) -> list[dict]:
    """One dict per measurement: ``shape`` (M, K, N), ``dtype``, ``block``, ``sparsity``, ``method``,
    ``per_call`` (speed-up of one call), ``graph`` (inside a CUDA graph, or None) and ``trusted``
    (False for the reference's 2:4 rows, which its source marks as naively timed)."""
    rows = []
    if "schema" in doc:  # written by sparsekit.gpu
        for r in doc["rows"]:
            if "speedup" in r and r["method"] not in DENSE_METHODS:
                rows.append({"shape": (r["M"], r["K"], r["N"]), "dtype": r["dtype"], "block": r["block"],
                             "sparsity": r["sparsity"], "method": r["method"], "per_call": r["speedup"],
                             "graph": r.get("graph_speedup"), "trusted": True})
        return rows
    for r in doc["rows"]:  # the reference file: one row per shape and sparsity
        shape = (r["M"], r["K"], r["N"])
        for key, method in (("torch_csr_speedup", "torch-csr"), ("cupy_csr_speedup", "cupy-csr")):
            rows.append({"shape": shape, "dtype": "float32", "block": "4x1 rows", "sparsity": r["s"],
                         "method": method, "per_call": r[key], "graph": None, "trusted": True})
        if "semi24_speedup" in r:
            rows.append({"shape": shape, "dtype": "float16", "block": "2:4", "sparsity": r["s"],
                         "method": "semi24 (naive timing)", "per_call": r["semi24_speedup"], "graph": None,
                         "trusted": False})
    return rows
