"""What a benchmark run writes: machine report, JSON, CSV, break-even sparsities.

Files in the output directory: ``results.json`` (everything), ``results.csv``
(one row per case x backend x threads), ``stacks.csv`` (summed over the
layers), ``machine.json`` / ``machine.txt`` (the machine report).

The break-even sparsity of a block shape is where the summed time of the
sparse kernel over the layers equals the summed dense time: the first
crossing of speedup = 1, interpolated linearly in sparsity between the two
measured sparsities around it.
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import os
from importlib import metadata
from pathlib import Path

__all__ = ["machine_info", "machine_line", "break_even", "write_results", "save_break_even",
           "BREAK_EVEN_BACKENDS", "BREAK_EVEN_PATH"]

BREAK_EVEN_BACKENDS = ("numba-simd",)  # the kernel A @ X runs at one thread
BREAK_EVEN_PATH = Path(__file__).resolve().parent.parent / "data" / "break_even.json"
PACKAGES = ("numpy", "scipy", "numba", "llvmlite", "threadpoolctl", "matplotlib", "tqdm", "sparsekit")
BLAS_ENV_DOC = ("OPENBLAS_CORETYPE forces an OpenBLAS kernel (a capped one if set below the CPU); "
                "OPENBLAS_L2_SIZE changes its blocking. The committed results were produced with both "
                "unset: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m sparsekit.bench ...`.")


def machine_info() -> dict:
    """:func:`sparsekit.machine.machine_report` plus threadpoolctl, versions and the BLAS variables."""
    from threadpoolctl import threadpool_info

    from ..machine import format_report, machine_report

    rep = machine_report()
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    rep["threadpools"] = [{k: d.get(k) for k in ("user_api", "internal_api", "version", "architecture",
                                                "num_threads", "threading_layer", "filepath")}
                          for d in threadpool_info()]
    rep["versions"] = versions
    rep["blas_env"] = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                      "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    rep["blas_env_note"] = BLAS_ENV_DOC
    rep["text"] = format_report(rep)
    rep["line"] = machine_line(rep)
    return rep


def machine_line(rep: dict) -> str:
    """One line naming the machine: CPU, cores, SIMD, BLAS kernel."""
    pools = [t for t in rep.get("threadpools", []) if t.get("user_api") == "blas"]
    numpy_pools = [t for t in pools if "numpy" in str(t.get("filepath"))]
    blas = numpy_pools or pools or rep.get("blas") or [{}]  # the BLAS numpy's matmul calls
    kern = blas[0].get("architecture")
    cap = (rep.get("blas_env") or {}).get("OPENBLAS_CORETYPE")
    return (f"{rep['cpu']}, {rep['cores']} cores, {rep['simd_level']}, LLVM {rep['llvm_host_cpu']}, "
            f"{blas[0].get('internal_api', 'BLAS')} {blas[0].get('version', '')} kernel={kern}"
            + (f" (OPENBLAS_CORETYPE={cap})" if cap else " (uncapped)"))


def _crossing(points: list) -> dict:
    """First sparsity where speedup reaches 1 (linear interpolation); ``points`` = [(s, speedup)]."""
    pts = sorted(points)
    if not pts:
        return {"break_even": None, "status": "no data"}
    if pts[0][1] >= 1.0:
        return {"break_even": pts[0][0], "status": "upper bound: already faster at the lowest sparsity measured"}
    for (s0, v0), (s1, v1) in zip(pts, pts[1:]):
        if v0 < 1.0 <= v1:
            s = s0 + (1.0 - v0) * (s1 - s0) / (v1 - v0)
            return {"break_even": round(s, 4), "status": "interpolated"}
    return {"break_even": None, "status": "never faster than dense in the measured range"}


def break_even(doc: dict, backends=BREAK_EVEN_BACKENDS, threads: int = 1) -> dict:
    """``{block: {"break_even": s or None, "status", "backend", "points"}}`` from a results document."""
    out = {}
    for backend in backends:
        for st in doc.get("stacks", []):
            if st["backend"] != backend or st["threads"] != threads:
                continue
            e = out.setdefault(st["block"], {"backend": backend, "threads": threads, "points": []})
            if e["backend"] == backend:
                e["points"].append([st["sparsity"], round(st["speedup"], 4)])
    for block, e in out.items():
        e.update(_crossing([tuple(p) for p in e["points"]]))
    return out


def _csv(path: Path, rows: list) -> None:
    if not rows:
        path.write_text("")
        return
    keys = list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def write_results(doc: dict, outdir) -> list:
    """Write the run into ``outdir``; returns the paths written."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.csv", out / "stacks.csv", out / "machine.json",
             out / "machine.txt"]
    paths[0].write_text(json.dumps(doc, indent=1, default=float) + "\n")
    _csv(paths[1], doc["results"])
    _csv(paths[2], doc["stacks"])
    paths[3].write_text(json.dumps(doc["machine"], indent=1) + "\n")
    paths[4].write_text(doc["machine"]["text"] + "\n" + doc["machine"]["line"] + "\n\n"
                        + doc["machine"]["blas_env_note"] + "\n")
    return paths


def save_break_even(doc: dict, path=None) -> dict:
    """Write ``{"measured_on", "date", "break_even": {block: s}}`` (package data) and return it.

    Blocks that never beat dense get ``null``; the file also keeps how each
    value was found, the backend and the preset.  Block shapes this run did not
    measure keep the value the file had (their status says from which date), so a
    run of a few blocks does not erase the others.
    """
    be = doc["break_even"]
    if not be:
        raise ValueError("this run measured no break-even sparsity (numba-simd at 1 thread over 2+ sparsities)")
    p = Path(path if path is not None else BREAK_EVEN_PATH)
    try:
        old = json.loads(p.read_text())
        kept = {b: v for b, v in old["break_even"].items() if b not in be}
        kept_status = {b: f"kept from the table of {old.get('date', '?')} ({old.get('status', {}).get(b, '')})"
                       for b in kept}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        kept, kept_status = {}, {}
    data = {
        "measured_on": doc["machine"]["line"],
        "date": doc["finished"][:10],
        "preset": doc["preset"],
        "dtype": doc["config"]["dtype"],
        "threads": 1,
        "backend": ",".join(sorted({e["backend"] for e in be.values()})),
        "definition": "sparsity where the summed time of the sparse kernel over the preset's layers "
                      "equals the summed dense BLAS time (block = rows x cols = C_out x C_in)",
        "break_even": dict(sorted({**kept, **{b: e["break_even"] for b, e in be.items()}}.items())),
        "status": dict(sorted({**kept_status, **{b: e["status"] for b, e in be.items()}}.items())),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=1) + "\n")
    return data
