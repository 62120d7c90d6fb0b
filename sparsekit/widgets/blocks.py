"""Block shape x sparsity -> what BCSR stores: real values, padding zeros, indices, bytes.

Lesson 05's explorer.  The arithmetic is exact and separate from the widget:

* :func:`block_sparse_matrix` makes a random matrix whose zeros come in tiles
  of a chosen *pruning pattern* (``(1, 1)`` is unstructured, ``(4, 1)`` zeroes
  whole groups of four rows of one column, as MNN's "1x4" output-channel blocks);
* :func:`storage_summary` stores one matrix as CSR and as BCSR with a chosen
  *storage block* and counts everything (bytes come from the arrays themselves);
* :func:`expected_random_fill` / :func:`expected_bytes_ratio` are the closed
  forms for unstructured sparsity that the lesson's heat map plots.

:class:`BlockExplorer` puts sliders on top: storage block, pruning pattern and
sparsity, with a picture of which positions are stored.
"""
from __future__ import annotations

import io
import numbers

import numpy as np

from ..formats import BCSR, CSR
from ..formats.validation import check_blocksize

__all__ = [
    "BLOCK_SHAPES",
    "block_sparse_matrix",
    "storage_summary",
    "expected_random_fill",
    "expected_bytes_ratio",
    "BlockExplorer",
]

#: Block shapes offered by the explorer (rows x columns of the weight matrix).
BLOCK_SHAPES = ((1, 1), (1, 2), (2, 1), (1, 4), (4, 1), (2, 2), (1, 8), (8, 1), (4, 4))


def _check_sparsity(sparsity) -> float:
    if isinstance(sparsity, (bool, np.bool_)) or not isinstance(sparsity, (numbers.Real, np.floating)):
        raise TypeError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    s = float(sparsity)
    if not 0.0 <= s < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    return s


