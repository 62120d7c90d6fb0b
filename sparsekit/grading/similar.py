"""Submissions of one exercise set that share answer cells word for word.

``python -m sparsekit.grade`` lists them after the scores: two notebooks whose *answer* code
cells are the same once comments, blank lines and spacing are dropped.  A cell counts as an
answer when it is not a cell of the exercise notebook the learners started from
(``exercises/NN_*.ipynb`` of the course checkout; where there is none, a cell that at least
three and 80% of the set's submissions hold is taken as given code) and it is not trivial.  A pair is listed
when it shares at least :data:`MIN_CELLS` answer cells or :data:`MIN_CHARS` characters of them.

It is a pointer for the instructor to read two notebooks side by side, not a verdict: short
answers come out alike honestly, and a renamed variable hides a copy.
"""
from __future__ import annotations

import io
import json
import tokenize
from itertools import combinations
from pathlib import Path

#: A pair is listed from this many shared answer cells ...
MIN_CELLS = 3
#: ... or this many characters of shared answer code (normalised).
MIN_CHARS = 300
#: Cells shorter than this (normalised) are never evidence: ``x = 1``, ``check(...)``.
TRIVIAL_CHARS = 40

EXERCISES = Path(__file__).resolve().parents[2] / "exercises"


def normalise(source: str) -> str:
    """Python source without comments, blank lines or spacing differences (tokens joined by one space).
    Source that does not tokenise is compared with its whitespace collapsed."""
    try:
        toks = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(source.split())
    return " ".join(toks)


def code_cells(path: Path) -> list:
    """The normalised source of every code cell of a notebook file (``[]`` if it cannot be read)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8", errors="replace"))
        cells = nb.get("cells", []) if isinstance(nb, dict) else []
    except (OSError, ValueError):
        return []
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            out.append(normalise("".join(src) if isinstance(src, list) else str(src)))
    return out


def template_cells(set_id: str, exercises: Path = EXERCISES) -> set | None:
    """Normalised code cells of the exercise notebook of ``set_id`` (``"ex03"`` -> ``03_*.ipynb``),
    or None when the course checkout's ``exercises/`` has none."""
    found = sorted(Path(exercises).glob(f"{set_id[2:]}_*.ipynb")) if Path(exercises).is_dir() else []
    return set(code_cells(found[0])) if found else None


def similar_submissions(notebooks_by_set: dict, exercises: Path = EXERCISES) -> list:
    """``{set_id: [paths]}`` -> the pairs that share answer cells, most shared first:
    ``[{"set": ..., "notebooks": [a, b], "cells": n, "chars": m}, ...]``."""
    pairs = []
    for set_id, paths in notebooks_by_set.items():
        if len(paths) < 2:
            continue
        cells = {str(p): code_cells(p) for p in paths}
        given = template_cells(set_id, exercises) if set_id else None
        if given is None:  # no template: what most submissions hold was given to them
            counts = {}
            for cs in cells.values():
                for c in set(cs):
                    counts[c] = counts.get(c, 0) + 1
            given = {c for c, n in counts.items() if n >= 3 and n >= 0.8 * len(paths)}
        answers = {p: {c for c in cs if c not in given and len(c) >= TRIVIAL_CHARS} for p, cs in cells.items()}
        for a, b in combinations(sorted(answers), 2):
            shared = answers[a] & answers[b]
            chars = sum(len(c) for c in shared)
            if len(shared) >= MIN_CELLS or chars >= MIN_CHARS:
                pairs.append({"set": set_id, "notebooks": [a, b], "cells": len(shared), "chars": chars})
    return sorted(pairs, key=lambda p: (-p["chars"], p["notebooks"]))


def format_similar(pairs: list) -> str:
    """The pairs as lines for the grader's output ('' when there are none)."""
    if not pairs:
        return ""
    lines = ["answer cells shared word for word (comments and spacing ignored): read these side by side"]
    for p in pairs:
        lines.append(f"  {p['set']}: {p['notebooks'][0]}  and  {p['notebooks'][1]}: "
                     f"{p['cells']} cell(s), {p['chars']} characters of code")
    return "\n".join(lines)
