"""Weight pruning: which weights to zero, and which format the result should use.

Masks, in the spirit of ``torch.nn.utils.prune``: every function takes the
weight and an ``amount`` (a fraction in ``[0, 1]``) and returns a boolean
*mask* you can inspect (``True`` = kept).  ``W * mask`` is the pruned weight.

Weights are 2-D, ``(out_channels, in_channels)`` (a dense layer's ``W`` in
``y = W @ x``, a 1x1 convolution's kernel).  Block shapes follow the rest of
sparsekit: ``blocksize=(r, c)`` is ``r`` output channels by ``c`` input
channels, so MNN's "1x4" (4 output channels) is our ``(4, 1)``.

* :func:`magnitude_mask` -- drop the ``amount`` smallest ``|w|`` of one layer.
* :func:`global_magnitude_masks` -- one threshold over several layers.
* :func:`block_mask` -- drop whole ``r x c`` blocks with the smallest norm.
* :func:`nm_mask` -- N:M sparsity (keep ``n`` of every ``m`` consecutive
  weights along the input dimension, 2:4 as in NVIDIA's sparse tensor cores).
* :func:`pattern_mask` -- any of the three by its short name: ``"magnitude"``
  (or ``"1x1"``), a block ``"RxC"`` such as ``"4x1"``, or ``"N:M"`` such as ``"2:4"``.
* :func:`cubic_sparsity` / :class:`GradualPruner` -- the gradual schedule of
  Zhu & Gupta (2017), "To prune, or not to prune".
* :func:`choose_format` / :func:`to_sparse` -- keep a layer dense or store it
  as CSR/BCSR, the way MNN's converter decides: sparse only above a
  break-even sparsity that depends on the block shape.

Achieved sparsity is exact: ``magnitude_mask(W, a)`` zeroes exactly
``round(a * W.size)`` weights (ties broken by position, never by luck), and
``block_mask`` exactly ``round(a * n_blocks)`` blocks.
"""
from __future__ import annotations

import json
import numbers
import re
from pathlib import Path

import numpy as np

from .formats.validation import check_blocksize, parse_blocksize

__all__ = [
    "sparsity",
    "magnitude_mask",
    "global_magnitude_masks",
    "block_mask",
    "block_sparsity",
    "nm_mask",
    "parse_pattern",
    "pattern_mask",
    "prune",
    "cubic_sparsity",
    "GradualPruner",
    "MNN_THRESHOLDS",
    "load_break_even",
    "break_even",
    "choose_format",
    "to_sparse",
]

BREAK_EVEN_PATH = Path(__file__).resolve().parent / "data" / "break_even.json"

#: MNN's converter thresholds (tools/converter/source/common/AddSparseInfo.cpp):
#: the sparse path is taken only if sparsity > threshold, by the block's
#: number of output channels.  Used when no measured file exists.
MNN_THRESHOLDS = {1: 0.6, 2: 0.5, 3: 0.4, 4: 0.3}


# -- argument checks ----------------------------------------------------------
def _check_weight(W, name="W") -> np.ndarray:
    if isinstance(W, (list, tuple)):
        W = np.asarray(W)
    if not isinstance(W, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(W).__name__}")
    if W.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers, got dtype {W.dtype}")
    if W.ndim != 2:
        raise ValueError(f"{name} must be 2-D (out_channels, in_channels), got shape {W.shape}")
    if W.dtype.kind == "f" and not np.all(np.isfinite(W)):
        raise ValueError(f"{name} holds NaN or inf; pruning by magnitude needs finite weights")
    return W


def _check_amount(amount) -> float:
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"amount must be a fraction in [0, 1], got {amount!r}")
    amount = float(amount)
    if not (0.0 <= amount <= 1.0):
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount!r}")
    return amount


