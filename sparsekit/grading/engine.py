"""The check engine: run a learner's function through a question's cases.

A *question* (``"ex01.axpy_scatter"``) is a list of :class:`Case` objects
defined in the exercise-set module ``sparsekit.grading.ex01``.  Each case gets
a ``call`` wrapper around the learner's function and a seeded random
generator; it returns normally when the case passes and raises
:class:`CaseFailure` (with the input, the expected and the actual result and a
hint) when it does not.

What the engine guarantees, whatever the learner's function does:

* the function object is passed in, never read from globals;
* every case runs in a worker thread with a deadline, so a hang cannot freeze
  the notebook: a pure-Python loop is stopped with an asynchronous exception,
  compiled code (numba) is left to finish in the background; the first case
  gets extra time for JIT compilation;
* exceptions, wrong types or shapes and huge prints become a clear message and
  zero points for that case; the check itself never raises;
* when the environment variable ``SPARSEKIT_GRADE_RESULTS`` names a file (the
  grader sets it), each result is appended to it as one JSON line at once, so
  results survive cells that fail later.
"""
from __future__ import annotations

import ctypes
import html
import importlib
import json
import math
import os
import sys
import threading
import time
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

RESULTS_ENV = "SPARSEKIT_GRADE_RESULTS"
TIMEOUT_ENV = "SPARSEKIT_CHECK_TIMEOUT"
COMPILE_ENV = "SPARSEKIT_CHECK_COMPILE_TIME"
SEED_ENV = "SPARSEKIT_GRADE_SEED"

DEFAULT_TIMEOUT = 10.0  # seconds per case
COMPILE_ALLOWANCE = 30.0  # extra seconds for the first case (numba JIT compilation)
PRINT_LIMIT = 10_000  # characters a function may print in one case
PRINT_ABORT = 10 * PRINT_LIMIT  # stop the function once it has printed this much

EXERCISE_SETS = ("ex01", "ex02", "ex03", "ex04", "ex05", "ex06", "ex07", "ex08")


class CaseFailure(Exception):
    """A case did not pass.  ``message`` says what is wrong; the rest is shown beside it."""

    def __init__(self, message, *, input=None, expected=None, actual=None, hint=None):
        super().__init__(message)
        self.message = message
        self.details = {}
        for key, value in (("input", input), ("expected", expected), ("actual", actual), ("hint", hint)):
            if value is not None:
                self.details[key] = value if isinstance(value, str) else show(value)


class LearnerError(Exception):
    """The learner's function raised; carries a short, readable description."""

    def __init__(self, exc: BaseException, args_text: str):
        tb = traceback.extract_tb(exc.__traceback__)
        # the innermost frame that is not ours
        frames = [f for f in tb if "sparsekit/grading" not in f.filename.replace("\\", "/")]
        where = ""
        if frames:
            f = frames[-1]
            where = f" (line {f.lineno}: {f.line.strip() if f.line else ''})"
        self.text = f"{type(exc).__name__}: {exc}{where}"
        self.exc = exc
        self.args_text = args_text
        super().__init__(self.text)


class _Timeout(BaseException):
    """Raised asynchronously inside a worker thread that ran past its deadline."""


class _TooMuchOutput(BaseException):
    """Raised inside print() once a function has printed far too much."""


def show(value, limit: int = 400) -> str:
    """A short, deterministic text form of a value for messages."""
    try:
        if isinstance(value, np.ndarray):
            with np.printoptions(threshold=30, edgeitems=5, precision=6, suppress=False):
                text = f"array({np.array2string(value, separator=', ')}, dtype={value.dtype})"
        elif isinstance(value, np.generic):  # np.int64(15) reads as 15, as the learner wrote it
            text = repr(value.item())
        elif isinstance(value, tuple):
            text = "(" + ", ".join(show(v, limit) for v in value) + (",)" if len(value) == 1 else ")")
        elif isinstance(value, dict):
            text = ", ".join(f"{k}={show(v, limit)}" for k, v in value.items())
        else:
            text = repr(value)
    except Exception as exc:  # a learner's object with a broken repr
        text = f"<{type(value).__name__} object: repr failed with {type(exc).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


@dataclass
class Case:
    """One graded case: ``run(call, rng)`` passes or raises :class:`CaseFailure`.

    ``timed`` marks a case that measures the learner's function: it runs the function as
    compiled, where the other cases run a numba function's bounds-checked copy (see
    :func:`_bounds_checked`).
    """

    name: str
    points: int
    run: Callable
    timed: bool = False


