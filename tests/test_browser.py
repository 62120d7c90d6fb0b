"""The course as a learner meets it: JupyterLab in a real (headless) Chromium.

Starts JupyterLab from the test's own Python (the course's .venv) on a free localhost port, with
copies of ``notebooks/``, ``exercises/`` and ``results/`` in a temporary folder (the committed
notebooks are never touched), and drives Debian's Chromium with Playwright:

* lesson 01: clear every output, run all cells, check each code cell ran with no error and that a
  figure was drawn, move one ipywidgets slider and check that the output beside it changed;
* exercise 01: run all cells, then check that a ``check(...)`` cell printed its feedback.

Screenshots go to ``test-output/browser/`` (gitignored) so a person can look at what rendered.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and Playwright's Python package
(``pip install playwright``; it drives the system Chromium, so ``playwright install`` is never
run and no browser is downloaded). Without them the tests are skipped with that message.
``SPARSEKIT_CHROMIUM`` points at another Chromium binary.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "test-output" / "browser"
CHROMIUM = Path(os.environ.get("SPARSEKIT_CHROMIUM", "/usr/bin/chromium"))
ENABLE = (
    "To enable the browser tests: `apt-get install -y chromium` (Debian's package, giving "
    "/usr/bin/chromium, or set SPARSEKIT_CHROMIUM) and `pip install playwright` into .venv "
    "(no `playwright install`: the system Chromium is used)."
)
# What these machines need: no sandbox as root, no GPU, and no background connections (the
# network is closed, and Chromium would otherwise keep trying).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab user settings for the test server: every cell stays in the DOM (no windowing), the
# notebook's kernel starts without a dialog, and no news or update pop-ups cover the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
COPIED = ("notebooks", "exercises", "results")
CHECK_CALL = re.compile(r"check\(\s*[\"']")  # a call such as check("ex01.axpy", axpy)
SERVER_START_S = 90
RUN_ALL_S = 300

if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}. {ENABLE}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason=f"playwright is not installed. {ENABLE}")

pytestmark = pytest.mark.timeout(600)


# --------------------------------------------------------------------------- the server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except OSError:
        return None


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM lets jupyter_server shut its kernels down; the process group is the fallback."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Base URL of a JupyterLab serving copies of the course folders."""
    work = tmp_path_factory.mktemp("lab")
    course = work / "course"
    course.mkdir()
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = work / "settings"
    for rel, values in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(work / "config"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "IPYTHONDIR": str(work / "ipython"),
    }
    env.pop("SPARSEKIT_GRADE_RESULTS", None)  # a learner's checks are not recorded for grading
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with open(work / "jupyterlab.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
             "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={course}",
             "--LabApp.extension_manager=readonly", "--LabApp.news_url=None"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=course, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SERVER_START_S
            while _status(f"{base}/api/status") != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (work / "jupyterlab.log").read_text()[-3000:]
                    pytest.fail(f"JupyterLab did not start on port {port} (exit {proc.poll()}):\n{tail}")
                time.sleep(0.5)
            yield base
        finally:
            _stop(proc)


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def _shot(target, name: str) -> Path:
    """Screenshot of a page or one element, kept for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    target.screenshot(path=str(path))
    assert path.stat().st_size > 1000, f"screenshot {path} is empty"
    return path


def _menu(page, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def _open(page, base: str, rel: str) -> None:
    """Open one notebook in a fresh workspace (``?reset``) and wait for its kernel."""
    page.goto(f"{base}/lab/tree/{rel}?reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jp-StatusBar-TextItem, .jp-StatusBar-GroupItem')]
                 .some(e => /\\|\\s*Idle/.test(e.textContent))""",
        timeout=SERVER_START_S * 1000,
    )


def _prompts(page) -> list[str]:
    return page.eval_on_selector_all(
        ".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt", "els => els.map(e => e.textContent.trim())"
    )


