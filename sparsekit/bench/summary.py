"""The issue-3 goals, checked against a results document, and a Markdown summary of a run.

``goals(doc)`` returns one record per goal: what was measured, the figure,
the target and whether it was met (``None`` when the run lacks the data).
``render_summary(doc)`` makes the Markdown table committed as
``results/bench/SUMMARY.md``.
"""
from __future__ import annotations

__all__ = ["goals", "render_summary", "stack", "best_block"]

SERIAL = "numba-simd"
PARALLEL = "numba-parallel"


def stack(doc: dict, backend: str, block: str, sparsity: float, threads: int = 1):
    for s in doc.get("stacks", []):
        if (s["backend"] == backend and s["block"] == block and s["threads"] == threads
                and abs(s["sparsity"] - sparsity) < 1e-9):
            return s
    return None


def best_block(doc: dict, backend: str = SERIAL, sparsity: float = 0.9, threads: int = 1):
    cands = [s for s in doc.get("stacks", []) if s["backend"] == backend and s["threads"] == threads
             and abs(s["sparsity"] - sparsity) < 1e-9]
    return max(cands, key=lambda s: s["speedup"]) if cands else None


def _band(s: dict) -> str:
    """Speedup with the band given by the summed quartiles of the sparse time, and best-of."""
    lo, hi = s["dense_total_s"] / s["q3_s"], s["dense_total_s"] / s["q1_s"]
    best = f"; best-of {s['speedup_min']:.2f}x" if s.get("speedup_min") else ""
    return f"{s['speedup']:.2f}x ({lo:.2f}-{hi:.2f}{best})"


def _stack_name(doc: dict) -> str:
    from .presets import MOBILENET_LAYERS

    layers = [tuple(l) for l in doc["config"]["layers"]]
    if layers == [tuple(l) for l in MOBILENET_LAYERS]:
        return "MobileNetV1 pointwise stack"
    return f"{doc['preset']} stack ({len(layers)} layers)"


def _spmv_others(sp: dict) -> str:
    """The other 1-thread SpMV figures of the same rounds: the other dtypes' CSR and the BCSR
    block shapes, e.g. ``"float64 78%, BCSR 4x1 85%, BCSR 8x1 88%"``."""
    others = [(name, m) for name, m in sp.get("dtypes", {}).items() if name != sp.get("dtype")]
    others += [(f"BCSR {name}", m) for name, m in sp.get("blocks", {}).items()]
    return ", ".join(f"{name} {100 * m['threads']['1']['fraction_of_triad']:.0f}%"
                     for name, m in others if "1" in m.get("threads", {}))


def _spmv_note(sp: dict) -> str:
    """The SpMV goal row's note: dtype and matrix size, and the other figures of the same rounds
    (the other dtypes' CSR, the BCSR block shapes)."""
    note = f"CSR {sp.get('dtype', 'float64')}, {sp['matrix_mib']:.0f} MiB matrix"
    others = _spmv_others(sp)
    return note + (f"; same rounds: {others}" if others else "")


