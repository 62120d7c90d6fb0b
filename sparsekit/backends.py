"""The registry of backends that the benchmark and the lessons compare.

Every backend computes the same thing -- ``Y = W @ X`` for a sparse weight
matrix ``W`` (``C_out x C_in``, pruned in blocks of ``blocksize = (r, c)``:
``r`` output channels x ``c`` input channels, so MNN's "1x4" is our ``(4, 1)``)
and a dense activation matrix ``X`` (``C_in x HW``, HW contiguous) -- and has

* ``name`` and a one-line ``description``;
* ``available() -> (bool, reason)``: whether it can run here, and why not;
* ``prepare(W, X, blocksize) -> Prepared``: converts ``W`` to the backend's
  storage *outside* any timing and returns ``Prepared.run()``, a zero-argument
  callable that computes the product into a preallocated output and returns it;
* ``matmul(W, X, blocksize)``: the one-shot convenience (``prepare(...).run()``).

>>> from sparsekit.backends import get_backend, list_backends
>>> [b.name for b in list_backends()][:3]
['dense-blas', 'scipy', 'numba-scalar']
>>> get_backend("numba-avx512").available()       # doctest: +SKIP
(False, 'needs the CPU flags avx512bw avx512cd avx512dq avx512f avx512vl; this CPU offers AVX2')

The ``numba-sse2`` / ``numba-avx2`` / ``numba-avx512`` backends run the numba
kernels compiled for one instruction set: a worker process
(:mod:`sparsekit.bench.worker`) starts with ``NUMBA_CPU_NAME`` /
``NUMBA_CPU_FEATURES`` set (generic ``x86-64`` = SSE2; ``haswell`` = AVX2 + FMA;
``skylake-avx512`` with 512-bit vectors) and its own ``NUMBA_CACHE_DIR`` so
machine code for one instruction set never lands in another's cache.  This
is our equivalent of MNN shipping separate AVX2 and AVX-512 kernels.

The numba backends call :func:`sparsekit.dispatch.spmm` with a ``variant``
("scalar", "simd", "parallel"); while the dispatcher has no such entry point
they fall back to ``A @ X`` (the reference kernels) and say so in their
``available()`` reason.  The ``cuda`` entry imports :mod:`sparsekit.gpu`
lazily.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .formats.validation import check_blocksize
from .machine import cpu_info

__all__ = [
    "Backend", "Prepared", "ISA_TARGETS", "list_backends", "get_backend", "backend_names",
    "available_backends", "cpu_flags", "to_sparse", "spmm_variant", "dispatch_has_spmm",
    "worker_env", "isa_cache_dir",
]


# -- small helpers ---------------------------------------------------------------------------

def cpu_flags() -> set:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where it does not exist)."""
    return cpu_info()[1]


def _check_operands(W, X) -> tuple:
    W = np.asarray(W)
    X = np.asarray(X)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (C_out x C_in), got shape {W.shape}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (C_in x HW), got shape {X.shape}")
    if W.shape[1] != X.shape[0]:
        raise ValueError(f"shape mismatch: W is {W.shape}, X is {X.shape} (W.shape[1] must equal X.shape[0])")
    return W, X


def to_sparse(W: np.ndarray, blocksize=(1, 1)):
    """``W`` as a :class:`~sparsekit.CSR` for 1x1 blocks, else a :class:`~sparsekit.BCSR`."""
    from .formats import BCSR, CSR

    r, c = check_blocksize(blocksize)
    if (r, c) == (1, 1):
        return CSR.from_dense(W)
    return BCSR.from_dense(W, (r, c))


def dispatch_has_spmm() -> bool:
    """Whether :mod:`sparsekit.dispatch` offers ``spmm(A, X, *, variant=, out=)`` yet."""
    d = importlib.import_module("sparsekit.dispatch")
    return callable(getattr(d, "spmm", None))


def spmm_variant(A, X: np.ndarray, variant: str, out: np.ndarray | None = None) -> np.ndarray:
    """The adapter every numba backend calls: ``dispatch.spmm`` or, until it exists, ``A @ X``."""
    d = importlib.import_module("sparsekit.dispatch")
    spmm = getattr(d, "spmm", None)
    if spmm is None:
        return A @ X
    return spmm(A, X, variant=variant, out=out)


