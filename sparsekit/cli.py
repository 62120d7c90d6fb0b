"""What the command lines share: usage errors found before the work starts.

A benchmark or a grading run takes minutes and writes its results at the end, so
a folder or file it cannot write must stop it at once, as a usage error, and not
after the work with a traceback.
"""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["check_output_folder", "check_output_file"]


def check_output_folder(parser: argparse.ArgumentParser, flag: str, folder) -> Path:
    """Create ``folder`` if needed and make sure a file can be written in it, else
    ``parser.error`` naming ``flag`` (exit status 2)."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".sparsekit-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        parser.error(f"argument {flag}: cannot write to {str(folder)!r} ({exc.strerror or exc})")
    return path


def check_output_file(parser: argparse.ArgumentParser, flag: str, file) -> Path:
    """Make sure ``file`` can be written (an existing one is left as it is; a new one is not
    left behind), else ``parser.error`` naming ``flag``."""
    path = Path(file)
    existed = path.exists()
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        parser.error(f"argument {flag}: cannot write {str(file)!r} ({exc.strerror or exc})")
    if not existed:
        path.unlink()
    return path