def goals(doc: dict) -> list:
    """One record per issue-3 goal the document has data for."""
    out = []
    name = _stack_name(doc)

    def add(goal, measured, value, target, met, how):
        out.append({"goal": goal, "measured": measured, "value": value, "target": target, "met": met,
                    "how": how})

    b = best_block(doc)
    add(f"{name}, 90%, best block, 1T {doc['config']['dtype']}",
        _band(b) + f", block {b['block']}" if b else "n/a", b["speedup"] if b else None, ">= 4.5x",
        (b["speedup"] >= 4.5) if b else None,
        f"{SERIAL}: summed dense time / summed sparse time over the layers")
    s = stack(doc, SERIAL, "1x1", 0.9)
    add("same, unstructured (1x1, CSR)", _band(s) if s else "n/a", s["speedup"] if s else None, ">= 2.6x",
        (s["speedup"] >= 2.6) if s else None, f"{SERIAL}, CSR")
    seq = doc.get("extras", {}).get("sequence", {}).get("blocks", {})
    if seq:
        label = b["block"] if b and b["block"] in seq else max(seq, key=lambda k: seq[k]["speedup_median"])
        for blk, target in ((label, 4.5), ("1x1", 2.6)):
            e = seq.get(blk)
            if e:
                q1, q3 = e["speedup_q1_q3"]
                add(f"same, {blk}, the layers run back to back (as in a network)",
                    f"{e['speedup_median']:.2f}x (quartiles {q1:.2f}-{q3:.2f} over {len(e['speedups'])} rounds)",
                    e["speedup_median"], f">= {target}x", e["speedup_median"] >= target,
                    f"{SERIAL}: one pass calls every layer once; median of per-round ratios (extras: sequence)")
    be = doc.get("break_even", {})
    for blk in ("4x1", "1x4"):
        e = be.get(blk)
        v = e["break_even"] if e else None
        upper = bool(e) and e["status"].startswith("upper")
        if v is None:
            met, shown = (False if e and len(e["points"]) > 1 else None), (e["status"] if e else "n/a")
        elif upper:
            met, shown = (True if v <= 0.5 else None), f"<= {v:.2f} ({e['status']})"
        else:
            met, shown = v <= 0.5, f"{v:.2f}"
        add(f"break-even sparsity, {blk} blocks" + (" (MNN's 1x4)" if blk == "4x1" else ""),
            shown, v, "<= 0.5", met, "speedup = 1 crossing of the stack total, interpolated")
    sc = stack(doc, "scipy", "1x1", 0.9)
    if s and sc:
        r = sc["total_s"] / s["total_s"]
        add("vs scipy.sparse, 90%, 1x1 (CSR vs CSR)", f"{r:.2f}x", r, ">= 3x", r >= 3.0,
            "scipy stack time / numba-simd stack time, same cases")
    if b:
        scb = stack(doc, "scipy", b["block"], 0.9)
        if scb:
            r = scb["total_s"] / b["total_s"]
            add(f"vs scipy.sparse, 90%, best block {b['block']}", f"{r:.2f}x", r, ">= 3x", r >= 3.0,
                "scipy (CSR of the same matrix) / numba-simd BCSR")
    ex = doc.get("extras", {})
    sp = ex.get("spmv_llc", {}).get("threads", {}).get("1")
    if sp:
        spmv = ex["spmv_llc"]
        others = _spmv_others(spmv)
        add(f"SpMV past the LLC vs STREAM triad, 1T, {spmv.get('dtype', 'float64')}",
            f"{100 * sp['fraction_of_triad']:.0f}% ({sp['gbs_median']:.1f} of {sp['triad_gbs']:.1f} GB/s"
            + (f"; same rounds: {others})" if others else ")"), sp["fraction_of_triad"], ">= 80%",
            sp["fraction_of_triad"] >= 0.8, _spmv_note(ex["spmv_llc"]))
    ax = ex.get("axpy")
    if ax:
        r = ax["method_ratio_max_min"]
        add("SparseVector.axpy, n = 1e3..1e7, 1e3 nonzeros", f"max/min time {r:.2f}x "
            f"(bare kernel {ax['kernel_ratio_max_min']:.2f}x)", r, "<= 1.5x", r <= 1.5,
            "median time per call of u.axpy(r, v, ws)")
    th = ex.get("threads", {}).get("blocks", {})
    if th:
        label = b["block"] if b and b["block"] in th else next(iter(th))
        e = th[label]
        others = "".join(f"; {k} {v['ratio_median']:.2f}x" for k, v in th.items() if k != label)
        q1, q3 = e["ratio_q1_q3"]
        add(f"2 threads vs 1 thread, {name} 90%, {label}, paired rounds",
            f"{e['ratio_median']:.2f}x (quartiles {q1:.2f}-{q3:.2f} over {len(e['ratios'])} rounds{others}; "
            f"dense BLAS {e['dense_ratio_median']:.2f}x)", e["ratio_median"], ">= 1.7x",
            e["ratio_median"] >= 1.7, f"{SERIAL} 1T / {PARALLEL} 2T, both timed in every round (extras: threads)")
    if b:
        p1, p2 = stack(doc, PARALLEL, b["block"], 0.9, 1), stack(doc, PARALLEL, b["block"], 0.9, 2)
        if p1 and p2:
            w = lambda s: s.get("wall_total_s") or s["total_s"]  # noqa: E731  (wall clock on both sides)
            r = w(p1) / w(p2)
            d1, d2 = stack(doc, "dense-blas", b["block"], 0.9, 1), stack(doc, "dense-blas", b["block"], 0.9, 2)
            extra = f"; vs {SERIAL} 1T {w(b) / w(p2):.2f}x"
            if d1 and d2:
                extra += f"; dense BLAS 2T/1T {w(d1) / w(d2):.2f}x"
            add(f"2 threads vs 1 thread, {name} 90%, {b['block']}" + (", sweep passes" if th else ""),
                f"{r:.2f}x ({PARALLEL}{extra})", r, ">= 1.7x", r >= 1.7,
                f"{PARALLEL} stack wall time 1T / 2T, from the sweep's separate 1- and 2-thread passes")
    return out


