"""Accuracy vs sparsity on scikit-learn's handwritten digits (no download).

Two models, each trained dense first:

* an MLP 64-256-256-10 (the two hidden layers are pruned, the classifier is not);
* a depthwise-separable CNN (its 1x1 convolutions are pruned, as MNN and
  XNNPACK do; the first 3x3 conv and the classifier stay dense).

Pruning patterns: unstructured (``1x1``), 4x1 blocks (4 output channels,
MNN's "1x4"), 1x4 blocks (4 input channels), and N:M (2:4, 1:4).
Schedules, all starting from the trained dense model:

* ``oneshot``     -- prune once, no retraining;
* ``oneshot_ft``  -- prune once, then fine-tune with the mask fixed;
* ``gradual``     -- Zhu & Gupta's cubic schedule during the same number of
  fine-tuning epochs (pruning in the first 70 %, then the mask is fixed).

Results go to ``results/pruning/pruning_{quick,full}.json`` and ``.png``; a
Pareto plot (sparsity, speedup, accuracy) combines them with the MobileNetV1
latency results in ``results/latency/`` when those exist.

    python -m sparsekit.experiments.pruning --quick      # seconds
    python -m sparsekit.experiments.pruning --full
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np

from ..cli import check_output_folder
from ..prune import GradualPruner, parse_pattern, pattern_mask
from .common import RESULTS, environment, out_dir, write_json

QUICK = dict(
    models=["mlp", "cnn"], seeds=[0], sparsities=[0.5, 0.9], patterns=["1x1", "4x1", "1x4", "2:4"],
    mlp=dict(sizes=(64, 64, 64, 10), dense_epochs=8, ft_epochs=3, lr=3e-3),
    cnn=dict(widths=(8, 16, 32), dense_epochs=4, ft_epochs=1, lr=1e-2, n_train=600),
)
FULL = dict(
    models=["mlp", "cnn"], seeds=[0, 1, 2], cnn_seeds=[0, 1], sparsities=[0.5, 0.7, 0.8, 0.9, 0.95],
    patterns=["1x1", "4x1", "1x4", "2:4", "1:4"],
    mlp=dict(sizes=(64, 256, 256, 10), dense_epochs=40, ft_epochs=30, lr=1e-3),
    cnn=dict(widths=(32, 64, 128), dense_epochs=20, ft_epochs=12, lr=2e-3, n_train=None),
)


def _is_nm(pattern) -> bool:
    return parse_pattern(pattern)[0] == "nm"


def pattern_sparsity(pattern, s):
    """The sparsity a pattern runs at: N:M patterns have their own fixed one."""
    kind, arg = parse_pattern(pattern)
    return 1.0 - arg[0] / arg[1] if kind == "nm" else s


def setup(model_name, cfg, seed):
    """``(model, pruned layers, data)`` with the model trained dense."""
    from ..nn import Adam, PointwiseConv2d, ds_cnn, load_digits_split, mlp, train

    c = cfg[model_name]
    if model_name == "mlp":
        data = load_digits_split(seed=seed)
        model = mlp(c["sizes"], rng=seed)
        layers = model.matrix_layers()[:-1]
    else:
        data = load_digits_split(seed=seed, images=True, dtype=np.float32)
        if c.get("n_train"):
            data = (data[0][: c["n_train"]], data[1][: c["n_train"]], data[2], data[3])
        model = ds_cnn(widths=c["widths"], rng=seed, dtype=np.float32)
        layers = [l for l in model.layers if isinstance(l, PointwiseConv2d)]
    Xtr, ytr = data[0], data[1]
    train(model, Xtr, ytr, Adam(c["lr"]), epochs=c["dense_epochs"], seed=seed)
    return model, layers, data


def _layers_of(model, template_model, template_layers):
    idx = [template_model.layers.index(l) for l in template_layers]
    return [model.layers[i] for i in idx]


def prune_run(dense_model, dense_layers, data, pattern, s, schedule, c, seed):
    """Accuracy and achieved sparsity of one (pattern, sparsity, schedule)."""
    from ..nn import Adam, accuracy, train

    Xtr, ytr, Xte, yte = data
    model = copy.deepcopy(dense_model)
    layers = _layers_of(model, dense_model, dense_layers)
    steps_per_epoch = -(-len(Xtr) // 64)
    if schedule in ("oneshot", "oneshot_ft"):
        for l in layers:
            l.set_mask(pattern_mask(l.W, pattern, s))
        if schedule == "oneshot_ft":
            train(model, Xtr, ytr, Adam(c["lr"] / 2), epochs=c["ft_epochs"], seed=seed + 1, layers=layers)
    else:
        total = c["ft_epochs"] * steps_per_epoch
        end = max(1, int(0.7 * total))
        method, blocksize = parse_pattern(pattern)
        pruner = GradualPruner(s, begin_step=0, end_step=end, frequency=max(1, steps_per_epoch // 2),
                               method=method, blocksize=blocksize or (1, 1))
        train(model, Xtr, ytr, Adam(c["lr"] / 2), epochs=c["ft_epochs"], seed=seed + 1, pruner=pruner,
              layers=layers)
        # the schedule ends exactly at s; make sure the final mask is the target one
        for l, m in zip(layers, pruner.step(total, [l.W for l in layers])):
            if l.mask is not m:
                l.set_mask(m)
    achieved = 1.0 - sum(int(np.count_nonzero(l.W)) for l in layers) / sum(l.W.size for l in layers)
    return accuracy(model, Xte, yte), achieved


def run_one(model_name, seed, cfg, log=print):
    """Train one model dense with one seed, then every (pattern, sparsity, schedule)."""
    import threadpoolctl

    from ..nn import accuracy

    c = cfg[model_name]
    runs = []
    with threadpoolctl.threadpool_limits(1):  # tiny matrices: threads only add overhead
        dense, layers, data = setup(model_name, cfg, seed)
        acc0 = accuracy(dense, data[2], data[3])
        log(f"{model_name} seed {seed}: dense test accuracy {acc0:.4f}")
        for pattern in cfg["patterns"]:
            for s in sorted({pattern_sparsity(pattern, s) for s in cfg["sparsities"]}):
                for sched in ["oneshot", "oneshot_ft"] + ([] if _is_nm(pattern) else ["gradual"]):
                    acc, ach = prune_run(dense, layers, data, pattern, s, sched, c, seed)
                    runs.append({"model": model_name, "seed": seed, "pattern": pattern, "sparsity": s,
                                 "schedule": sched, "acc": acc, "achieved_sparsity": ach,
                                 "drop_points": 100 * (acc0 - acc)})
                    log(f"  {model_name} seed {seed} {pattern:>3} s={s:.2f} {sched:>10}: acc {acc:.4f} "
                        f"(drop {100 * (acc0 - acc):+.2f} points, achieved sparsity {ach:.4f})")
    return {"model": model_name, "seed": seed, "acc": acc0}, runs


def _run_one_job(args):
    return run_one(*args)


def run(cfg, jobs=1, log=print):
    """Every model and seed (in ``jobs`` processes); returns the results document."""
    t_start = time.time()
    work = [(m, seed, cfg) for m in cfg["models"] for seed in cfg.get(f"{m}_seeds", cfg["seeds"])]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as ex:
            results = list(ex.map(_run_one_job, work))
    else:
        results = [run_one(m, seed, cfg, log) for m, seed, cfg in work]
    doc = {"config": cfg, "dense": {}, "runs": []}
    for dense, runs in results:
        doc["dense"].setdefault(dense["model"], []).append({"seed": dense["seed"], "acc": dense["acc"]})
        doc["runs"] += runs
    doc["summary"] = summarise(doc)
    doc["seconds"] = time.time() - t_start
    return doc


def summarise(doc):
    """Mean accuracy over seeds per (model, pattern, sparsity, schedule), and the 90 % gradual drop."""
    out = {}
    for model_name, ds in doc["dense"].items():
        dense_acc = float(np.mean([d["acc"] for d in ds]))
        rows = {}
        for r in doc["runs"]:
            if r["model"] != model_name:
                continue
            rows.setdefault((r["pattern"], r["sparsity"], r["schedule"]), []).append(r["acc"])
        table = [{"pattern": p, "sparsity": s, "schedule": sc, "acc_mean": float(np.mean(a)),
                  "drop_points": 100 * (dense_acc - float(np.mean(a))), "n_seeds": len(a)}
                 for (p, s, sc), a in sorted(rows.items())]
        at90 = {t["pattern"]: t["drop_points"] for t in table if abs(t["sparsity"] - 0.9) < 1e-9
                and t["schedule"] == "gradual"}
        out[model_name] = {"dense_acc_mean": dense_acc, "table": table, "gradual_drop_at_0.9": at90,
                           "target_met_1x1": (at90.get("1x1", np.inf) <= 1.0) if at90 else None}
    return out


def plot_accuracy(doc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(doc["summary"])
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4), squeeze=False)
    colors = {"1x1": "C0", "4x1": "C1", "1x4": "C2", "2:4": "C3", "1:4": "C4"}
    styles = {"oneshot": ":", "oneshot_ft": "--", "gradual": "-"}
    for ax, m in zip(axes[0], models):
        S = doc["summary"][m]
        for pat in doc["config"]["patterns"]:
            for sched, ls in styles.items():
                rows = [t for t in S["table"] if t["pattern"] == pat and t["schedule"] == sched]
                if not rows:
                    continue
                xs = [t["sparsity"] for t in rows]
                ys = [100 * t["acc_mean"] for t in rows]
                ax.plot(xs, ys, ls, marker="s" if _is_nm(pat) else "o", color=colors[pat], ms=4,
                        label=f"{pat} {sched}")
        ax.axhline(100 * S["dense_acc_mean"], color="k", lw=0.8, label="dense")
        ax.axhline(100 * S["dense_acc_mean"] - 1, color="k", lw=0.8, ls=":", label="dense - 1 point")
        ax.set(title=f"{m.upper()} on digits", xlabel="sparsity of the pruned layers", ylabel="test accuracy (%)")
        lo = min(100 * t["acc_mean"] for t in S["table"])
        ax.set_ylim(max(lo - 2, 0), 100.5)
    axes[0][-1].legend(fontsize=6, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def pareto(doc, latency_doc):
    """Points (pattern, sparsity, speedup, accuracy) for the CNN (gradual, or one-shot+FT for N:M).

    Speedup is the MobileNetV1 end-to-end speedup measured for the same pattern and
    sparsity, as the network would be deployed: each layer's format chosen automatically
    (rows of mode ``"auto"``: a layer below its break-even stays dense), or, in a latency
    file without those, every layer sparse.  N:M has no CPU kernel of its own: it runs as
    CSR and takes the 1x1 number.  A point is on the front when no other point is both
    faster and more accurate.
    """
    model = "cnn" if "cnn" in doc["summary"] else next(iter(doc["summary"]))
    S = doc["summary"][model]
    mode = "auto" if any(r["mode"] == "auto" for r in latency_doc["rows"]) else "sparse"
    speed = {(r["pattern"], round(r["sparsity"], 4)): r["speedup_vs_dense"]
             for r in latency_doc["rows"] if r["mode"] == mode}
    pts = [{"pattern": "dense", "sparsity": 0.0, "speedup": 1.0, "acc": S["dense_acc_mean"]}]
    for t in S["table"]:
        want = "oneshot_ft" if _is_nm(t["pattern"]) else "gradual"
        if t["schedule"] != want:
            continue
        key = ("1x1" if _is_nm(t["pattern"]) else t["pattern"], round(t["sparsity"], 4))
        if key in speed:
            pts.append({"pattern": t["pattern"], "sparsity": t["sparsity"], "speedup": speed[key], "acc": t["acc_mean"]})
    for p in pts:
        p["on_front"] = not any(q["speedup"] > p["speedup"] and q["acc"] > p["acc"] for q in pts)
    return {"model": model, "latency_mode": mode, "points": pts}


def plot_pareto(par, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    colors = {"dense": "k", "1x1": "C0", "4x1": "C1", "1x4": "C2", "2:4": "C3", "1:4": "C4"}
    for p in par["points"]:
        ax.scatter(p["speedup"], 100 * p["acc"], color=colors.get(p["pattern"], "C5"),
                   edgecolor="k" if p["on_front"] else "none", s=60 if p["on_front"] else 30, zorder=3)
        ax.annotate(f"{p['pattern']} {p['sparsity']:.2f}", (p["speedup"], 100 * p["acc"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    front = sorted((p for p in par["points"] if p["on_front"]), key=lambda p: p["speedup"])
    ax.plot([p["speedup"] for p in front], [100 * p["acc"] for p in front], "k--", lw=0.8, label="Pareto front")
    ax.set(xlabel="MobileNetV1 end-to-end speedup vs dense (measured)",
           ylabel=f"{par['model'].upper()} test accuracy on digits (%)",
           title="sparsity / speedup / accuracy trade-off")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _latency_doc(parser, path, given: bool):
    """The latency results for the Pareto points, or None when the default file is absent; a
    file named by ``--latency`` must exist and hold latency rows (usage error otherwise)."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        if given:
            parser.error(f"argument --latency: no such file {str(path)!r}")
        return None
    except (OSError, ValueError) as exc:
        parser.error(f"argument --latency: cannot read {str(path)!r} ({exc})")
    rows = doc.get("rows") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"mode", "sparsity", "pattern", "speedup_vs_dense"} <= set(r)
                                             for r in rows):
        parser.error(f"argument --latency: {str(path)!r} is not a latency file "
                     "(python -m sparsekit.experiments.latency writes one)")
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sparsekit.experiments.pruning", description=__doc__.split("\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="tiny models and budgets (seconds; the default)")
    g.add_argument("--full", action="store_true", help="the committed results (minutes)")
    p.add_argument("--jobs", type=int, default=1, help="processes, one (model, seed) each (default 1)")
    p.add_argument("--out", default=None, help="output folder (default results/pruning)")
    p.add_argument("--latency", default=None, help="latency JSON for the Pareto plot "
                   "(default results/latency/latency_full.json)")
    p.add_argument("--replot", action="store_true", help="reuse the saved pruning JSON: redo only the plots "
                   "and the Pareto points (e.g. after new latency results)")
    a = p.parse_args(argv)
    if a.jobs < 1:
        p.error("--jobs must be >= 1")
    if a.out is not None:
        check_output_folder(p, "--out", a.out)
    cfg = copy.deepcopy(FULL if a.full else QUICK)
    name = "full" if a.full else "quick"
    lat = a.latency or (RESULTS / "latency" / "latency_full.json")
    lat_doc = _latency_doc(p, lat, given=a.latency is not None)  # checked before minutes of training
    d = out_dir("pruning", a.out)
    if a.replot:
        saved = d / f"pruning_{name}.json"
        if not saved.is_file():
            p.error(f"--replot: no saved run {str(saved)!r}; run without --replot first (or pass its --out)")
        doc = json.loads(saved.read_text())
    else:
        doc = run(cfg, jobs=a.jobs)
        doc["mode"] = name
        doc["environment"] = environment()
    if lat_doc is not None:
        doc["pareto"] = pareto(doc, lat_doc)
        try:
            doc["pareto"]["latency_file"] = str(Path(lat).resolve().relative_to(RESULTS.parent))
        except ValueError:
            doc["pareto"]["latency_file"] = str(lat)
        plot_pareto(doc["pareto"], d / f"pareto_{name}.png")
    write_json(d / f"pruning_{name}.json", doc)
    plot_accuracy(doc, d / f"pruning_{name}.png")
    for m, S in doc["summary"].items():
        print(f"{m}: dense {100 * S['dense_acc_mean']:.2f} %; gradual drop at 0.9 (points): "
              + ", ".join(f"{k} {v:+.2f}" for k, v in S["gradual_drop_at_0.9"].items()))
    print(f"saved {d / f'pruning_{name}.json'} and .png")
    return doc


if __name__ == "__main__":
    main()