def _run_all(page, *, stop_on_error_ok: bool = False) -> list[str]:
    """Clear every output (so nothing stale can pass for a result), run all, wait for the end.

    Returns the final input prompts. Waits until no cell is queued or running and either every
    code cell has an execution count, or (``stop_on_error_ok``) Lab stopped at an error.
    """
    _menu(page, "Edit", "Clear Outputs of All Cells")
    page.wait_for_function(
        "() => document.querySelectorAll('.jp-NotebookPanel .jp-Cell-outputArea .jp-OutputArea-output').length === 0"
    )
    assert all(p in ("[ ]:", "[ ]") for p in _prompts(page)), _prompts(page)
    _menu(page, "Run", "Run All Cells")
    page.wait_for_function(
        """(stopOk) => {
            const ps = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
                       .map(e => e.textContent.trim());
            if (ps.some(p => p.includes('*'))) return false;
            if (ps.every(p => /\\[\\d+\\]/.test(p))) return true;
            const err = document.querySelector(
                '.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
            return stopOk && err !== null && ps.some(p => /\\[\\d+\\]/.test(p));
        }""",
        arg=stop_on_error_ok,
        timeout=RUN_ALL_S * 1000,
        polling=250,
    )
    return _prompts(page)


def _stderr(page) -> list[str]:
    return page.eval_on_selector_all(
        '.jp-NotebookPanel .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
        "els => els.map(e => e.innerText)",
    )


def _find(folder: str, pattern: str, needle: str | None = None) -> str:
    """Path (relative to the repository) of the first notebook matching, or skip saying what is missing."""
    for path in sorted((ROOT / folder).glob(pattern)):
        if needle is None or needle in path.read_text(encoding="utf-8"):
            return path.relative_to(ROOT).as_posix()
    what = f"{folder}/{pattern}" + (f" containing {needle!r}" if needle else "")
    pytest.skip(f"no notebook {what} in this checkout yet")


# The parts of an output area that are the slider itself (its handle and its number) are left
# out, so a change can only come from what the slider drives.
_OUTPUT_SNAPSHOT = """(cell) => {
    const area = cell.querySelector('.jp-Cell-outputArea').cloneNode(true);
    area.querySelectorAll('.widget-slider, .widget-readout').forEach(e => e.remove());
    const imgs = [...area.querySelectorAll('img')].map(i => i.getAttribute('src') || '');
    const svgs = [...area.querySelectorAll('svg')].map(s => s.outerHTML.length);
    return JSON.stringify([area.textContent, imgs, svgs]);
}"""


# --------------------------------------------------------------------------- the tests
def test_lesson01_runs_in_the_browser_and_its_slider_drives_the_output(lab, page):
    lesson = _find("notebooks", "01_*.ipynb")
    _open(page, lab, lesson)
    prompts = _run_all(page)
    counts = [int(re.search(r"\d+", p).group()) for p in prompts]
    assert counts == list(range(1, len(counts) + 1)), f"cells did not run once each, in order: {prompts}"
    assert _stderr(page) == [], f"{lesson} wrote errors or warnings in the browser:\n" + "\n".join(_stderr(page))
    n_img = page.locator(".jp-NotebookPanel .jp-OutputArea-output img").count()
    assert n_img >= 1, f"{lesson} drew no figure when run in JupyterLab"
    _shot(page, "lesson01_after_run_all")

    cell = page.locator(".jp-NotebookPanel .jp-CodeCell", has=page.locator(".widget-slider")).first
    assert cell.count() == 1, f"{lesson} shows no ipywidgets slider after running"
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    before_value = handle.get_attribute("aria-valuenow")
    before = cell.evaluate(_OUTPUT_SNAPSHOT)
    _shot(cell, "lesson01_slider_before")
    # Move the slider one step with the keyboard, as a learner can; towards the end with room.
    key = "ArrowLeft" if handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax") else "ArrowRight"
    handle.focus()
    handle.press(key)
    page.wait_for_function(
        "([h, v]) => h.getAttribute('aria-valuenow') !== v", arg=[handle.element_handle(), before_value]
    )
    # The kernel recomputes and redraws: wait for the output (not the slider) to change.
    try:
        page.wait_for_function(
            f"([cell, before]) => ({_OUTPUT_SNAPSHOT})(cell) !== before",
            arg=[cell.element_handle(), before],
            timeout=30_000,
        )
    except sync_api.TimeoutError:
        _shot(cell, "lesson01_slider_after")
        pytest.fail(
            f"moving the slider from {before_value} to {handle.get_attribute('aria-valuenow')} "
            "did not change the displayed output within 30 s"
        )
    _shot(cell, "lesson01_slider_after")
    assert _stderr(page) == [], "moving the slider raised:\n" + "\n".join(_stderr(page))


