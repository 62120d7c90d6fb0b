import os

# Tests never depend on the BLAS thread count; keep numba quiet and deterministic.
os.environ.setdefault("NUMBA_DISABLE_PERFORMANCE_WARNINGS", "1")