@dataclass
class CaseResult:
    name: str
    points: int
    max_points: int
    message: str = ""
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.points == self.max_points


@dataclass
class Question:
    id: str
    title: str
    make_cases: Callable

    def cases(self) -> list:
        return self.make_cases()

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.cases())


_REGISTRY: dict = {}


def question(qid: str, title: str):
    """Decorator for a function returning a question's list of cases."""

    def register(make_cases):
        _REGISTRY[qid] = Question(qid, title, make_cases)
        return make_cases

    return register


def get_question(qid: str):
    """The :class:`Question` named ``qid`` (``"exNN.name"``), or None."""
    if not isinstance(qid, str) or "." not in qid:
        return None
    set_name = qid.split(".", 1)[0]
    if set_name in EXERCISE_SETS:
        importlib.import_module(f"sparsekit.grading.{set_name}")
    return _REGISTRY.get(qid)


def questions_of(set_name: str) -> list:
    """Questions of one exercise set, in definition order."""
    importlib.import_module(f"sparsekit.grading.{set_name}")
    return [q for qid, q in _REGISTRY.items() if qid.startswith(set_name + ".")]


def all_questions() -> list:
    out = []
    for s in EXERCISE_SETS:
        out.extend(questions_of(s))
    return out


class CheckResult:
    """What :func:`check` returns: ``passed``, ``score``, ``max_score`` and the cases.

    Shown as an HTML table in a notebook and as plain text elsewhere.
    """

    def __init__(self, question: str, title: str, cases: list, error: str = "", max_score=None):
        self.question = question
        self.title = title
        self.cases = cases
        self.error = error
        self._max = max_score

    @property
    def score(self) -> int:
        return sum(c.points for c in self.cases)

    @property
    def max_score(self) -> int:
        if self._max is not None:
            return self._max
        return sum(c.max_points for c in self.cases)

    @property
    def passed(self) -> bool:
        return not self.error and self.max_score > 0 and self.score == self.max_score

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "title": self.title,
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "error": self.error,
            "cases": [
                {"name": c.name, "points": c.points, "max_points": c.max_points,
                 "passed": c.passed, "message": c.message, "details": c.details}
                for c in self.cases
            ],
        }

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        head = f"{self.question}: {self.score}/{self.max_score} points"
        head += " - all cases passed" if self.passed else ""
        lines = [head]
        if self.error:
            lines.append(f"  error: {self.error}")
        for c in self.cases:
            mark = "pass" if c.passed else "FAIL"
            lines.append(f"  [{mark}] {c.name} ({c.points}/{c.max_points})")
            if not c.passed:
                lines.append(f"         {c.message}")
                for key in ("input", "expected", "actual", "hint"):
                    if key in c.details:
                        lines.append(f"         {key + ':':9} {c.details[key]}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        rows = []
        for c in self.cases:
            sym = "&#10004;" if c.passed else "&#10008;"
            col = "#1a7f37" if c.passed else "#cf222e"
            info = ""
            if not c.passed:
                info = html.escape(c.message)
                for key in ("input", "expected", "actual", "hint"):
                    if key in c.details:
                        info += f"<br><b>{key}</b>: <code>{html.escape(c.details[key])}</code>"
            rows.append(
                f"<tr><td style='color:{col}'>{sym}</td><td style='text-align:left'>{html.escape(c.name)}</td>"
                f"<td>{c.points}/{c.max_points}</td><td style='text-align:left'>{info}</td></tr>"
            )
        err = f"<p style='color:#cf222e'>{html.escape(self.error)}</p>" if self.error else ""
        return (
            f"<div><b style='color:{colour}'>{html.escape(self.question)}: "
            f"{self.score}/{self.max_score} points</b> &mdash; {html.escape(self.title)}{err}"
            "<table><tr><th></th><th>case</th><th>points</th><th>details</th></tr>"
            + "".join(rows) + "</table></div>"
        )


class _Capture:
    """A stand-in for sys.stdout/sys.stderr that keeps a bounded prefix and counts the rest."""

    def __init__(self, limit: int):
        self.limit = limit
        self.count = 0
        self.head = []
        self._lock = threading.Lock()

    def write(self, text):
        if not isinstance(text, str):
            text = str(text)
        with self._lock:
            room = self.limit - sum(len(h) for h in self.head)
            if room > 0:
                self.head.append(text[:room])
            self.count += len(text)
            if self.count > PRINT_ABORT:
                raise _TooMuchOutput()
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def reset(self):
        with self._lock:
            n, self.count, self.head = self.count, 0, []
        return n


def _async_raise(thread: threading.Thread, exc_type) -> None:
    ident = thread.ident
    if ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))


