"""Write the student notebooks ``exercises/`` from the single source ``solutions/``.

Every code-cell region from a ``# BEGIN SOLUTION`` line to its ``# END SOLUTION`` line is replaced
by ``raise NotImplementedError`` at the marker's indentation; outputs, execution counts and
execution timings are cleared.  The output depends only on the input, byte for byte, so a test
can compare ``exercises/`` with what this module makes.

    python -m sparsekit.grading.generate            # rewrite exercises/ from solutions/
    python -m sparsekit.grading.generate --check    # exit 1 when exercises/ is out of date
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
PLACEHOLDER = ["# YOUR CODE HERE", "raise NotImplementedError"]

REPO = Path(__file__).resolve().parents[2]


def _default(name: str) -> Path:
    """``./name`` when run from a course checkout, else the folder beside the package."""
    here = Path.cwd() / name
    return here if (Path.cwd() / "solutions").is_dir() else REPO / name


def strip_solutions(source: str, where: str = "cell") -> str:
    """``source`` with each solution region replaced by the placeholder; ValueError on bad markers."""
    out, inside, indent = [], False, ""
    for n, line in enumerate(source.split("\n"), 1):
        if BEGIN.match(line):
            if inside:
                raise ValueError(f"{where}, line {n}: nested '# BEGIN SOLUTION'")
            inside, indent = True, BEGIN.match(line).group(1)
            out.extend(indent + p for p in PLACEHOLDER)
        elif END.match(line):
            if not inside:
                raise ValueError(f"{where}, line {n}: '# END SOLUTION' without '# BEGIN SOLUTION'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return "\n".join(out)


def make_exercise(nb):
    """A new notebook: solutions stripped, outputs and execution data cleared."""
    ex = copy.deepcopy(nb)
    for i, cell in enumerate(ex.cells):
        meta = cell.get("metadata", {})
        meta.pop("execution", None)
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, where=f"cell {i}")
            cell.outputs = []
            cell.execution_count = None
    return ex


def to_text(nb) -> str:
    """The exact text the generator writes for ``nb``."""
    return nbformat.writes(nb, version=4) + "\n"


def generate(solutions: Path, exercises: Path) -> dict:
    """{exercise path: text} for every ``solutions/*.ipynb``."""
    out = {}
    for src in sorted(Path(solutions).glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        try:
            ex = make_exercise(nb)
        except ValueError as exc:
            raise ValueError(f"{src}: {exc}") from None
        out[Path(exercises) / src.name] = to_text(ex)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsekit.grading.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--solutions", type=Path, default=_default("solutions"))
    parser.add_argument("--exercises", type=Path, default=_default("exercises"))
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when out of date")
    args = parser.parse_args(argv)
    try:
        wanted = generate(args.solutions, args.exercises)
    except (ValueError, OSError, nbformat.reader.NotJSONError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = sorted(set(Path(args.exercises).glob("*.ipynb")) - set(wanted))
    if args.check:
        for p in stale:
            print(f"out of date: {p}")
        for p in extra:
            print(f"no solution for: {p}")
        return 1 if stale or extra else 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p}")
    for p in extra:
        print(f"warning: {p} has no solution notebook", file=sys.stderr)
    print(f"{len(wanted)} exercise notebooks, {len(stale)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
