"""ipywidgets explorers used by the lessons.

Each explorer lives in its own module and is imported only when first used,
so ``import sparsekit`` never pulls in ipywidgets or matplotlib, and a module
that is missing (or fails to import) only affects its own names::

    from sparsekit.widgets import ScatterStepper     # lesson 01
    from sparsekit.widgets import DensityExplorer    # lesson 03
"""
from __future__ import annotations

import importlib

# public name -> submodule that defines it
_EXPORTS = {
    "ScatterStepper": "scatter",
    "trace_axpy": "scatter",
    "format_step": "scatter",
    "Step": "scatter",
    "DensityExplorer": "density",
    "csr_memory_bytes": "density",
    "dense_memory_bytes": "density",
    "break_even_density": "density",
    "MaskExplorer": "pruning",
    "pattern_mask": "pruning",
    "mask_summary": "pruning",
}


def _blocks_names() -> list:
    """Names of the block-format widgets module, when it exists."""
    try:
        mod = importlib.import_module(".blocks", __name__)
    except ImportError:
        return []
    return list(getattr(mod, "__all__", []))


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        mod = importlib.import_module(f".{module}", __name__)
        return getattr(mod, name)
    if not name.startswith("_"):
        try:
            blocks = importlib.import_module(".blocks", __name__)
        except ImportError:
            blocks = None
        if blocks is not None and hasattr(blocks, name):
            return getattr(blocks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(_EXPORTS) | set(_blocks_names()) | set(globals()))


__all__ = sorted(_EXPORTS)