def _run_with_deadline(fn, timeout: float):
    """Run ``fn()`` in a daemon thread; return ('ok', value) / ('error', exc) / ('timeout', None)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - everything is reported, nothing escapes
            box["error"] = exc

    worker = threading.Thread(target=target, name="sparsekit-check", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    try:
        while worker.is_alive():
            left = deadline - time.monotonic()
            if left <= 0:
                _async_raise(worker, _Timeout)
                worker.join(0.5)
                return "timeout", None
            worker.join(min(left, 0.05))
    except KeyboardInterrupt:  # the cell was stopped (by the learner or the grader's cell timeout)
        _async_raise(worker, _Timeout)
        return "interrupted", None
    if "error" in box:
        if isinstance(box["error"], _Timeout):
            return "timeout", None
        return "error", box["error"]
    return "ok", box.get("value")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _record(result: CheckResult) -> None:
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    line = json.dumps(result.to_dict(), sort_keys=True)
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        print(f"sparsekit.grading: could not record the result in {path}: {exc}", file=sys.stderr)


def _seed_for(qid: str, case_index: int, seed) -> np.random.Generator:
    base = zlib.crc32(qid.encode())
    extra = seed if seed is not None else int(_env_float(SEED_ENV, 0))
    return np.random.default_rng([base, int(extra) & 0xFFFFFFFF, case_index])


def check(question_id: str, func, *, timeout: float | None = None, seed: int | None = None,
          compile_time: float | None = None) -> CheckResult:
    """Run question ``question_id``'s cases on ``func`` and return a :class:`CheckResult`.

    ``timeout`` is the limit in seconds for each case (``DEFAULT_TIMEOUT``, 10 s, or the
    ``SPARSEKIT_CHECK_TIMEOUT`` environment variable); the first case (and, for a numba
    function, the first timed case: the others run a bounds-checked copy) gets
    ``compile_time`` extra seconds for JIT compilation (default 30 s, or the
    ``SPARSEKIT_CHECK_COMPILE_TIME`` environment variable).  ``seed`` changes the random cases
    (the grader may set ``SPARSEKIT_GRADE_SEED``); by default every run of a
    question draws the same cases.  Never raises.
    """
    try:
        return _check(question_id, func, timeout, seed, compile_time)
    except Exception as exc:  # pragma: no cover - last line of defence
        result = CheckResult(str(question_id), "", [], error=f"internal error in the check: {exc!r}", max_score=0)
        _record(result)
        return result


def check_seconds(name: str, value, *, positive: bool = False) -> float:
    """A finite, non-negative (``positive``: > 0) number of seconds, else ``ValueError`` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, (bool, np.bool_)) or not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}")
    return v


def _check(qid, func, timeout, seed, compile_time) -> CheckResult:
    q = get_question(qid)
    if q is None:
        known = ", ".join(x.id for x in all_questions())
        result = CheckResult(str(qid), "", [], error=f"unknown question {qid!r}; known: {known}", max_score=0)
        _record(result)
        return result
    cases = q.cases()
    if not callable(func):
        results = [CaseResult(c.name, 0, c.points, "not run") for c in cases]
        result = CheckResult(qid, q.title, results,
                             error=f"expected your function, got {type(func).__name__} {show(func, 80)}; "
                                   f"pass the function itself: check({qid!r}, my_function)")
        _record(result)
        return result

    if timeout is None:
        timeout = _env_float(TIMEOUT_ENV, DEFAULT_TIMEOUT)
    if compile_time is None:
        compile_time = _env_float(COMPILE_ENV, COMPILE_ALLOWANCE)
    try:
        timeout = max(check_seconds("timeout", timeout), 0.01)
        compile_time = check_seconds("compile_time", compile_time)
    except ValueError as exc:
        result = CheckResult(qid, q.title, [CaseResult(c.name, 0, c.points, "not run") for c in cases],
                             error=str(exc))
        _record(result)
        return result

    checked = _bounds_checked(func)
    capture = _Capture(PRINT_LIMIT)
    out_err = (sys.stdout, sys.stderr)
    results = []
    timed_out = False
    sys.stdout = sys.stderr = capture
    try:
        for i, case in enumerate(cases):
            if timed_out:
                results.append(CaseResult(case.name, 0, case.points,
                                          "skipped: an earlier case timed out, was interrupted or printed too much"))
                continue
            call = _Caller(func, checked, timed=case.timed)
            rng = _seed_for(qid, i, seed)
            # the first case compiles the function; with a bounds-checked copy in the other
            # cases, the first timed case compiles the learner's own
            compiles = i == 0 or (checked is not None and case.timed and not any(c.timed for c in cases[:i]))
            limit = timeout + (max(0.0, float(compile_time)) if compiles else 0.0)
            status, value = _run_with_deadline(lambda: case.run(call, rng), limit)
            printed = capture.reset()
            results.append(_case_result(case, status, value, limit, printed, call))
            if status in ("timeout", "interrupted") or printed > PRINT_LIMIT:
                timed_out = True
    finally:
        sys.stdout, sys.stderr = out_err
    result = CheckResult(qid, q.title, results)
    _record(result)
    return result


