"""The check engine: results, timeouts, exceptions, bad return values, prints, recording, generator."""
import json
import sys
import threading
import time

import numpy as np
import pytest

from sparsekit.grading import CheckResult, check
from sparsekit.grading.engine import EXERCISE_SETS, RESULTS_ENV, all_questions, get_question, questions_of
from sparsekit.grading.generate import make_exercise, strip_solutions

QID = "ex01.axpy_scatter"


def axpy_ok(u_idx, u_val, v_idx, v_val, r, work):
    work[v_idx] = v_val
    val = u_val + r * work[u_idx]
    work[u_idx] = 0.0
    new = work[v_idx] != 0.0
    work[v_idx] = 0.0
    return np.concatenate([u_idx, v_idx[new]]).astype(np.int64), np.concatenate([val, r * v_val[new]])


def test_correct_function_scores_full_marks():
    r = check(QID, axpy_ok)
    assert isinstance(r, CheckResult)
    assert r.passed and bool(r)
    assert r.score == r.max_score == get_question(QID).max_score > 0
    assert all(c.passed for c in r.cases)
    assert "all cases passed" in str(r)
    assert QID in r._repr_html_() and "&#10004;" in r._repr_html_()


def test_exception_scores_zero_with_a_message():
    def boom(*args):
        raise ZeroDivisionError("division by zero in my code")

    r = check(QID, boom)
    assert r.score == 0 and not r.passed
    assert all("ZeroDivisionError" in c.message for c in r.cases)
    assert "division by zero in my code" in str(r)


def test_sys_exit_is_caught():
    r = check(QID, lambda *a: sys.exit(3))
    assert r.score == 0 and "SystemExit" in r.cases[0].message


def test_not_implemented_scores_zero():
    def todo(*args):
        raise NotImplementedError

    r = check(QID, todo)
    assert r.score == 0 and r.max_score > 0
    assert all(c.message.startswith("not written yet") and "NotImplementedError" in c.message for c in r.cases)

    def raises_its_own(*args):
        raise NotImplementedError("a case I did not handle")  # a written function: the usual report

    assert "your function raised NotImplementedError: a case I did not handle" in check(QID, raises_its_own).cases[0].message


def test_hang_times_out_and_does_not_freeze():
    def hang(*args):
        while True:
            pass

    t0 = time.perf_counter()
    r = check(QID, hang, timeout=0.5, compile_time=0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5, elapsed
    assert r.score == 0
    assert "timed out after 0.5 s" in r.cases[0].message
    assert all("skipped" in c.message for c in r.cases[1:])
    time.sleep(0.2)  # the pure-Python loop was stopped by the asynchronous exception
    assert not any(t.name == "sparsekit-check" and t.is_alive() for t in threading.enumerate())


def test_first_case_gets_compile_time():
    calls = []

    def slow_first(*args):
        if not calls:
            time.sleep(1.5)  # "JIT compilation"
        calls.append(1)
        return axpy_ok(*args)

    assert check(QID, slow_first, timeout=1.0, compile_time=2.0).passed  # margins for a loaded CI machine


@pytest.mark.parametrize("ret, words", [
    (None, "None"),
    ("idx, val", "tuple of two arrays"),
    ((np.array([1.5]), np.array([1.0])), "integer dtype"),
    ((np.array([[1]]), np.array([1.0])), "1-D"),
    ((np.array([1, 2]), np.array([1.0])), "different lengths"),
    ((np.array([0], dtype=np.int64), np.array(["a"])), "float dtype"),
    ((np.array([0], dtype=np.int64), np.array([object()])), "dtype object"),
])
def test_wrong_return_values_get_clear_messages(ret, words):
    r = check(QID, lambda *a: ret)
    assert r.score == 0
    assert words in r.cases[0].message, r.cases[0].message


def test_unprintable_return_value_does_not_crash():
    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

        def __len__(self):
            raise RuntimeError("no len")

    r = check(QID, lambda *a: Weird())
    assert r.score == 0
    str(r), r._repr_html_()


def test_huge_print_scores_zero_and_is_not_shown(capsys):
    def chatty(*args):
        for _ in range(10**6):
            print("debugging output line")
        return axpy_ok(*args)

    t0 = time.perf_counter()
    r = check(QID, chatty)
    assert time.perf_counter() - t0 < 30
    assert r.score == 0
    assert "printed" in r.cases[0].message
    assert sys.stdout is not None and "debugging output" not in capsys.readouterr().out


def test_small_print_is_allowed():
    def polite(*args):
        print("hi")
        return axpy_ok(*args)

    assert check(QID, polite).passed


def test_not_callable_and_unknown_question():
    r = check(QID, 42)
    assert r.score == 0 and r.max_score == get_question(QID).max_score
    assert "expected your function" in r.error
    r = check("ex99.nothing", axpy_ok)
    assert r.score == 0 and "unknown question" in r.error
    r = check(None, axpy_ok)
    assert r.score == 0 and "unknown question" in r.error


def test_stdout_restored_after_check():
    out, err = sys.stdout, sys.stderr
    check(QID, lambda *a: 1 / 0)
    assert sys.stdout is out and sys.stderr is err


def test_results_are_recorded_as_json_lines(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv(RESULTS_ENV, str(path))
    check(QID, axpy_ok)
    check("ex01.sparse_dot", lambda *a: "nope")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["question"] for x in lines] == [QID, "ex01.sparse_dot"]
    assert lines[0]["score"] == lines[0]["max_score"] and lines[0]["passed"]
    assert lines[1]["score"] == 0 and not lines[1]["passed"]


def test_cases_are_seeded():
    seen = []

    def spy(x):
        seen.append(x.copy())
        return np.flatnonzero(x), x[np.flatnonzero(x)]

    check("ex01.from_dense", spy)
    first = [a.copy() for a in seen]
    seen.clear()
    check("ex01.from_dense", spy)
    assert len(first) == len(seen) and all(np.array_equal(a, b) for a, b in zip(first, seen))
    seen.clear()
    check("ex01.from_dense", spy, seed=7)
    assert not all(np.array_equal(a, b) for a, b in zip(first, seen))


def test_failure_shows_input_expected_actual_and_hint():
    def no_order(u_idx, u_val, v_idx, v_val, r, work):
        i, v = axpy_ok(u_idx, u_val, v_idx, v_val, r, work)
        o = np.argsort(i)
        return i[o], v[o]

    r = check(QID, no_order)
    case = r.cases[0]
    assert not case.passed
    assert {"input", "expected", "actual", "hint"} <= set(case.details)
    assert "order" in case.details["hint"]


def test_registry_has_at_least_25_questions_in_8_sets():
    qs = all_questions()
    assert len(qs) >= 25
    assert len({q.id for q in qs}) == len(qs)
    for s in EXERCISE_SETS:
        assert len(questions_of(s)) >= 3, s
    for q in qs:
        cases = q.cases()
        assert cases and all(c.points > 0 for c in cases) and q.max_score == sum(c.points for c in cases)


def test_strip_solutions_keeps_indentation_and_signature():
    src = "def f(x):\n    \"\"\"doc\"\"\"\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n\nprint(f)"
    out = strip_solutions(src)
    assert out == ("def f(x):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError\n\n"
                   "print(f)")
    assert strip_solutions("a = 1") == "a = 1"


@pytest.mark.parametrize("src", [
    "# BEGIN SOLUTION\nx = 1",
    "x = 1\n# END SOLUTION",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
])
def test_strip_solutions_rejects_unbalanced_markers(src):
    with pytest.raises(ValueError, match="SOLUTION"):
        strip_solutions(src)


def test_make_exercise_clears_outputs():
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    cell = new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION", execution_count=3,
                         outputs=[new_output("stream", name="stdout", text="1\n")])
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    ex = make_exercise(new_notebook(cells=[cell]))
    c = ex.cells[0]
    assert c.outputs == [] and c.execution_count is None and "execution" not in c.metadata
    assert "return 1" not in c.source and "raise NotImplementedError" in c.source
    nbformat.validate(ex)


def test_a_numba_kernel_that_indexes_past_an_array_fails_with_a_hint_not_a_crash():
    import numba

    @numba.njit
    def reads_one_past_each_row(data, indices, indptr, x):
        y = np.zeros(len(indptr) - 1)
        for i in range(len(indptr) - 1):
            for k in range(indptr[i], indptr[i + 1] + 1):  # the last row reads data[nnz]
                y[i] += data[k] * x[indices[k]]
        return y

    r = check("ex06.fast_csr_matvec", reads_one_past_each_row)
    assert r.score == 0
    for c in r.cases:
        assert "IndexError" in c.message and "out of bounds" in c.message, c.message
        assert "boundscheck=True" in c.details["hint"]


def test_a_timed_numba_kernel_that_changes_its_inputs_fails_instead_of_crashing(run_python):
    """The timed case checks each set of arguments once with the bounds-checked copy and then
    runs the learner's own compiled kernel on them many times.  A kernel that bumps ``indptr``
    passed the checked call and sent the unchecked ones ever further past ``data`` (a
    segmentation fault that killed the notebook's kernel); run in a child process so that a
    regression fails this test only."""
    code = (
        "import numba, numpy as np\n"
        "from sparsekit.grading import check\n"
        "@numba.njit\n"
        "def drifts(data, indices, indptr, x):\n"
        "    n = len(indptr) - 1\n"
        "    y = np.zeros(n)\n"
        "    for i in range(n):\n"
        "        for k in range(indptr[i], indptr[i + 1]):\n"
        "            y[i] += data[k] * x[indices[k]]\n"
        "    indptr[n] += 100000\n"
        "    return y\n"
        "r = check('ex06.fast_csr_matvec', drifts)\n"
        "for c in r.cases:\n"
        "    print(c.name, '|', c.points, '|', c.message)\n"
    )
    lines = dict(line.split(" | ", 1) for line in run_python(code).strip().splitlines())
    assert lines["inputs not modified"].startswith("0 | your function modified its input 'indptr'")
    fast, = [v for k, v in lines.items() if k.startswith("at least")]
    assert fast.startswith("0 | your function changed its argument 3 (of 4) during the call"), fast
    # the results are judged on copies: its y is right, and the correct case says so
    assert lines["15 random matrices against scipy.sparse"].startswith("2 |")


def test_ex06_judges_results_on_copies_and_gives_speed_points_to_numba_kernels_only():
    import numba
    import scipy.sparse as sp

    @numba.njit
    def zeroes_x(data, indices, indptr, x):
        n = len(indptr) - 1
        y = np.zeros(n)
        for i in range(n):
            for k in range(indptr[i], indptr[i + 1]):
                y[i] += data[k] * x[indices[k]]
        x[:] = 0.0
        return y

    by_case = {c.name: c for c in check("ex06.fast_csr_matvec", zeroes_x).cases}
    assert by_case["15 random matrices against scipy.sparse"].passed  # its y is right for the x it got
    assert "modified its input 'x'" in by_case["inputs not modified"].message

    def with_scipy(data, indices, indptr, x):
        return sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(x))) @ x

    r = check("ex06.fast_csr_matvec", with_scipy)
    failed = {c.name for c in r.cases if not c.passed}
    assert failed == {"compiled with numba", "at least 20x faster than the naive loop (400 x 400, 2.5% dense)"}, failed


def test_an_endless_loop_in_a_numba_function_times_out_instead_of_freezing_the_check(run_python):
    """Compiled code that holds the GIL froze the thread that keeps the check's deadline: the
    cell hung with no output.  The bounds-checked copy runs without the GIL, so the deadline fires
    (the loop itself cannot be stopped; the message says to restart the kernel).  In a child process,
    which ends the loop when it exits."""
    code = (
        "import time, numba\n"
        "from sparsekit.grading import check\n"
        "@numba.njit\n"
        "def sparse_dot(u_idx, u_val, v_idx, v_val, work):\n"
        "    k = 0\n"
        "    while k < len(v_idx):\n"
        "        work[v_idx[k]] = v_val[k]\n"
        "    return 0.0\n"
        "t0 = time.monotonic()\n"
        "r = check('ex01.sparse_dot', sparse_dot, timeout=1, compile_time=4)\n"
        "print(round(time.monotonic() - t0, 1))\n"
        "print(r.cases[0].message)\n"
        "print(r.cases[0].details['hint'])\n"
    )
    seconds, message, hint = run_python(code, timeout=120).strip().splitlines()
    assert float(seconds) < 30 and message.startswith("timed out after 5 s"), (seconds, message)
    assert "restart the kernel" in hint


def test_a_correct_numba_answer_passes_the_cost_case_whose_arrays_the_checker_copies():
    """The timed case's first call of an argument set copies the arrays (to see that the call
    leaves them as it found them); with a 1e8-slot mark array that copy once counted as the
    learner's allocation ("allocated 200 MB ... builds something of length n")."""
    import numba

    @numba.njit
    def fill_in(u_idx, v_idx, mark):
        for j in u_idx:
            mark[j] = 1
        out = np.empty(len(v_idx), np.int64)
        n = 0
        for j in v_idx:
            if mark[j] == 0:
                out[n] = j
                n += 1
        for j in u_idx:
            mark[j] = 0
        return out[:n]

    r = check("ex02.fill_in", fill_in)
    assert r.score == r.max_score, [c.message for c in r.cases if not c.passed]


def test_the_checked_copy_keeps_what_the_learner_declared(run_python):
    """Three ways the copy once differed from the learner's function (a reviewer's finds): a
    function with boundscheck=True of its own was not copied, so its endless loop held the GIL
    and froze the check; ``locals`` types were dropped (a uint8 row counter that wraps passed on
    the copy, then hung in the timed case); explicit signatures were ignored (the copy compiled
    for any input).  In a child process: the first two hung the interpreter before the change."""
    code = (
        "import numba, numpy as np\n"
        "from sparsekit.grading import check\n"
        "@numba.njit(boundscheck=True)\n"
        "def endless(u_idx, u_val, v_idx, v_val, r, work):\n"
        "    k = 0\n"
        "    while k < 1:\n"
        "        work[0] = 0.0\n"
        "    return u_idx, u_val\n"
        "print(check('ex01.axpy_scatter', endless, timeout=1, compile_time=4).cases[0].message[:40])\n"
        "@numba.njit(locals={'i': numba.uint8})\n"
        "def wraps(data, indices, indptr, x):\n"
        "    n = len(indptr) - 1\n"
        "    y = np.zeros(n)\n"
        "    i = 0\n"
        "    while i < n:\n"
        "        for k in range(indptr[i], indptr[i + 1]):\n"
        "            y[i] += data[k] * x[indices[k]]\n"
        "        i += 1\n"
        "    return y\n"
        "r = check('ex06.fast_csr_matvec', wraps, timeout=2, compile_time=6)\n"
        "print([c.message[:40] for c in r.cases if not c.passed])\n"
        "@numba.njit('f8[:](f8[:], i4[:], i4[:], f8[:])')\n"
        "def int32_only(data, indices, indptr, x):\n"
        "    n = len(indptr) - 1\n"
        "    y = np.zeros(n)\n"
        "    for i in range(n):\n"
        "        for k in range(indptr[i], indptr[i + 1]):\n"
        "            y[i] += data[k] * x[indices[k]]\n"
        "    return y\n"
        "r = check('ex03.csr_matvec', int32_only)\n"
        "print(r.score, 'No matching definition' in r.cases[0].message)\n"
    )
    first, second, third = run_python(code, timeout=240).strip().splitlines()
    assert first == "timed out after 5 s: the function did no"
    # only the 400-row speed case fails, by timing out (its limit includes the compile allowance)
    assert second.startswith("['timed out after ") and second.count("timed out") == 1, second
    assert third == "0 True"


def test_a_timed_call_that_changes_an_array_argument_stops_before_the_unchecked_function():
    from sparsekit.grading.engine import CaseFailure, _Caller

    calls = []

    def leaves_a_mark(a, work):
        calls.append("checked")
        work[0] = 1.0

    timed = _Caller(lambda a, work: calls.append("orig"), leaves_a_mark, timed=True)
    a, work = np.zeros(3), np.zeros(5)
    with pytest.raises(CaseFailure, match=r"changed its argument 2 \(of 2\)") as e:
        timed(a, work)
    assert calls == ["checked"] and "reset every slot" in e.value.details["hint"]
    timed = _Caller(lambda a, work: calls.append("orig"), lambda a, work: None, timed=True)
    timed(a, work=np.zeros(2))  # unchanged (keyword arguments too): the original runs
    assert calls[-1] == "orig"


def _row_dot(data, indices, start, stop, x):  # a learner's helper kernel, reached by its global name
    acc = 0.0
    for k in range(start, stop):
        acc += data[k] * x[indices[k]]
    return acc


def test_helper_kernels_of_a_numba_function_are_bounds_checked_too():
    import numba

    global _row_dot_jit
    _row_dot_jit = numba.njit(_row_dot)

    @numba.njit
    def through_global(data, indices, indptr, x, past=1):
        y = np.zeros(len(indptr) - 1)
        for i in range(len(indptr) - 1):  # past=1: the helper reads data[nnz] in the last row
            y[i] = _row_dot_jit(data, indices, indptr[i], indptr[i + 1] + past, x)
        return y

    helper = _row_dot_jit

    @numba.njit
    def through_closure(data, indices, indptr, x):
        y = np.zeros(len(indptr) - 1)
        for i in range(len(indptr) - 1):
            y[i] = helper(data, indices, indptr[i], indptr[i + 1] + 1, x)
        return y

    for bad in (through_global, through_closure):
        r = check("ex06.fast_csr_matvec", bad)
        assert r.score == 0
        assert all("IndexError" in c.message and "out of bounds" in c.message for c in r.cases), \
            [c.message for c in r.cases]
    assert not _row_dot_jit.targetoptions.get("boundscheck")  # the learner's own functions are untouched
    assert through_global.py_func.__globals__["_row_dot_jit"] is _row_dot_jit

    @numba.njit
    def good(data, indices, indptr, x):  # the helpers' helpers are copied too
        return through_global(data, indices, indptr, x, 0)

    assert check("ex06.fast_csr_matvec", good).passed


@pytest.fixture
def recursive_sum():
    import numba

    global _recursive_sum
    _recursive_sum = None

    @numba.njit
    def total(a, i):
        if i == len(a):
            return 0.0
        return a[i] + _recursive_sum(a, i + 1)

    _recursive_sum = total
    return total


def test_a_recursive_numba_function_gets_one_checked_copy(recursive_sum):
    from sparsekit.grading.engine import _bounds_checked

    checked = _bounds_checked(recursive_sum)
    assert checked.py_func.__globals__["_recursive_sum"] is checked
    a = np.arange(5.0)
    assert checked(a, 0) == recursive_sum(a, 0) == 10.0
    with pytest.raises(IndexError):
        checked(a, 6)  # starts past the end: the original would read outside a


def test_numba_functions_are_checked_with_bounds_checks_and_timed_as_compiled():
    import numba

    from sparsekit.grading.engine import _bounds_checked, _Caller

    @numba.njit
    def first(a):
        return a[0]

    assert _bounds_checked(axpy_ok) is None  # plain Python checks its own indices
    already = numba.njit(boundscheck=True)(lambda a: a[0])  # copied all the same: the copy runs without the GIL
    assert _bounds_checked(already).targetoptions["nogil"] and not already.targetoptions.get("nogil")
    checked = _bounds_checked(first)
    assert checked is not first and checked.targetoptions["boundscheck"]
    assert not first.targetoptions.get("boundscheck")
    empty = np.zeros(0)
    with pytest.raises(IndexError):
        checked(empty)

    calls = []
    orig = lambda a: calls.append("orig") or 1  # noqa: E731
    safe = lambda a: calls.append("checked") or 1  # noqa: E731
    a, b = np.zeros(3), np.zeros(3)
    _Caller(orig, safe)(a)
    assert calls == ["checked"]  # an untimed case runs only the checked copy
    calls.clear()
    timed = _Caller(orig, safe, timed=True)
    for x in (a, a, a, b, a):
        timed(x)
    # a timed case runs each new set of arguments through the checked copy once, then the original
    assert calls == ["checked", "orig", "orig", "orig", "checked", "orig", "orig"]
    assert _Caller(orig, None, timed=True)(a) == 1 and calls[-1] == "orig"


def test_feedback_names_the_real_mistake():
    """A strict ``>`` in break_even, np.polyfit's array, a float32 result, an empty float index
    array, and numpy integers in messages -- each once graded or shown in a misleading way."""
    from sparsekit.grading.engine import CaseFailure, show
    from sparsekit.grading.helpers import as_array, assert_close

    def strict(s, v):  # first point strictly above 1: misses a curve that reaches 1 exactly at its end
        above = np.flatnonzero(np.asarray(v) > 1.0)
        if above.size == 0:
            return float("nan")
        j = int(above[0])
        return float(s[0]) if j == 0 else float(s[j - 1] + (1 - v[j - 1]) * (s[j] - s[j - 1]) / (v[j] - v[j - 1]))

    by_case = {c.name: c for c in check("ex07.break_even", strict).cases}
    assert not by_case["a point exactly at speedup 1"].passed

    r = check("ex07.latency_fit", lambda s, lat: np.polyfit(s, lat, 1))
    assert r.score == r.max_score, [c.message for c in r.cases]

    e = np.random.default_rng(0).normal(size=20)
    with pytest.raises(CaseFailure, match="is float32: it agrees with the reference only to float32 rounding"):
        assert_close(e.astype(np.float32), e, "y")
    with pytest.raises(CaseFailure, match="differs from the reference") as wrong:
        assert_close(e.astype(np.float32) + 0.01, e, "y")  # wrong beyond rounding: the usual message
    assert "float32" not in wrong.value.message
    with pytest.raises(CaseFailure, match="integer dtype, got float64") as empty:
        as_array(np.array([]), "indices", kind="i")
    assert "empty list a float64 array" in empty.value.details["hint"]
    assert show(np.int64(15)) == "15" and show(np.float32(0.5)) == "0.5"


def test_leftovers_in_the_work_array_are_named():
    """A scatter/mark array not reset after a call: the cases that reuse it say so (ex01 and ex02),
    not the hint about the formula."""
    def dot_no_reset(u_idx, u_val, v_idx, v_val, work):
        for i, x in zip(u_idx, u_val):
            work[i] = x
        return float(sum(work[i] * x for i, x in zip(v_idx, v_val)))

    def eliminate_no_reset(row_idx, row_val, piv_idx, piv_val, col, work):
        for i, x in zip(row_idx, row_val):
            work[i] = x
        f = work[col] / piv_val[list(piv_idx).index(col)] if col in list(row_idx) else 0.0
        idx = [int(i) for i in row_idx if i != col] if f else list(row_idx)
        new = [int(i) for i, x in zip(piv_idx, piv_val) if work[i] == 0.0 and i not in row_idx and x != 0.0]
        val = [work[i] - f * dict(zip(piv_idx, piv_val)).get(i, 0.0) for i in idx]
        if not f:
            return np.array(row_idx), np.array(row_val, dtype=float)
        return np.array(idx + new, dtype=np.int64), np.array(val + [-f * dict(zip(piv_idx, piv_val))[i] for i in new])

    def fill_no_reset(u_idx, v_idx, mark):
        mark[u_idx] = 1
        return np.array([i for i in v_idx if not mark[i]], dtype=np.int64)

    for qid, fn, case, what in (("ex01.sparse_dot", dot_no_reset, "25 random pairs against a dense dot product", "work"),
                                ("ex02.eliminate", eliminate_no_reset, "20 random row/pivot pairs against a reference",
                                 "work"),
                                ("ex02.fill_in", fill_no_reset, "20 random pairs", "mark")):
        by_case = {c.name: c for c in check(qid, fn).cases}
        got = by_case[case]
        assert not got.passed, qid
        assert f"the {what} array still held values from an earlier call" in got.details.get("hint", ""), (qid, got)


