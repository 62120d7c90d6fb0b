"""sparsekit.grading.similar: pairs of submissions sharing answer cells word for word."""
import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from sparsekit.grading.similar import (MIN_CHARS, code_cells, format_similar, normalise, similar_submissions,
                                       template_cells)

ROOT = Path(__file__).resolve().parents[1]
GIVEN = "import numpy as np\nfrom sparsekit.grading import check"
ANSWER_A = ("def dot(u_idx, u_val, v_idx, v_val, work):\n"
            "    # scatter v, gather at u, clear what was written\n"
            "    work[v_idx] = v_val\n    s = float(u_val @ work[u_idx])\n    work[v_idx] = 0.0\n    return s\n")
ANSWER_B = ("def eliminate(rows, pivot, factor, work):\n    out = []\n    for r in rows:\n"
            "        out.append(r - factor * pivot)\n    return out\n")
ANSWER_C = ("def transpose(data, indices, indptr, n_cols):\n    counts = np.bincount(indices, minlength=n_cols)\n"
            "    return np.concatenate([[0], np.cumsum(counts)])\n")


def write(folder: Path, name: str, cells) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# exercises")] + [new_code_cell(c) for c in cells])
    path = folder / name
    nbformat.write(nb, path)
    return path


def test_normalise_drops_comments_blank_lines_and_spacing():
    a = "def f(x):\n    # double it\n\n    return 2*x   # done\n"
    b = "def f(x):\n  return 2 * x\n"
    assert normalise(a) == normalise(b) != normalise("def f(x):\n    return 3 * x\n")
    assert normalise("def broken(:\n  '''") == "def broken(: '''"  # not Python: whitespace collapsed


def test_copied_answers_are_paired_and_the_template_is_not(tmp_path):
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    write(exercises, "01_sparse_vectors.ipynb", [GIVEN, "def dot(u_idx, u_val, v_idx, v_val, work):\n    raise NotImplementedError"])
    subs = tmp_path / "subs"
    subs.mkdir()
    alice = write(subs, "alice_01.ipynb", [GIVEN, ANSWER_A, ANSWER_B, ANSWER_C])
    # bob: the same answers with other comments and spacing
    bob = write(subs, "bob_01.ipynb", [GIVEN, ANSWER_A.replace("    # scatter v, gather at u, clear what was written\n", ""),
                                       ANSWER_B.replace("factor * pivot", "factor*pivot").replace("return out", "return out  # rows"), ANSWER_C])
    carol = write(subs, "carol_01.ipynb", [GIVEN, ANSWER_A.replace("float(", "np.float64("), "x = 1"])
    pairs = similar_submissions({"ex01": [alice, bob, carol]}, exercises)
    assert [p["notebooks"] for p in pairs] == [[str(alice), str(bob)]]
    assert pairs[0]["cells"] == 3 and pairs[0]["set"] == "ex01"
    assert template_cells("ex01", exercises) == set(code_cells(exercises / "01_sparse_vectors.ipynb"))
    text = format_similar(pairs)
    assert "alice_01.ipynb" in text and "bob_01.ipynb" in text and "3 cell(s)" in text
    assert format_similar([]) == ""


def test_one_shared_short_answer_is_not_enough(tmp_path):
    short = "def scale(v, r):\n    return [r * x for x in v]\n"  # two people write this alike honestly
    a = write(tmp_path, "a_01.ipynb", [GIVEN, short, ANSWER_A])
    b = write(tmp_path, "b_01.ipynb", [GIVEN, short, ANSWER_B])
    assert len(normalise(short)) < MIN_CHARS
    assert similar_submissions({"ex01": [a, b]}, tmp_path / "no-exercises") == []


def test_without_a_template_what_nearly_everyone_holds_was_given(tmp_path):
    setup = GIVEN + "\nrng = np.random.default_rng(0)  # the setup cell every notebook has"
    own = [[f"def mine_{i}(x):\n    return x + {i}  # an answer of one's own, long enough to count"] for i in range(2)]
    paths = [write(tmp_path, f"s{i}_01.ipynb", [setup] + (own[i] if i < 2 else [ANSWER_A, ANSWER_B, ANSWER_C]))
             for i in range(5)]
    pairs = similar_submissions({"ex01": paths}, tmp_path / "no-exercises")
    # the setup cell is in all five (given, not evidence); the three answers in three of five: shared
    assert {tuple(p["notebooks"]) for p in pairs} == {(str(a), str(b)) for a, b in
                                                      [(paths[2], paths[3]), (paths[2], paths[4]), (paths[3], paths[4])]}
    assert all(p["cells"] == 3 for p in pairs)


def test_unreadable_files_and_sets_of_one_are_skipped(tmp_path):
    bad = tmp_path / "bad_01.ipynb"
    bad.write_text("{ not json", encoding="utf-8")
    good = write(tmp_path, "good_01.ipynb", [ANSWER_A, ANSWER_B, ANSWER_C])
    assert code_cells(bad) == []
    assert similar_submissions({"ex01": [bad, good], "ex02": [good]}, tmp_path) == []
    twin = write(tmp_path, "twin_01.ipynb", [ANSWER_A, ANSWER_B, ANSWER_C])
    assert json.loads(json.dumps(similar_submissions({"ex01": [bad, good, twin]}, tmp_path)))[0]["cells"] == 3


def test_the_course_exercise_notebooks_are_the_templates():
    for nb in sorted((ROOT / "exercises").glob("0*_*.ipynb")):
        cells = template_cells("ex" + nb.name[:2])
        assert cells and cells == set(code_cells(nb))