def block_sparse_matrix(shape, sparsity, pattern=(1, 1), *, seed=0, dtype=np.float32) -> np.ndarray:
    """A dense random matrix in which a fraction ``sparsity`` of ``pattern`` tiles are zero.

    Exactly ``round(sparsity * n_tiles)`` tiles are zeroed (chosen at random);
    surviving entries are standard normal, so none of them is zero.  Shapes that
    are not a multiple of ``pattern`` are allowed (edge tiles are cut).
    """
    M, N = check_blocksize(name="shape", blocksize=shape)
    r, c = check_blocksize(name="pattern", blocksize=pattern)
    s = _check_sparsity(sparsity)
    try:
        floating = np.issubdtype(np.dtype(dtype), np.floating)
    except TypeError:
        floating = False
    if not floating:
        raise TypeError(f"dtype must be a floating type (the kept entries are standard normal), got {dtype!r}")
    rng = np.random.default_rng(seed)
    mb, nb = -(-M // r), -(-N // c)
    n_tiles = mb * nb
    keep = np.ones(n_tiles, dtype=bool)
    keep[rng.permutation(n_tiles)[: int(round(s * n_tiles))]] = False
    mask = np.repeat(np.repeat(keep.reshape(mb, nb), r, axis=0), c, axis=1)[:M, :N]
    values = rng.standard_normal((M, N))
    values[values == 0.0] = 1.0
    return np.where(mask, values, 0.0).astype(dtype)


def storage_summary(A, blocksize, *, index_dtype=np.int32) -> dict:
    """Store ``A`` as CSR and as BCSR(``blocksize``) and count what each keeps.

    Returns a dict with ``nnz`` (true nonzeros), ``nblocks``, ``stored``
    (values BCSR keeps, ``nblocks * r * c``), ``stored_zeros``, ``fill``
    (``nnz / stored``), the bytes of each array of both formats, their totals
    ``csr_bytes`` / ``bcsr_bytes`` / ``dense_bytes`` and ``ratio``
    (``bcsr_bytes / csr_bytes``).
    """
    r, c = check_blocksize(name="blocksize", blocksize=blocksize)
    arr = np.asarray(A)
    if arr.ndim != 2:
        raise ValueError(f"A must be a 2-D array, got {arr.ndim}-D")
    csr = CSR.from_dense(arr, index_dtype=index_dtype)
    bcsr = BCSR.from_dense(arr, blocksize=(r, c), index_dtype=index_dtype)
    nnz = int(np.count_nonzero(arr))
    stored = bcsr.nblocks * r * c
    out = {
        "shape": arr.shape,
        "blocksize": (r, c),
        "nnz": nnz,
        "nblocks": bcsr.nblocks,
        "stored": stored,
        "stored_zeros": stored - nnz,
        "fill": nnz / stored if stored else 1.0,
        "csr_data_bytes": int(csr.data.nbytes),
        "csr_index_bytes": int(csr.indices.nbytes + csr.indptr.nbytes),
        "bcsr_data_bytes": int(bcsr.data.nbytes),
        "bcsr_index_bytes": int(bcsr.indices.nbytes + bcsr.indptr.nbytes),
        "csr_bytes": int(csr.nbytes),
        "bcsr_bytes": int(bcsr.nbytes),
        "dense_bytes": int(arr.nbytes),
    }
    out["ratio"] = out["bcsr_bytes"] / out["csr_bytes"]
    return out


def expected_random_fill(sparsity, blocksize) -> float:
    """Expected ``nnz / stored`` when every entry is zero independently with probability ``s``.

    A block is kept unless all its ``r*c`` entries are zero, probability
    ``1 - s**(r*c)``; it holds ``r*c*(1-s)`` nonzeros on average, so the fill is
    ``(1 - s) / (1 - s**(r*c))``.
    """
    r, c = check_blocksize(name="blocksize", blocksize=blocksize)
    s = _check_sparsity(sparsity)
    return (1.0 - s) / (1.0 - s ** (r * c))


def expected_bytes_ratio(sparsity, blocksize, *, value_bytes=4, index_bytes=4) -> float:
    """Expected BCSR bytes / CSR bytes for a large matrix with unstructured sparsity.

    Per nonzero, CSR pays ``value_bytes + index_bytes``; BCSR pays
    ``(value_bytes + index_bytes / (r*c)) / fill``.  The ``indptr`` arrays
    (one entry per row or block row) are left out: they vanish for big matrices.
    """
    r, c = check_blocksize(name="blocksize", blocksize=blocksize)
    fill = expected_random_fill(sparsity, (r, c))
    return (value_bytes + index_bytes / (r * c)) / fill / (value_bytes + index_bytes)


def _fmt_bytes(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"


class BlockExplorer:
    """Pick a storage block, a pruning pattern and a sparsity; see what BCSR stores.

    ``explorer.summary`` holds the :func:`storage_summary` of the current
    choice (and is what the tests watch); ``explorer.widget`` is the
    ipywidgets box.  Display the object itself in a notebook.
    """

    def __init__(self, shape=(64, 64), blocksize=(4, 1), pattern=(4, 1), sparsity=0.8, *,
                 seed: int = 0, plot: bool = True):
        import ipywidgets as W

        self.shape = check_blocksize(name="shape", blocksize=shape)
        blocksize = check_blocksize(name="blocksize", blocksize=blocksize)
        pattern = check_blocksize(name="pattern", blocksize=pattern)
        sparsity = _check_sparsity(sparsity)
        self.seed, self.show_plot = int(seed), bool(plot)
        options = [(f"{r}x{c}", (r, c)) for r, c in BLOCK_SHAPES]
        for extra in (blocksize, pattern):
            if extra not in BLOCK_SHAPES:
                options.append((f"{extra[0]}x{extra[1]}", extra))
        self.storage = W.Dropdown(options=options, value=blocksize, description="storage block")
        self.pattern = W.Dropdown(options=options, value=pattern, description="pruned in")
        self.sparsity = W.FloatSlider(value=sparsity, min=0.0, max=0.98, step=0.02,
                                      description="sparsity", continuous_update=False,
                                      readout_format=".2f")
        for w in (self.storage, self.pattern):
            w.style = {"description_width": "initial"}
        self.view = W.HTML()
        self.image = W.Image(format="png")
        for w in (self.storage, self.pattern, self.sparsity):
            w.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox([self.storage, self.pattern]), self.sparsity,
                              W.HBox([self.view, self.image])])
        self.update()

    def matrix(self) -> np.ndarray:
        return block_sparse_matrix(self.shape, self.sparsity.value, self.pattern.value, seed=self.seed)

    def update(self) -> None:
        A = self.matrix()
        k = storage_summary(A, self.storage.value)
        self.summary = k
        r, c = k["blocksize"]
        rows = [
            ("true nonzeros", f"{k['nnz']:,}"),
            ("blocks kept", f"{k['nblocks']:,}"),
            ("values stored by BCSR", f"{k['stored']:,}"),
            ("of which padding zeros", f"{k['stored_zeros']:,}"),
            ("fill (nonzeros / stored)", f"{k['fill']:.2f}"),
            ("CSR bytes", _fmt_bytes(k["csr_bytes"])),
            ("BCSR bytes", _fmt_bytes(k["bcsr_bytes"])),
            ("BCSR / CSR", f"{k['ratio']:.2f}"),
        ]
        body = "".join(f"<tr><td style='padding:2px 8px'>{a}</td><td style='padding:2px 8px;"
                       f"text-align:right;font-family:monospace'>{b}</td></tr>" for a, b in rows)
        self.view.value = (f"<b>{self.shape[0]}x{self.shape[1]} float32, storage {r}x{c}, pruned in "
                           f"{self.pattern.value[0]}x{self.pattern.value[1]}</b><table>{body}</table>")
        if self.show_plot:
            self._draw(A, k)

    def _draw(self, A: np.ndarray, k: dict) -> None:
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure

        r, c = k["blocksize"]
        M, N = A.shape
        mb, nb = -(-M // r), -(-N // c)
        padded = np.zeros((mb * r, nb * c), dtype=bool)
        padded[:M, :N] = A != 0
        kept = padded.reshape(mb, r, nb, c).any(axis=(1, 3))
        stored = np.repeat(np.repeat(kept, r, axis=0), c, axis=1)[:M, :N]
        # 0 = not stored, 1 = stored zero (padding), 2 = stored nonzero
        picture = stored.astype(int) + (A != 0)
        cmap = ListedColormap(["white", "tab:orange", "tab:blue"])
        fig = Figure(figsize=(7, 3.2))
        ax0, ax1 = fig.subplots(1, 2, width_ratios=[1, 1.1])
        ax0.imshow(picture, cmap=cmap, vmin=0, vmax=2, interpolation="nearest")
        ax0.set_title("blue: nonzero, orange: stored zero", fontsize=9)
        ax0.set_xticks([])
        ax0.set_yticks([])
        names = ["CSR", "BCSR"]
        data = [k["csr_data_bytes"] / 1024, k["bcsr_data_bytes"] / 1024]
        index = [k["csr_index_bytes"] / 1024, k["bcsr_index_bytes"] / 1024]
        ax1.bar(names, data, label="values", color="tab:blue")
        ax1.bar(names, index, bottom=data, label="indices + indptr", color="tab:green")
        ax1.set_ylabel("KiB")
        ax1.legend(fontsize=8)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        self.image.value = buf.getvalue()

    def _on_change(self, change) -> None:
        self.update()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):               # keep the plain-text form short and stable
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        r, c = self.storage.value
        pr, pc = self.pattern.value
        return (f"BlockExplorer(shape={self.shape}, storage={r}x{c}, pruned in {pr}x{pc}, "
                f"sparsity={self.sparsity.value:.2f})")
