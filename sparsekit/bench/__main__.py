"""Command line: ``python -m sparsekit.bench --preset quick [--threads 1,2] [--backends ...] [--plot]``.

Run without the OpenBLAS cap (the committed results were made this way)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m sparsekit.bench --preset full --plot

``--list-backends`` prints every backend and why it can or cannot run here.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def _ints(text: str) -> list:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return vals


def _floats(text: str) -> list:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str) -> list:
    return [v.strip() for v in text.split(",") if v.strip()]


def parser() -> argparse.ArgumentParser:
    from .presets import PRESETS

    p = argparse.ArgumentParser(prog="python -m sparsekit.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=list(PRESETS),
                   help="; ".join(f"{k}: {v['description'].replace('%', '%%')}" for k, v in PRESETS.items()))
    p.add_argument("--threads", type=_ints, help="thread counts, e.g. 1,2 (default: the preset's)")
    p.add_argument("--backends", type=_names, help="comma-separated backend names (default: the preset's)")
    p.add_argument("--blocks", type=_names, help="block shapes RxC (rows = C_out), e.g. 1x1,4x1")
    p.add_argument("--sparsities", type=_floats, help="e.g. 0.5,0.9")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, help="timed repeats per product (default: the preset's)")
    p.add_argument("--min-time", type=float, help="seconds per repeat at least (default: the preset's)")
    p.add_argument("--extras", type=_names, help="stream,spmv_llc,axpy,threads,sequence (default: the preset's); 'none' for none")
    p.add_argument("--out", help="output folder (default: results/bench/PRESET)")
    p.add_argument("--plot", action="store_true", help="draw speedup vs sparsity plots (PNG)")
    p.add_argument("--save-break-even", action="store_true",
                   help="write sparsekit/data/break_even.json (always done by --preset full)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-backends", action="store_true", help="list the backends and exit")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from ..backends import list_backends
    from ..machine import format_report

    if args.list_backends:
        for b in list_backends():
            ok, why = b.available()
            print(f"{b.name:15s} {'yes' if ok else 'no':4s} {b.description}\n{'':20s}{why}")
        return 0
    from . import report, summary
    from .harness import run_benchmark

    print(format_report(), file=sys.stderr)
    extras = None
    if args.extras is not None:
        extras = [] if args.extras == ["none"] else args.extras
    command = "python -m sparsekit.bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    doc = run_benchmark(args.preset, backends=args.backends, threads=args.threads, dtype=args.dtype,
                        repeats=args.repeats, min_time=args.min_time, sparsities=args.sparsities,
                        blocks=args.blocks, extras=extras, progress=not args.no_progress,
                        command=command)
    out = Path(args.out or Path("results") / "bench" / args.preset)
    paths = report.write_results(doc, out)
    if args.plot:
        from .plotting import plot_all

        paths += plot_all(doc, out)
    md = summary.render_summary(doc, str(out / "results.json"))
    (out / "SUMMARY.md").write_text(md)
    paths.append(out / "SUMMARY.md")
    if args.save_break_even or args.preset == "full":
        data = report.save_break_even(doc)
        paths.append(report.BREAK_EVEN_PATH)
        print(f"break-even sparsities: {data['break_even']}", file=sys.stderr)
    print(md)
    print("wrote: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    bad = [r for r in doc["results"] if r["status"] in ("wrong", "error")]
    if bad:
        print(f"{len(bad)} product(s) were wrong or failed: see the 'status'/'note' columns", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