def _variants_of(A) -> tuple | None:
    d = importlib.import_module("sparsekit.dispatch")
    f = getattr(d, "available_variants", None)
    return None if f is None else tuple(f(A))


# -- the backend record ------------------------------------------------------------------------

@dataclass
class Prepared:
    """A product ready to run: ``run()`` computes ``Y`` (into a reused buffer) and returns it.

    ``reference`` (when not ``None``) is the exact result the backend must
    reproduce, for backends that do not compute ``W @ X`` in floating point
    (``int8``); ``exact`` says the comparison must be bit-exact.  ``measure``
    (when not ``None``) times the product itself (the GPU uses CUDA events)
    and returns the timing fields, its own ``dense_median_s`` included.
    """

    run: Callable[[], np.ndarray]
    reference: np.ndarray | None = None
    exact: bool = False
    note: str = ""
    measure: Callable[[int, float], dict] | None = None  # backend-owned timing (GPU events)


@dataclass
class Backend:
    """One way of computing ``W @ X``; see the module docstring."""

    name: str
    description: str
    check: Callable[[], tuple] = field(repr=False)
    build: Callable | None = field(default=None, repr=False)
    parallel: bool = False          # uses more than one thread when allowed
    dtypes: tuple = ("float32", "float64")
    remote: bool = False            # measured in a worker process (see sparsekit.bench.worker)
    isa: str | None = None          # key of ISA_TARGETS for the remote numba backends
    variant: str | None = None      # dispatch variant of the numba backends
    blocks: tuple | None = None     # the block shapes it has kernels for (None: any)

    def available(self) -> tuple:
        """``(True, how it runs)`` or ``(False, why it cannot run here)``."""
        try:
            ok, reason = self.check()
        except Exception as exc:  # an availability check must never raise
            return False, f"availability check failed: {type(exc).__name__}: {exc}"
        return bool(ok), str(reason)

    def supports(self, blocksize=(1, 1), dtype="float32") -> tuple:
        """Whether this backend runs this block shape and dtype: ``(bool, reason)``."""
        if np.dtype(dtype).name not in self.dtypes:
            return False, f"{self.name} runs {'/'.join(self.dtypes)}, not {np.dtype(dtype).name}"
        if self.blocks is not None and tuple(blocksize) not in self.blocks:
            shapes = ", ".join(f"{r}x{c}" for r, c in self.blocks)
            return False, f"{self.name} has kernels for blocks {shapes}, not {blocksize[0]}x{blocksize[1]}"
        return True, ""

    def prepare(self, W, X, blocksize=(1, 1)) -> Prepared:
        """Convert ``W`` for this backend (untimed) and return the :class:`Prepared` product."""
        W, X = _check_operands(W, X)
        blocksize = check_blocksize(blocksize)
        ok, reason = self.supports(blocksize, np.result_type(W.dtype, X.dtype))
        if not ok:
            raise TypeError(reason)
        ok, reason = self.available()
        if not ok:
            raise RuntimeError(f"backend {self.name!r} is not available here: {reason}")
        if self.remote:
            return _prepare_remote(self, W, X, blocksize)
        return self.build(W, X, blocksize)

    def matmul(self, W, X, blocksize=(1, 1)) -> np.ndarray:
        """``W @ X`` computed by this backend (a copy of the result)."""
        return np.array(self.prepare(W, X, blocksize).run(), copy=True)


# -- availability checks and builders ------------------------------------------------------------

def _dense_check() -> tuple:
    from .machine import blas_info

    blas = blas_info()
    if not blas:
        return True, "numpy matmul (no BLAS found by threadpoolctl)"
    b = blas[0]
    core = os.environ.get("OPENBLAS_CORETYPE")
    cap = f", OPENBLAS_CORETYPE={core} caps the kernel" if core else ""
    return True, f"{b['internal_api']} {b['version']} kernel={b['architecture']}{cap}"


def _build_dense(W, X, blocksize) -> Prepared:
    dtype = np.result_type(W.dtype, X.dtype)
    Wd = np.ascontiguousarray(W, dtype=dtype)
    Xd = np.ascontiguousarray(X, dtype=dtype)
    out = np.empty((W.shape[0], X.shape[1]), dtype=dtype)
    return Prepared(lambda: np.matmul(Wd, Xd, out=out))