def _run_cell(page, cell, pattern: re.Pattern, what: str) -> str:
    """Run one cell with Shift+Enter, as a learner does; wait until its output matches ``pattern``."""
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    output = cell.locator(".jp-Cell-outputArea")
    deadline = time.monotonic() + RUN_ALL_S
    text = ""
    while time.monotonic() < deadline:
        text = output.inner_text()
        prompt = cell.locator(".jp-InputArea-prompt").inner_text()
        if "*" not in prompt and pattern.search(text):
            return text
        time.sleep(0.25)
    pytest.fail(f"{what}: no output matching {pattern.pattern!r} within {RUN_ALL_S} s; output was:\n{text}")


def test_exercise_check_cell_shows_feedback_in_the_browser(lab, page):
    """A learner's loop: run the exercise, check the unsolved question (feedback: failed, with the
    reason), type a solution into the cell, check again (feedback: every case passed)."""
    exercise = _find("exercises", "01_*.ipynb", needle="check(")
    nb = json.loads((ROOT / exercise).read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"]]
    i_check = next(i for i, src in enumerate(sources) if CHECK_CALL.search(src))
    qid, func = re.search(r"check\(\s*[\"']([^\"']+)[\"']\s*,\s*(\w+)", sources[i_check]).groups()
    i_def = next(i for i, src in enumerate(sources) if re.search(rf"^def {func}\(", src, re.MULTILINE))
    solution_nb = ROOT / "solutions" / Path(exercise).name
    solution = None
    if solution_nb.is_file():
        cells = json.loads(solution_nb.read_text(encoding="utf-8"))["cells"]
        solution = next(("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                         and re.search(rf"^def {func}\(", "".join(c["source"]), re.MULTILINE)), None)

    _open(page, lab, exercise)
    # An unsolved exercise may stop 'Run All' at a cell that calls the missing function.
    _run_all(page, stop_on_error_ok=True)
    _shot(page, "exercise01_after_run_all")
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    assert cells.count() == len(sources), "the notebook in the browser does not show every cell"
    def_prompt = cells.nth(i_def).locator(".jp-InputArea-prompt").inner_text()
    assert re.search(r"\[\d+\]", def_prompt), f"'Run All' did not reach the definition of {func}"

    check_cell = cells.nth(i_check)
    check_cell.scroll_into_view_if_needed()
    score = re.compile(rf"{re.escape(qid)}: (\d+)/(\d+) points")
    feedback = _run_cell(page, check_cell, score, f"check({qid!r}) on the unsolved exercise")
    _shot(check_cell, "exercise01_check_unsolved")
    got, full = map(int, score.search(feedback).groups())
    assert full > 0 and got < full, f"an unsolved exercise scored {got}/{full}:\n{feedback}"
    assert "NotImplementedError" in feedback, f"the feedback does not say why the cases failed:\n{feedback}"

    if solution is None:
        pytest.skip(f"{solution_nb} has no 'def {func}(': the solved half of the loop was not run")
    def_cell = cells.nth(i_def)
    def_cell.locator(".jp-InputArea-editor .cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(solution)
    typed = def_cell.locator(".jp-InputArea-editor .cm-content").inner_text()
    assert typed.split() == solution.split(), "the editor did not take the solution as typed"
    def_cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    feedback = _run_cell(page, check_cell, re.compile(rf"{re.escape(qid)}: (\d+)/\1 points"),
                         f"check({qid!r}) after typing the reference solution")
    check_cell.scroll_into_view_if_needed()
    _shot(check_cell, "exercise01_check_solved")
    got, full = map(int, score.search(feedback).groups())
    assert got == full > 0, f"the reference solution typed in the browser scored {got}/{full}:\n{feedback}"
