"""Density slider -> memory of a dense array vs CSR, and the time of ``A @ x`` for both.

The memory side is exact arithmetic (:func:`dense_memory_bytes`,
:func:`csr_memory_bytes`, :func:`break_even_density`); the time side measures
``A @ x`` with numpy (BLAS) on the dense array and with :class:`sparsekit.CSR`
on the same matrix, median of a few repeats, after a warm-up (the JIT compile
is not timed).
"""
from __future__ import annotations

import time

import numpy as np

from ..formats import CSR

__all__ = ["dense_memory_bytes", "csr_memory_bytes", "break_even_density", "random_sparse",
           "time_matvec", "DensityExplorer"]


def _check_positive(**values):
    for name, d in values.items():
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {d!r}")
        if d < 1:
            raise ValueError(f"{name} must be >= 1, got {d}")


def _check_dims(n_rows, n_cols):
    _check_positive(n_rows=n_rows, n_cols=n_cols)


def _check_bytes(**sizes) -> None:
    for name, b in sizes.items():
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"{name} must be a positive whole number of bytes, got {b!r}")


def dense_memory_bytes(n_rows: int, n_cols: int, value_bytes: int = 8) -> int:
    """``n_rows * n_cols * value_bytes``: every entry stored, zeros included."""
    _check_dims(n_rows, n_cols)
    _check_bytes(value_bytes=value_bytes)
    return int(n_rows) * int(n_cols) * int(value_bytes)


def csr_memory_bytes(n_rows: int, nnz: int, value_bytes: int = 8, index_bytes: int = 4) -> int:
    """``nnz * (value_bytes + index_bytes) + (n_rows + 1) * index_bytes``: data, indices, indptr."""
    _check_dims(n_rows, 1)
    _check_bytes(value_bytes=value_bytes, index_bytes=index_bytes)
    if isinstance(nnz, bool) or not isinstance(nnz, (int, np.integer)) or nnz < 0:
        raise ValueError(f"nnz must be a non-negative integer, got {nnz!r}")
    return int(nnz) * (int(value_bytes) + int(index_bytes)) + (int(n_rows) + 1) * int(index_bytes)


def break_even_density(n_rows: int, n_cols: int, value_bytes: int = 8, index_bytes: int = 4) -> float:
    """The density below which CSR takes less memory than dense.

    Solve ``d*R*C*(v + i) + (R + 1)*i = R*C*v`` for ``d``: about
    ``v / (v + i)``, i.e. 2/3 for float64 values with int32 indices.  0 when even an empty
    CSR matrix (its ``indptr`` alone) is larger than the dense one, as for a 1 x 1 matrix.
    """
    _check_dims(n_rows, n_cols)
    _check_bytes(value_bytes=value_bytes, index_bytes=index_bytes)
    R, C, v, i = n_rows, n_cols, value_bytes, index_bytes
    return max(0.0, (R * C * v - (R + 1) * i) / (R * C * (v + i)))


def random_sparse(n: int, density: float, seed: int = 0) -> np.ndarray:
    """A dense ``n x n`` float64 array with ``round(density * n * n)`` nonzeros at random places."""
    _check_dims(n, n)
    density = float(density)
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    rng = np.random.default_rng(seed)
    nnz = int(round(density * n * n))
    A = np.zeros((n, n))
    flat = rng.choice(n * n, size=nnz, replace=False) if nnz < n * n else np.arange(n * n)
    A.flat[flat] = rng.standard_normal(nnz)
    A.flat[flat[A.flat[flat] == 0]] = 1.0  # keep exactly nnz nonzeros
    return A


def time_matvec(A_dense: np.ndarray, A_csr: CSR, x: np.ndarray, repeats: int = 7,
                threads: int = 1) -> tuple:
    """Median seconds of ``A_dense @ x`` and ``A_csr @ x`` (warm-up call first).

    Like with like: BLAS (through threadpoolctl) and numba both run with
    ``threads`` threads during the measurement; the previous settings are
    restored afterwards.
    """
    import numba
    from threadpoolctl import threadpool_limits

    _check_positive(threads=threads, repeats=repeats)

    def med(f):
        f()  # warm-up (and JIT compile)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    old = numba.get_num_threads()
    numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        with threadpool_limits(limits=int(threads), user_api="blas"):
            return med(lambda: A_dense @ x), med(lambda: A_csr @ x)
    finally:
        numba.set_num_threads(old)