def _mask_smallest(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean keep-mask over a flat score array, dropping exactly the ``k`` smallest.

    A stable sort breaks ties by position, so the count is exact even when
    many scores are equal (e.g. weights that are already zero).
    """
    keep = np.ones(scores.shape[0], dtype=bool)
    if k > 0:
        keep[np.argsort(scores, kind="stable")[:k]] = False
    return keep


# -- measuring ------------------------------------------------------------------
def sparsity(x) -> float:
    """Fraction of zeros in a weight, or of ``False`` in a mask."""
    a = np.asarray(x)
    if a.size == 0:
        return 0.0
    if a.dtype == bool:
        return float(1.0 - a.sum() / a.size)
    return float(1.0 - np.count_nonzero(a) / a.size)


def _block_view(W: np.ndarray, r: int, c: int) -> np.ndarray:
    """``W`` zero-padded to whole blocks, as an array of shape ``(mb, nb, r, c)``."""
    M, N = W.shape
    mb, nb = -(-M // r), -(-N // c)
    padded = np.zeros((mb * r, nb * c), dtype=np.float64)
    padded[:M, :N] = W
    return padded.reshape(mb, r, nb, c).transpose(0, 2, 1, 3)


def block_sparsity(W, blocksize) -> float:
    """Fraction of ``r x c`` blocks of ``W`` that are entirely zero (what BCSR skips)."""
    W = _check_weight(W)
    r, c = check_blocksize(blocksize)
    tiles = _block_view(W, r, c)
    if tiles.size == 0:
        return 0.0
    nonzero = tiles.reshape(tiles.shape[0], tiles.shape[1], -1).any(axis=2)
    return float(1.0 - nonzero.sum() / nonzero.size)


# -- masks --------------------------------------------------------------------
def magnitude_mask(W, amount) -> np.ndarray:
    """Keep-mask that drops the ``round(amount * W.size)`` smallest ``|w|`` of ``W``."""
    W = _check_weight(W)
    amount = _check_amount(amount)
    k = int(round(amount * W.size))
    return _mask_smallest(np.abs(W).ravel(), k).reshape(W.shape)


def global_magnitude_masks(weights, amount) -> list:
    """One magnitude threshold over several layers (layers end up with different sparsities).

    ``weights`` is a list of 2-D arrays; exactly ``round(amount * total)``
    weights are dropped over all of them together.
    """
    if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
        raise TypeError("weights must be a list or tuple of 2-D arrays")
    if not weights:
        raise ValueError("weights must not be empty")
    ws = [_check_weight(w, f"weights[{i}]") for i, w in enumerate(weights)]
    amount = _check_amount(amount)
    flat = np.concatenate([np.abs(w).ravel().astype(np.float64) for w in ws])
    keep = _mask_smallest(flat, int(round(amount * flat.size)))
    out, start = [], 0
    for w in ws:
        out.append(keep[start:start + w.size].reshape(w.shape))
        start += w.size
    return out


def block_mask(W, amount, blocksize=(4, 1), *, norm: str = "l2") -> np.ndarray:
    """Keep-mask that drops the ``round(amount * n_blocks)`` blocks of smallest norm.

    ``blocksize=(r, c)``: ``r`` output channels by ``c`` input channels; a
    shape that is not a multiple of the block is padded with zeros (edge
    blocks are smaller, their norm counts only real weights).  ``norm`` is
    ``"l2"`` (default), ``"l1"`` or ``"max"``.  When ``W.shape`` is a multiple
    of the block, the element sparsity equals the block sparsity exactly.
    """
    W = _check_weight(W)
    amount = _check_amount(amount)
    r, c = check_blocksize(blocksize)
    if norm not in ("l1", "l2", "max"):
        raise ValueError(f"norm must be 'l1', 'l2' or 'max', got {norm!r}")
    tiles = np.abs(_block_view(W, r, c))
    mb, nb = tiles.shape[:2]
    flat = tiles.reshape(mb, nb, r * c)
    if norm == "l1":
        score = flat.sum(axis=2)
    elif norm == "l2":
        score = np.sqrt((flat * flat).sum(axis=2))
    else:
        score = flat.max(axis=2) if flat.size else flat.sum(axis=2)
    keep_blocks = _mask_smallest(score.ravel(), int(round(amount * mb * nb))).reshape(mb, nb)
    full = np.repeat(np.repeat(keep_blocks, r, axis=0), c, axis=1)
    return np.ascontiguousarray(full[: W.shape[0], : W.shape[1]])


def nm_mask(W, n: int = 2, m: int = 4) -> np.ndarray:
    """N:M keep-mask: in every group of ``m`` consecutive inputs of a row keep the ``n`` largest.

    Groups run along the input dimension (axis 1), as for sparse tensor cores;
    ``W.shape[1]`` must be a multiple of ``m``.  Sparsity is exactly ``1 - n/m``.
    """
    W = _check_weight(W)
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Integral, np.integer)):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    if not (1 <= m and 0 <= n <= m):
        raise ValueError(f"N:M needs 0 <= n <= m and m >= 1, got n={n}, m={m}")
    if W.shape[1] % m:
        raise ValueError(f"N:M pruning needs in_channels (W.shape[1]={W.shape[1]}) to be a multiple of m={m}")
    groups = np.abs(W).reshape(W.shape[0], W.shape[1] // m, m)
    order = np.argsort(-groups, axis=2, kind="stable")  # largest first, ties by position
    keep = np.zeros(groups.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    return keep.reshape(W.shape)


_BLOCK_PATTERN = re.compile(r"^(\d+)x(\d+)$")
_NM_PATTERN = re.compile(r"^(\d+):(\d+)$")


def parse_pattern(method: str) -> tuple:
    """``"magnitude"``/``"1x1"`` -> ``("magnitude", None)``, ``"4x1"`` -> ``("block", (4, 1))``,
    ``"2:4"`` -> ``("nm", (2, 4))``; a clear error on anything else."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string such as 'magnitude', '4x1' or '2:4', got {type(method).__name__}")
    key = method.strip().lower()  # "4X1" and " 4x1" name the block the other parsers read
    if key in ("magnitude", "1x1"):
        return ("magnitude", None)
    if _BLOCK_PATTERN.match(key):
        return ("block", parse_blocksize(key, "block method"))
    m = _NM_PATTERN.match(key)
    if m:
        n, mm = int(m.group(1)), int(m.group(2))
        if not 1 <= n <= mm:
            raise ValueError(f"N:M method {method!r} needs 1 <= N <= M")
        return ("nm", (n, mm))
    raise ValueError(f"unknown method {method!r}: use 'magnitude' (or '1x1'), a block 'RxC' (e.g. '4x1') "
                     "or 'N:M' (e.g. '2:4')")


