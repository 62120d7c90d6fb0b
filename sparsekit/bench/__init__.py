"""Benchmark harness: ``python -m sparsekit.bench --preset quick|mobilenet|full``.

Sweeps shapes x sparsity x block shape x backend x threads (presets in
:mod:`.presets`), verifies every product against the dense result before
timing it, times with warm-up and JIT excluded (median and IQR of repeats,
backends round-robin), and writes JSON + CSV + the machine report, optional
plots (speedup vs sparsity with break-even marked) and a Markdown summary of
the issue-3 goals.

>>> from sparsekit.bench import run_benchmark
>>> doc = run_benchmark("tiny", progress=False)            # doctest: +SKIP
>>> doc["stacks"][0]["speedup"]                            # doctest: +SKIP

Modules: :mod:`.cases` (operands), :mod:`.presets`, :mod:`.timing`,
:mod:`.harness` (the sweep), :mod:`.worker` (instruction-set worker process),
:mod:`.extras` (STREAM triad, SpMV past the cache, axpy scaling, paired
1-vs-2-thread rounds, the stack run back to back),
:mod:`.report` (files, break-even), :mod:`.plotting`, :mod:`.summary`.
"""
from .harness import SCHEMA, run_benchmark
from .presets import PRESETS

__all__ = ["run_benchmark", "PRESETS", "SCHEMA", "load_results"]


def load_results(path) -> dict:
    """A results document written by ``python -m sparsekit.bench`` (``results.json`` or its folder)."""
    import json
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    doc = json.loads(p.read_text())
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"{p} is not a sparsekit benchmark result (schema {doc.get('schema')!r})")
    return doc
