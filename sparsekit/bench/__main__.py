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


def _distinct(vals: list, text: str) -> list:
    """The values once each, in order; none at all is a usage error (``--blocks ,`` ran nothing,
    and a value given twice was timed twice and counted twice in the stack totals)."""
    if not vals:
        raise argparse.ArgumentTypeError(f"expected at least one value, got {text!r}")
    return list(dict.fromkeys(vals))


def _ints(text: str) -> list:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"thread counts must be >= 1, got {text!r}")
    return _distinct(vals, text)


def _floats(text: str) -> list:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    return _distinct(vals, text)


def _names(text: str) -> list:
    return _distinct([v.strip() for v in text.split(",") if v.strip()], text)


def _blocks(text: str) -> list:
    from .cases import block_label, parse_block

    labels = []
    for name in _names(text):
        try:
            labels.append(block_label(parse_block(name)))  # "4X1" and "4x1" are one block shape
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return _distinct(labels, text)


def _break_even_unmeasured(args) -> str:
    """Why this run cannot give a break-even table ("" if it can): the table compares
    ``numba-simd`` with dense BLAS at one thread, over a sweep of sparsities."""
    from .presets import get_preset
    from .report import BREAK_EVEN_BACKENDS

    preset = get_preset(args.preset)
    if not set(BREAK_EVEN_BACKENDS) & set(args.backends or preset["backends"]):
        return f"the table is measured with {'/'.join(BREAK_EVEN_BACKENDS)}, which this run leaves out"
    if 1 not in (args.threads or preset["threads"]):
        return "the table is measured at 1 thread, which this run leaves out"
    if len(args.sparsities or preset["sparsities"]) < 2:
        return "a break-even sparsity needs at least 2 sparsities to interpolate between"
    return ""


def _check_args(p: argparse.ArgumentParser, args) -> None:
    """Refuse, with a usage error, what would otherwise stop the run late or with a traceback."""
    import numba

    from ..backends import get_backend
    from ..cli import check_output_folder
    from .extras import EXTRAS

    for name in args.backends or []:
        try:
            get_backend(name)
        except KeyError as exc:
            p.error(f"argument --backends: {exc.args[0]}")
    if args.extras is not None and args.extras != ["none"]:
        bad = [e for e in args.extras if e not in EXTRAS]
        if bad:
            p.error(f"argument --extras: unknown {', '.join(bad)}; choose from {', '.join(EXTRAS)} or 'none'")
    if args.threads and max(args.threads) > numba.config.NUMBA_NUM_THREADS:
        p.error(f"argument --threads: {max(args.threads)} threads requested, numba has "
                f"{numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS)")
    if args.sparsities is not None and not all(0.0 <= s <= 1.0 for s in args.sparsities):
        p.error(f"argument --sparsities: every sparsity must be in [0, 1], got {args.sparsities}")
    if args.repeats is not None and args.repeats < 1:
        p.error(f"argument --repeats: must be >= 1, got {args.repeats}")
    if args.min_time is not None and not 0 <= args.min_time < 3600:
        p.error(f"argument --min-time: must be a number of seconds in [0, 3600), got {args.min_time}")
    args.skip_break_even = ""
    if args.save_break_even or args.preset == "full":
        why = _break_even_unmeasured(args)
        if why and args.save_break_even:
            p.error(f"argument --save-break-even: {why}")
        args.skip_break_even = why
    if args.out is not None:  # the results are written after the run: find out now if they can be
        check_output_folder(p, "--out", args.out)


def parser() -> argparse.ArgumentParser:
    from .presets import PRESETS

    p = argparse.ArgumentParser(prog="python -m sparsekit.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="quick", choices=list(PRESETS),
                   help="; ".join(f"{k}: {v['description'].replace('%', '%%')}" for k, v in PRESETS.items()))
    p.add_argument("--threads", type=_ints, help="thread counts, e.g. 1,2 (default: the preset's)")
    p.add_argument("--backends", type=_names, help="comma-separated backend names (default: the preset's)")
    p.add_argument("--blocks", type=_blocks, help="block shapes RxC (rows = C_out), e.g. 1x1,4x1")
    p.add_argument("--sparsities", type=_floats, help="e.g. 0.5,0.9")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, help="timed repeats per product (default: the preset's)")
    p.add_argument("--min-time", type=float, help="seconds per repeat at least (default: the preset's)")
    p.add_argument("--extras", type=_names, help="stream,spmv_llc,axpy,threads,sequence (default: the preset's); 'none' for none")
    p.add_argument("--out", help="output folder (default: results/bench/PRESET)")
    p.add_argument("--plot", action="store_true", help="draw speedup vs sparsity plots (PNG)")
    p.add_argument("--save-break-even", action="store_true",
                   help="merge this run's break-even sparsities (numba-simd against dense BLAS, 1 thread) into "
                        "sparsekit/data/break_even.json, which steers every automatic format choice "
                        "(always done by --preset full)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-backends", action="store_true", help="list the backends and exit")
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    _check_args(p, args)
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
    if (args.save_break_even or args.preset == "full") and not args.skip_break_even:
        data = report.save_break_even(doc)
        paths.append(report.BREAK_EVEN_PATH)
        print(f"break-even sparsities: {data['break_even']}", file=sys.stderr)
    elif args.skip_break_even:
        print(f"break-even table left as it was: {args.skip_break_even}", file=sys.stderr)
    print(md)
    print("wrote: " + ", ".join(str(p) for p in paths), file=sys.stderr)
    bad = [r for r in doc["results"] if r["status"] in ("wrong", "error")]
    if bad:
        print(f"{len(bad)} product(s) were wrong or failed: see the 'status'/'note' columns", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
