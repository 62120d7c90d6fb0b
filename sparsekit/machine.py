"""What machine are we on?  The report every measurement is shown beside.

CPU model, the SIMD instruction sets it offers and the one numba's LLVM
targets, cores, the BLAS library numpy calls and the kernel it picked
(threadpoolctl), the environment variables that change BLAS, and package
versions.
"""
from __future__ import annotations

import os
import platform
import sys

SIMD_FLAGS = ("sse2", "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd", "sve")
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def cpu_info() -> tuple[str, set]:
    """``(model name, feature flags)`` from ``/proc/cpuinfo`` (the platform's name and no flags
    where it does not exist): the one reader of that file in the package."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model") and model in ("", platform.machine(), platform.processor()):
                    model = val.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(val.split())
    except OSError:
        pass
    return model, flags


def simd_level(flags: set | None = None) -> str:
    """The widest vector instruction set the CPU offers: 'AVX-512', 'AVX2', 'AVX', 'SSE2', 'NEON' ..."""
    if flags is None:
        flags = cpu_info()[1]
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse2", "SSE2"),
                       ("asimd", "NEON"), ("neon", "NEON")):
        if flag in flags:
            return name
    return "scalar"


def blas_info() -> list[dict]:
    """threadpoolctl's view of the BLAS libraries numpy loaded (library, kernel, threads)."""
    import numpy as np  # noqa: F401  (loads the BLAS)
    from threadpoolctl import threadpool_info

    return [
        {k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "threading_layer")}
        for d in threadpool_info()
        if d.get("user_api") == "blas"
    ]


def machine_report() -> dict:
    """A JSON-able description of this machine and software."""
    import llvmlite.binding as llvm
    import numba
    import numpy as np
    import scipy

    model, flags = cpu_info()
    return {
        "cpu": model,
        "arch": platform.machine(),
        "cores": os.cpu_count(),
        "simd_level": simd_level(flags),
        "simd_flags": sorted(f for f in SIMD_FLAGS if f in flags),
        "llvm_host_cpu": llvm.get_host_cpu_name(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "blas": blas_info(),
        "env": {k: os.environ[k] for k in BLAS_ENV if k in os.environ},
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "os": platform.platform(terse=True),
    }


def format_report(report: dict | None = None) -> str:
    """The report as a few readable lines."""
    r = machine_report() if report is None else report
    keys = ("cpu", "arch", "cores", "simd_level", "simd_flags", "llvm_host_cpu", "blas", "env", "python", "numpy",
            "scipy", "numba")
    missing = [k for k in keys if not isinstance(r, dict) or k not in r]
    if missing:
        raise ValueError(f"not a machine report (from sparsekit.machine.machine_report()): missing {missing}")
    blas = "; ".join(
        f"{b['internal_api']} {b['version']} kernel={b['architecture']} threads={b['num_threads']}"
        for b in r["blas"]
    ) or "unknown"
    env = ", ".join(f"{k}={v}" for k, v in r["env"].items()) or "none set"
    return "\n".join([
        f"CPU        : {r['cpu']} ({r['arch']}, {r['cores']} cores)",
        f"SIMD       : {r['simd_level']}  [{' '.join(r['simd_flags'])}]  LLVM target: {r['llvm_host_cpu']}",
        f"BLAS       : {blas}",
        f"BLAS env   : {env}",
        f"software   : Python {r['python']}, numpy {r['numpy']}, scipy {r['scipy']}, numba {r['numba']}",
    ])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sparsekit.machine",
                                     description="Print this machine's report (CPU, SIMD, BLAS and its kernel, threads, versions).")
    parser.parse_args()  # --help, and unknown arguments are a usage error (exit 2)
    print(format_report())
