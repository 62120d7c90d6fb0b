"""``python -m sparsekit``: the course's command lines, listed; ``python -m sparsekit COMMAND ...`` runs one.

``python -m sparsekit bench --preset quick`` is ``python -m sparsekit.bench --preset quick``.
The list is read from each command's own docstring (nothing heavy is imported to show it).
"""
from __future__ import annotations

import ast
import importlib.util
import runpy
import sys

COMMANDS = ("machine", "backends", "bench", "grade", "experiments.latency", "experiments.pruning", "gpu",
            "site", "grading.generate")


def _summary(command: str) -> str:
    """The first line of ``sparsekit.COMMAND``'s docstring, read from its source."""
    with open(importlib.util.find_spec(f"sparsekit.{command}").origin, encoding="utf-8") as fh:  # a package: its __init__.py
        doc = ast.get_docstring(ast.parse(fh.read())) or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m sparsekit COMMAND [ARGS...]   (the same as python -m sparsekit.COMMAND [ARGS...])",
             "", "commands:"]
    lines += [f"  {c:<{width}}  {_summary(c)}" for c in COMMANDS]
    lines += ["", "python -m sparsekit COMMAND --help shows a command's arguments."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command = argv[0]
    if command not in COMMANDS:
        print(usage(), file=sys.stderr)
        print(f"\nerror: unknown command {command!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    sys.argv = [f"python -m sparsekit.{command}", *argv[1:]]
    runpy.run_module(f"sparsekit.{command}", run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