def _fmt_met(m) -> str:
    return {True: "met", False: "**not met**", None: "no data"}[m]


def render_summary(doc: dict, results_path: str = "") -> str:
    m = doc["machine"]
    lines = [f"# Benchmark summary ({doc['preset']} preset)", "",
             f"Machine: {m['line']}", "",
             f"Run: {doc['started']} to {doc['finished']} UTC; `{doc.get('command') or 'python -m sparsekit.bench'}`",
             "", "BLAS environment: " + ", ".join(f"{k}={v}" for k, v in m["blas_env"].items()), "",
             f"Load average (1/5/15 min) at start {doc.get('load', {}).get('start')}, at end "
             f"{doc.get('load', {}).get('end')} on {m['cores']} cores (other processes share the machine).", "",
             "Timing: " + doc["config"]["timing"] + f"; {doc['config']['repeats']} repeats. Speedups are "
             "summed dense medians / summed sparse medians; in parentheses the band from the summed "
             "quartiles of the sparse time and the same ratio from best-of-repeats times.", "",
             "## Issue-3 goals", "", "| goal | measured | target | met? |", "|---|---|---|---|"]
    for g in goals(doc):
        lines.append(f"| {g['goal']} | {g['measured']} | {g['target']} | {_fmt_met(g['met'])} |")
    lines += ["", "## Stack speedup over dense BLAS at 90% sparsity, 1 thread", "",
              "| block | " + " | ".join(_backends(doc)) + " |", "|---" * (1 + len(_backends(doc))) + "|"]
    for blk in doc["config"]["blocks"]:
        cells = []
        for bk in _backends(doc):
            s = stack(doc, bk, blk, 0.9)
            cells.append(f"{s['speedup']:.2f}x" if s else "-")
        lines.append(f"| {blk} | " + " | ".join(cells) + " |")
    if "cuda" in _backends(doc):
        lines += ["", "The cuda column divides cuBLAS dense fp32 on the same GPU (not the CPU BLAS)."]
    be = doc.get("break_even", {})
    if be:
        lines += ["", "## Break-even sparsity (numba-simd, 1 thread, stack total)", "",
                  "| block | break-even | how |", "|---|---|---|"]
        for blk, e in be.items():
            v = f"{e['break_even']:.2f}" if e["break_even"] is not None else "-"
            v = ("<= " + v) if e["status"].startswith("upper") else v
            lines.append(f"| {blk} | {v} | {e['status']} |")
    b = best_block(doc)
    if b:
        lines += ["", f"## Per layer at 90%, numba-simd, 1 thread (block {b['block']} and 1x1)", "",
                  "Dense = dense BLAS of the same round; the 1x1 columns use the 1x1 (CSR) run's own "
                  "dense time for their speedup.", "",
                  "| layer | C_out x C_in x HW | dense ms | " + f"{b['block']} ms | speedup | 1x1 ms | speedup |",
                  "|---|---|---|---|---|---|---|"]
        rows = {(r["layer"], r["block"]): r for r in doc["results"] if r["backend"] == SERIAL
                and r["threads"] == 1 and abs(r["sparsity"] - 0.9) < 1e-9 and r["status"] == "ok"}
        for name, cin, cout, hw in doc["config"]["layers"]:
            rb, r1 = rows.get((name, b["block"])), rows.get((name, "1x1"))
            if rb is None:
                continue
            lines.append(f"| {name} | {cout}x{cin}x{hw} | {1e3 * rb['dense_median_s']:.3f} | "
                         f"{1e3 * rb['median_s']:.3f} | {rb['speedup']:.2f}x | "
                         + (f"{1e3 * r1['median_s']:.3f} | {r1['speedup']:.2f}x |" if r1 else "- | - |"))
        lines.append(f"| total | | {1e3 * b['dense_total_s']:.2f} | {1e3 * b['total_s']:.2f} | "
                     f"{b['speedup']:.2f}x | | |")
    seq = doc.get("extras", {}).get("sequence", {}).get("blocks", {})
    if seq:
        lines += ["", "## The stack run back to back (extras: sequence), 1 thread", "",
                  "Per layer: the sweep above (each layer timed in a loop of its own, its operands warm in "
                  "cache). Back to back: one pass calls the layers one after the other, as a network does; "
                  "median of per-round ratios, quartiles in parentheses.", "",
                  f"| block | per layer | back to back | {SERIAL} ms per pass | dense BLAS ms per pass |",
                  "|---|---|---|---|---|"]
        for blk, e in seq.items():
            s = stack(doc, SERIAL, blk, doc["extras"]["sequence"]["sparsity"])
            per_layer = f"{s['speedup']:.2f}x" if s else "-"
            q1, q3 = e["speedup_q1_q3"]
            lines.append(f"| {blk} | {per_layer} | {e['speedup_median']:.2f}x ({q1:.2f}-{q3:.2f}) | "
                         f"{1e3 * e['sparse_s']:.2f} | {1e3 * e['dense_s']:.2f} |")
    lines += ["", "## Backends", "", "| backend | available | note |", "|---|---|---|"]
    for bk in doc["backends"]:
        lines.append(f"| {bk['name']} | {'yes' if bk['available'] else 'no'} | {bk['reason']} |")
    bad = [r for r in doc["results"] if r["status"] in ("wrong", "error")]
    lines += ["", f"Rows verified and timed: {sum(r['status'] == 'ok' for r in doc['results'])}; "
              f"wrong or failed: {len(bad)}; unsupported: "
              f"{sum(r['status'] == 'unsupported' for r in doc['results'])}."]
    if results_path:
        lines += ["", f"Full data: `{results_path}`."]
    lines += ["", "## Reproduce", "", "```",
              f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m sparsekit.bench --preset {doc['preset']} --plot",
              "```", "", m.get("blas_env_note", ""), "",
              "On a machine shared with other work the medians move from run to run; compare the "
              "backends of one run (they were timed side by side), not runs with each other."]
    return "\n".join(lines) + "\n"