def _bounds_checked(func):
    """A copy of a numba-compiled ``func`` that checks its array indices, or None.

    numba does not check indices (as C does not): a learner's kernel that reads or writes
    one element past an array corrupts memory, and may kill the notebook's kernel.  The
    correctness cases run this copy (``boundscheck=True``), so such a bug becomes an
    ``IndexError`` in the case's result.  The numba functions it calls by a global name or
    from its closure (a learner's helper kernels, and theirs) are copied the same way;
    one reached another way (``module.helper``, an argument) keeps its own settings.  A
    function that checks its bounds already is copied too: the copy also runs without the
    GIL, which the check's deadline needs.  The copy keeps the function's ``locals`` types
    and, when it was given explicit signatures, accepts only those.
    """
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:  # pragma: no cover
        return None
    if not isinstance(func, CPUDispatcher):
        return None
    try:
        return _checked_copy(func, CPUDispatcher, {})
    except Exception:  # pragma: no cover - options numba.jit does not take back, odd functions
        return None


def _checked_copy(func, dispatcher_type, copies: dict):
    """``func`` (a numba dispatcher) compiled again with ``boundscheck=True`` and ``nogil=True``,
    its helpers too.

    ``copies`` maps the original dispatchers seen so far to their copies (recursion)."""
    import types

    import numba

    if id(func) in copies:
        return copies[id(func)][1]
    py = func.py_func

    def checked(value):
        if isinstance(value, dispatcher_type):
            return _checked_copy(value, dispatcher_type, copies)
        return value

    scope = dict(py.__globals__)  # numba resolves global names in this dict when it compiles (lazily)
    cells = None if py.__closure__ is None else tuple(
        types.CellType(c.cell_contents) if _filled(c) else types.CellType() for c in py.__closure__)
    copy = types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__, cells)
    copy.__kwdefaults__, copy.__qualname__, copy.__module__ = py.__kwdefaults__, py.__qualname__, py.__module__
    options = {k: v for k, v in func.targetoptions.items() if k != "cache"}  # a cached copy could be mistaken for the original
    options["boundscheck"] = True
    # without the GIL, so that the check's deadline can fire while an endless loop runs (compiled
    # code that holds the GIL would freeze the thread that keeps the time)
    options["nogil"] = True
    result = numba.jit(locals=dict(func.locals), **options)(copy)  # locals: the learner's integer widths
    copies[id(func)] = (func, result)  # before the helpers (recursion); func kept so its id is not reused
    for name in _global_names(py.__code__):
        if name in scope:
            scope[name] = checked(scope[name])
    for cell in cells or ():
        if _filled(cell):
            cell.cell_contents = checked(cell.cell_contents)
    if not func._can_compile:  # explicit signatures: the copy takes the same types and no others
        for sig in func.signatures:
            result.compile(sig)
        result.disable_compile()
    return result


