"""Graded exercises: ``check(question, function)`` for notebooks.

``check("ex01.axpy_scatter", axpy_scatter)`` runs the question's randomised
and structural cases on the function you pass and shows which passed.  The
questions live in one module per exercise set (``ex01`` ... ``ex08``);
``python -m sparsekit.grading.generate`` writes ``exercises/`` from
``solutions/`` and ``python -m sparsekit.grade`` grades notebooks.
"""
from .engine import CheckResult, check

__all__ = ["check", "CheckResult"]
