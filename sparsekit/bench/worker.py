"""Worker process of the instruction-set backends (``numba-sse2/avx2/avx512``).

Started by :func:`sparsekit.backends.run_worker` with ``NUMBA_CPU_NAME`` /
``NUMBA_CPU_FEATURES`` / ``NUMBA_CACHE_DIR`` set, so every numba kernel it
compiles targets that instruction set.  Reads one JSON job on stdin and
prints one JSON line:

* ``{"mode": "matmul", "variant", "W", "X", "blocksize"}`` -> ``{"Y": ...}``
  (arrays as base64 + shape + dtype): one product, for correctness checks;
* ``{"mode": "bench", "variant", "cases", "repeats", "min_time"}`` ->
  ``{"results": [...]}``: each case rebuilt from its seed, verified against
  the float64 dense result, then timed round-robin with the dense BLAS
  product (1 thread).

Every answer carries ``target`` (the CPU name and features numba used) and
``probe``: how many xmm/ymm/zmm registers the assembly of a small numba loop
compiled here names -- evidence that the target really changed.
"""
from __future__ import annotations

import base64
import json
import re
import sys

import numpy as np


def _probe() -> dict:
    import numba

    @numba.njit("void(f4[::1], f4[::1], f4[::1], f4)", fastmath=True, cache=False)
    def triad(a, b, c, s):
        for i in range(a.shape[0]):
            a[i] = b[i] + s * c[i]

    asm = "\n".join(triad.inspect_asm().values())
    return {reg: len(re.findall(r"%" + reg + r"\d+", asm)) for reg in ("xmm", "ymm", "zmm")}


def _target() -> dict:
    import numba

    return {"cpu_name": numba.config.CPU_NAME, "cpu_features": numba.config.CPU_FEATURES,
            "cache_dir": numba.config.CACHE_DIR}


def _decode(d: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(d["b64"]), dtype=d["dtype"]).reshape(d["shape"]).copy()


def _encode(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a)
    return {"b64": base64.b64encode(a.tobytes()).decode(), "shape": list(a.shape), "dtype": a.dtype.name}


def _local_backend(variant: str):
    from sparsekit.backends import get_backend

    return get_backend({"scalar": "numba-scalar", "parallel": "numba-parallel"}.get(variant, "numba-simd"))


def _matmul(job: dict) -> dict:
    b = _local_backend(job["variant"])
    Y = b.matmul(_decode(job["W"]), _decode(job["X"]), tuple(job["blocksize"]))
    return {"Y": _encode(Y)}


def _bench(job: dict) -> dict:
    from sparsekit.backends import get_backend
    from sparsekit.bench.cases import Case, make_operands
    from sparsekit.bench.harness import tolerance, verify
    from sparsekit.bench.timing import threads, time_interleaved

    sparse = _local_backend(job["variant"])
    dense = get_backend("dense-blas")
    out = []
    with threads(1):
        for cj in job["cases"]:
            case = Case.from_json(cj)
            W, X = make_operands(case)
            W64, X64 = W.astype(np.float64), X.astype(np.float64)
            ref = W64 @ X64
            scale = float(np.max(np.abs(W64) @ np.abs(X64))) or 1.0
            try:
                p = sparse.prepare(W, X, case.blocksize)
                good, err = verify(p.run(), ref, scale, tolerance(case.dtype, case.K))
            except NotImplementedError as exc:
                out.append({"status": "unsupported", "note": str(exc)})
                continue
            except Exception as exc:
                out.append({"status": "error", "note": f"{type(exc).__name__}: {exc}"})
                continue
            if not good:
                out.append({"status": "wrong", "err": err, "note": "result differs from the dense result"})
                continue
            d = dense.prepare(W, X)
            t = time_interleaved({"s": p.run, "d": d.run}, int(job["repeats"]), float(job["min_time"]),
                                 clock=job.get("clock", "wall"))
            out.append({"status": "ok", "err": err, "note": p.note, "samples": t["samples"]["s"],
                        "dense_samples": t["samples"]["d"], "wall_samples": t["wall"]["s"],
                        "clock": t["clock"], "loops": t["loops"]["s"]})
    return {"results": out}


def main() -> None:
    job = json.loads(sys.stdin.read())
    mode = job.get("mode")
    if mode == "matmul":
        res = _matmul(job)
    elif mode == "bench":
        res = _bench(job)
    else:
        raise ValueError(f"unknown worker mode {mode!r} (expected 'matmul' or 'bench')")
    res["target"] = _target()
    res["probe"] = _probe()
    sys.stdout.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
