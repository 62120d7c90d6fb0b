"""Pictures of a results document: speedup vs sparsity per block shape (like the seed's figure 8).

One panel per block shape; one line per backend (stack totals, i.e. the
summed time over the layers); the dotted line is the ideal ``1/(1-s)``, the
grey line speedup 1, and a dashed vertical line marks the measured break-even
sparsity.  :func:`plot_layers` draws per-layer speedups at one sparsity.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_speedup", "plot_layers", "plot_all"]

STYLE = {"scipy": ("tab:gray", "s"), "numba-reference": ("tab:orange", "x"), "numba-scalar": ("tab:brown", "v"), "numba-simd": ("tab:blue", "o"),
         "numba-parallel": ("tab:purple", "P"), "numba-sse2": ("tab:olive", "<"),
         "numba-avx2": ("tab:cyan", ">"), "numba-avx512": ("tab:pink", "^"), "int8": ("tab:green", "D"),
         "cuda": ("tab:red", "*")}


def _fig(n):
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharey=True)
    return fig, axes.ravel()


def plot_speedup(doc: dict, threads: int = 1):
    """Figure of speedup over dense vs sparsity, one panel per block shape."""
    stacks = [s for s in doc["stacks"] if s["threads"] == threads and s["backend"] != "dense-blas"]
    blocks = [b for b in doc["config"]["blocks"] if any(s["block"] == b for s in stacks)]
    if not blocks:
        return None
    fig, axes = _fig(len(blocks))
    be = doc.get("break_even", {}) if threads == 1 else {}
    sp = np.linspace(min(doc["config"]["sparsities"]), max(doc["config"]["sparsities"]), 50)
    for ax, block in zip(axes, blocks):
        for backend in sorted({s["backend"] for s in stacks}):
            pts = sorted((s["sparsity"], s["speedup"]) for s in stacks
                         if s["block"] == block and s["backend"] == backend)
            if not pts:
                continue
            color, marker = STYLE.get(backend, ("black", "x"))
            x, y = zip(*pts)
            ax.plot(x, y, marker=marker, color=color, label=backend, ms=4, lw=1.3)
        ax.plot(sp, 1 / (1 - sp), ":", color="0.5", lw=1, label="ideal 1/(1-s)")
        ax.axhline(1.0, color="0.3", lw=0.8)
        e = be.get(block)
        if e and e.get("break_even") is not None:
            ax.axvline(e["break_even"], ls="--", color="tab:blue", lw=1)
            ax.annotate(f"break-even {e['break_even']:.2f}", (e["break_even"], 1.0),
                        xytext=(4, 8), textcoords="offset points", fontsize=8, color="tab:blue")
        ax.set_yscale("log")
        ax.set_title(f"block {block} (C_out x C_in)", fontsize=10)
        ax.set_xlabel("sparsity")
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(blocks):]:
        ax.set_visible(False)
    axes[0].set_ylabel(f"speedup over dense BLAS ({threads} thread{'s' if threads > 1 else ''})")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{doc['preset']}: summed over {len(doc['config']['layers'])} layers, "
                 f"{doc['config']['dtype']}\n{doc['machine']['line']}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_layers(doc: dict, sparsity: float = 0.9, backend: str = "numba-simd", threads: int = 1):
    """Per-layer speedup at one sparsity, one bar group per layer, one bar per block shape."""
    import matplotlib.pyplot as plt

    rows = [r for r in doc["results"] if r["status"] == "ok" and r["backend"] == backend
            and r["threads"] == threads and abs(r["sparsity"] - sparsity) < 1e-9]
    if not rows:
        return None
    layers = [l[0] for l in doc["config"]["layers"]]
    blocks = [b for b in doc["config"]["blocks"] if any(r["block"] == b for r in rows)]
    fig, ax = plt.subplots(figsize=(11, 3.6))
    w = 0.8 / len(blocks)
    for j, b in enumerate(blocks):
        val = {r["layer"]: r for r in rows if r["block"] == b}
        y = np.array([val[l]["speedup"] if l in val else np.nan for l in layers])
        lo = np.array([val[l]["dense_median_s"] / val[l]["q3_s"] if l in val else np.nan for l in layers])
        hi = np.array([val[l]["dense_median_s"] / val[l]["q1_s"] if l in val else np.nan for l in layers])
        ax.bar(np.arange(len(layers)) + j * w, y, w, label=b,
               yerr=np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)]), capsize=1.5,
               error_kw={"elinewidth": 0.6, "ecolor": "0.3"})
    ax.axhline(1.0, color="0.3", lw=0.8)
    ax.set_xticks(np.arange(len(layers)) + 0.4 - w / 2)
    ax.set_xticklabels([f"{name}\n{cout}x{cin}\nHW {hw}" for name, cin, cout, hw in doc["config"]["layers"]],
                       fontsize=7)
    ax.set_ylabel(f"speedup ({backend}, {threads}T)")
    ax.set_title(f"per-layer speedup over dense at sparsity {sparsity:g} (C_out x C_in, HW); "
                 "whiskers: quartiles of the sparse time", fontsize=10)
    ax.legend(fontsize=7, ncol=len(blocks))
    fig.tight_layout()
    return fig


def plot_all(doc: dict, outdir) -> list:
    """Write every plot the document supports into ``outdir``; returns the paths."""
    import matplotlib.pyplot as plt

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for t in doc["config"]["threads"]:
        fig = plot_speedup(doc, threads=t)
        if fig is not None:
            p = out / f"speedup_vs_sparsity_{t}T.png"
            fig.savefig(p, dpi=110)
            plt.close(fig)
            paths.append(p)
    s = 0.9 if 0.9 in doc["config"]["sparsities"] else max(doc["config"]["sparsities"])
    fig = plot_layers(doc, sparsity=s)
    if fig is not None:
        p = out / f"layers_at_{s:g}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths
