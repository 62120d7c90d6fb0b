"""python -m sparsekit.grade: solutions score full marks, exercises score 0, broken submissions are contained.

Each notebook is graded once per session: two grader runs (the course's notebooks, and a folder
of broken submissions) start together in a module-scoped fixture.
"""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["01_sparse_vectors", "02_solvers", "03_csr", "04_pruning", "05_block_formats", "06_simd_kernels",
         "07_speedups", "08_inference"]


def _submissions(folder: Path) -> None:
    """Broken and partial submissions, all for exercise set 07 (the quickest) and 01."""
    folder.mkdir()
    sol = nbformat.read(ROOT / "solutions" / "07_speedups.ipynb", as_version=4)
    check_cells = [i for i, c in enumerate(sol.cells) if "check(" in c.source]
    (folder / "07_invalid_json.ipynb").write_text("{ this is not json", encoding="utf-8")
    nbformat.write(sol, folder / "07_good.ipynb")
    dead = nbformat.from_dict(sol)
    dead.cells.insert(check_cells[0] + 1, new_code_cell("import os\nos._exit(1)"))
    nbformat.write(dead, folder / "07_dead_kernel.ipynb")
    loop = nbformat.from_dict(sol)
    loop.cells.insert(check_cells[0] + 1, new_code_cell("while True:\n    pass"))
    nbformat.write(loop, folder / "07_endless_cell.ipynb")
    # a cell the interrupt cannot stop, as compiled code in an endless loop (asleep: no CPU taken from the rest)
    stuck = nbformat.from_dict(sol)
    stuck.cells.insert(check_cells[0] + 1, new_code_cell(
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(10 ** 6)"))
    nbformat.write(stuck, folder / "07_stuck_cell.ipynb")
    hang = nbformat.from_dict(sol)
    hang.cells.insert(check_cells[1], new_code_cell("def break_even(s, v):\n    while True:\n        pass"))
    nbformat.write(hang, folder / "07_hanging_function.ipynb")
    partial = nbformat.read(ROOT / "solutions" / "01_sparse_vectors.ipynb", as_version=4)
    for i, c in enumerate(partial.cells):  # a work array that is never cleared
        if c.source.startswith("def sparse_dot"):
            partial.cells[i] = new_code_cell(
                "def sparse_dot(u_idx, u_val, v_idx, v_val, work):\n"
                "    work[v_idx] = v_val\n    return float(u_val @ work[u_idx])")
    nbformat.write(partial, folder / "01_partial.ipynb")


def _run(args, json_path):
    return subprocess.Popen([sys.executable, "-m", "sparsekit.grade", *map(str, args), "--json", str(json_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    _submissions(tmp / "submissions")
    course = _run([ROOT / "solutions", ROOT / "exercises", "--jobs", "3", "--csv", tmp / "course.csv"],
                  tmp / "course.json")
    # a cell gets 60 s (the endless cell costs that much): with 8 s, CI on a loaded 2-core machine
    # (five kernels at once) once reported all three checks of the endless-cell notebook "not run",
    # which only a timed-out cell before the first check (the imports) explains
    broken = _run([tmp / "submissions", "--timeout", "60", "--case-timeout", "1", "--compile-time", "2",
                   "--jobs", "2"],
                  tmp / "broken.json")
    out = {}
    for name, proc in (("course", course), ("broken", broken)):
        stdout, stderr = proc.communicate(timeout=900)
        report = json.loads((tmp / f"{name}.json").read_text())
        out[name] = (proc.returncode, stdout, stderr, report)
    out["gradebook"] = (tmp / "course.csv").read_text(encoding="utf-8-sig")
    return out


def _by_name(report):
    return {Path(nb["notebook"]).parent.name + "/" + Path(nb["notebook"]).stem: nb for nb in report["notebooks"]}


def test_cli_prints_tables_and_final_score_line(graded):
    rc, stdout, stderr, report = graded["course"]
    assert rc == 0, stderr
    last = stdout.strip().splitlines()[-1]
    assert last == f"score: {report['score']}/{report['max_score']}"
    assert "ex01.axpy_scatter" in stdout and "question" in stdout
    assert len(report["notebooks"]) == 16


@pytest.mark.parametrize("name", NAMES)
def test_solution_scores_full_marks(graded, name):
    nb = _by_name(graded["course"][3])[f"solutions/{name}"]
    assert nb["max_score"] > 0 and nb["score"] == nb["max_score"], nb
    assert all(q["status"] == "passed" for q in nb["questions"])
    assert nb["problems"] == []


@pytest.mark.parametrize("name", NAMES)
def test_exercise_scores_zero_without_crashing(graded, name):
    nb = _by_name(graded["course"][3])[f"exercises/{name}"]
    sol = _by_name(graded["course"][3])[f"solutions/{name}"]
    assert nb["score"] == 0 and nb["max_score"] == sol["max_score"]
    # every check ran and failed; the only errors are the unimplemented functions in "try it" cells
    assert all(q["status"] == "failed" for q in nb["questions"]), nb
    assert all("NotImplementedError" in p for p in nb["problems"]), nb["problems"]


def test_gradebook_csv_has_a_row_per_notebook_and_a_column_per_question(graded):
    import csv
    import io

    report = graded["course"][3]
    rows = list(csv.reader(io.StringIO(graded["gradebook"])))
    header, body = rows[0], rows[1:]
    qids = header[3:-1]
    assert header[:3] == ["notebook", "score", "max_score"] and header[-1] == "problems"
    assert len(qids) == 29 and qids == sorted(qids)
    assert [r[0] for r in body] == [nb["notebook"] for nb in report["notebooks"]]
    for row, nb in zip(body, report["notebooks"]):
        scores = {q["question"]: q["score"] for q in nb["questions"]}
        assert int(row[1]) == nb["score"] and int(row[2]) == nb["max_score"]
        assert {q: int(v) for q, v in zip(qids, row[3:-1]) if v != ""} == scores  # blank: not this set's
        assert sum(int(v) for v in row[3:-1] if v) == nb["score"]


def test_course_total(graded):
    report = graded["course"][3]
    sol_total = sum(nb["max_score"] for nb in report["notebooks"] if "solutions" in nb["notebook"])
    assert report["score"] == sol_total and report["max_score"] == 2 * sol_total
    assert sum(len(nb["questions"]) for nb in report["notebooks"]) == 2 * 29


def test_copies_of_one_answer_are_listed_and_the_course_has_none(graded):
    """The 07 submissions are the solution plus one cell each: every pair shares its answer cells.
    The course's own folders share none (an exercise notebook *is* the template)."""
    assert graded["course"][3]["similar"] == []
    assert {nb["set"] for nb in graded["course"][3]["notebooks"]} == {f"ex{n[:2]}" for n in NAMES}
    rc, stdout, stderr, report = graded["broken"]
    copies = sorted(nb["notebook"] for nb in report["notebooks"] if Path(nb["notebook"]).name.startswith("07_")
                    and "invalid_json" not in nb["notebook"])
    pairs = {tuple(p["notebooks"]) for p in report["similar"]}
    assert len(copies) == 5 and pairs == {(a, b) for i, a in enumerate(copies) for b in copies[i + 1:]}
    assert all(p["set"] == "ex07" and p["cells"] >= 1 for p in report["similar"])
    assert "answer cells shared word for word" in stdout and stdout.index("shared word") < stdout.index("score:")


def test_broken_submissions_are_contained(graded):
    rc, stdout, stderr, report = graded["broken"]
    assert rc == 0, stderr
    nbs = _by_name(report)
    full = nbs["submissions/07_good"]
    assert full["score"] == full["max_score"] > 0

    invalid = nbs["submissions/07_invalid_json"]
    assert invalid["score"] == 0 and invalid["max_score"] == full["max_score"]
    assert all(q["status"] == "not run" for q in invalid["questions"])
    assert all("no check(" in q["failed_cases"][0] for q in invalid["questions"])  # says why
    assert "not a valid notebook" in invalid["problems"][0]

    dead = nbs["submissions/07_dead_kernel"]
    status = {q["question"]: q["status"] for q in dead["questions"]}
    assert status == {"ex07.median_speedup": "passed", "ex07.break_even": "not run", "ex07.latency_fit": "not run"}, \
        dead["problems"]
    assert any("DeadKernelError" in p for p in dead["problems"])
    assert "did not record a result" in {q["question"]: q for q in dead["questions"]}["ex07.break_even"]["failed_cases"][0]

    endless = nbs["submissions/07_endless_cell"]
    assert [q["status"] for q in endless["questions"]] == ["passed", "passed", "passed"], endless["problems"]
    assert any("ran longer than 60 s and was interrupted" in p for p in endless["problems"]), endless["problems"]

    # the stuck cell would have made every later cell wait out its own timeout on a busy kernel
    stuck = nbs["submissions/07_stuck_cell"]
    status = {q["question"]: q["status"] for q in stuck["questions"]}
    assert status == {"ex07.median_speedup": "passed", "ex07.break_even": "not run", "ex07.latency_fit": "not run"}, \
        stuck["problems"]
    assert any("did not stop when interrupted" in p and "were not run" in p for p in stuck["problems"])

    hanging = nbs["submissions/07_hanging_function"]
    status = {q["question"]: q for q in hanging["questions"]}
    assert status["ex07.break_even"]["score"] == 0 and status["ex07.break_even"]["status"] == "failed"
    assert "timed out" in status["ex07.break_even"]["failed_cases"][0]
    assert status["ex07.latency_fit"]["status"] == "passed"

    partial = nbs["submissions/01_partial"]
    q = {q["question"]: q for q in partial["questions"]}["ex01.sparse_dot"]
    assert q["status"] == "partial" and 0 < q["score"] < q["max_score"]
    assert any("work array" in name for name in q["failed_cases"])
    # a partial score says why each case failed, in the table and in the JSON
    assert q["failures"] and all(f["case"] and f["message"] for f in q["failures"])
    assert all(line == f"{f['case']}: {f['message'][:100]}" for line, f in zip(q["failed_cases"], q["failures"]))
    assert report["score"] == sum(nb["score"] for nb in report["notebooks"])
    assert stdout.strip().splitlines()[-1] == f"score: {report['score']}/{report['max_score']}"


def test_gradebook_text_is_never_a_spreadsheet_formula(tmp_path):
    import csv

    from sparsekit.grade import write_gradebook

    summary = {"notebooks": [{"notebook": "=HYPERLINK(\"x\")", "score": 1, "max_score": 2,
                              "questions": [{"question": "ex01.a", "score": 1}],
                              "problems": ["cell 3: ValueError: -1", "@x"]},
                             {"notebook": "b/01.ipynb", "score": 0, "max_score": 2, "questions": [],
                              "problems": []}],
               "score": 1, "max_score": 4}
    write_gradebook(summary, tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel then reads UTF-8
    with open(tmp_path / "g.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["notebook", "score", "max_score", "ex01.a", "problems"],
                    ["'=HYPERLINK(\"x\")", "1", "2", "1", "cell 3: ValueError: -1 | @x"],
                    ["b/01.ipynb", "0", "2", "", ""]]


def test_missing_path_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sparsekit.grade", str(tmp_path / "nope.ipynb")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["README.md"], "not a notebook (.ipynb): README.md"),
    (["--json", "/proc/no/such/dir/report.json", "solutions/01_sparse_vectors.ipynb"], "argument --json: cannot write"),
    (["--csv", "/proc/no/such/dir/grades.csv", "solutions/01_sparse_vectors.ipynb"], "argument --csv: cannot write"),
    (["--jobs", "0", "solutions/01_sparse_vectors.ipynb"], "--jobs must be at least 1"),
])
def test_bad_arguments_are_usage_errors_before_any_grading(args, words):
    proc = subprocess.run([sys.executable, "-m", "sparsekit.grade", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "score:" not in proc.stdout


def test_a_json_report_path_is_not_left_behind_by_the_early_check(tmp_path, monkeypatch):
    from sparsekit import grade

    target = tmp_path / "report.json"
    def fails(*a, **k):
        raise RuntimeError("grading failed")

    monkeypatch.setattr(grade, "grade", fails)
    with pytest.raises(RuntimeError):
        grade.main(["--json", str(target), str(ROOT / "solutions" / "01_sparse_vectors.ipynb")])
    assert not target.exists()


def test_expected_questions_come_from_the_file_name_or_the_checks(tmp_path):
    from sparsekit.grade import expected_questions
    from sparsekit.grading.engine import questions_of

    ex01, ex03 = ([q.id for q in questions_of(s)] for s in ("ex01", "ex03"))
    assert expected_questions(tmp_path / "03_mine.ipynb", 'check("ex01.sparse_dot", f)') == ex03
    # an instructor's renaming keeps the set; a year is not a set
    assert expected_questions(tmp_path / "alice_03_csr.ipynb", "") == ex03
    assert expected_questions(tmp_path / "2024_03_alice.ipynb", "") == ex03
    # without NN_ in the name, the set most checks name -- all of its questions, so deleting the
    # checks one fails does not shrink the maximum -- and the other sets' checked questions after it
    text = 'check("ex01.sparse_dot", f)\ncheck("ex01.axpy_scatter", g)\ncheck( "ex99.fake", g)\ncheck("ex03.dense_to_csr", h)'
    assert expected_questions(tmp_path / "homework.ipynb", text) == ex01 + ["ex03.dense_to_csr"]
    assert len(ex01) > 2 and expected_questions(tmp_path / "homework.ipynb", "") == []


def test_read_results_skips_garbage_and_keeps_the_last_result(tmp_path):
    from sparsekit.grade import read_results

    path = tmp_path / "r.jsonl"
    path.write_text('{"question": "ex01.from_dense", "score": 1}\nnot json\n{"score": 3}\n'
                    '{"question": "ex01.from_dense", "score": 4}\n{"question": "ex01.drop_small", "score": "x"}\n')
    assert {k: v["score"] for k, v in read_results(path).items()} == {"ex01.from_dense": 4}
    assert read_results(tmp_path / "missing.jsonl") == {}


def test_recorded_scores_are_capped_by_the_question_definition(tmp_path, monkeypatch):
    import sparsekit.grade as g

    nb = tmp_path / "07_cheat.ipynb"
    nb.write_text(nbformat.writes(nbformat.v4.new_notebook()))

    def fake_execute(nb_, workdir, env, timeout):
        Path(env["SPARSEKIT_GRADE_RESULTS"]).write_text(
            '{"question": "ex07.latency_fit", "score": 1000}\n{"question": "ex01.from_dense", "score": 4}\n')
        return []

    monkeypatch.setattr(g, "_execute", fake_execute)
    report = g.grade_notebook(nb)
    q = {r["question"]: r for r in report["questions"]}
    assert q["ex07.latency_fit"]["score"] == q["ex07.latency_fit"]["max_score"] == 3
    assert q["ex07.median_speedup"]["status"] == "not run"
    assert "ex01.from_dense" not in q and "ignored checks" in report["problems"][0]


def test_timeouts_are_checked_and_odd_files_are_named(tmp_path, capsys):
    from sparsekit import grade

    nb = ROOT / "solutions" / "07_speedups.ipynb"
    for flag, value in (("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "0"), ("--case-timeout", "nan"),
                        ("--case-timeout", "-1"), ("--compile-time", "-1")):
        with pytest.raises(SystemExit) as exc:
            grade.main([flag, value, str(nb)])
        assert exc.value.code == 2, (flag, value)
        assert f"argument {flag}: must be a finite number of seconds" in capsys.readouterr().err
    empty = tmp_path / "07_empty.ipynb"
    empty.write_text("")
    assert "empty file: not a notebook" in grade.grade_notebook(empty)["problems"]
    prose = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('Run `check("ex06.tile_fma", f)` later.'),
                                            nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(prose, tmp_path / "homework.ipynb")
    report = grade.grade_notebook(tmp_path / "homework.ipynb", timeout=60)
    assert report["max_score"] == 0 and any(p.startswith("no exercise set") for p in report["problems"])


def test_folders_skip_hidden_files_and_macos_leftovers(tmp_path):
    from sparsekit.grade import find_notebooks

    for name in ("a/01_x.ipynb", "a/._01_x.ipynb", "a/__MACOSX/01_x.ipynb", "a/.ipynb_checkpoints/01_x.ipynb",
                 "a/.git/01_x.ipynb", "a/sub/02_y.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    assert find_notebooks([tmp_path / "a"]) == [tmp_path / "a/01_x.ipynb", tmp_path / "a/sub/02_y.ipynb"]
    assert find_notebooks([tmp_path / "a/._01_x.ipynb"]) == [tmp_path / "a/._01_x.ipynb"]  # named: graded


def test_a_cell_that_catches_the_interrupt_has_stopped(tmp_path):
    """check() ends its cell normally when the cell's timeout interrupts it: the kernel is free, so
    the cells after it must run (they were skipped as if the kernel were stuck)."""
    from sparsekit.grade import _execute

    nb = nbformat.v4.new_notebook(cells=[
        new_code_cell("try:\n    while True:\n        pass\nexcept KeyboardInterrupt:\n    print('caught')"),
        new_code_cell("print('after')")])
    problems = _execute(nb, tmp_path, dict(__import__("os").environ), 3)
    assert problems == ['cell 1 ("try:"): ran longer than 3 s and was interrupted'], problems
    assert [o.get("text") for o in nb.cells[1].outputs] == ["after\n"]


def test_ctrl_c_kills_the_kernels_and_keeps_what_is_finished(tmp_path):
    import signal
    import time

    folder, marker = tmp_path / "subs", tmp_path / "slow-started"
    folder.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[new_code_cell("x = 1")]), folder / "01_a_quick.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[new_code_cell(
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(600)")]), folder / "01_b_slow.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "sparsekit.grade", str(folder), "--jobs", "1",
                             "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "g.csv")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not marker.exists():  # one job: the quick notebook is done
        time.sleep(0.2)
    assert marker.exists(), "the slow notebook never started"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr and "stopped (Ctrl-C): 1 of 2 notebooks graded" in stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["interrupted"] and [Path(nb["notebook"]).name for nb in report["notebooks"]] == ["01_a_quick.ipynb"]
    assert [Path(p).name for p in report["not_graded"]] == ["01_b_slow.ipynb"]
    assert "01_a_quick.ipynb" in stdout and stdout.strip().splitlines()[-1] == f"score: 0/{report['max_score']}"
