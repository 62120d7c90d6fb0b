"""Grade exercise notebooks: ``python -m sparsekit.grade PATH... [--json FILE] [--csv FILE] [--timeout S]``.

Each notebook (a PATH may be a folder) is executed from top to bottom with nbclient in a fresh
kernel, with a per-cell timeout, errors allowed and a hanging cell interrupted.  Every
``check(...)`` call in the notebook appends its result to a JSON-lines file the grader names in
the kernel's environment (``SPARSEKIT_GRADE_RESULTS``), so results survive cells that fail
later and a kernel that dies.  A question whose check never ran scores 0; the maximum of each
question comes from the question definitions, never from the notebook.

The questions expected from a notebook are all those of its exercise set: ``NN_`` in its file
name (``01_sparse_vectors``, ``alice_01_sparse_vectors``) -> set ``exNN``, else the set most of
its ``check`` calls name; a deleted check cell scores 0, it does not shrink the maximum.  Checks
of other sets are ignored when the name fixes the set, graded beside it otherwise.  One broken submission
(invalid JSON, a dead kernel, an endless loop) never stops the others.

Prints a table per notebook, the pairs of submissions of one set that share answer cells word for
word (:mod:`sparsekit.grading.similar`: a pointer to read them side by side, not a verdict) and, last,
``score: X/Y`` over all notebooks; ``--json`` writes the whole report, ``--csv`` a gradebook (one
row per notebook, one column per question).

Trust: a submission's code runs with the grader's rights, so it can do what any program of
yours can.  It could append forged lines to its own results file, and, graded at the same time
as others (``--jobs`` > 1), to theirs; the reference answers ship in the package
(``sparsekit.grading.exNN``).  The grader catches mistakes, not cheating: grade untrusted
submissions one at a time (``--jobs 1``) inside a container or a throwaway account per batch,
and read the code of a suspicious full score.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .cli import check_output_file
from .grading.similar import format_similar, similar_submissions
from .grading.engine import (COMPILE_ENV, EXERCISE_SETS, RESULTS_ENV, SEED_ENV, TIMEOUT_ENV, check_seconds,
                             get_question, questions_of)

NOT_FINISHED = "not finished: the grader was stopped (Ctrl-C) while this notebook ran"
CHECK_CALL = re.compile(r"""check\(\s*["'](ex\d\d\.\w+)["']""")
SET_IN_NAME = re.compile(r"(?<!\d)(\d\d)_")  # 01_topic, alice_01_topic; not the 24_ of 2024_


def find_notebooks(paths) -> list:
    """Notebooks named by ``paths`` (files or folders, searched recursively), in order, no duplicates."""
    found = []
    for p in map(Path, paths):
        if p.is_dir():  # hidden files and folders (.ipynb_checkpoints, macOS's ._x) and __MACOSX are not submissions
            found.extend(q for q in sorted(p.rglob("*.ipynb"))
                         if not any(part.startswith(".") or part == "__MACOSX" for part in q.relative_to(p).parts))
        elif p.exists():
            if p.suffix != ".ipynb":
                raise ValueError(f"not a notebook (.ipynb): {p}")
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    seen, out = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def exercise_set(path: Path, text: str) -> tuple:
    """``(set, named)``: the exercise set a notebook answers and whether its file name says so.

    The name decides when it holds exactly one known set's ``NN_``; else the set most of the
    notebook's ``check`` calls name (``None`` when it has none)."""
    in_name = {f"ex{nn}" for nn in SET_IN_NAME.findall(path.name)} & set(EXERCISE_SETS)
    if len(in_name) == 1:
        return in_name.pop(), True
    called = [qid.split(".")[0] for qid in CHECK_CALL.findall(text) if get_question(qid) is not None]
    return (max(called, key=called.count) if called else None), False


def expected_questions(path: Path, text: str) -> list:
    """Question ids a notebook should answer: its set's questions, then any other checked ones
    (those only when the file name does not fix the set)."""
    set_id, named = exercise_set(path, text)
    ids = [q.id for q in questions_of(set_id)] if set_id else []
    if not named:
        for qid in CHECK_CALL.findall(text):
            if qid not in ids and get_question(qid) is not None:
                ids.append(qid)
    return ids


def read_results(path: Path) -> dict:
    """The last recorded result per question from a JSON-lines file; malformed lines are skipped."""
    results = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return results
    for line in lines:
        try:
            r = json.loads(line)
            qid = r["question"]
            score = int(r["score"])
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(qid, str):
            results[qid] = dict(r, score=score)
    return results


class _StuckKernel(Exception):
    """A cell ran past its timeout and the interrupt did not stop it."""


class _Stopped(Exception):
    """The grader is being stopped (Ctrl-C): no further cell is started."""


_ACTIVE = {}  # id(client) -> NotebookClient, for the kernels to kill when the grader is stopped (Ctrl-C)
_ACTIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def cell_label(nb, index: int) -> str:
    """``cell 7 ("def break_even(s, v):")``: numbered from 1 over all cells (markdown too), with its first line."""
    try:
        first = next((line.strip() for line in str(nb.cells[index].get("source", "")).splitlines() if line.strip()), "")
    except (IndexError, AttributeError, TypeError):
        first = ""
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"cell {index + 1}" + (f' ("{first}")' if first else "")


async def _kernel_answers(client, seconds: float) -> bool:
    """Whether the kernel answers a ``kernel_info`` request within ``seconds`` (a busy kernel does not)."""
    from queue import Empty

    from nbclient.util import ensure_async

    kc = client.kc
    msg_id = kc.kernel_info()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ensure_async(kc.shell_channel.get_msg(timeout=left))
        except Empty:
            return False
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return True
    return False


def _execute(nb, workdir: Path, env: dict, timeout: float) -> list:
    """Run the notebook in a fresh kernel; return a list of problems (errors are not fatal).

    A cell that runs past ``timeout`` is interrupted.  It has stopped when the kernel answers
    again (a ``check`` that catches the interrupt ends its cell without an error); if it has not
    (compiled code that never returns to Python ignores the interrupt), the cells after it would
    each wait out their own timeout on a busy kernel, so execution stops there and the problem says so.
    """
    from nbclient import NotebookClient

    timed_out = {}

    async def on_cell_error(cell, cell_index, execute_reply):
        if execute_reply.get("content", {}).get("ename") != "CellTimeoutError":
            return
        stopped = any(o.get("output_type") == "error" for o in cell.get("outputs", [])) \
            or await _kernel_answers(client, 10)
        timed_out[cell_index] = stopped
        if not stopped:
            raise _StuckKernel(f"{cell_label(nb, cell_index)}: ran longer than {timeout:g} s and did not stop "
                               "when interrupted (compiled code in an endless loop?); the cells after it were not run")

    def on_cell_start(cell, cell_index):
        if _STOPPING.is_set():
            raise _Stopped

    client = NotebookClient(
        nb, timeout=max(1, math.ceil(timeout)), kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"the cell ran longer than {timeout:g} s",
                          "traceback": []},
        startup_timeout=120, resources={"metadata": {"path": str(workdir)}}, on_cell_error=on_cell_error,
        on_cell_start=on_cell_start,
    )
    problems = []
    with _ACTIVE_LOCK:
        _ACTIVE[id(client)] = client
    try:
        if _STOPPING.is_set():
            raise _Stopped
        client.execute(env=env)
    except _StuckKernel as exc:
        problems.append(str(exc))
    except Exception as exc:  # dead kernel, kernel that never starts, ...
        if _STOPPING.is_set():
            problems.append(NOT_FINISHED)
        else:
            problems.append(f"execution stopped: {type(exc).__name__}: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(id(client), None)
    for i, cell in enumerate(nb.cells):
        if timed_out.get(i):
            problems.append(f"{cell_label(nb, i)}: ran longer than {timeout:g} s and was interrupted")
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"{cell_label(nb, i)}: {out.get('ename')}: {str(out.get('evalue'))[:120]}")
    return problems


def _kill_active_kernels() -> None:
    """Stop every kernel a grading thread is running (their executions then end as dead kernels)."""
    import signal

    with _ACTIVE_LOCK:
        clients = list(_ACTIVE.values())
    for client in clients:
        try:
            pid = client.km.provisioner.pid if client.km is not None and client.km.provisioner else None
        except Exception:  # noqa: BLE001 - a kernel that is starting or gone
            pid = None
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def grade_notebook(path, *, timeout: float = 600, case_timeout: float | None = None, seed: int | None = None,
                   compile_time: float | None = None) -> dict:
    """Execute one notebook and return its report (a JSON-serialisable dict).  Never raises."""
    import nbformat

    path = Path(path)
    report = {"notebook": str(path), "questions": [], "score": 0, "max_score": 0, "problems": []}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        text = None
        report["problems"].append(f"could not read: {exc}")
    results = {}
    nb = None
    if text == "":
        report["problems"].append("empty file: not a notebook")
    elif text:
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception as exc:
            report["problems"].append(f"not a valid notebook: {type(exc).__name__}: {str(exc)[:200]}")
    if nb is not None:  # checks named in code cells only: a check(...) quoted in prose is not an answer
        try:
            text = "\n".join(str(c.get("source", "")) for c in nb.cells
                             if isinstance(c, dict) and c.get("cell_type") == "code")
        except (TypeError, AttributeError):
            report["problems"].append("not a valid notebook: its cells are not a list of cells")
            nb = None
    text = text or ""
    expected = expected_questions(path, text)
    report["set"] = exercise_set(path, text)[0]
    if not expected and nb is not None:
        report["problems"].append("no exercise set: the file name has no NN_ (as in alice_03_csr.ipynb) "
                                  "and no code cell calls check(...)")
    if nb is not None:
        with tempfile.TemporaryDirectory(prefix="sparsekit-grade-") as tmp:
            results_file = Path(tmp) / "results.jsonl"
            env = dict(os.environ)
            env[RESULTS_ENV] = str(results_file)
            env.pop(SEED_ENV, None)
            env.pop(TIMEOUT_ENV, None)
            env.pop(COMPILE_ENV, None)
            if compile_time is not None:
                env[COMPILE_ENV] = str(compile_time)
            if seed is not None:
                env[SEED_ENV] = str(seed)
            if case_timeout is not None:
                env[TIMEOUT_ENV] = str(case_timeout)
            try:
                report["problems"].extend(_execute(nb, path.resolve().parent, env, timeout))
            except Exception as exc:  # e.g. nbclient missing: still report every question
                report["problems"].append(f"could not execute: {type(exc).__name__}: {exc}")
            results = read_results(results_file)
    named = exercise_set(path, text)[1]
    others = [q for q in results if q not in expected and get_question(q) is not None]
    if named and others:
        report["problems"].append(f"ignored checks of other exercise sets: {', '.join(others)}")
        others = []
    called = set(CHECK_CALL.findall(text))
    for qid in expected + others:
        q = get_question(qid)
        max_score = q.max_score
        r = results.get(qid)
        if r is None:
            why = ("its check cell did not record a result (an error or a stop before it?)" if qid in called
                   else f'no check("{qid}", ...) in the notebook\'s code (deleted?)')
            row = {"question": qid, "score": 0, "max_score": max_score, "status": "not run",
                   "failed_cases": [why], "failures": []}
        else:
            score = max(0, min(int(r["score"]), max_score))
            status = "passed" if score == max_score else ("partial" if score > 0 else "failed")
            cases = [c for c in r.get("cases", []) if isinstance(c, dict) and not c.get("passed")]
            failures = [{"case": str(c.get("name", "?")), "message": str(c.get("message", ""))[:500],
                         "hint": str((c.get("details") or {}).get("hint", ""))[:300]} for c in cases]
            if r.get("error"):
                failed = [str(r["error"])[:120]]
            elif score == 0 and cases:  # nothing worked: the first reason says most
                failed = [str(cases[0].get("message", "?"))[:120]]
            else:  # which cases failed, and why
                failed = [f"{f['case']}: {f['message'][:100]}" for f in failures]
            row = {"question": qid, "score": score, "max_score": max_score, "status": status,
                   "failed_cases": failed, "failures": failures}
        report["questions"].append(row)
    report["score"] = sum(r["score"] for r in report["questions"])
    report["max_score"] = sum(r["max_score"] for r in report["questions"])
    set_id, named = exercise_set(path, text)
    report["exercise_set"] = set_id
    report["set_from"] = "file name" if named else ("checks" if set_id else None)
    return report


def format_report(report: dict) -> str:
    lines = [report["notebook"]]
    width = max([len(r["question"]) for r in report["questions"]] + [8])
    lines.append(f"  {'question':<{width}}  {'score':>7}  status")
    for r in report["questions"]:
        score = f"{r['score']}/{r['max_score']}"
        extra = f"  ({'; '.join(r['failed_cases'])[:100]})" if r["failed_cases"] else ""
        lines.append(f"  {r['question']:<{width}}  {score:>7}  {r['status']}{extra}")
    for p in report["problems"]:
        lines.append(f"  ! {p}")
    lines.append(f"  {'total':<{width}}  {str(report['score']) + '/' + str(report['max_score']):>7}")
    return "\n".join(lines)


def grade(paths, *, timeout: float = 600, case_timeout: float | None = None, seed: int | None = None,
          compile_time: float | None = None, jobs: int = 2, on_report=None) -> dict:
    """Grade every notebook under ``paths``; return {"notebooks": [...], "score": X, "max_score": Y}.

    ``on_report(report)`` is called as each notebook finishes.  Stopped with Ctrl-C, the running
    kernels are killed and the summary holds the notebooks finished by then, with ``"interrupted": True``.
    """
    notebooks = find_notebooks(paths)
    jobs = max(1, min(int(jobs), len(notebooks) or 1))
    reports = [None] * len(notebooks)
    interrupted = False
    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = {}
    try:
        for i, p in enumerate(notebooks):
            futures[pool.submit(_safe_grade, p, timeout, case_timeout, seed, compile_time)] = i
        for fut in as_completed(futures):
            reports[futures[fut]] = fut.result()
            if on_report is not None:
                on_report(reports[futures[fut]])
    except KeyboardInterrupt:
        interrupted = True
        _STOPPING.set()
        _kill_active_kernels()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _STOPPING.clear()
    for fut, i in futures.items():  # finished just before the stop, not yet collected
        if reports[i] is None and fut.done() and not fut.cancelled() and fut.exception() is None:
            reports[i] = fut.result()
    done = [r for r in reports if r is not None and NOT_FINISHED not in r["problems"]]
    summary = {"notebooks": done, "score": sum(r["score"] for r in done),
               "max_score": sum(r["max_score"] for r in done)}
    by_set = {}
    for r in done:
        if r.get("set"):
            by_set.setdefault(r["set"], []).append(r["notebook"])
    summary["similar"] = similar_submissions(by_set)
    if interrupted:
        summary["interrupted"] = True
        summary["not_graded"] = [str(p) for p, r in zip(notebooks, reports) if r is None or r not in done]
    return summary


def gradebook(summary: dict) -> list[list]:
    """The report as a table: a header, then one row per notebook with its score, its maximum,
    the score of each question (blank where the notebook has no such question) and its problems."""
    qids = sorted({q["question"] for nb in summary["notebooks"] for q in nb["questions"]})
    rows = [["notebook", "score", "max_score", *qids, "problems"]]
    for nb in summary["notebooks"]:
        scores = {q["question"]: q["score"] for q in nb["questions"]}
        rows.append([nb["notebook"], nb["score"], nb["max_score"], *(scores.get(q, "") for q in qids),
                     " | ".join(nb["problems"])])
    return rows


def write_gradebook(summary: dict, path) -> None:
    """Write :func:`gradebook` as CSV; text a spreadsheet would run as a formula (a file or an error
    message starting with ``=``, ``+``, ``-`` or ``@``) is written with a leading ``'``."""
    def cell(value):
        return "'" + value if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value

    with open(path, "w", newline="", encoding="utf-8-sig") as fh:  # the BOM tells Excel it is UTF-8
        csv.writer(fh).writerows([[cell(v) for v in row] for row in gradebook(summary)])


def _safe_grade(path, timeout, case_timeout, seed, compile_time) -> dict:
    try:
        return grade_notebook(path, timeout=timeout, case_timeout=case_timeout, seed=seed,
                              compile_time=compile_time)
    except Exception as exc:  # pragma: no cover - grade_notebook already guards itself
        return {"notebook": str(path), "questions": [], "score": 0, "max_score": 0,
                "problems": [f"grader error: {type(exc).__name__}: {exc}"]}


EPILOG = """\
Which questions: a notebook answers the exercise set its file name names (NN_, as in
alice_03_csr.ipynb), else the set most of its check(...) calls name; every question of the set
counts, so a deleted check scores 0.  Cells are run in the submission's own folder.

Timeouts: --timeout is per cell; a check cell runs every case of its question (up to
--case-timeout each, plus --compile-time for the first), so keep --timeout well above them.

Trust: a submission's code runs with your rights and could forge its results (or, with --jobs 2 or
more, those graded beside it); grade untrusted work with --jobs 1 in a container.

Shared answers: pairs of notebooks of one exercise set whose answer cells (those not in the
exercise notebook) are the same once comments and spacing are dropped are listed after the
tables, and in the JSON under "similar": read them side by side; short answers come out alike.

Ctrl-C stops the grading: the running kernels are killed and the notebooks finished so far are
printed and written.  Exit status: 0 done, 2 usage error, 130 stopped with Ctrl-C."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparsekit.grade",
                                     description="Execute exercise notebooks and grade every check.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="notebooks or folders of notebooks (searched recursively; "
                                                 "hidden files and __MACOSX folders are skipped)")
    parser.add_argument("--json", type=Path, help="also write a machine-readable report to this file")
    parser.add_argument("--csv", type=Path, help="also write a gradebook to this file: one row per notebook, "
                                                 "one column per question")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--case-timeout", type=float, default=None,
                        help="seconds per check case inside the notebook (default: the check's own, 10)")
    parser.add_argument("--compile-time", type=float, default=None,
                        help="extra seconds for the first case of each check, for numba compilation "
                             "(default: the check's own, 30)")
    parser.add_argument("--seed", type=int, default=None, help="draw different random cases than the "
                                                                "learners saw")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks graded at once (default 2)")
    args = parser.parse_args(argv)
    for flag, value, positive in (("--timeout", args.timeout, True), ("--case-timeout", args.case_timeout, True),
                                  ("--compile-time", args.compile_time, False)):
        if value is not None:
            try:
                check_seconds(f"argument {flag}:", value, positive=positive)
            except ValueError as exc:
                parser.error(str(exc))
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        found = find_notebooks(args.paths)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    if not found:
        parser.error("no notebooks found")
    for flag, file in (("--json", args.json), ("--csv", args.csv)):
        if file:  # the report is written after grading: find out now whether it can be
            check_output_file(parser, flag, file)

    def show(report):  # each table as its notebook finishes
        print(format_report(report), flush=True)
        print(flush=True)

    summary = grade(args.paths, timeout=args.timeout, case_timeout=args.case_timeout, seed=args.seed,
                    compile_time=args.compile_time, jobs=args.jobs, on_report=show)
    summary["settings"] = {"seed": args.seed, "timeout_s": args.timeout, "case_timeout_s": args.case_timeout,
                           "compile_time_s": args.compile_time, "jobs": args.jobs,
                           "graded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.csv:
        write_gradebook(summary, args.csv)
    if summary["similar"]:
        print(format_similar(summary["similar"]), end="\n\n")
    if summary.get("interrupted"):
        print(f"stopped (Ctrl-C): {len(summary['notebooks'])} of {len(found)} notebooks graded; "
              f"not graded: {', '.join(summary['not_graded'])}", file=sys.stderr)
    print(f"score: {summary['score']}/{summary['max_score']}")
    return 130 if summary.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