def pattern_mask(W, method: str, amount=0.5) -> np.ndarray:
    """Keep-mask of ``W`` for a pattern named as in :func:`parse_pattern`, at sparsity ``amount``.

    N:M fixes its own sparsity ``1 - N/M`` and ignores ``amount``; it needs
    ``W.shape[1]`` to be a multiple of ``M``.
    """
    kind, arg = parse_pattern(method)
    W = _check_weight(W)
    if kind == "nm":
        return nm_mask(W, *arg)
    return magnitude_mask(W, amount) if kind == "magnitude" else block_mask(W, amount, arg)


def prune(W, amount=None, method: str = "magnitude", *, blocksize=(4, 1), n: int = 2, m: int = 4):
    """Prune one weight; returns ``(W * mask, mask)``.

    ``method``: ``"magnitude"`` (unstructured, ``amount``), ``"block"``
    (``amount`` of ``blocksize`` blocks) or ``"nm"`` (``n`` of every ``m``;
    ``amount`` must be omitted or equal ``1 - n/m``).
    """
    W = _check_weight(W)
    if method == "magnitude":
        mask = magnitude_mask(W, amount)
    elif method == "block":
        mask = block_mask(W, amount, blocksize)
    elif method == "nm":
        mask = nm_mask(W, n, m)
        if amount is not None and abs(_check_amount(amount) - (1 - n / m)) > 1e-12:
            raise ValueError(f"N:M {n}:{m} has sparsity {1 - n / m}, but amount={amount} was asked")
    else:
        raise ValueError(f"method must be 'magnitude', 'block' or 'nm', got {method!r}")
    return W * mask, mask


