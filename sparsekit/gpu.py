"""The ``cuda`` backend: sparse x dense products on an NVIDIA GPU, measured honestly.

What it compares, for ``W (M x K, sparse) @ X (K x N, dense)`` with the
operands already on the GPU:

* float32: dense cuBLAS SGEMM (``dense``, TF32 off; ``dense-tf32`` with the
  tensor cores' TF32 mode) against cuSPARSE CSR SpMM through PyTorch
  (``torch-csr``) and CuPy (``cupy-csr``, X row-major as given;
  ``cupy-csr-fortran``, X column-major, the layout cuSPARSE prefers), and
  block-sparse BSR through PyTorch (``torch-bsr``) and its Triton kernel
  (``triton-bsr``);
* float16: dense cuBLAS HGEMM (``dense-fp16``) against 2:4 semi-structured
  sparsity on the sparse tensor cores (``semi24-cusparselt``,
  ``semi24-cutlass``, both through ``torch.sparse``).

Only the standard library and numpy are imported with this module; PyTorch and
CuPy are imported when a function needs them, so ``import sparsekit.gpu`` is
safe on any machine.

API (``sparsekit.backends`` imports these lazily for its ``cuda`` entry)
-----------------------------------------------------------------------
``available() -> (bool, str)``
    Whether the GPU paths can run here.  The string explains itself: which of
    NVIDIA GPU / PyTorch with CUDA / CuPy / numba-cuda was found or is
    missing.  Never raises.
``METHODS``
    ``{name: one-line description}`` of every method below.
``spmm(A, X, method="torch-csr", *, blocksize=None) -> numpy.ndarray``
    One product ``A @ X`` on the GPU: ``A`` a sparsekit ``CSR``/``BCSR``, a
    scipy.sparse matrix or a dense 2-D array; ``X`` 1-D or 2-D.  Inputs are
    validated (TypeError/ValueError naming the problem) before any GPU work,
    copied to the GPU, and the result comes back as float32 numpy.
``time_spmm(A, X, method="torch-csr", *, blocksize=None, repeats=None) -> dict``
    Times the same product with the operands already on the GPU (transfers
    and format conversion excluded): ``{"ms", "ms_p10", "ms_p90",
    "loop_ms", "repeats"}``; see :func:`bench` for the method.
``run_sweep(shapes=SHAPES, sparsities=SPARSITIES, blocks=BLOCKS, *, seed=0, quick=False, progress=print) -> dict``
    The benchmark lesson 09 reads: a JSON-able document (schema
    ``SCHEMA``) with ``machine``, ``ceilings``, ``timing`` and flat ``rows``.
``plot(doc, path=None) -> matplotlib Figure``
    Speedup over dense vs sparsity from a sweep document (no GPU needed).
``main(argv=None) -> int``
    ``python -m sparsekit.gpu --out DIR [--quick]`` runs the sweep and writes
    ``DIR/gpu-spmm-<gpu>.json``; ``python -m sparsekit.gpu --plot FILE.json``
    draws ``FILE.png`` beside it.

Timing: CUDA events around each call, 10+ warm-up calls first (so library
handles, workspace buffers and Triton compilation stay out), the 50 MB L2
flushed by writing a 256 MiB buffer before each timed call, median of
repeats; ``loop_ms`` is a back-to-back loop (warm L2, host launch overhead
included) divided by its length, the median of three loops.  Two more views
separate the GPU's work from the host's: ``kernel_ms``, the summed duration of
the kernels one call launches (CUPTI through ``torch.profiler``), and
``graph_ms``, the time per call when ten calls are captured in a CUDA graph
and replayed (how a serving system removes launch overhead).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

from .formats.validation import check_blocksize
from .machine import cpu_info

__all__ = [
    "available", "METHODS", "spmm", "time_spmm", "bench", "run_sweep", "machine_report", "plot", "main",
    "SHAPES", "SPARSITIES", "BLOCKS", "SCHEMA",
]

SCHEMA = "sparsekit.gpu-spmm/1"

#: (M, K, N): a MobileNet-like 1x1 convolution (256 channels, 28x28), a wider
#: one at 56x56 batch 2 (1024 channels, N = 6272), and a big square product.
SHAPES = ((256, 256, 784), (1024, 1024, 6272), (4096, 4096, 4096))
SPARSITIES = (0.5, 0.7, 0.9, 0.95)
#: Sparsity patterns of W: unstructured, and square blocks (what GPU
#: block-sparse kernels want; cuSPARSE's BSR SpMM takes square blocks).
BLOCKS = ((1, 1), (16, 16), (32, 32))

METHODS = {
    "dense": "float32 dense W @ X, cuBLAS SGEMM (TF32 off: true fp32 arithmetic)",
    "dense-tf32": "float32 dense W @ X with TF32 tensor cores (10-bit mantissa products)",
    "torch-csr": "float32 cuSPARSE CSR SpMM through torch.sparse_csr_tensor (int32 indices)",
    "cupy-csr": "float32 cuSPARSE CSR SpMM through cupyx.scipy.sparse, X row-major as given",
    "cupy-csr-fortran": "float32 cuSPARSE CSR SpMM through cupyx.scipy.sparse, X column-major",
    "torch-bsr": "float32 block-sparse W @ X through torch.sparse_bsr_tensor (square blocks)",
    "triton-bsr": "float32 block-sparse W @ X, torch.sparse._triton_ops.bsr_dense_mm (Triton)",
    "dense-fp16": "float16 dense W @ X, cuBLAS HGEMM on tensor cores",
    "semi24-cusparselt": "float16 2:4 semi-structured W @ X on sparse tensor cores, cuSPARSELt",
    "semi24-cutlass": "float16 2:4 semi-structured W @ X on sparse tensor cores, CUTLASS",
    "semi24-cusparselt-direct": "the cuSPARSELt 2:4 product called as torch._cslt_sparse_mm, no Python dispatch",
}
FP32_METHODS = ("dense", "dense-tf32", "torch-csr", "cupy-csr", "cupy-csr-fortran", "torch-bsr", "triton-bsr")
FP16_METHODS = ("dense-fp16", "semi24-cusparselt", "semi24-cusparselt-direct", "semi24-cutlass")
_BSR_METHODS = ("torch-bsr", "triton-bsr")
_SEMI_METHODS = ("semi24-cusparselt", "semi24-cutlass", "semi24-cusparselt-direct")
_CUPY_METHODS = ("cupy-csr", "cupy-csr-fortran")
#: Relative error ||out - ref|| / ||ref|| against a float64 reference that a
#: correct result stays under, by method family.
TOLERANCE = {"fp32": 1e-5, "tf32": 5e-3, "fp16": 1e-2}


def _tolerance(method: str) -> float:
    if method in FP16_METHODS:
        return TOLERANCE["fp16"]
    if method in ("dense-tf32", "triton-bsr"):  # Triton's fp32 dot runs on TF32 tensor cores
        return TOLERANCE["tf32"]
    return TOLERANCE["fp32"]


# --------------------------------------------------------------------------- availability
def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _gpu_device_present() -> tuple[bool, str]:
    """Cheap look for an NVIDIA driver and device, without importing CUDA libraries."""
    if os.path.exists("/dev/nvidia0") or os.path.exists("/dev/nvidiactl"):
        return True, "NVIDIA device files present"
    if os.path.exists("/proc/driver/nvidia/version"):
        return True, "NVIDIA driver loaded"
    if shutil.which("nvidia-smi"):
        return True, "nvidia-smi on PATH"
    return False, "no NVIDIA GPU found (no /dev/nvidia*, no driver in /proc/driver/nvidia, no nvidia-smi)"


def available() -> tuple[bool, str]:
    """``(True, what was found)`` when the GPU paths can run, else ``(False, why not)``.

    Needs an NVIDIA GPU and PyTorch built with CUDA (it runs the dense, CSR,
    BSR and 2:4 paths and the CUDA-event timers); CuPy adds the ``cupy-csr``
    methods.  numba-cuda is reported but not needed.
    """
    try:
        libs = []
        for name, mod in (("PyTorch", "torch"), ("CuPy", "cupy"), ("numba-cuda", "numba_cuda")):
            libs.append(f"{name} {'installed' if _has(mod) else 'not installed'}")
        libs_line = ", ".join(libs)
        present, why = _gpu_device_present()
        if not present:
            return False, f"{why}; {libs_line}"
        if not _has("torch"):
            return False, f"GPU present but PyTorch is not installed (the cuda backend needs torch with CUDA); {libs_line}"
        import torch

        if not torch.cuda.is_available():
            build = torch.version.cuda or "CPU-only build"
            return False, f"GPU present but torch {torch.__version__} cannot use it (torch CUDA: {build}); {libs_line}"
        name = torch.cuda.get_device_name(0)
        return True, f"{name} through torch {torch.__version__} (CUDA {torch.version.cuda}); {libs_line}"
    except Exception as exc:  # available() explains, it never raises
        return False, f"GPU check failed: {type(exc).__name__}: {exc}"


def _require_gpu():
    ok, why = available()
    if not ok:
        raise RuntimeError(f"the cuda backend cannot run here: {why}")
    import torch

    return torch


# --------------------------------------------------------------------------- timing
_FLUSH = {}


def _flush_buffer(torch):
    buf = _FLUSH.get("buf")
    if buf is None:
        buf = _FLUSH["buf"] = torch.empty(256 * 1024 * 1024, dtype=torch.int8, device="cuda")
    return buf


def bench(fn, *, repeats: int | None = None, warmup: int = 10, budget_s: float = 0.25, flush: bool = True) -> dict:
    """Time ``fn()`` (GPU work on the default stream) with CUDA events.

    ``warmup`` calls first; then ``repeats`` timed calls, each preceded by a
    write of a 256 MiB buffer that evicts the L2 (when ``flush``), each timed
    by a pair of events; the median and the 10th/90th percentiles in ms.
    ``repeats=None`` picks 10..200 to fill about ``budget_s`` seconds.
    ``loop_ms``: a back-to-back loop of calls between two events, divided by
    its length (warm L2, includes host launch overhead when the host is the
    bottleneck), the median of three loops.
    """
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    est = max((time.perf_counter() - t0) / 3, 1e-6)
    if repeats is None:
        repeats = int(min(200, max(10, budget_s / est)))
    cache = _flush_buffer(torch) if flush else None
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for i in range(repeats):
        if cache is not None:
            cache.zero_()
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    times = np.array([s.elapsed_time(e) for s, e in zip(starts, ends)])
    n_loop = int(min(200, max(5, 0.3 * budget_s / est)))
    loops = []
    for _ in range(3):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n_loop):
            fn()
        b.record()
        torch.cuda.synchronize()
        loops.append(a.elapsed_time(b) / n_loop)
    return {
        "ms": float(np.median(times)),
        "ms_p10": float(np.percentile(times, 10)),
        "ms_p90": float(np.percentile(times, 90)),
        "loop_ms": float(np.median(loops)),
        "repeats": int(repeats),
    }


# --------------------------------------------------------------------------- the products
def _check_method(method) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    return method


def _check_blocksize(blocksize) -> tuple:
    r, c = check_blocksize(blocksize)
    if r != c:
        raise ValueError(f"GPU block-sparse methods take square blocks, got blocksize {(r, c)}")
    return r, c


def _pad_to(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if a.shape == (rows, cols):
        return a
    out = np.zeros((rows, cols), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


def is_2to4(W: np.ndarray) -> bool:
    """True when every row of ``W`` has at most 2 nonzeros in each group of 4 consecutive columns."""
    W = np.asarray(W)
    K = W.shape[1]
    Wp = _pad_to(W, W.shape[0], _ceil_to(K, 4)) if K % 4 else W
    groups = (Wp != 0).reshape(W.shape[0], -1, 4).sum(axis=2)
    return bool((groups <= 2).all())


def _as_dense_weight(A) -> np.ndarray:
    """A sparsekit CSR/BCSR, scipy.sparse matrix or 2-D array as a dense float array."""
    if hasattr(A, "toarray") and hasattr(A, "shape"):
        W = np.asarray(A.toarray())
    elif isinstance(A, np.ndarray) or isinstance(A, (list, tuple)):
        W = np.asarray(A)
    else:
        raise TypeError(f"A must be a sparsekit CSR/BCSR, a scipy.sparse matrix or a 2-D array, got {type(A).__name__}")
    if W.dtype.kind not in "biuf":
        raise TypeError(f"A must hold real numbers, got dtype {W.dtype}")
    if W.ndim != 2:
        raise ValueError(f"A must be 2-D, got {W.ndim}-D")
    if not np.isfinite(W).all():
        raise ValueError("A holds NaN or infinity")
    return W


def _validate(A, X, method, blocksize):
    """Everything checked on the CPU before any GPU work; returns padded float arrays and the true shapes."""
    method = _check_method(method)
    W = _as_dense_weight(A)
    x = np.asarray(X)
    if x.dtype.kind == "c" or x.dtype.kind not in "biuf":
        raise TypeError(f"X must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"X must be 1-D or 2-D, got {x.ndim}-D")
    if x.shape[0] != W.shape[1]:
        raise ValueError(f"dimension mismatch: A has {W.shape[1]} columns but X has shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("X holds NaN or infinity")
    vector = x.ndim == 1
    x2 = x.reshape(-1, 1) if vector else x
    M, K = W.shape
    N = x2.shape[1]
    if M == 0 or K == 0 or N == 0:
        raise ValueError(f"empty product: A is {W.shape}, X is {x.shape}")
    if method in _BSR_METHODS:
        if blocksize is None:
            blocksize = getattr(A, "blocksize", None) or (16, 16)
        r, _ = _check_blocksize(blocksize)
        if method == "triton-bsr" and (r < 16 or r & (r - 1)):
            raise ValueError(f"triton-bsr needs a power-of-two block of at least 16, got blocksize {(r, r)}")
        Mp, Kp, Np = _ceil_to(M, r), _ceil_to(K, r), _ceil_to(N, 16 if method == "triton-bsr" else 1)
    elif method in _SEMI_METHODS:
        if not is_2to4(W):
            raise ValueError(f"{method} needs a 2:4 sparse A: at most 2 nonzeros in every 4 consecutive entries of a row")
        r = None
        Mp, Kp, Np = _ceil_to(M, 64), _ceil_to(K, 64), _ceil_to(N, 16)
    else:
        r = None
        Mp, Kp, Np = M, K, N
    dt = np.float16 if method in FP16_METHODS else np.float32
    Wp = _pad_to(W.astype(dt), Mp, Kp)
    Xp = _pad_to(np.ascontiguousarray(x2, dtype=dt), Kp, Np)
    return Wp, Xp, (M, N, vector), r


def _set_tf32(torch, on: bool) -> None:
    """TF32 for float32 matmuls on or off (torch >= 2.9 API first, the legacy flag otherwise)."""
    try:
        torch.backends.cuda.matmul.fp32_precision = "tf32" if on else "ieee"
    except (AttributeError, TypeError, ValueError, RuntimeError):
        torch.backends.cuda.matmul.allow_tf32 = on


def _prepare(torch, method: str, Wd, Xd, block: int | None = None):
    """A zero-argument function computing ``Wd @ Xd`` by ``method`` (GPU tensors in, GPU array out).

    Format conversion happens here, outside the timed function.
    """
    if method == "dense":
        def run():
            _set_tf32(torch, False)
            return torch.mm(Wd, Xd)
        return run
    if method == "dense-tf32":
        def run():
            _set_tf32(torch, True)
            try:
                return torch.mm(Wd, Xd)
            finally:
                _set_tf32(torch, False)
        return run
    if method == "dense-fp16":
        return lambda: torch.mm(Wd, Xd)
    if method == "torch-csr":
        c = Wd.to_sparse_csr()
        Wcsr = torch.sparse_csr_tensor(c.crow_indices().to(torch.int32), c.col_indices().to(torch.int32),
                                       c.values(), size=Wd.shape)
        return lambda: torch.mm(Wcsr, Xd)
    if method in _CUPY_METHODS:
        import cupy
        import cupyx.scipy.sparse as cusp

        c = Wd.to_sparse_csr()
        Wc = cusp.csr_matrix((cupy.from_dlpack(c.values().contiguous()),
                              cupy.from_dlpack(c.col_indices().to(torch.int32).contiguous()),
                              cupy.from_dlpack(c.crow_indices().to(torch.int32).contiguous())),
                             shape=tuple(Wd.shape))
        Xc = cupy.from_dlpack(Xd)
        if method == "cupy-csr-fortran":
            Xc = cupy.asfortranarray(Xc)
        return lambda: Wc @ Xc
    if method == "torch-bsr":
        Wb = Wd.to_sparse_bsr((block, block))
        Wb = torch.sparse_bsr_tensor(Wb.crow_indices().to(torch.int32), Wb.col_indices().to(torch.int32),
                                     Wb.values(), size=Wd.shape)
        return lambda: torch.mm(Wb, Xd)
    if method == "triton-bsr":
        from torch.sparse._triton_ops import bsr_dense_mm

        Wb = Wd.to_sparse_bsr((block, block))
        N = Xd.shape[1]
        if N % block:  # bsr_dense_mm wants N a multiple of the block: pad once here, slice a view
            Xp = torch.zeros((Xd.shape[0], _ceil_to(N, block)), dtype=Xd.dtype, device=Xd.device)
            Xp[:, :N] = Xd
            return lambda: bsr_dense_mm(Wb, Xp)[:, :N]
        return lambda: bsr_dense_mm(Wb, Xd)
    if method == "semi24-cusparselt-direct":
        from torch.sparse import semi_structured as ss

        Ws = ss.SparseSemiStructuredTensorCUSPARSELT.from_dense(Wd)
        alg = int(getattr(Ws, "alg_id_cusparselt", 0) or 0)
        packed = Ws.packed
        return lambda: torch._cslt_sparse_mm(packed, Xd, alg_id=alg)
    if method in _SEMI_METHODS:
        from torch.sparse import semi_structured as ss

        cls = ss.SparseSemiStructuredTensorCUSPARSELT if method == "semi24-cusparselt" else ss.SparseSemiStructuredTensorCUTLASS
        Ws = cls.from_dense(Wd)
        return lambda: torch.mm(Ws, Xd)
    raise ValueError(f"unknown method {method!r}")  # pragma: no cover  (checked before)


def _to_numpy(torch, out) -> np.ndarray:
    if hasattr(out, "detach"):
        if out.layout != torch.strided:
            out = out.to_dense()
        return out.detach().float().cpu().numpy()
    import cupy

    return cupy.asnumpy(out).astype(np.float32)


def spmm(A, X, method: str = "torch-csr", *, blocksize=None) -> np.ndarray:
    """``A @ X`` computed on the GPU by ``method`` (see ``METHODS``); float32 numpy result.

    ``blocksize`` (square) is for the BSR methods; it defaults to ``A.blocksize``
    for a BCSR and (16, 16) otherwise.  The 2:4 methods compute in float16 and
    need ``A`` with at most 2 nonzeros in every 4 consecutive entries of a row.
    """
    Wp, Xp, (M, N, vector), r = _validate(A, X, method, blocksize)
    torch = _require_gpu()
    if method in _CUPY_METHODS and not _has("cupy"):
        raise RuntimeError(f"{method} needs CuPy, which is not installed")
    Wd = torch.from_numpy(Wp).cuda()
    Xd = torch.from_numpy(Xp).cuda()
    out = _to_numpy(torch, _prepare(torch, method, Wd, Xd, r)())[:M, :N]
    torch.cuda.synchronize()
    return out[:, 0].copy() if vector else np.ascontiguousarray(out)


def time_spmm(A, X, method: str = "torch-csr", *, blocksize=None, repeats: int | None = None) -> dict:
    """Time ``A @ X`` by ``method`` with the operands already on the GPU (see :func:`bench`)."""
    Wp, Xp, _, r = _validate(A, X, method, blocksize)
    torch = _require_gpu()
    if method in _CUPY_METHODS and not _has("cupy"):
        raise RuntimeError(f"{method} needs CuPy, which is not installed")
    fn = _prepare(torch, method, torch.from_numpy(Wp).cuda(), torch.from_numpy(Xp).cuda(), r)
    return bench(fn, repeats=repeats)


# --------------------------------------------------------------------------- the sweep
def _rel_err(torch, out, ref) -> float:
    if not hasattr(out, "detach"):
        out = torch.from_dlpack(out)
    if out.layout != torch.strided:
        out = out.to_dense()
    out = out.double()
    if not torch.isfinite(out).all():
        return float("inf")
    return float(torch.linalg.norm(out - ref) / torch.linalg.norm(ref))


def block_mask(rng: np.random.Generator, M: int, K: int, block, sparsity: float) -> np.ndarray:
    """Boolean (M, K) mask keeping ``round((1 - sparsity) * nblocks)`` random ``block`` tiles."""
    bm, bk = block
    gm, gk = M // bm, K // bk
    nb = gm * gk
    keep = max(1, int(round((1.0 - sparsity) * nb)))
    flat = np.zeros(nb, dtype=bool)
    flat[rng.choice(nb, size=keep, replace=False)] = True
    return np.repeat(np.repeat(flat.reshape(gm, gk), bm, axis=0), bk, axis=1)


def mask_2to4(rng: np.random.Generator, M: int, K: int) -> np.ndarray:
    """Boolean (M, K) mask keeping 2 random entries in every 4 consecutive entries of each row."""
    order = np.argsort(rng.random((M, K // 4, 4)), axis=2)
    keep = np.zeros((M, K // 4, 4), dtype=bool)
    np.put_along_axis(keep, order[:, :, :2], True, axis=2)
    return keep.reshape(M, K)


def _kernel_names(torch, fn, top: int = 3) -> list:
    """The names of the GPU kernels one call launches (torch profiler), longest first."""
    try:
        from torch.profiler import ProfilerActivity, profile

        fn()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        evs = [e for e in prof.key_averages() if getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0)) > 0]
        evs.sort(key=lambda e: -getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0)))
        return [e.key[:120] for e in evs[:top]]
    except Exception as exc:  # profiling is a nicety
        return [f"(profiler failed: {type(exc).__name__})"]


def kernel_time(torch, fn, calls: int = 5) -> float:
    """GPU time per call in ms, summed over every kernel/memset/copy the call launches (CUPTI via torch.profiler).

    Host-side work (Python, library set-up, launch latency) is not in it; L2 is warm.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    us = sum(e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA)
    if us <= 0:
        raise RuntimeError("the profiler saw no GPU activity")
    return us / calls / 1e3