def _fmt_bytes(b: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            return f"{b / scale:.3g} {unit}"
    return f"{int(b)} B"


class DensityExplorer:
    """A density slider for an ``n x n`` float64 matrix: memory of both formats, and their ``A @ x`` times.

    ``measure=False`` skips the timing (memory only).  Times use one thread
    for both (see :func:`time_matvec`).  ``.slider`` is the
    density (log scale), ``.view`` an HTML table, ``.plot`` an Output with the
    picture; ``.widget`` is the whole explorer.
    """

    def __init__(self, n: int = 2000, density: float = 0.01, *, measure: bool = True,
                 repeats: int = 7, seed: int = 0, plot: bool = True):
        import ipywidgets as W

        _check_dims(n, n)
        if not 1e-4 <= float(density) <= 1.0:  # the slider's range: a value outside it would be clamped
            raise ValueError(f"density must be in [1e-4, 1] (the slider's range), got {density}")
        _check_positive(repeats=repeats)
        self.n, self.measure, self.repeats, self.seed, self.show_plot = int(n), measure, repeats, seed, plot
        self.x = np.random.default_rng(seed + 1).standard_normal(self.n)
        self.history = []  # (density, dense_seconds, csr_seconds) of every measurement
        self.slider = W.FloatLogSlider(value=float(density), base=10, min=-4, max=0, step=0.25,
                                       description="density", continuous_update=False,
                                       readout_format=".2g")
        self.view = W.HTML(layout=W.Layout(min_width="300px"))
        self.plot = W.Output()
        self.slider.observe(self._on_change, names="value")
        self.widget = W.VBox([self.slider, W.HBox([self.view, self.plot])])
        self.update(float(density))

    def numbers(self, density: float) -> dict:
        """Memory (bytes) of both formats for this density, and times when measuring."""
        A = random_sparse(self.n, density, seed=self.seed)
        A_csr = CSR.from_dense(A)
        out = {
            "density": density,
            "nnz": A_csr.nnz,
            "dense_bytes": dense_memory_bytes(self.n, self.n),
            "csr_bytes": A_csr.nbytes,
        }
        assert out["csr_bytes"] == csr_memory_bytes(self.n, A_csr.nnz)
        if self.measure:
            out["dense_s"], out["csr_s"] = time_matvec(A, A_csr, self.x, self.repeats)
            self.history.append((density, out["dense_s"], out["csr_s"]))
        return out

    def update(self, density: float) -> None:
        k = self.numbers(density)
        self.current = k
        rows = [
            ("nonzeros", f"{k['nnz']:,}"),
            ("dense memory", _fmt_bytes(k["dense_bytes"])),
            ("CSR memory", _fmt_bytes(k["csr_bytes"])),
            ("CSR / dense memory", f"{k['csr_bytes'] / k['dense_bytes']:.3f}"),
        ]
        if self.measure:
            rows += [
                ("dense A@x (numpy)", f"{k['dense_s'] * 1e3:.3f} ms"),
                ("CSR A@x (sparsekit)", f"{k['csr_s'] * 1e3:.3f} ms"),
                ("dense time / CSR time", f"{k['dense_s'] / k['csr_s']:.2f}"),
            ]
        body = "".join(f"<tr><td style='padding:1px 8px;white-space:nowrap'>{a}</td><td style='padding:1px 8px;"
                       f"text-align:right;white-space:nowrap;font-family:monospace'>{b}</td></tr>" for a, b in rows)
        self.view.value = (f"<b>{self.n} x {self.n} float64, density {density:.2g}</b>"
                           f"<table>{body}</table>")
        if self.show_plot:
            self._draw(k)

    def _draw(self, k: dict) -> None:
        import matplotlib.pyplot as plt

        d = np.logspace(-4, 0, 50)
        n = self.n
        csr = d * n * n * 12 + (n + 1) * 4
        with self.plot:
            self.plot.clear_output(wait=True)
            fig, axes = plt.subplots(1, 2 if self.measure else 1, figsize=(8 if self.measure else 4, 3))
            axes = np.atleast_1d(axes)
            ax = axes[0]
            ax.loglog(d, np.full_like(d, n * n * 8) / 1e6, label="dense")
            ax.loglog(d, csr / 1e6, label="CSR")
            ax.plot([k["density"]], [k["csr_bytes"] / 1e6], "o", color="C1")
            ax.axvline(break_even_density(n, n), color="grey", ls=":", label="break-even")
            ax.set_xlabel("density (nnz / entries)")
            ax.set_ylabel("memory (MB)")
            ax.legend(fontsize=8)
            if self.measure:
                ax = axes[1]
                hist = sorted(self.history)
                hd = [h[0] for h in hist]
                ax.loglog(hd, [h[1] * 1e3 for h in hist], "o-", label="dense (numpy)")
                ax.loglog(hd, [h[2] * 1e3 for h in hist], "s-", label="CSR (sparsekit)")
                ax.set_xlim(1e-4 / 1.5, 1.5)
                ax.set_xlabel("density")
                ax.set_ylabel("A @ x time (ms, median)")
                ax.set_title("points you have tried", fontsize=9)
                ax.legend(fontsize=8)
            fig.tight_layout()
            from IPython.display import display

            display(fig)
            plt.close(fig)

    def _on_change(self, change) -> None:
        self.update(float(change["new"]))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"DensityExplorer(n={self.n}, density={self.slider.value:.2g})"
