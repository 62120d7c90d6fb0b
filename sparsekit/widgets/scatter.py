"""Step through the three-pass scatter ``u <- u + r*v`` one touch at a time.

:func:`trace_axpy` runs the algorithm in plain Python and records a
:class:`Step` (u's pairs, the work array, the index being touched) after
every elementary action; its final ``u`` equals :meth:`SparseVector.axpy`
(``tests/test_widgets.py`` checks that on random vectors).
:class:`ScatterStepper` is the ipywidgets explorer over such a trace.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from ..vector import SparseVector, _real

__all__ = ["Step", "trace_axpy", "format_step", "ScatterStepper", "SEED_EXAMPLE"]

#: The worked example of the seed article: length 15, u <- u - 2*v.
SEED_EXAMPLE = {
    "u": [(0, 1), (1, 6), (3, -3), (7, 7), (10, -10), (11, -3), (12, -7), (14, -8)],
    "v": [(0, -10), (1, 0), (5, 3), (6, -3), (7, 2), (11, 7)],
    "r": -2.0,
    "size": 15,
}


@dataclass(frozen=True)
class Step:
    """The state after one action of the algorithm.

    ``phase``: 0 start, 1-3 the passes, 4 done.  ``u``: u's pairs now.
    ``w``: a copy of the work array.  ``index``: the index touched (or
    ``None``).  ``u_pos``/``v_pos``: the position in u's / v's pair list being
    read (or ``None``).  ``text``: what happened, in words.
    """

    phase: int
    text: str
    u: tuple
    w: np.ndarray
    index: int | None = None
    u_pos: int | None = None
    v_pos: int | None = None


def _as_pairs(x, size):
    if isinstance(x, SparseVector):
        if size is not None and x.size != size:
            raise ValueError(f"size mismatch: vector has size {x.size}, size={size}")
        return x.pairs(), x.size
    if size is None:
        raise ValueError("size is required when u and v are given as lists of pairs")
    vec = SparseVector.from_pairs(x, size)  # validates indices, duplicates, values
    return vec.pairs(), size


def _num(x: float) -> str:
    return f"{x:g}"


def trace_axpy(u, r, v, size: int | None = None) -> list:
    """Run ``u <- u + r*v`` by the three-pass scatter, recording every step.

    ``u`` and ``v`` are :class:`SparseVector` or lists of ``(index, value)``
    pairs (then ``size`` is needed).  Nothing is modified; the last step's
    ``u`` is the result.  As in :meth:`SparseVector.axpy`, ``r == 0`` leaves
    ``u`` unchanged.
    """
    u_pairs, n = _as_pairs(u, size)
    v_pairs, n_v = _as_pairs(v, size if size is not None else n)
    if n_v != n:
        raise ValueError(f"size mismatch: {n} and {n_v}")
    r = _real("r", r)

    w = np.zeros(n)
    out = [list(p) for p in u_pairs]
    steps = []

    def snap(phase, text, index=None, u_pos=None, v_pos=None):
        steps.append(Step(phase, text, tuple((i, x) for i, x in out), w.copy(), index, u_pos, v_pos))

    snap(0, f"start: u has {len(out)} entries, v has {len(v_pairs)}, r = {_num(r)}; w is all zeros")
    if r == 0.0:
        snap(4, "r = 0: u is unchanged, nothing to scatter")
        return steps
    for k, (i, x) in enumerate(v_pairs):
        w[i] = x
        snap(1, f"pass 1: scatter v's pair ({i},{_num(x)}) -> w[{i}] = {_num(x)}", i, v_pos=k)
    for k in range(len(out)):
        i, x = out[k]
        new = x + r * w[i]
        out[k][1] = new
        was = w[i]
        w[i] = 0.0
        snap(2, f"pass 2: u[{i}] = {_num(x)} + {_num(r)}*{_num(was)} = {_num(new)}; clear w[{i}]", i, u_pos=k)
    for k, (i, x) in enumerate(v_pairs):
        if w[i] != 0.0:
            out.append([i, r * x])
            w[i] = 0.0
            snap(3, f"pass 3: w[{i}] != 0, so {i} is new to u: append ({i},{_num(r * x)}); clear w[{i}]",
                 i, u_pos=len(out) - 1, v_pos=k)
        else:
            snap(3, f"pass 3: w[{i}] == 0, index {i} was handled in pass 2 (or v stores 0 there); skip",
                 i, v_pos=k)
    snap(4, f"done: u has {len(out)} entries and w is all zeros again ({not np.any(w)})")
    return steps


def format_step(step: Step) -> str:
    """A step as three text lines (for printing in a notebook)."""
    u = " ".join(f"({i},{_num(x)})" for i, x in step.u)
    w = " ".join(_num(x) for x in step.w)
    return f"{step.text}\n  u: {u}\n  w: [{w}]"


# ---------------------------------------------------------------------------
# the widget
# ---------------------------------------------------------------------------
_PHASE_COLOUR = {0: "#dddddd", 1: "#cfe8ff", 2: "#ffe0b3", 3: "#d6f5d6", 4: "#dddddd"}


def _pairs_html(pairs, highlight, new_from=None):
    cells = []
    for k, (i, x) in enumerate(pairs):
        style = "padding:2px 5px;border:1px solid #999;font-family:monospace;"
        if k == highlight:
            style += "background:#ffd54f;font-weight:bold;"
        elif new_from is not None and k >= new_from:
            style += "background:#d6f5d6;"
        cells.append(f'<td style="{style}">({i},{_num(x)})</td>')
    return "<table style='border-collapse:collapse'><tr>" + "".join(cells) + "</tr></table>"


def _w_html(w, index):
    head, body = [], []
    for i, x in enumerate(w):
        style = "padding:2px 4px;border:1px solid #999;text-align:center;font-family:monospace;min-width:2.2em;"
        if i == index:
            style += "background:#ffd54f;font-weight:bold;"
        elif x != 0:
            style += "background:#cfe8ff;"
        head.append(f'<td style="color:#777;font-size:80%;text-align:center">{i}</td>')
        body.append(f'<td style="{style}">{_num(x) if x != 0 else "0"}</td>')
    return ("<table style='border-collapse:collapse'><tr>" + "".join(head) + "</tr><tr>"
            + "".join(body) + "</tr></table>")


def _step_html(step: Step, v_pairs, n_u0: int) -> str:
    colour = _PHASE_COLOUR[step.phase]
    block = "<div style='margin:2px 0 8px 0'>{}<br>{}</div>"
    parts = [
        f'<div style="background:{colour};padding:4px 8px;margin-bottom:6px">'
        f"<b>{html.escape(step.text)}</b></div>",
        block.format("<b>v</b> (read-only)", _pairs_html(v_pairs, step.v_pos)),
        block.format("<b>u</b> (new entries in green)", _pairs_html(step.u, step.u_pos, new_from=n_u0)),
        block.format("<b>w</b>, the work array (index above, value below)", _w_html(step.w, step.index)),
    ]
    return "<div>" + "".join(parts) + "</div>"


def _ipywidgets():
    import ipywidgets

    return ipywidgets


class ScatterStepper:
    """An explorer over :func:`trace_axpy`: a slider (and play button) walks the steps.

    With no arguments it shows the seed article's example.  The widget is
    ``.widget`` (an ``ipywidgets.VBox``); displaying the object displays it.
    ``.slider`` selects the step, ``.view`` (HTML) shows u, v and w.
    """

    def __init__(self, u=None, r=None, v=None, size=None):
        W = _ipywidgets()
        if u is None and v is None:
            u, v = SEED_EXAMPLE["u"], SEED_EXAMPLE["v"]
            r = SEED_EXAMPLE["r"] if r is None else r
            size = SEED_EXAMPLE["size"] if size is None else size
        if u is None or v is None or r is None:
            raise ValueError("give u, r and v together (or none of them for the seed example)")
        self.steps = trace_axpy(u, r, v, size)
        self.v_pairs, _ = _as_pairs(v, size if size is not None else self.steps[0].w.size)
        self._n_u0 = len(self.steps[0].u)
        last = len(self.steps) - 1
        self.slider = W.IntSlider(value=0, min=0, max=last, description="step", continuous_update=True)
        self.play = W.Play(value=0, min=0, max=last, interval=900, description="play")
        W.jslink((self.play, "value"), (self.slider, "value"))
        self.prev_button = W.Button(description="◀ back", layout=W.Layout(width="80px"))
        self.next_button = W.Button(description="next ▶", layout=W.Layout(width="80px"))
        self.prev_button.on_click(lambda _: self._move(-1))
        self.next_button.on_click(lambda _: self._move(+1))
        self.view = W.HTML(value=self._render(0))
        self.slider.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox([self.play, self.prev_button, self.slider, self.next_button]), self.view])

    def _move(self, delta: int) -> None:
        self.slider.value = min(max(self.slider.value + delta, self.slider.min), self.slider.max)

    def _render(self, k: int) -> str:
        return _step_html(self.steps[k], self.v_pairs, self._n_u0)

    def _on_change(self, change) -> None:
        self.view.value = self._render(change["new"])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"ScatterStepper({len(self.steps)} steps)"
