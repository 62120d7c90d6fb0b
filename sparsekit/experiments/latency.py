"""End-to-end latency of MobileNetV1 with dense vs sparse pointwise layers.

MobileNetV1 (width 1.0, 224x224, batch 1, random weights, batch norm folded,
ReLU fused into the convolution before it),
float32, NCHW.  Every 1x1 convolution is pruned to a sparsity in
{0.5, 0.7, 0.8, 0.9} either unstructured (stored as CSR, "1x1") or in blocks
stored as BCSR: 4x1 (4 output channels, MNN's "1x4"), 1x4 (4 input
channels) and 8x1 (MNN's AVX-512 block).  Then timed:

* ``dense``      -- our dense path (numpy matmul = OpenBLAS for the 1x1 convs),
* ``sparse``     -- the same network with the pruned 1x1 convs in CSR/BCSR,
* ``auto``       -- each layer's format chosen by :func:`sparsekit.prune.choose_format`,
* ``torch``      -- PyTorch CPU eager, dense, same threads (when installed).

Same threads for everyone (numba, BLAS, torch), warm-up first, JIT excluded,
median of repeats taken in interleaved rounds (every network once per round,
so load from other processes hits all of them alike).  With one thread the
medians use process CPU time (wall time is saved too): on a shared machine
it leaves out the time spent waiting for a core.  The sparse network's output is checked against the
dense network with the same pruned weights.

    python -m sparsekit.experiments.latency --quick      # seconds
    python -m sparsekit.experiments.latency --full       # results/latency/
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from ..cli import check_output_folder
from ..prune import parse_pattern, pattern_mask, sparsity
from .common import environment, interleaved_times, out_dir, write_json

QUICK = dict(width=0.25, resolution=64, sparsities=[0.5, 0.9], patterns=["1x1", "4x1"], repeats=3, warmup=1)
FULL = dict(width=1.0, resolution=224, sparsities=[0.5, 0.7, 0.8, 0.9], patterns=["1x1", "4x1", "1x4", "8x1"], repeats=15,
            warmup=3)


def pattern_blocksize(pattern) -> tuple:
    """``"1x1"`` -> ``(1, 1)``, ``"8x1"`` -> ``(8, 1)``: the block a pattern runs with (N:M has no CPU kernel)."""
    kind, arg = parse_pattern(pattern)
    if kind == "nm":
        raise ValueError(f"pattern {pattern!r}: the latency run times block patterns ('1x1', 'RxC'); "
                         "N:M has no kernel of its own here")
    return arg or (1, 1)


def build(width, resolution, seed=0):
    from ..nn import fold_batchnorm, fuse_relu, mobilenet_v1

    return fuse_relu(fold_batchnorm(mobilenet_v1(width, resolution, rng=seed, dtype=np.float32)))


def pointwise_layers(model):
    from ..nn import PointwiseConv2d

    return [l for l in model.layers if isinstance(l, PointwiseConv2d)]


def pruned_copy(model, s, pattern):
    """A copy with every pointwise weight pruned to sparsity ``s`` in ``pattern`` blocks."""
    m = copy.deepcopy(model)
    pattern_blocksize(pattern)
    for l in pointwise_layers(m):
        l.set_mask(pattern_mask(l.W, pattern, s))
        l.mask = None  # zeros stay in W; without a mask the layer does not sparsify itself: dense reference
    return m


def torch_model(model):
    """The same (folded, dense) network in PyTorch eager, or None when torch is absent."""
    try:
        import torch
    except ImportError:
        return None
    from ..nn import Conv2d, Dense, DepthwiseConv2d, GlobalAvgPool2d, ReLU

    mods = []
    for l in model.layers:
        if isinstance(l, DepthwiseConv2d):
            c = torch.nn.Conv2d(l.c, l.c, l.k, stride=l.stride, padding=l.padding, groups=l.c, bias=True)
            c.weight.data = torch.from_numpy(l.params["W"][:, None].copy())
            c.bias.data = torch.from_numpy(l.params["b"].copy())
            mods.append(c)
        elif isinstance(l, Conv2d):
            c = torch.nn.Conv2d(l.cin, l.cout, l.k, stride=l.stride, padding=l.padding, bias=True)
            c.weight.data = torch.from_numpy(l.weight4d.copy())
            c.bias.data = torch.from_numpy(l.params["b"].copy())
            mods.append(c)
        elif isinstance(l, ReLU):
            mods.append(torch.nn.ReLU())
        elif isinstance(l, GlobalAvgPool2d):
            mods += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
        elif isinstance(l, Dense):
            d = torch.nn.Linear(l.W.shape[1], l.W.shape[0])
            d.weight.data = torch.from_numpy(l.W.copy())
            d.bias.data = torch.from_numpy(l.params["b"].copy())
            mods.append(d)
        else:
            raise TypeError(f"no torch equivalent for {type(l).__name__}")
        if getattr(l, "relu", False):
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods).eval()


def layer_times(model, x, repeats=5, clock="wall"):
    """Median seconds spent in pointwise convs and in everything else, per forward."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    from ..nn import PointwiseConv2d

    pw, other = [], []
    for _ in range(repeats):
        a = b = 0.0
        h = x
        for l in model.layers:
            t0 = now()
            h = l.forward(h)
            dt = now() - t0
            if isinstance(l, PointwiseConv2d):
                a += dt
            else:
                b += dt
        pw.append(a)
        other.append(b)
    return float(np.median(pw)), float(np.median(other))


