"""Which weights each pruning method keeps: masks, what they retain, and a slider explorer.

Lesson 04's explorer.  The arithmetic is separate from the widget:

* :func:`pattern_mask` -- the keep-mask of one method (``"magnitude"``,
  ``"4x1"``/``"1x4"``/any ``"RxC"`` block, ``"2:4"``/any ``"N:M"``) at a sparsity,
  built from :mod:`sparsekit.prune`;
* :func:`mask_summary` -- the sparsity a mask reaches and the share of the
  weight's squared norm (its "energy") that survives, the number magnitude
  pruning maximises and every structured pattern gives some of away;
* :class:`MaskExplorer` -- a method dropdown and a sparsity slider over a
  picture of the mask and the surviving weights.

Block shapes are ``rows x columns`` of ``W`` = output x input channels, so
MNN's "1x4" (four output channels share one input channel) is ``"4x1"`` here.
"""
from __future__ import annotations

import io
import numbers

import numpy as np

from ..prune import parse_pattern
from ..prune import pattern_mask as _prune_pattern_mask

__all__ = ["METHODS", "pattern_mask", "mask_summary", "MaskExplorer"]

#: Methods offered by the explorer, in its dropdown order.
METHODS = ("magnitude", "4x1", "1x4", "2:4", "1:4")


def _check_W(W) -> np.ndarray:
    if isinstance(W, (str, bytes)) or not hasattr(W, "__array__") and not isinstance(W, (list, tuple)):
        raise TypeError(f"W must be a 2-D array of numbers, got {type(W).__name__}")
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-D (out_channels, in_channels), got {W.ndim}-D")
    if W.dtype.kind not in "fiu":
        raise TypeError(f"W must hold real numbers, got dtype {W.dtype}")
    if W.size == 0:
        raise ValueError("W must not be empty")
    return W


def pattern_mask(W, method: str, sparsity: float = 0.5) -> np.ndarray:
    """Boolean keep-mask of ``W`` for ``method`` at ``sparsity`` (ignored by N:M, whose sparsity is ``1 - N/M``).

    :func:`sparsekit.prune.pattern_mask` with the explorer's checks and wording.
    """
    W = _check_W(W)
    kind, arg = parse_pattern(method)
    if isinstance(sparsity, (bool, np.bool_)) or not isinstance(sparsity, (numbers.Real, np.floating)):
        raise TypeError(f"sparsity must be a number in [0, 1], got {sparsity!r}")
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    if not _fits(W, method):
        raise ValueError(f"N:M needs in_channels ({W.shape[1]}) to be a multiple of M={arg[1]}")
    return _prune_pattern_mask(W.astype(np.float64), method, float(sparsity))


def mask_summary(W, mask) -> dict:
    """``sparsity`` (zeroed fraction), ``kept`` count and ``energy_kept`` = ||W*mask||^2 / ||W||^2."""
    W = _check_W(W)
    mask = np.asarray(mask)
    if mask.shape != W.shape or mask.dtype != bool:
        raise ValueError(f"mask must be a bool array of shape {W.shape}, got {mask.dtype} {mask.shape}")
    W2 = W.astype(np.float64) ** 2
    total = float(W2.sum())
    kept = int(mask.sum())
    return {"sparsity": 1.0 - kept / W.size, "kept": kept,
            "energy_kept": float(W2[mask].sum()) / total if total > 0 else 1.0}


def _fits(W, method: str) -> bool:
    """Whether ``method`` applies to ``W`` (N:M needs in_channels to be a multiple of M)."""
    kind, arg = parse_pattern(method)
    return kind != "nm" or W.shape[1] % arg[1] == 0


class MaskExplorer:
    """Method dropdown + sparsity slider over a picture of what survives in ``W``.

    ``explorer.widget`` is the ipywidgets box to display; :meth:`render`
    returns the PNG bytes and summary for given settings (used by the widget and the tests).
    """

    def __init__(self, W, methods=METHODS, sparsity: float = 0.75):
        import ipywidgets as w

        self.W = _check_W(W)
        methods = tuple(methods)
        for m in methods:
            parse_pattern(m)
        fits = tuple(m for m in methods if _fits(self.W, m))
        if not fits:
            raise ValueError(f"none of the methods {methods} fits W of shape {self.W.shape}")
        methods = fits  # an N:M whose M does not divide in_channels is left out of the dropdown
        self.method = w.Dropdown(options=methods, value=methods[0], description="method")
        self.sparsity = w.FloatSlider(value=sparsity, min=0.0, max=0.98, step=0.02, description="sparsity",
                                      continuous_update=False)
        self.image = w.Image(format="png")
        self.info = w.HTML()
        self.widget = w.VBox([w.HBox([self.method, self.sparsity]), self.info, self.image])
        self.method.observe(lambda _: self.update(), "value")
        self.sparsity.observe(lambda _: self.update(), "value")
        self.update()

    def render(self, method: str, sparsity: float):
        from matplotlib.figure import Figure  # no pyplot: leaves the notebook's backend alone

        mask = pattern_mask(self.W, method, sparsity)
        summ = mask_summary(self.W, mask)
        fig = Figure(figsize=(7.5, 3.2))
        axes = fig.subplots(1, 2)
        axes[0].imshow(mask, cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
        axes[0].set_title(f"kept weights ({method})", fontsize=9)
        lim = float(np.abs(self.W).max()) or 1.0
        axes[1].imshow(np.where(mask, self.W, 0.0), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        axes[1].set_title("surviving values", fontsize=9)
        for ax in axes:
            ax.set(xlabel="input channel", ylabel="output channel")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        return buf.getvalue(), summ

    def update(self):
        png, s = self.render(self.method.value, self.sparsity.value)
        self.image.value = png
        note = " (N:M fixes its own sparsity)" if parse_pattern(self.method.value)[0] == "nm" else ""
        self.info.value = (f"<b>{self.method.value}</b>: sparsity {s['sparsity']:.3f}{note}, "
                           f"{s['kept']} weights kept, {100 * s['energy_kept']:.1f}% of the squared norm kept")
        return s