def _scipy_check() -> tuple:
    import scipy

    return True, (f"scipy {scipy.__version__} csr_array @ ndarray (single thread, C++ csr_matvecs; "
                  "allocates its output per call, as A @ X does)")


def _build_scipy(W, X, blocksize) -> Prepared:
    import scipy.sparse as sp

    dtype = np.result_type(W.dtype, X.dtype)
    A = sp.csr_array(np.asarray(W, dtype=dtype))
    Xd = np.ascontiguousarray(X, dtype=dtype)
    return Prepared(lambda: A @ Xd)


def _numba_check(variant: str) -> Callable[[], tuple]:
    def check() -> tuple:
        import numba

        if not dispatch_has_spmm():
            return True, (f"numba {numba.__version__}; sparsekit.dispatch has no spmm() yet: "
                          f"running the reference kernels through A @ X")
        return True, f"numba {numba.__version__}, sparsekit.dispatch.spmm(variant={variant!r})"
    return check


def _build_numba(variant: str) -> Callable:
    def build(W, X, blocksize) -> Prepared:
        dtype = np.result_type(W.dtype, X.dtype)
        A = to_sparse(np.asarray(W, dtype=dtype), blocksize)
        Xd = np.ascontiguousarray(X, dtype=dtype)
        variants = _variants_of(A) if dispatch_has_spmm() else None
        if variants is not None and variant not in variants:
            raise NotImplementedError(
                f"dispatch offers {variants} for {type(A).__name__} {A.blocksize if hasattr(A, 'blocksize') else ''}"
                f" {A.dtype}, not {variant!r}")
        if not dispatch_has_spmm():
            return Prepared(lambda: A @ Xd, note="fallback A @ X")
        out = np.empty((A.shape[0], Xd.shape[1]), dtype=dtype)
        d = importlib.import_module("sparsekit.dispatch")
        name = getattr(d, "kernel_name", None)
        note = name(A, Xd, variant) if name is not None else ""
        return Prepared(lambda: spmm_variant(A, Xd, variant, out=out), note=note)
    return build


# int8: int8 weights and activations, int32 accumulation (the BCSR SpMM of K1's kernels).

def _int8_api():
    """``(Int8BCSR, spmm_int8)`` from :mod:`sparsekit.quant`, or raise ImportError."""
    try:
        q = importlib.import_module("sparsekit.quant")
    except ImportError as exc:
        raise ImportError(f"no int8 BCSR kernel: sparsekit.quant cannot be imported ({exc})") from None
    container = getattr(q, "Int8BCSR", None)
    spmm_int8 = getattr(q, "spmm_int8", None)
    if container is None or spmm_int8 is None:
        raise ImportError("no int8 BCSR kernel: sparsekit.quant lacks Int8BCSR / spmm_int8")
    return container, spmm_int8


def _int8_check() -> tuple:
    try:
        _int8_api()
    except ImportError as exc:
        return False, str(exc)
    return True, "sparsekit.quant.Int8BCSR x int8 activations, int32 accumulation (spmm_int8)"


def _build_int8(W, X, blocksize) -> Prepared:
    """Quantise ``W`` (per tensor) into an ``Int8BCSR`` and ``X`` to int8; exact int32 reference."""
    from .formats import BCSR

    container, spmm_int8 = _int8_api()
    q = importlib.import_module("sparsekit.quant")
    Q = container.from_bcsr(BCSR.from_dense(np.asarray(W, dtype=np.float64), blocksize))
    Wq, _ = q.quantize(W, Q.scale)            # the same int8 values, dense, for the reference
    Xq, _ = q.quantize(X)
    ref = (Wq.astype(np.int64) @ Xq.astype(np.int64)).astype(np.int32)
    out = np.empty(ref.shape, dtype=np.int32)
    return Prepared(lambda: spmm_int8(Q, Xq, out=out), reference=ref, exact=True,
                    note="int8 x int8 -> int32; speedup over the float dense BLAS product")


# cuda: sparsekit.gpu (engineer G) -- imported only when asked.

def _gpu():
    return importlib.import_module("sparsekit.gpu")