def close(a, b, rtol=1e-4):
    """Equal within float32 tolerance, relative to the output's scale."""
    scale = float(np.max(np.abs(b))) or 1.0
    return bool(np.max(np.abs(a - b)) <= rtol * scale * 10), float(np.max(np.abs(a - b)) / scale)


def run(cfg, threads=1, seed=0, torch_ref=True, clock="cpu", log=print):
    """Build every network, check its output, then time them all in interleaved rounds.

    ``clock``: which samples the medians (and speedups) use: ``"cpu"``
    (process CPU time; sound for 1 thread on a busy machine) or ``"wall"``.
    Both are saved.
    """
    import numba
    from threadpoolctl import threadpool_info

    from ..bench.timing import threads as thread_limit

    if clock not in ("cpu", "wall"):
        raise ValueError(f"clock must be 'cpu' or 'wall', got {clock!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) \
            or not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be an int from 1 to {numba.config.NUMBA_NUM_THREADS} "
                         f"(NUMBA_NUM_THREADS), got {threads!r}: the run records what it asked for")
    if isinstance(cfg.get("repeats"), bool) or not isinstance(cfg.get("repeats"), (int, np.integer)) \
            or cfg["repeats"] < 1:
        raise ValueError(f"cfg['repeats'] must be an int >= 1, got {cfg.get('repeats')!r}")
    if clock == "cpu" and threads != 1:
        raise ValueError("process CPU time sums over threads; use clock='wall' with threads > 1")
    for pat in cfg["patterns"]:
        pattern_blocksize(pat)  # a bad pattern fails before the networks are built
    rng = np.random.default_rng(seed)
    dense = build(cfg["width"], cfg["resolution"], seed)
    x = rng.standard_normal((1, 3, cfg["resolution"], cfg["resolution"])).astype(np.float32)
    doc = {"config": dict(cfg, threads=threads, seed=seed, dtype="float32", batch=1, clock=clock), "rows": []}
    reps, warm = cfg["repeats"], cfg["warmup"]
    with thread_limit(int(threads)):  # BLAS and numba, restored afterwards (OpenMP left to numba)
        doc["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                       for d in threadpool_info()]
        y_dense = dense(x)
        fns = {"dense": lambda: dense(x)}
        tm = torch_model(dense) if torch_ref else None
        if tm is not None:
            import torch

            torch.set_num_threads(threads)
            xt = torch.from_numpy(x)

            def torch_fn():
                with torch.inference_mode():
                    return tm(xt)

            ok, err = close(torch_fn().numpy(), y_dense)
            doc["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                            "matches_dense": ok, "max_rel_err": err}
            fns["torch"] = torch_fn
        nets = {}
        for s in cfg["sparsities"]:
            for pat in cfg["patterns"]:
                ref = pruned_copy(dense, s, pat)
                y_ref = ref(x)
                for mode in ("sparse", "auto"):
                    net = copy.deepcopy(ref)
                    if mode == "sparse":
                        bs = pattern_blocksize(pat)
                        choices = net.sparsify(force="csr" if bs == (1, 1) else bs)
                    else:
                        choices = net.sparsify(blocksizes=[(1, 1), pattern_blocksize(pat)])
                    ok, err = close(net(x), y_ref)
                    row = {"sparsity": s, "pattern": pat, "mode": mode, "matches_dense": ok, "max_rel_err": err,
                           "formats": [type(l.kernel).__name__ if l.is_sparse else "dense"
                                       for l in pointwise_layers(net)],
                           "achieved_sparsity": float(np.mean([sparsity(l.W) for l in pointwise_layers(net)]))}
                    if mode == "auto":
                        row["decisions"] = [{k: c[k] for k in ("format", "blocksize", "block_sparsity",
                                                               "threshold", "est_speedup", "source")}
                                            for c in choices]
                    key = f"{s}/{pat}/{mode}"
                    nets[key] = (net, row)
                    fns[key] = (lambda n: (lambda: n(x)))(net)
        log(f"timing {len(fns)} networks, {reps} interleaved rounds ({clock} clock) ...")
        T = interleaved_times(fns, reps, warm)
        med = {k: float(np.median(v[clock])) for k, v in T.items()}
        pw_d, other_d = layer_times(dense, x, clock=clock)
        t_dense = med["dense"]
        doc["dense"] = {"median_s": t_dense, "samples_s": T["dense"], "pointwise_s": pw_d, "other_s": other_d}
        log(f"dense: {t_dense * 1e3:.1f} ms (pointwise {pw_d * 1e3:.1f} ms)")
        if "torch" in doc:
            doc["torch"].update(median_s=med["torch"], samples_s=T["torch"])
            log(f"torch eager dense: {med['torch'] * 1e3:.1f} ms (matches ours: {doc['torch']['matches_dense']})")
        for key, (net, row) in nets.items():
            t = med[key]
            pw, other = layer_times(net, x, clock=clock)
            row.update(median_s=t, samples_s=T[key], speedup_vs_dense=t_dense / t, pointwise_s=pw, other_s=other,
                       pointwise_speedup=pw_d / pw)
            if "torch" in doc:
                row["speedup_vs_torch"] = med["torch"] / t
            doc["rows"].append(row)
            log(f"s={row['sparsity']} {row['pattern']:>3} {row['mode']:>6}: {t * 1e3:7.1f} ms  "
                f"x{t_dense / t:.2f} vs dense" + (f", x{med['torch'] / t:.2f} vs torch" if "torch" in doc else "")
                + f"  (equal: {row['matches_dense']})")
    return doc


def plot(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    td = doc["dense"]["median_s"] * 1e3
    for i, pat in enumerate(doc["config"]["patterns"]):
        rows = [r for r in doc["rows"] if r["pattern"] == pat and r["mode"] == "sparse"]
        s = [r["sparsity"] for r in rows]
        col = f"C{i}"
        ax[0].plot(s, [r["median_s"] * 1e3 for r in rows], "o-", color=col, label=f"sparse {pat}")
        ax[1].plot(s, [r["speedup_vs_dense"] for r in rows], "o-", color=col, label=f"{pat} end to end")
        ax[1].plot(s, [r["pointwise_speedup"] for r in rows], "x--", color=col, label=f"{pat} 1x1 convs only")
    ax[0].axhline(td, color="k", ls=":", label="dense (ours)")
    if "torch" in doc:
        ax[0].axhline(doc["torch"]["median_s"] * 1e3, color="r", ls="--", label="PyTorch eager dense")
    ax[1].axhline(1.0, color="k", ls=":")
    c = doc["config"]
    ax[0].set(xlabel="sparsity of the 1x1 convolutions", ylabel="latency (ms, median)",
              title=f"MobileNetV1 w={c['width']} {c['resolution']}px, {c['threads']} thread(s)")
    ax[1].set(xlabel="sparsity", ylabel="speedup vs our dense path", title="speedup")
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sparsekit.experiments.latency", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small network, few repeats (seconds; the default)")
    g.add_argument("--full", action="store_true", help="MobileNetV1 1.0 at 224x224, results to commit")
    p.add_argument("--threads", type=int, default=1, help="threads for numba, BLAS and torch (default 1)")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--clock", choices=["cpu", "wall"], default=None,
                   help="what the medians use: process CPU time (default for 1 thread) or wall time")
    p.add_argument("--out", default=None, help="output folder (default results/latency)")
    a = p.parse_args(argv)
    import numba

    if a.threads < 1:
        p.error("--threads must be >= 1")
    if a.threads > numba.config.NUMBA_NUM_THREADS:  # numba would quietly run fewer than BLAS and torch
        p.error(f"--threads {a.threads}: numba has {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS); "
                "every side must run with the same threads")
    if a.clock == "cpu" and a.threads > 1:
        p.error("--clock cpu sums the CPU time of all threads; use --clock wall with --threads > 1")
    if a.out is not None:
        check_output_folder(p, "--out", a.out)
    cfg = dict(FULL if a.full else QUICK)
    name = "full" if a.full else "quick"
    clock = a.clock or ("cpu" if a.threads == 1 else "wall")
    doc = run(cfg, threads=a.threads, torch_ref=not a.no_torch, clock=clock)
    doc["mode"] = name
    doc["environment"] = environment()
    d = out_dir("latency", a.out)
    suffix = "" if a.threads == 1 else f"_t{a.threads}"
    write_json(d / f"latency_{name}{suffix}.json", doc)
    plot(doc, d / f"latency_{name}{suffix}.png")
    print(f"saved {d / f'latency_{name}{suffix}.json'} and .png")
    return doc


if __name__ == "__main__":
    main()