def test_a_float32_accumulator_in_sparse_dot_is_named():
    numba = pytest.importorskip("numba")

    @numba.njit
    def dot32(u_idx, u_val, v_idx, v_val, work):
        s = np.float32(0.0)
        for k in range(u_idx.size):
            work[u_idx[k]] = u_val[k]
        for k in range(v_idx.size):
            s += np.float32(work[v_idx[k]] * v_val[k])
        for k in range(u_idx.size):
            work[u_idx[k]] = 0.0
        return s

    got = {c.name: c for c in check("ex01.sparse_dot", dot32).cases}["25 random pairs against a dense dot product"]
    assert not got.passed
    assert "only to float32 rounding" in got.message, got.message
    assert "start the sum at 0.0" in got.details["hint"]


def test_a_learner_base_exception_and_a_bad_timeout_are_named():
    class Oops(BaseException):
        pass

    def raises_interrupt(*args):
        raise KeyboardInterrupt

    def raises_base(*args):
        raise Oops("mine")

    for fn, name in ((raises_interrupt, "KeyboardInterrupt"), (raises_base, "Oops")):
        r = check("ex07.break_even", fn)
        assert r.score == 0 and all(f"your function raised {name}" in c.message for c in r.cases), \
            [c.message for c in r.cases]
    r = check("ex07.break_even", raises_base, timeout="abc")
    assert "timeout must be a finite number of seconds >= 0" in r.error and r.max_score > 0


def test_prompt_requirements_are_checked_on_every_seed():
    """An audit of prompts against cases (2026-11-25) found requirements a case met only for
    some seeds, or never checked; each wrong answer below scored full marks on seed 0."""
    from sparsekit.grading.ex01 import ref_axpy
    from sparsekit.grading.ex07 import ref_break_even

    def failed(qid, fn):
        return {c.name: c for c in check(qid, fn).cases if not c.passed}

    def drop_lists(idx, val, tol):  # no dtype: an empty result becomes float64
        keep = [k for k in range(len(val)) if abs(val[k]) > tol]
        return np.array([idx[k] for k in keep]), np.array([val[k] for k in keep])

    assert any("empty" in name for name in failed("ex01.drop_small", drop_lists))

    def drop_returns_inputs(idx, val, tol):
        keep = np.abs(val) > tol
        return (idx, val) if keep.all() else (idx[keep], val[keep])

    assert "inputs not modified, new arrays returned" in failed("ex01.drop_small", drop_returns_inputs)

    def axpy_dropping_zeros(u_idx, u_val, v_idx, v_val, r, work):
        idx, val = ref_axpy(u_idx, u_val, v_idx, v_val, r)
        return idx[val != 0.0], val[val != 0.0]

    assert "an entry that cancels to exactly 0 stays in the result" in failed("ex01.axpy_scatter", axpy_dropping_zeros)

    def last_crossing(s, v):  # right for a rising curve, not for one that dips below 1 again
        s, v = np.asarray(s, float), np.asarray(v, float)
        if not (v >= 1).any():
            return float("nan")
        below = np.flatnonzero(v < 1)
        if below.size == 0:
            return float(s[0])
        j = int(below[-1]) + 1  # the point after the last one below 1
        return ref_break_even(s[j - 1:], v[j - 1:])

    assert "a curve that dips below 1 again: the first crossing" in failed("ex07.break_even", last_crossing)
    assert ref_break_even([0.1, 0.3, 0.5, 0.7], [0.5, 1.5, 0.8, 2.0]) == pytest.approx(0.2)

    def isclose_zero(W, threshold):
        return "sparse" if np.mean(np.isclose(W, 0)) > threshold else "dense"

    assert "tiny weights are not zeros" in failed("ex08.choose_format", isclose_zero)

    def nbytes_8(shape, blocksize, nblocks, value_bytes=8, index_bytes=8):
        from sparsekit.grading.ex05 import ref_bcsr_nbytes
        return ref_bcsr_nbytes(shape, blocksize, nblocks, value_bytes, index_bytes)

    assert list(failed("ex05.bcsr_nbytes", nbytes_8)) == ["the default byte sizes (4 and 4)"]
