import os
import subprocess
import sys

import pytest

# Tests never depend on the BLAS thread count; keep numba quiet and deterministic.
os.environ.setdefault("NUMBA_DISABLE_PERFORMANCE_WARNINGS", "1")


@pytest.fixture
def run_python():
    """``run_python(code, timeout=300)``: run ``code`` in a child Python and return its stdout.

    For code that once crashed the interpreter: a regression then fails the test that runs it
    (with the child's stderr), not the whole test run."""
    def run(code: str, timeout: float = 300) -> str:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        assert out.returncode == 0, f"exit status {out.returncode}\n{out.stderr[-2000:]}"
        return out.stdout
    return run