def _cuda_check() -> tuple:
    try:
        g = _gpu()
    except ImportError as exc:
        return False, f"sparsekit.gpu cannot be imported ({exc})"
    f = getattr(g, "available", None)
    if f is None:
        return False, "sparsekit.gpu has no available() function"
    res = f()
    if isinstance(res, tuple):
        return bool(res[0]), str(res[1])
    return bool(res), "sparsekit.gpu.available()"


def _build_cuda(W, X, blocksize) -> Prepared:
    """cuSPARSE CSR (1x1 and non-square blocks) or BSR (square blocks) through sparsekit.gpu.

    ``run()`` includes the transfers (it is for checking the result); the
    timing comes from ``measure()``, which uses ``gpu.time_spmm`` (CUDA events,
    operands already on the GPU) for the sparse product and for cuBLAS
    dense, so the speedup is GPU sparse over GPU dense.
    """
    g = _gpu()
    Wf = np.ascontiguousarray(W, dtype=np.float32)
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    r, c = blocksize
    method, bs = ("torch-bsr", (r, c)) if (r == c and r > 1) else ("torch-csr", None)

    def measure(repeats: int, min_time: float) -> dict:
        sp = g.time_spmm(Wf, Xf, method, blocksize=bs, repeats=repeats)
        de = g.time_spmm(Wf, Xf, "dense", repeats=repeats)
        med = sp["ms"] / 1e3
        return {"median_s": med, "q1_s": sp["ms_p10"] / 1e3, "q3_s": sp["ms_p90"] / 1e3,
                "iqr_rel": (sp["ms_p90"] - sp["ms_p10"]) / sp["ms"], "min_s": None,
                "repeats": sp.get("repeats"), "loops": 1, "dense_median_s": de["ms"] / 1e3,
                "dense_min_s": None, "clock": "cuda-events", "wall_median_s": None}

    return Prepared(lambda: g.spmm(Wf, Xf, method, blocksize=bs), measure=measure,
                    note=f"gpu.{method}; speedup over cuBLAS dense fp32 on the same GPU; q1/q3 = p10/p90")


# -- instruction-set targets for the worker processes ------------------------------------------------

