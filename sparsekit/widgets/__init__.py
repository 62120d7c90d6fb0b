"""ipywidgets explorers used by the lessons.

Each explorer lives in its own module and is imported only when first used,
so ``import sparsekit`` never pulls in ipywidgets or matplotlib, and a module
that is missing (or fails to import) only affects its own names::

    from sparsekit.widgets import ScatterStepper     # lesson 01
    from sparsekit.widgets import DensityExplorer    # lesson 03
"""
from __future__ import annotations

import importlib

# submodule -> the public names it defines (its __all__; a test keeps the two equal)
_MODULES = {
    "scatter": ("Step", "trace_axpy", "format_step", "ScatterStepper", "SEED_EXAMPLE"),
    "density": ("dense_memory_bytes", "csr_memory_bytes", "break_even_density", "random_sparse", "time_matvec",
                "DensityExplorer"),
    "pruning": ("METHODS", "pattern_mask", "mask_summary", "MaskExplorer"),
    "blocks": ("BLOCK_SHAPES", "block_sparse_matrix", "storage_summary", "expected_random_fill",
               "expected_bytes_ratio", "BlockExplorer"),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


def __dir__():
    return sorted(set(_EXPORTS) | set(globals()))


__all__ = sorted(_EXPORTS)