# -- gradual schedule ---------------------------------------------------------
def cubic_sparsity(step, final_sparsity, *, begin_step=0, end_step, frequency=1, initial_sparsity=0.0) -> float:
    """Target sparsity of Zhu & Gupta's cubic schedule at ``step``.

    ``s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (T - t0)) ** 3`` for
    ``t0 <= t <= T``, with ``t`` rounded down to a multiple of ``frequency``
    after ``t0`` (the mask changes only every ``frequency`` steps); ``s_i`` before
    ``t0``, ``s_f`` after ``T``.  Pruning
    is fast at first, when many redundant weights remain, and slows towards
    the end.
    """
    final_sparsity = _check_amount(final_sparsity)
    initial_sparsity = _check_amount(initial_sparsity)
    for name, v in (("step", step), ("begin_step", begin_step), ("end_step", end_step), ("frequency", frequency)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v):
            raise ValueError(f"{name} must be a finite number of steps, got {v!r}")
    if end_step <= begin_step:
        raise ValueError(f"end_step ({end_step}) must be after begin_step ({begin_step})")
    if frequency < 1:
        raise ValueError(f"frequency must be >= 1, got {frequency}")
    if step < begin_step:
        return float(initial_sparsity)  # the schedule starts flat (0 by default: not pruning yet)
    if step >= end_step:
        t = end_step
    else:
        t = begin_step + ((step - begin_step) // frequency) * frequency
    frac = (t - begin_step) / (end_step - begin_step)
    return float(final_sparsity + (initial_sparsity - final_sparsity) * (1.0 - frac) ** 3)


class GradualPruner:
    """Recompute masks along the cubic schedule while a model trains.

    ``method`` is ``"magnitude"`` or ``"block"`` (with ``blocksize``);
    ``scope`` is ``"layer"`` (each layer at the target) or ``"global"`` (one
    threshold, magnitude only).  Call :meth:`step` after every optimiser
    step with the list of weights; it returns the masks to apply (also kept
    in :attr:`masks`).  Weights already pruned are zero, so they are the
    first to go again and the mask only shrinks.
    """

    def __init__(self, final_sparsity, *, begin_step, end_step, frequency=1, method="magnitude",
                 blocksize=(4, 1), scope="layer", initial_sparsity=0.0):
        self.final_sparsity = _check_amount(final_sparsity)
        self.initial_sparsity = _check_amount(initial_sparsity)
        if end_step <= begin_step:
            raise ValueError(f"end_step ({end_step}) must be after begin_step ({begin_step})")
        if method not in ("magnitude", "block"):
            raise ValueError(f"method must be 'magnitude' or 'block', got {method!r}")
        if scope not in ("layer", "global"):
            raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
        if scope == "global" and method != "magnitude":
            raise ValueError("global scope is only defined for magnitude pruning")
        self.begin_step, self.end_step, self.frequency = int(begin_step), int(end_step), int(frequency)
        self.method, self.blocksize, self.scope = method, check_blocksize(blocksize), scope
        self.masks = None
        self.current = None
        self.target(self.begin_step)  # the schedule's own checks (frequency >= 1, ...) now, not at .step()

    def target(self, step) -> float:
        return cubic_sparsity(step, self.final_sparsity, begin_step=self.begin_step, end_step=self.end_step,
                              frequency=self.frequency, initial_sparsity=self.initial_sparsity)

    def step(self, step, weights) -> list:
        """Masks for ``weights`` at ``step`` (recomputed only when the target changes)."""
        if step < self.begin_step and self.masks is None:
            return [np.ones(np.shape(w), dtype=bool) for w in weights]
        s = self.target(step)
        if self.masks is not None and s == self.current:
            return self.masks
        if self.scope == "global":
            masks = global_magnitude_masks(list(weights), s)
        elif self.method == "magnitude":
            masks = [magnitude_mask(w, s) for w in weights]
        else:
            masks = [block_mask(w, s, self.blocksize) for w in weights]
        self.masks, self.current = masks, s
        return masks


# -- choosing a format ----------------------------------------------------------
def _parse_key(key: str) -> tuple:
    return parse_blocksize(key, "break-even key")


def load_break_even(path=None) -> dict:
    """Measured break-even sparsities ``{(r, c): s}`` from ``sparsekit/data/break_even.json``.

    The benchmark (``python -m sparsekit.bench``) writes
    ``{"break_even": {"1x1": 0.7, "4x1": 0.45, ...}}``.  Returns ``{}``
    when the file does not exist; a malformed file raises ``ValueError``.
    A value of ``null`` (never faster than dense) becomes ``1.0``.
    """
    p = Path(path) if path is not None else BREAK_EVEN_PATH
    if not p.exists():
        return {}
    try:
        doc = json.loads(p.read_text())
        table = doc["break_even"]
        if not isinstance(table, dict):
            raise TypeError(f"'break_even' holds a {type(table).__name__}, not an object")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{p} is not a break-even file ({{'break_even': {{'RxC': s}}}}): {e}") from None
    out = {}
    for key, val in table.items():
        if val is None:
            val = 1.0
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0.0 <= val <= 1.0:
            raise ValueError(f"{p}: break-even for {key!r} must be a fraction in [0, 1] or null, got {val!r}")
        out[_parse_key(key)] = float(val)
    return out


def break_even(blocksize, table=None) -> tuple:
    """``(threshold, source)`` for a block shape: measured if available, else MNN's rule.

    Fallback (MNN's converter): by the block's output channels ``r``,
    1 -> 0.6, 2 -> 0.5, 3 -> 0.4, 4 or more -> 0.3.
    """
    r, c = check_blocksize(blocksize)
    table = load_break_even() if table is None else table
    if (r, c) in table:
        return table[(r, c)], "measured"
    return MNN_THRESHOLDS[min(r, 4)], "mnn-default"


DEFAULT_BLOCKSIZES = ((1, 1), (4, 1))


def _candidates(blocksizes, table):
    """The block shapes to consider: given ones, else 1x1, 4x1 and every measured shape."""
    if blocksizes is not None:
        return list(blocksizes)
    return list(dict.fromkeys(list(DEFAULT_BLOCKSIZES) + sorted(table)))


def choose_format(W, blocksizes=None, table=None) -> dict:
    """Decide dense or sparse (and the block shape) for one pruned weight.

    For each candidate ``(r, c)`` the *block* sparsity ``s_b`` (the fraction
    of blocks that are all zero, the work BCSR skips) is compared with the
    break-even ``t`` of that shape.  Sparse time is modelled as proportional
    to the stored blocks and equal to dense time at ``s_b = t``, so the
    estimated speedup is ``(1 - t) / (1 - s_b)``.  The candidate with the
    largest estimate wins if it beats 1 (``s_b > t``, MNN's rule);
    otherwise the layer stays dense.

    ``blocksizes`` defaults to 1x1, 4x1 and every shape in the measured table.

    Returns a dict: ``format`` ("dense", "csr" or "bcsr"), ``blocksize``,
    ``sparsity`` (elements), ``block_sparsity``, ``threshold``,
    ``est_speedup``, ``source`` ("measured"/"mnn-default") and
    ``candidates`` (every shape's numbers).
    """
    W = _check_weight(W)
    table = load_break_even() if table is None else table
    blocksizes = _candidates(blocksizes, table)
    if not blocksizes:
        raise ValueError("blocksizes must name at least one block shape")
    cands = []
    for bs in blocksizes:
        bs = check_blocksize(bs)
        t, src = break_even(bs, table)
        sb = block_sparsity(W, bs)
        est = (1.0 - t) / (1.0 - sb) if sb < 1.0 else float("inf")
        cands.append({"blocksize": bs, "block_sparsity": sb, "threshold": t, "est_speedup": est, "source": src})
    # largest estimate; on a tie the larger block (fewer indices)
    best = max(cands, key=lambda d: (d["est_speedup"], d["blocksize"][0] * d["blocksize"][1]))
    sparse = best["block_sparsity"] > best["threshold"]
    fmt = "dense"
    if sparse:
        fmt = "csr" if best["blocksize"] == (1, 1) else "bcsr"
    return {
        "format": fmt,
        "blocksize": best["blocksize"] if sparse else None,
        "sparsity": sparsity(W),
        "block_sparsity": best["block_sparsity"],
        "threshold": best["threshold"],
        "est_speedup": best["est_speedup"] if sparse else 1.0,
        "source": best["source"],
        "candidates": cands,
    }


def to_sparse(W, blocksizes=None, *, dtype=None, table=None, force=None):
    """The best storage for ``W``: a :class:`~sparsekit.CSR`, a :class:`~sparsekit.BCSR` or ``W`` itself.

    ``force`` skips the decision: ``"dense"``, ``"csr"`` or a block shape
    ``(r, c)`` for BCSR.  ``dtype`` converts the stored values (float32 for
    float32 activations).
    """
    from .formats import BCSR, CSR

    W = _check_weight(W)
    floats = (np.dtype(np.float32), np.dtype(np.float64))
    dt = np.dtype(dtype) if dtype is not None else (W.dtype if W.dtype in floats else np.dtype(np.float64))
    if dt not in floats:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    if force is None:
        choice = choose_format(W, blocksizes, table)
        fmt, bs = choice["format"], choice["blocksize"]
    elif force == "dense":
        fmt, bs = "dense", None
    elif force == "csr":
        fmt, bs = "csr", (1, 1)
    elif isinstance(force, str):
        raise ValueError(f"force must be 'dense', 'csr' or a block shape (r, c), got {force!r}")
    else:
        fmt, bs = "bcsr", check_blocksize(force)
    if fmt == "dense":
        return np.ascontiguousarray(W, dtype=dt)
    if fmt == "csr":
        return CSR.from_dense(W, dtype=dt)
    return BCSR.from_dense(W, bs, dtype=dt)