ISA_TARGETS = {
    # name: (NUMBA_CPU_NAME, NUMBA_CPU_FEATURES, CPU flags required, widest register)
    "sse2": ("x86-64", "+sse2", ("sse2",), "xmm"),
    "avx2": ("haswell", "+avx2,+fma", ("avx2", "fma"), "ymm"),
    # LLVM prefers 256-bit vectors on Skylake-X; -prefer-256-bit asks for full zmm width.
    "avx512": ("skylake-avx512", "-prefer-256-bit",
               ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"), "zmm"),
}


def isa_cache_dir(isa: str) -> Path:
    """The numba cache directory of one instruction set (never shared with another)."""
    root = os.environ.get("SPARSEKIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sparsekit")
    return Path(root) / f"numba-{isa}"


def worker_env(isa: str) -> dict:
    """The environment of a worker process compiling for ``isa``."""
    cpu, features, _, _ = ISA_TARGETS[isa]
    env = dict(os.environ)
    env.update(NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features,
               NUMBA_CACHE_DIR=str(isa_cache_dir(isa)),
               NUMBA_DISABLE_PERFORMANCE_WARNINGS="1")
    # the worker must import this very package, even from a checkout that is not installed
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _isa_check(isa: str) -> Callable[[], tuple]:
    def check() -> tuple:
        from .machine import simd_level

        arch = platform.machine().lower()
        if arch not in ("x86_64", "amd64"):
            return False, f"x86 instruction set; this machine is {platform.machine()}"
        flags = cpu_flags()
        cpu, features, need, _ = ISA_TARGETS[isa]
        missing = [f for f in need if f not in flags]
        if missing:
            return False, (f"needs the CPU flags {' '.join(sorted(need))}; this CPU lacks "
                           f"{' '.join(sorted(missing))} (it offers {simd_level(flags)})")
        fallback = "" if dispatch_has_spmm() else "; reference kernels until dispatch.spmm exists"
        return True, (f"numba kernels compiled in a worker with NUMBA_CPU_NAME={cpu} "
                      f"NUMBA_CPU_FEATURES={features}{fallback}")
    return check


def run_worker(isa: str, job: dict, timeout: float = 3600.0) -> dict:
    """Run :mod:`sparsekit.bench.worker` for ``isa`` on ``job`` (a JSON-able dict); its JSON answer."""
    proc = subprocess.run(
        [sys.executable, "-m", "sparsekit.bench.worker"],
        input=json.dumps(job), capture_output=True, text=True, env=worker_env(isa), timeout=timeout,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        raise RuntimeError(f"numba-{isa} worker exited with {proc.returncode}: " + " | ".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _prepare_remote(backend: Backend, W, X, blocksize) -> Prepared:
    """One product in a worker process (slow: pickles the operands; for checks, not timing)."""
    import base64

    dtype = np.result_type(W.dtype, X.dtype)

    def enc(a):
        a = np.ascontiguousarray(a, dtype=dtype)
        return {"b64": base64.b64encode(a.tobytes()).decode(), "shape": list(a.shape), "dtype": a.dtype.name}

    job = {"mode": "matmul", "variant": backend.variant, "W": enc(W), "X": enc(X),
           "blocksize": list(blocksize)}

    def run():
        res = run_worker(backend.isa, job, timeout=600)
        Y = np.frombuffer(base64.b64decode(res["Y"]["b64"]), dtype=res["Y"]["dtype"])
        return Y.reshape(res["Y"]["shape"])
    return Prepared(run, note="worker process")


# -- the registry ---------------------------------------------------------------------------------

def _int8_blocks() -> tuple:
    from .kernels.spmm_bcsr_tiled import BLOCKS

    return tuple(BLOCKS)


def _registry() -> list:
    b = [
        Backend("dense-blas", "dense W @ X with numpy's BLAS (the baseline every speedup divides)",
                _dense_check, _build_dense, parallel=True),
        Backend("scipy", "scipy.sparse CSR times a dense matrix (single-threaded C++ loop)",
                _scipy_check, _build_scipy),
        Backend("numba-reference", "the plain numba loops the lessons start from (no tiling, 1 thread)",
                _numba_check("reference"), _build_numba("reference"), variant="reference"),
        Backend("numba-scalar", "numba kernel compiled with vectorisation off (one lane at a time)",
                _numba_check("scalar"), _build_numba("scalar"), variant="scalar"),
        Backend("numba-simd", "numba kernel vectorised for this CPU (the fast path of A @ X, 1 thread)",
                _numba_check("simd"), _build_numba("simd"), variant="simd"),
        Backend("numba-parallel", "numba SIMD kernel, work split over all threads (prange)",
                _numba_check("parallel"), _build_numba("parallel"), parallel=True, variant="parallel"),
    ]
    for isa, label in (("sse2", "generic x86-64 (SSE2, 128-bit)"), ("avx2", "AVX2 + FMA (256-bit)"),
                       ("avx512", "AVX-512 (512-bit)")):
        b.append(Backend(f"numba-{isa}", f"numba SIMD kernel compiled for {label} in a worker process",
                         _isa_check(isa), None, remote=True, isa=isa, variant="simd"))
    b.append(Backend("int8", "int8 BCSR weights x int8 activations, int32 accumulation",
                     _int8_check, _build_int8, dtypes=("float32", "float64"), blocks=_int8_blocks()))
    b.append(Backend("cuda", "GPU SpMM via sparsekit.gpu (cuSPARSE through torch / CuPy)",
                     _cuda_check, _build_cuda, dtypes=("float32",)))
    return b


_BACKENDS = {b.name: b for b in _registry()}


def list_backends() -> list:
    """Every registered backend, available here or not, in a fixed order."""
    return list(_BACKENDS.values())


def backend_names() -> list:
    return list(_BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``KeyError`` lists the valid names."""
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a str, got {type(name).__name__}")
    try:
        return _BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; choose from {', '.join(_BACKENDS)}") from None


def available_backends() -> list:
    """The backends that can run on this machine."""
    return [b for b in _BACKENDS.values() if b.available()[0]]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sparsekit.backends",
                                     description="List every backend and why it can or cannot run here.")
    parser.parse_args()  # --help, and unknown arguments are a usage error (exit 2)
    for b in list_backends():
        ok, why = b.available()
        print(f"{b.name:15s} {'yes' if ok else 'no ':3s}  {b.description}\n{'':20s}{why}")