def _global_names(code) -> set:
    """The global names ``code`` and the code objects inside it may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _global_names(const)
    return names


def _filled(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


class _Caller:
    """Calls the learner's function and turns its exceptions into :class:`LearnerError`.

    ``func`` is the function as the learner gave it (questions may inspect it).  With a
    bounds-checked copy ``checked``, an untimed case calls the copy; a timed case calls
    ``func``, after running each new set of arguments through the copy once, so that the
    inputs a timing loop repeats are known not to send ``func`` outside its arrays.  That
    holds only if the call leaves its array arguments as it found them (a kernel that bumps
    ``indptr``, or leaves positions in a work array it reads back as indices, would send the
    next, unchecked call past its arrays): a checked call that changes one fails the case
    before ``func`` runs.
    """

    def __init__(self, func, checked=None, *, timed: bool = False):
        self.func = func
        self.checked = checked
        self.timed = timed
        self._verified: set = set()

    def __call__(self, *args, **kwargs):
        if self.checked is not None and self.timed:
            key = tuple(map(id, args)) + tuple((k, id(v)) for k, v in sorted(kwargs.items()))
            if key not in self._verified:
                arrays = _array_arguments(args, kwargs)
                before = [a.copy() for _, a in arrays]
                self._run(self.checked, args, kwargs)
                for (name, a), b in zip(arrays, before):
                    if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
                        raise CaseFailure(
                            f"your function changed its {name} during the call; a timed function is called "
                            "again and again on the same arrays, so it must leave them as it found them",
                            input=show(args), expected=b, actual=a,
                            hint="work on copies or new arrays, and reset every slot of a work array you set")
                self._verified.add(key)
            return self._run(self.func, args, kwargs)
        return self._run(self.func if self.checked is None else self.checked, args, kwargs)

    @staticmethod
    def _run(f, args, kwargs):
        try:
            return f(*args, **kwargs)
        except _Timeout:
            raise
        except BaseException as exc:  # sys.exit(), KeyboardInterrupt or any BaseException raised by a
            raise LearnerError(exc, show(args)) from None  # learner's function is its error too


def _array_arguments(args, kwargs) -> list:
    """``[(description, array)]`` for the numpy arrays among a call's arguments."""
    out = [(f"argument {i + 1} (of {len(args)})", a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]
    return out + [(f"argument {k!r}", v) for k, v in sorted(kwargs.items()) if isinstance(v, np.ndarray)]


def _case_result(case: Case, status: str, value, limit: float, printed: int, call: _Caller) -> CaseResult:
    if status == "interrupted":
        return CaseResult(case.name, 0, case.points, "interrupted: the cell was stopped while this case ran")
    if status == "timeout":
        hint = "look for a loop whose counter never advances"
        if call.checked is not None:
            hint += ("; compiled code cannot be stopped from Python, so it is still running and using a "
                     "core: restart the kernel (Kernel > Restart) once you have fixed it")
        return CaseResult(case.name, 0, case.points,
                          f"timed out after {limit:g} s: the function did not return "
                          "(an endless loop, or far more work than needed?)", {"hint": hint})
    if printed > PRINT_LIMIT or (status == "error" and isinstance(value, _TooMuchOutput)):
        return CaseResult(case.name, 0, case.points,
                          f"the function printed {printed} characters; remove debugging prints "
                          f"(at most {PRINT_LIMIT} are allowed)")
    if status == "ok":
        return CaseResult(case.name, case.points, case.points, "passed")
    exc = value
    if isinstance(exc, CaseFailure):
        return CaseResult(case.name, 0, case.points, exc.message, exc.details)
    if isinstance(exc, LearnerError) and type(exc.exc) is NotImplementedError and not exc.exc.args:
        return CaseResult(case.name, 0, case.points, "not written yet: your function still raises "
                          "NotImplementedError (replace that line with your code)")
    if isinstance(exc, LearnerError):
        details = {"input": exc.args_text}
        if call.checked is not None and isinstance(exc.exc, IndexError):
            details["hint"] = ("numba does not check indices; the check ran your function compiled with "
                               "boundscheck=True, so a read or write outside an array shows here instead of "
                               "corrupting memory: look at your loop bounds and index arithmetic")
        return CaseResult(case.name, 0, case.points, f"your function raised {exc.text}", details)
    if isinstance(exc, MemoryError):
        return CaseResult(case.name, 0, case.points, "ran out of memory (does it build a dense array?)")
    # the checker could not digest what the function returned
    return CaseResult(case.name, 0, case.points,
                      f"could not check the result: {type(exc).__name__}: {show(str(exc), 200)}",
                      {"hint": "return exactly the types and shapes the prompt asks for"})
