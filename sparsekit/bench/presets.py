"""Named benchmark sweeps: ``tiny`` (tests), ``quick`` (< 2 min), ``mobilenet`` and ``full``.

Each preset is a plain dict: the layers ``(name, C_in, C_out, HW)``, the
sparsities, the block shapes (``"RxC"``, rows = output channels), the
backends and thread counts it sweeps by default (``multi_thread_sparsities``,
when present, limits the runs at more than one thread to those sparsities),
``backend_sparsities`` limits named backends to some sparsities, the
repeats / minimum time per repeat, and the extra measurements (STREAM triad, SpMV past the cache,
sparse-vector axpy scaling, 1 vs 2 threads timed in pairs).
"""
from __future__ import annotations

from .cases import MOBILENET_V1_POINTWISE, Case, parse_block

__all__ = ["PRESETS", "get_preset", "preset_cases", "MOBILENET_LAYERS"]

MOBILENET_LAYERS = [(f"mbv1-{i + 1:02d}", cin, cout, hw)
                    for i, (cin, cout, hw) in enumerate(MOBILENET_V1_POINTWISE)]
LESSON_BLOCKS = ["1x1", "1x4", "4x1", "2x2", "4x4", "8x1"]
IN_PROCESS = ["dense-blas", "scipy", "numba-reference", "numba-scalar", "numba-simd", "numba-parallel", "int8"]

PRESETS = {
    "tiny": {
        "description": "two small shapes, for the tests (seconds)",
        "layers": [("tiny-a", 16, 24, 40), ("tiny-b", 32, 16, 64)],
        "sparsities": [0.5, 0.9], "blocks": ["1x1", "4x1"],
        "backends": ["dense-blas", "scipy", "numba-simd"], "threads": [1],
        "repeats": 3, "min_time": 1e-4, "extras": [],
    },
    "quick": {
        "description": "two MobileNetV1 layers, 3 sparsities, 3 block shapes, 1 thread (< 2 minutes)",
        "layers": [MOBILENET_LAYERS[2], MOBILENET_LAYERS[6]],
        "sparsities": [0.5, 0.7, 0.9], "blocks": ["1x1", "4x1", "8x1"],
        "backends": ["dense-blas", "scipy", "numba-simd", "numba-parallel"], "threads": [1],
        "repeats": 5, "min_time": 0.004, "extras": [],
    },
    "mobilenet": {
        "description": "the 13 pointwise convolutions of MobileNetV1 at 224x224, 90% sparsity",
        "layers": MOBILENET_LAYERS,
        "sparsities": [0.9], "blocks": LESSON_BLOCKS,
        "backends": IN_PROCESS, "threads": [1, 2],
        "repeats": 7, "min_time": 0.005, "extras": [],
    },
    "full": {
        "description": "MobileNetV1 stack x 8 sparsities x 6 block shapes x every backend, "
                       "1 and 2 threads, plus STREAM triad, SpMV past the cache, axpy scaling, "
                       "paired 1-vs-2-thread rounds and the stack run back to back",
        "layers": MOBILENET_LAYERS,
        "sparsities": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95], "blocks": LESSON_BLOCKS,
        "backends": IN_PROCESS + ["numba-sse2", "numba-avx2", "numba-avx512", "cuda"],
        "threads": [1, 2], "multi_thread_sparsities": [0.7, 0.9],
        # slow or secondary backends: fewer sparsities (the run takes 4-8 minutes on 2 cores)
        "backend_sparsities": {"numba-reference": [0.5, 0.9], "numba-scalar": [0.5, 0.9],
                               "scipy": [0.5, 0.7, 0.9, 0.95], "numba-sse2": [0.5, 0.9],
                               "numba-avx2": [0.5, 0.9], "numba-avx512": [0.5, 0.9],
                               "int8": [0.5, 0.9], "cuda": [0.5, 0.7, 0.9, 0.95]},
        "repeats": 7, "min_time": 0.005, "extras": ["stream", "spmv_llc", "axpy", "threads", "sequence"],
    },
}


def get_preset(name: str) -> dict:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def preset_cases(preset: dict, dtype: str = "float32") -> list:
    """Every (layer, sparsity, block) case of a preset, layers innermost (a stack is contiguous)."""
    cases = []
    for block in preset["blocks"]:
        bs = parse_block(block)
        for s in preset["sparsities"]:
            for name, cin, cout, hw in preset["layers"]:
                cases.append(Case(name, cout, cin, hw, float(s), bs, dtype))
    return cases