def _backends(doc: dict) -> list:
    seen = []
    for s in doc.get("stacks", []):
        if s["threads"] == 1 and s["backend"] != "dense-blas" and s["backend"] not in seen:
            seen.append(s["backend"])
    order = ["scipy", "numba-scalar", "numba-simd", "numba-parallel", "numba-sse2", "numba-avx2",
             "numba-avx512", "int8", "cuda"]
    return sorted(seen, key=lambda b: order.index(b) if b in order else 99)


def render_other(doc: dict, results_path: str = "") -> str:
    """A shorter section for a second machine: its goals table and 90% stack table."""
    m = doc["machine"]
    lines = [f"## Also measured on: {m['line']}", "",
             f"Preset `{doc['preset']}`, {doc['started']} UTC, `{doc.get('command')}`; load average at start "
             f"{doc.get('load', {}).get('start')} on {m['cores']} cores.", "",
             "| goal | measured | target | met? |", "|---|---|---|---|"]
    for g in goals(doc):
        lines.append(f"| {g['goal']} | {g['measured']} | {g['target']} | {_fmt_met(g['met'])} |")
    bks = _backends(doc)
    lines += ["", "Stack speedup at 90% sparsity, 1 thread:", "", "| block | " + " | ".join(bks) + " |",
              "|---" * (1 + len(bks)) + "|"]
    for blk in doc["config"]["blocks"]:
        cells = [f"{s['speedup']:.2f}x" if (s := stack(doc, bk, blk, 0.9)) else "-" for bk in bks]
        lines.append(f"| {blk} | " + " | ".join(cells) + " |")
    if "cuda" in bks:
        lines += ["", "The cuda column divides cuBLAS dense fp32 on the same GPU (not the CPU BLAS)."]
    if results_path:
        lines += ["", f"Full data: `{results_path}`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """``python -m sparsekit.bench.summary RESULTS_DIR [OTHER_DIR ...]``: Markdown on stdout."""
    import argparse

    from . import load_results

    ap = argparse.ArgumentParser(prog="python -m sparsekit.bench.summary", description=main.__doc__)
    ap.add_argument("main", help="folder (or results.json) of the run the summary is about")
    ap.add_argument("others", nargs="*", help="runs on other machines, summarised shortly")
    args = ap.parse_args(argv)
    doc = load_results(args.main)
    parts = [render_summary(doc, _json_path(args.main))]
    parts += [render_other(load_results(o), _json_path(o)) for o in args.others]
    print("\n".join(parts), end="")
    return 0


def _json_path(p: str) -> str:
    from pathlib import Path

    q = Path(p)
    return str(q / "results.json") if q.suffix != ".json" else str(q)


if __name__ == "__main__":
    raise SystemExit(main())