def graph_time(torch, fn, ref=None, *, calls: int = 10, replays: int = 20, tol: float = 1e-5) -> float:
    """ms per call when ``calls`` calls are captured in one CUDA graph and the graph is replayed.

    The replay launches everything at once, so host overhead (Python, library
    set-up, launch latency) drops out and what is left is the GPU time per
    call as a serving system that uses CUDA graphs would see it (warm L2).
    When ``ref`` is given the graph's output is checked against it first.
    """
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(calls):
            out = fn()
    t0 = time.perf_counter()
    g.replay()
    torch.cuda.synchronize()
    replays = int(min(replays, max(3, 0.3 / max(time.perf_counter() - t0, 1e-6))))
    if ref is not None:
        err = _rel_err(torch, out, ref)
        if not err <= tol:
            raise RuntimeError(f"graph replay gave a wrong result: relative error {err:.2e}")
    times = []
    for _ in range(replays):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b) / calls)
    del g
    return float(np.median(times))


def _measure(torch, method, Wd, Xd, ref, block, quick):
    """One method on one problem: correctness first, then timing; errors become a row field."""
    rec = {"method": method}
    try:
        fn = _prepare(torch, method, Wd, Xd, block)
        out = fn()
        torch.cuda.synchronize()
        rec["rel_err"] = _rel_err(torch, out, ref)
        del out
        if not rec["rel_err"] <= _tolerance(method):
            rec["error"] = f"wrong result: relative error {rec['rel_err']:.2e} > {_tolerance(method):.0e}"
            return rec
        rec.update(bench(fn, budget_s=0.1 if quick else 0.25))
        try:
            rec["kernel_ms"] = kernel_time(torch, fn)
        except Exception as exc:  # the wall-clock numbers stand without it
            rec["kernel_ms_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
        if method not in _CUPY_METHODS:  # CuPy launches on its own stream, outside torch's capture
            try:
                rec["graph_ms"] = graph_time(torch, fn, ref, tol=_tolerance(method))
            except Exception as exc:
                rec["graph_ms_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
                torch.cuda.synchronize()
    except Exception as exc:
        rec["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    finally:
        _set_tf32(torch, False)
    return rec


def measure_ceilings(torch) -> dict:
    """Two numbers first: device-to-device copy bandwidth and dense GEMM rates, measured here."""
    out = {}
    try:
        n = 1 << 28  # 256 Mi float32 = 1 GiB each way
        a = torch.empty(n, dtype=torch.float32, device="cuda").normal_()
        b = torch.empty_like(a)
        t = bench(lambda: b.copy_(a), repeats=20, flush=False)["ms"]
        out["copy_GBps"] = 2 * a.numel() * 4 / (t * 1e-3) / 1e9
        del a, b
        for dt, key in ((torch.float32, "sgemm_tflops"), (torch.float16, "hgemm_tflops")):
            x = torch.randn(8192, 8192, device="cuda").to(dt)
            y = torch.randn(8192, 8192, device="cuda").to(dt)
            _set_tf32(torch, False)
            t = bench(lambda: torch.mm(x, y), repeats=20, flush=False)["ms"]
            out[key] = 2 * 8192**3 / (t * 1e-3) / 1e12
        del x, y
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    torch.cuda.empty_cache()
    return out


def _smi(query: str) -> list:
    try:
        r = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=20)
        return [v.strip() for v in r.stdout.strip().splitlines()[0].split(",")]
    except Exception:
        return []


def machine_report() -> dict:
    """GPU, driver, CUDA and library versions (and the host), as a JSON-able dict."""
    rep = {"host_cpu": cpu_info()[0], "python": sys.version.split()[0],
           "numpy": np.__version__, "platform": platform.platform()}
    ok, why = available()
    rep["cuda_available"], rep["cuda_reason"] = ok, why
    q = _smi("name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu")
    if q:
        rep["nvidia_smi"] = dict(zip(["name", "driver", "memory", "sm_clock", "sm_clock_max", "power_limit",
                                      "temperature_C"], q))
        rep["driver"] = q[1]
    if not ok:
        return rep
    import torch

    p = torch.cuda.get_device_properties(0)
    rep.update({
        "gpu": torch.cuda.get_device_name(0),
        "compute_capability": f"{p.major}.{p.minor}",
        "sm_count": p.multi_processor_count,
        "gpu_memory_GiB": round(p.total_memory / 2**30, 1),
        "l2_MB": round(getattr(p, "L2_cache_size", 0) / 1e6, 1),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    })
    try:
        rep["cusparselt"] = torch.backends.cusparselt.version() if torch.backends.cusparselt.is_available() else None
    except Exception as exc:
        rep["cusparselt"] = f"unknown ({type(exc).__name__})"
    for mod in ("triton", "cupy", "numba_cuda", "numba"):
        if _has(mod):
            try:
                rep[mod] = __import__(mod).__version__
            except Exception as exc:
                rep[mod] = f"import failed: {type(exc).__name__}"
        else:
            rep[mod] = None
    if rep.get("cupy") and not str(rep["cupy"]).startswith("import failed"):
        try:
            import cupy

            rep["cupy_cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            from cupy_backends.cuda.libs import cusparse as _cs

            rep["cusparse"] = _cs.getVersion(cupy.cuda.device.get_cusparse_handle())
        except Exception as exc:
            rep.setdefault("cusparse", f"unknown ({type(exc).__name__})")
    return rep


def run_sweep(shapes=SHAPES, sparsities=SPARSITIES, blocks=BLOCKS, *, seed: int = 0, quick: bool = False,
              progress=print, profile_kernels: bool = True, checkpoint=None) -> dict:
    """Measure every method on every (shape, sparsity, block pattern); see the module docstring."""
    torch = _require_gpu()
    have_cupy = _has("cupy")
    rng = np.random.default_rng(seed)
    _set_tf32(torch, False)
    t_start = time.perf_counter()
    doc = {
        "schema": SCHEMA,
        "what": "W (M x K, sparse) @ X (K x N, dense) on one GPU: float32 dense vs cuSPARSE CSR (torch, CuPy) "
                "vs block-sparse BSR (torch, Triton) for random block patterns; float16 dense vs 2:4 "
                "semi-structured (cuSPARSELt, CUTLASS)",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "python -m sparsekit.gpu --out DIR" + (" --quick" if quick else ""),
        "machine": machine_report(),
        "timing": ("CUDA events around each call; >= 10 warm-up calls (library handles, buffers, Triton "
                   "compilation excluded); the L2 flushed (256 MiB write) before each timed call; median of "
                   "10-200 repeats (ms, with p10/p90); loop_ms = back-to-back loop of calls / its length, warm "
                   "L2, host launch overhead included, median of 3 loops; kernel_ms = GPU time of the kernels one call "
                   "launches (CUPTI through torch.profiler, warm L2, no host overhead), mean of 5 calls; graph_ms = per "
                   "call inside a replayed CUDA graph of 10 calls (host overhead gone, warm L2), median of 20 "
                   "replays; operands "
                   "already on the GPU; each result checked against a float64 reference before it is timed"),
        "methods": METHODS,
        "tolerance": TOLERANCE,
        "ceilings": measure_ceilings(torch),
        "rows": [],
        "kernels": {},
    }
    rows = doc["rows"]

    def emit(rec, base):
        rec.update(base)
        rows.append(rec)

    for (M, K, N) in shapes:
        Xn = rng.standard_normal((K, N), dtype=np.float32)
        Xd = torch.from_numpy(Xn).cuda()
        Wfull = rng.standard_normal((M, K), dtype=np.float32)
        for block in blocks:
            for s in sparsities:
                mask = block_mask(rng, M, K, block, s)
                Wd = torch.from_numpy(np.where(mask, Wfull, np.float32(0))).cuda()
                nnz = int(mask.sum())
                ref = Wd.double() @ Xd.double()
                base = {"M": M, "K": K, "N": N, "dtype": "float32", "block": f"{block[0]}x{block[1]}",
                        "sparsity": s, "nnz": nnz, "actual_sparsity": 1 - nnz / (M * K), "baseline": "dense"}
                methods = [m for m in FP32_METHODS
                           if (m not in _BSR_METHODS or block[0] == block[1] > 1)
                           and (m not in _CUPY_METHODS or have_cupy)]
                recs = [_measure(torch, m, Wd, Xd, ref, block[0], quick) for m in methods]
                dense_ms = next((r.get("ms") for r in recs if r["method"] == "dense"), None)
                dense_kms = next((r.get("kernel_ms") for r in recs if r["method"] == "dense"), None)
                dense_gms = next((r.get("graph_ms") for r in recs if r["method"] == "dense"), None)
                for rec in recs:
                    if "ms" in rec:
                        flops = 2.0 * (M * K if rec["method"].startswith("dense") else nnz) * N
                        rec["useful_tflops"] = 2.0 * nnz * N / (rec["ms"] * 1e-3) / 1e12
                        rec["executed_tflops"] = flops / (rec["ms"] * 1e-3) / 1e12
                        if dense_ms:
                            rec["dense_ms"] = dense_ms
                            rec["speedup"] = dense_ms / rec["ms"]
                        if dense_kms and rec.get("kernel_ms"):
                            rec["kernel_speedup"] = dense_kms / rec["kernel_ms"]
                        if dense_gms and rec.get("graph_ms"):
                            rec["graph_speedup"] = dense_gms / rec["graph_ms"]
                    emit(rec, base)
                if profile_kernels and (M, K, N) == shapes[-1] and s == 0.9 and block == blocks[-1]:
                    for m in methods:
                        try:
                            doc["kernels"][m] = _kernel_names(torch, _prepare(torch, m, Wd, Xd, block[0]))
                        except Exception as exc:
                            doc["kernels"][m] = [f"(failed: {type(exc).__name__})"]
                if progress:
                    cells = "  ".join(f"{r['method']}={r['speedup']:.2f}x" if "speedup" in r else
                                      f"{r['method']}=ERR({r.get('error', '')[:80]})" for r in recs)
                    progress(f"[{time.perf_counter() - t_start:6.1f}s] {M}x{K}x{N} {block[0]}x{block[1]} "
                             f"s={s}: dense {dense_ms if dense_ms is None else round(dense_ms, 4)} ms  {cells}")
                del Wd, ref
        # float16: dense vs 2:4 semi-structured (sparsity exactly 0.5)
        mask = mask_2to4(rng, M, K)
        Wd = torch.from_numpy(np.where(mask, Wfull, np.float32(0))).cuda()
        ref = Wd.half().double() @ Xd.half().double()
        W16, X16 = Wd.half(), Xd.half()
        base = {"M": M, "K": K, "N": N, "dtype": "float16", "block": "2:4", "sparsity": 0.5,
                "nnz": int(mask.sum()), "actual_sparsity": 1 - int(mask.sum()) / (M * K), "baseline": "dense-fp16"}
        recs = [_measure(torch, m, W16, X16, ref, None, quick) for m in FP16_METHODS]
        dense_ms = next((r.get("ms") for r in recs if r["method"] == "dense-fp16"), None)
        dense_kms = next((r.get("kernel_ms") for r in recs if r["method"] == "dense-fp16"), None)
        dense_gms = next((r.get("graph_ms") for r in recs if r["method"] == "dense-fp16"), None)
        for rec in recs:
            if "ms" in rec:
                nnz = base["nnz"]
                rec["useful_tflops"] = 2.0 * nnz * N / (rec["ms"] * 1e-3) / 1e12
                rec["executed_tflops"] = 2.0 * (M * K if rec["method"] == "dense-fp16" else nnz) * N / (rec["ms"] * 1e-3) / 1e12
                if dense_ms:
                    rec["dense_ms"] = dense_ms
                    rec["speedup"] = dense_ms / rec["ms"]
                if dense_kms and rec.get("kernel_ms"):
                    rec["kernel_speedup"] = dense_kms / rec["kernel_ms"]
                if dense_gms and rec.get("graph_ms"):
                    rec["graph_speedup"] = dense_gms / rec["graph_ms"]
            emit(rec, base)
        if profile_kernels and (M, K, N) == shapes[-1]:
            for m in FP16_METHODS:
                try:
                    doc["kernels"][m] = _kernel_names(torch, _prepare(torch, m, W16, X16))
                except Exception as exc:
                    doc["kernels"][m] = [f"(failed: {type(exc).__name__})"]
        if progress:
            cells = "  ".join(f"{r['method']}={r['speedup']:.2f}x" if "speedup" in r else
                              f"{r['method']}=ERR({r.get('error', '')[:60]})" for r in recs)
            progress(f"[{time.perf_counter() - t_start:6.1f}s] {M}x{K}x{N} fp16 2:4: dense-fp16 {dense_ms} ms  {cells}")
        del Wd, ref, W16, X16, Xd
        torch.cuda.empty_cache()
        if checkpoint:
            doc["seconds"] = round(time.perf_counter() - t_start, 1)
            checkpoint(doc)
    doc["seconds"] = round(time.perf_counter() - t_start, 1)
    return doc


def summary_table(doc: dict) -> str:
    """A short text table: speedup over the row's dense baseline per method."""
    lines = []
    groups = {}
    for r in doc["rows"]:
        key = (r["M"], r["K"], r["N"], r["dtype"], r["block"], r["sparsity"])
        groups.setdefault(key, {})[r["method"]] = r
    for (M, K, N, dt, blk, s), recs in groups.items():
        base = next(iter(recs.values())).get("dense_ms")
        cells = []
        for m, r in recs.items():
            if m in ("dense", "dense-fp16"):
                continue
            cells.append(f"{m} {r['speedup']:.2f}x" if "speedup" in r else f"{m} ERR")
        bms = f"{base:.4f}" if base else "-"
        lines.append(f"{M}x{K}x{N} {dt:7s} {blk:5s} s={s:<4}  dense {bms} ms | " + ", ".join(cells))
    return "\n".join(lines)


def _slug(doc: dict) -> str:
    name = str(doc.get("machine", {}).get("gpu", "gpu")).lower()
    for tag in ("h200", "h100", "a100", "l40s", "l4", "a10", "t4", "v100", "rtx"):
        if tag in name:
            return tag
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "gpu"


PLOT_METRICS = {
    "speedup": "per call (CUDA events, host overhead included)",
    "graph_speedup": "per call in a CUDA graph (host overhead removed)",
    "kernel_speedup": "GPU kernel time only (profiler)",
}


def plot(doc: dict, path: str | None = None, *, metrics=("speedup", "graph_speedup"), shapes=None):
    """Speedup over dense fp32 vs sparsity: one column per shape, one row per metric.

    Lines: cuSPARSE CSR through torch and CuPy on unstructured W, block-sparse
    BSR (torch) with 16x16 and 32x32 blocks, dense TF32 for scale; a star for
    fp16 2:4 against fp16 dense.  Works on any machine (matplotlib only).
    Returns the figure and saves it when ``path`` is given.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = doc["rows"]
    if shapes is None:
        shapes = sorted({(r["M"], r["K"], r["N"]) for r in rows}, key=lambda t: t[0] * t[1] * t[2])
    lines = [("torch-csr", "1x1", "C0", "o", "-"), ("cupy-csr", "1x1", "C1", "o", "-"),
             ("torch-bsr", "16x16", "C3", "s", "-"), ("torch-bsr", "32x32", "C2", "^", "-"),
             ("dense-tf32", "1x1", "0.45", "", "--")]
    fig, axes = plt.subplots(len(metrics), len(shapes), figsize=(4.3 * len(shapes), 3.3 * len(metrics)),
                             squeeze=False, sharey=True)
    for i, metric in enumerate(metrics):
        for ax, (M, K, N) in zip(axes[i], shapes):
            sel = [r for r in rows if (r["M"], r["K"], r["N"]) == (M, K, N) and metric in r]
            for method, blk, color, mark, ls in lines:
                pts = sorted((r["sparsity"], r[metric]) for r in sel
                             if r["method"] == method and r["block"] == blk and r["dtype"] == "float32")
                if pts:
                    xs, ys = zip(*pts)
                    label = "dense TF32" if method == "dense-tf32" else f"{method} {blk}"
                    ax.plot(xs, ys, color=color, marker=mark or None, ls=ls, lw=1.3, ms=5, label=label)
            for r in sel:
                if r["method"] == "semi24-cusparselt":
                    ax.plot([0.5], [r[metric]], marker="*", ms=13, color="C4", ls="none",
                            label="fp16 2:4 cuSPARSELt vs fp16 dense")
            xs = np.linspace(0.5, 0.95, 50)
            ax.plot(xs, 1 / (1 - xs), color="0.75", lw=1, ls=":", label="ideal 1/(1-s)")
            ax.axhline(1.0, color="k", lw=0.8)
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if i == 0:
                ax.set_title(f"W {M}x{K} @ X {K}x{N}", fontsize=10)
            if i == len(metrics) - 1:
                ax.set_xlabel("sparsity of W")
        axes[i][0].set_ylabel(f"speedup vs dense fp32\n{PLOT_METRICS.get(metric, metric)}", fontsize=8)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    gpu = doc.get("machine", {}).get("gpu", "GPU")
    fig.suptitle(f"Sparse x dense on {gpu}, {doc.get('date', '')[:10]}: above the black line the sparse path wins",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the JSON results (runs the sweep; needs a GPU)")
    ap.add_argument("--quick", action="store_true", help="two small shapes, sparsity 0.9, fewer repeats")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", metavar="JSON", help="draw JSON's speedup-vs-sparsity plot beside it (no GPU needed)")
    args = ap.parse_args(argv)
    if args.plot:
        try:
            with open(args.plot) as f:
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            ap.error(f"argument --plot: cannot read {args.plot!r} as JSON results ({exc})")
        rows = doc.get("rows") if isinstance(doc, dict) else None
        if not rows or not isinstance(rows, list) or not all(
                isinstance(r, dict) and {"M", "K", "N", "method", "sparsity"} <= set(r) for r in rows):
            ap.error(f"argument --plot: {args.plot!r} holds no GPU results (rows with M, K, N, method and "
                     f"sparsity, as python -m sparsekit.gpu --out writes)")
        if args.out or args.quick:
            ap.error("--plot only draws a saved run: leave out --out and --quick")
        png = os.path.splitext(args.plot)[0] + ".png"
        plot(doc, png)
        print(summary_table(doc))
        print(f"wrote {png}")
        return 0
    if not args.out:
        ap.error("give --out DIR to run the sweep, or --plot JSON")
    ok, why = available()
    if not ok:
        print(f"cuda backend not available: {why}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)

    def save(doc):
        path = os.path.join(args.out, f"gpu-spmm-{_slug(doc)}.json")
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        return path

    if args.quick:
        doc = run_sweep(SHAPES[:2], (0.9,), ((1, 1), (32, 32)), seed=args.seed, quick=True, checkpoint=save)
    else:
        doc = run_sweep(seed=args.seed, checkpoint=save)
    path = save(doc)
    print(summary_table(doc))
    print(f"wrote {path} ({len(doc['rows'])} rows, {doc['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
