"""exercises/ is exactly what the generator makes from solutions/, and both are well formed."""
import re
from pathlib import Path

import nbformat
import pytest

from sparsekit.grading.engine import questions_of
from sparsekit.grading.generate import generate, main

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
NAMES = ["01_sparse_vectors", "02_solvers", "03_csr", "04_pruning", "05_block_formats", "06_simd_kernels",
         "07_speedups", "08_inference"]


def test_the_eight_exercise_sets_exist():
    assert sorted(p.stem for p in SOLUTIONS.glob("*.ipynb")) == NAMES
    assert sorted(p.stem for p in EXERCISES.glob("*.ipynb")) == NAMES


def test_exercises_are_generated_from_solutions_byte_for_byte():
    wanted = generate(SOLUTIONS, EXERCISES)
    stale = [p.name for p, text in wanted.items() if p.read_text(encoding="utf-8") != text]
    assert not stale, f"out of date (run python -m sparsekit.grading.generate): {stale}"
    assert main(["--check"]) == 0


def test_generator_is_deterministic(tmp_path):
    a = generate(SOLUTIONS, tmp_path)
    b = generate(SOLUTIONS, tmp_path)
    assert a == b


def test_check_mode_reports_a_stale_exercise(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    (sol / "01_sparse_vectors.ipynb").write_bytes((SOLUTIONS / "01_sparse_vectors.ipynb").read_bytes())
    assert main(["--solutions", str(sol), "--exercises", str(ex), "--check"]) == 1
    assert main(["--solutions", str(sol), "--exercises", str(ex)]) == 0
    assert main(["--solutions", str(sol), "--exercises", str(ex), "--check"]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_each_set_checks_every_question_and_hides_every_solution(name):
    sol = nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)
    ex = nbformat.read(EXERCISES / f"{name}.ipynb", as_version=4)
    sol_code = "\n".join(c.source for c in sol.cells if c.cell_type == "code")
    ex_code = "\n".join(c.source for c in ex.cells if c.cell_type == "code")
    checked = re.findall(r"""check\(\s*["'](ex\d\d\.\w+)["']\s*,\s*(\w+)""", sol_code)
    qids = [q.id for q in questions_of("ex" + name[:2])]
    assert sorted(q for q, _ in checked) == sorted(qids)
    for qid, func in checked:  # the function passed is the one the prompt asks for, defined in the notebook
        assert func == qid.split(".", 1)[1]
        assert re.search(rf"def {func}\(", sol_code)
    assert sol_code.count("# BEGIN SOLUTION") == sol_code.count("# END SOLUTION") >= len(qids)
    assert "SOLUTION" not in ex_code
    assert ex_code.count("raise NotImplementedError") == sol_code.count("# BEGIN SOLUTION")
    assert all(c.outputs == [] and c.execution_count is None for c in ex.cells if c.cell_type == "code")
    # solutions are committed executed, without errors
    code = [c for c in sol.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert sol.metadata.kernelspec.name == "python3"
