"""The static course site (`python -m sparsekit.site`): pages, figures, order, links, Binder, no solutions.

A small course built here in a temporary folder pins every rule down; the real course is then
built once and checked for what must hold of any course: each lesson page exists and carries each
of its figures, the contents follow the lesson numbers, and every link lands on a page of the site.
"""
from __future__ import annotations

import base64
import html
import re
import struct
import urllib.parse
import zlib
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from sparsekit import site

ROOT = Path(__file__).resolve().parents[1]
REPO = "https://github.com/example-org/sparsekit-course"
_HREF = re.compile(r'href="([^"]*)"')


def _png(rgb=(200, 30, 30), size=4) -> bytes:
    """A real (tiny) PNG, so the pages carry a picture a browser could decode."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG_A = base64.b64encode(_png((200, 30, 30))).decode()
PNG_B = base64.b64encode(_png((30, 30, 200))).decode()
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle id="sk-dot" cx="5" cy="5" r="4"/></svg>'


def _nb(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _executed(source, *outputs, count=1):
    cell = new_code_cell(source, execution_count=count)
    cell.outputs = list(outputs)
    return cell


def _figure(b64):
    return new_output("display_data", data={"image/png": b64, "text/plain": "<Figure>"})


@pytest.fixture
def course(tmp_path):
    """A course with lessons 00, 01, 09, 10 (numeric order matters), exercises, a solution and a picture file."""
    root = tmp_path / "repo"
    for d in ("notebooks", "exercises", "solutions", "sparsekit"):
        (root / d).mkdir(parents=True)
    (root / "environment.yml").write_text(
        "name: sparsekit\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numba>=0.59\n  - pip\n  - pip:\n      - -e .\n"
    )
    (root / "sparsekit" / "vector.py").write_text("# the code a lesson links to\n")
    (root / "notebooks" / "diagram.png").write_bytes(_png((10, 160, 10)))
    lessons = {
        "00_start_here": _nb([new_markdown_cell("# Start here\n\nThen [lesson 1](01_vectors.ipynb).")]),
        "01_vectors": _nb([
            new_markdown_cell(
                "# 01 — Sparse *vectors*\n\n"
                "Do [the exercises](../exercises/01_vectors.ipynb#question-1), "
                "peek at [no solutions](../solutions/01_vectors.ipynb), "
                "read [the code](../sparsekit/vector.py), "
                "go [back](00_start_here.ipynb) or [on](./09_hardware.ipynb), "
                "see [section 2](#two) or [the docs](https://numba.pydata.org/), "
                "and this is [a typo](../notebooks/99_nowhere.ipynb).\n\n"
                "![a diagram](diagram.png)"
            ),
            # Executing this cell would fail; the site must show what was stored instead.
            _executed("raise SystemExit('the site must not execute notebooks')",
                      new_output("stream", name="stdout", text="stored output 42\n"), count=1),
            _executed("plot()", _figure(PNG_A), count=2),
            _executed("plot_svg()", new_output("display_data", data={"image/svg+xml": SVG, "text/plain": "<Figure>"}), count=3),
        ]),
        "09_hardware": _nb([new_markdown_cell("## 09: Hardware"), _executed("plot()", _figure(PNG_B))]),
        "10_extra": _nb([new_markdown_cell("no heading here")]),
    }
    for name, nb in lessons.items():
        nbformat.write(nb, root / "notebooks" / f"{name}.ipynb")
    exercise = _nb([
        new_markdown_cell("# Exercises 01\n\n## Question 1\nBack to [the lesson](../notebooks/01_vectors.ipynb)."),
        _executed("def axpy(u, r, v):\n    raise NotImplementedError", count=1),
        _executed("check('ex01.axpy', axpy)", new_output("stream", name="stdout", text="LEAKED RESULT 3.14159\n"), count=2),
    ])
    nbformat.write(exercise, root / "exercises" / "01_vectors.ipynb")
    solution = _nb([new_code_cell("def axpy(u, r, v):\n    # BEGIN SOLUTION\n    return 'SECRET ANSWER'\n    # END SOLUTION")])
    nbformat.write(solution, root / "solutions" / "01_vectors.ipynb")
    return root


def _all_pages(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.html")}


def _toc(index_html: str) -> list[str]:
    return re.findall(r'<a class="sk-lesson" href="([^"]+)"', index_html)


def _nav(page_html: str, cls: str) -> str | None:
    m = re.search(rf'<nav class="sk-nav sk-top".*?<a class="{cls}" href="([^"]+)"', page_html, re.DOTALL)
    return m and m.group(1)


# --------------------------------------------------------------------------- the small course
def test_pages_toc_order_and_navigation(course, tmp_path):
    out = tmp_path / "site"
    report = site.build_site(course, out, repo_url=REPO)
    pages = _all_pages(out)
    assert sorted(pages) == sorted([
        "index.html", "notebooks/00_start_here.html", "notebooks/01_vectors.html",
        "notebooks/09_hardware.html", "notebooks/10_extra.html", "exercises/01_vectors.html",
    ])
    assert not any(p.startswith("solutions/") for p in pages)
    assert (out / ".nojekyll").exists()
    # numeric lesson order, not the order of a directory listing
    assert _toc(pages["index.html"]) == [
        "notebooks/00_start_here.html", "notebooks/01_vectors.html", "notebooks/09_hardware.html", "notebooks/10_extra.html",
    ]
    assert [p.title for p in report.lessons] == ["Start here", "01 — Sparse vectors", "09: Hardware", "10_extra"]
    index = pages["index.html"]
    assert ">00 · Start here<" in index and ">01 — Sparse vectors<" in index
    assert 'href="exercises/01_vectors.html"' in index
    # previous / next / exercises / contents, relative to the page
    l01 = pages["notebooks/01_vectors.html"]
    assert _nav(l01, "sk-prev") == "00_start_here.html"
    assert _nav(l01, "sk-next") == "09_hardware.html"
    assert _nav(l01, "sk-exercises") == "../exercises/01_vectors.html"
    assert _nav(l01, "sk-home") == "../index.html"
    assert _nav(pages["notebooks/00_start_here.html"], "sk-prev") is None
    assert _nav(pages["notebooks/10_extra.html"], "sk-next") is None
    assert _nav(pages["exercises/01_vectors.html"], "sk-lesson") == "../notebooks/01_vectors.html"
    assert l01.count('<nav class="sk-nav') == 2  # top and bottom


def test_lesson_pages_keep_their_stored_outputs_and_embed_figures(course, tmp_path):
    out = tmp_path / "site"
    site.build_site(course, out, repo_url=REPO)
    l01 = (out / "notebooks/01_vectors.html").read_text()
    assert "stored output 42" in l01  # rendered, not re-executed (executing it would have raised)
    assert f'src="data:image/png;base64,{PNG_A}"' in l01
    assert f'src="data:image/svg+xml;base64,{base64.b64encode(SVG.encode()).decode()}"' in l01  # SVG too
    diagram = base64.b64encode((course / "notebooks" / "diagram.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{diagram}"' in l01  # a Markdown picture file is embedded too
    assert 'src="diagram.png"' not in l01
    assert PNG_B in (out / "notebooks/09_hardware.html").read_text()
    assert PNG_B not in l01


def test_links_are_rewritten_to_pages_and_the_forge(course, tmp_path):
    out = tmp_path / "site"
    report = site.build_site(course, out, repo_url=REPO, ref="v1.0")
    l01 = (out / "notebooks/01_vectors.html").read_text()
    hrefs = [html.unescape(h) for h in _HREF.findall(l01)]
    assert "../exercises/01_vectors.html#question-1" in hrefs
    assert "00_start_here.html" in hrefs and "09_hardware.html" in hrefs
    assert "#two" in hrefs and "https://numba.pydata.org/" in hrefs
    assert f"{REPO}/blob/v1.0/sparsekit/vector.py" in hrefs
    assert not any("solutions/" in h for h in hrefs)  # the solution link leads to the exercise set
    assert hrefs.count("../exercises/01_vectors.html") >= 2
    assert not any(h.endswith(".ipynb") and "99_nowhere" not in h for h in hrefs if "mybinder" not in h)
    assert report.broken_links == [("notebooks/01_vectors.ipynb", "../notebooks/99_nowhere.ipynb")]
    assert report.problems == ["notebooks/01_vectors.ipynb: link '../notebooks/99_nowhere.ipynb' points at nothing in the repository"]
    ex = (out / "exercises/01_vectors.html").read_text()
    assert 'href="../notebooks/01_vectors.html"' in ex


def test_exercise_pages_are_prompts_without_outputs_or_solutions(course, tmp_path):
    out = tmp_path / "site"
    site.build_site(course, out, repo_url=REPO)
    ex = (out / "exercises/01_vectors.html").read_text()
    assert "NotImplementedError" in ex and "check" in ex
    assert "LEAKED RESULT" not in ex  # outputs of the generated notebook are not shown
    for page in _all_pages(out).values():
        assert "SECRET ANSWER" not in page and "BEGIN SOLUTION" not in page
    # An exercise that still holds its solution is refused, naming the file.
    nb = nbformat.read(course / "exercises/01_vectors.ipynb", as_version=4)
    nb.cells.append(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"))
    nbformat.write(nb, course / "exercises/01_vectors.ipynb")
    with pytest.raises(ValueError, match=r"exercises/01_vectors.ipynb contains '# BEGIN SOLUTION'"):
        site.build_site(course, tmp_path / "site2", repo_url=REPO)


def test_binder_links_come_from_the_repository_and_environment(course, tmp_path):
    out = tmp_path / "site"
    site.build_site(course, out, repo_url=REPO + ".git", ref="main")
    l01 = (out / "notebooks/01_vectors.html").read_text()
    want = "https://mybinder.org/v2/gh/example-org/sparsekit-course/main?urlpath=lab%2Ftree%2Fnotebooks%2F01_vectors.ipynb"
    assert f'class="sk-binder" href="{html.escape(want)}"' in l01
    index = (out / "index.html").read_text()
    assert "<code>numba&gt;=0.59</code>" in index and "<code>pip: -e .</code>" in index
    assert "placeholder" not in index
    # without a URL the placeholder is used, and the index says how to replace it
    site.build_site(course, tmp_path / "site2")
    index = (tmp_path / "site2" / "index.html").read_text()
    assert "mybinder.org/v2/gh/YOUR-ORG/sparsekit/main" in index and "--repo-url" in index
    (course / "environment.yml").unlink()
    with pytest.raises(ValueError, match="environment.yml is missing"):
        site.build_site(course, tmp_path / "site3", repo_url=REPO)


def test_binder_base_for_each_forge_and_bad_input():
    assert site.binder_base("https://github.com/a/b") == "https://mybinder.org/v2/gh/a/b/main"
    assert site.binder_base("https://gitlab.com/grp/sub/proj.git", "dev") == "https://mybinder.org/v2/gl/grp%2Fsub%2Fproj/dev"
    url = "https://git.example.org/course.git"
    assert site.binder_base(url, "v2") == f"https://mybinder.org/v2/git/{urllib.parse.quote(url, safe='')}/v2"
    assert site.source_url("https://gitlab.com/g/p", "main", "a b.py") == "https://gitlab.com/g/p/-/blob/main/a%20b.py"
    with pytest.raises(ValueError, match="OWNER/REPO"):
        site.binder_base("https://github.com/only-owner")
    with pytest.raises(ValueError, match="http"):
        site.binder_base("git@github.com:a/b.git")
    with pytest.raises(ValueError, match="ref"):
        site.binder_base("https://github.com/a/b", "two words")
    with pytest.raises(TypeError):
        site.binder_base(None)


def test_bad_roots_and_outputs_are_refused(course, tmp_path):
    with pytest.raises(ValueError, match="no notebooks/ folder"):
        site.build_site(tmp_path / "nothing", tmp_path / "o")
    with pytest.raises(ValueError, match="overwrite the repository"):
        site.build_site(course, course, repo_url=REPO)
    for nb in (course / "notebooks").glob("*.ipynb"):
        nb.unlink()
    with pytest.raises(ValueError, match="no lessons"):
        site.build_site(course, tmp_path / "o", repo_url=REPO)


def test_cli(course, tmp_path, capsys):
    out = tmp_path / "site"
    assert site.main(["--root", str(course), "--out", str(out), "--repo-url", REPO]) == 0
    captured = capsys.readouterr()
    assert "wrote 4 lessons and 1 exercise sets" in captured.out
    assert "99_nowhere" in captured.err  # the broken link is reported
    assert site.main(["--root", str(course), "--out", str(out), "--repo-url", REPO, "--strict"]) == 1
    assert site.main(["--root", str(course), "--out", str(out), "--repo-url", "ftp://x"]) == 2
    assert "error: repo_url must be an http(s) URL" in capsys.readouterr().err


def test_unexecuted_lessons_are_reported(course, tmp_path):
    nbformat.write(_nb([new_code_cell("1 + 1")]), course / "notebooks" / "03_raw.ipynb")
    report = site.build_site(course, tmp_path / "site", repo_url=REPO)
    assert report.unexecuted == ["notebooks/03_raw.ipynb"]


# --------------------------------------------------------------------------- the real course
@pytest.fixture(scope="module")
def real_site(tmp_path_factory):
    if not sorted((ROOT / "notebooks").glob("[0-9]*_*.ipynb")):
        pytest.skip("no lessons in notebooks/ yet")
    out = tmp_path_factory.mktemp("real") / "_site"
    return site.build_site(ROOT, out, repo_url=REPO), out


def _figures(nb) -> list[str]:
    """The data URIs of every figure output, as the page must carry them (nbconvert prefers PNG)."""
    uris = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                uris.append("data:image/png;base64," + "".join(data["image/png"].split()))
            elif "image/svg+xml" in data:
                uris.append("data:image/svg+xml;base64," + base64.b64encode(data["image/svg+xml"].encode()).decode())
    return uris


def test_real_course_every_lesson_page_exists_with_its_figures(real_site):
    report, out = real_site
    lessons = sorted((ROOT / "notebooks").glob("[0-9]*_*.ipynb"), key=lambda p: (int(p.name.split("_")[0]), p.name))
    assert [p.source for p in report.lessons] == [f"notebooks/{p.name}" for p in lessons]
    index = (out / "index.html").read_text()
    assert _toc(index) == [f"notebooks/{p.stem}.html" for p in lessons]
    total = 0
    for path in lessons:
        page = out / "notebooks" / f"{path.stem}.html"
        assert page.is_file(), f"no page for {path.name}"
        text = page.read_text(encoding="utf-8")
        rendered = next(p for p in report.lessons if p.source == f"notebooks/{path.name}")
        figures = _figures(rendered.notebook)  # as read for the build (authors may re-execute meanwhile)
        for i, uri in enumerate(figures):
            assert f'src="{uri}"' in text, f"{page.name} lacks figure {i + 1} of {path.name}"
        total += len(figures)
    assert total >= 1, "the rendered lessons hold no figure at all"
    assert report.unexecuted == [], "lessons committed without their outputs:\n" + "\n".join(report.unexecuted)


def test_real_course_links_land_on_the_site(real_site):
    report, out = real_site
    missing = []
    for page in out.rglob("*.html"):
        for href in _HREF.findall(page.read_text(encoding="utf-8")):
            href = html.unescape(href)
            if not href or href.startswith("#") or re.match(r"^[a-z][a-z0-9+.-]*:", href, re.IGNORECASE):
                continue
            target = (page.parent / urllib.parse.unquote(href.split("#")[0])).resolve()
            if not target.is_file():
                missing.append(f"{page.relative_to(out)} -> {href}")
    assert missing == [], "links to pages the site does not have:\n" + "\n".join(missing)
    assert report.broken_links == [], "\n".join(report.problems)
    for lesson in report.lessons:
        ex = next((e for e in report.exercises if e.number == lesson.number), None)
        if ex is not None:
            text = (out / lesson.target).read_text(encoding="utf-8")
            assert f'href="../{ex.target}"' in text, f"{lesson.target} does not link its exercises"
    for page in out.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text(encoding="utf-8")


def test_cli_checks_its_output_folder_first(course, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exc:
        site.main(["--root", str(course), "--out", str(blocker / "site"), "--repo-url", REPO])
    assert exc.value.code == 2 and "argument --out: cannot write" in capsys.readouterr().err


def test_a_broken_notebook_is_named(course, tmp_path):
    bad = course / "notebooks" / "01_vectors.ipynb"
    bad.write_text('{"cells": 1, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    with pytest.raises(ValueError, match="01_vectors.ipynb is not a readable notebook"):
        site.build_site(course, tmp_path / "o", repo_url=REPO)
