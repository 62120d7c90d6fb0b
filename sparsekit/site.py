"""Render the course to a static HTML site: ``python -m sparsekit.site --out _site``.

The executed lessons (``notebooks/NN_*.ipynb``) are rendered as they are committed, with their
outputs and figures, and never re-executed; the exercise prompts (``exercises/NN_*.ipynb``, never
``solutions/``) are rendered with their outputs cleared. Each page gets a navigation bar (contents,
previous and next lesson, the lesson's exercises and a Binder launch link), links to ``.ipynb``
files are rewritten to the rendered ``.html`` pages, and ``index.html`` holds the table of contents
in lesson order.

Binder builds its image from the repository's ``environment.yml``; the launch links point at the
repository given by ``--repo-url`` (or ``SPARSEKIT_REPO_URL``), by default the placeholder
:data:`PLACEHOLDER_REPO_URL`, which must be replaced by the real repository for the links to work.

Rendering uses nbconvert's ``lab`` HTML template with images embedded as ``data:`` URIs, so the
site is one folder of self-contained pages (the browser still fetches MathJax and the widget
manager from their CDNs when a page shows math or saved widget state).
"""
from __future__ import annotations

import argparse
import html
import os
import posixpath
import re
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .cli import check_output_folder

PLACEHOLDER_REPO_URL = "https://github.com/YOUR-ORG/sparsekit"
DEFAULT_REF = "main"
LESSON_DIR = "notebooks"
EXERCISE_DIR = "exercises"
SOLUTION_DIR = "solutions"
_NUMBERED = re.compile(r"^(\d+)_.+\.ipynb$")
_HREF = re.compile(r'(\bhref\s*=\s*)(["\'])(.*?)\2', re.IGNORECASE | re.DOTALL)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_SOLUTION_MARKER = "# BEGIN SOLUTION"


# --------------------------------------------------------------------------- what is rendered
@dataclass
class Page:
    """One notebook of the course and the HTML page it becomes."""

    kind: str  # "lesson" or "exercise"
    number: int
    source: str  # posix path relative to the repository root, e.g. "notebooks/01_x.ipynb"
    title: str = ""
    notebook: object = field(default=None, repr=False)  # the NotebookNode as rendered

    @property
    def target(self) -> str:
        return self.source[: -len(".ipynb")] + ".html"


@dataclass
class SiteReport:
    """What :func:`build_site` wrote and what it found wrong."""

    out: Path
    lessons: list[Page] = field(default_factory=list)
    exercises: list[Page] = field(default_factory=list)
    broken_links: list[tuple[str, str]] = field(default_factory=list)  # (page, href)
    unexecuted: list[str] = field(default_factory=list)  # lessons with code cells never run

    @property
    def problems(self) -> list[str]:
        msgs = [f"{page}: link {href!r} points at nothing in the repository" for page, href in self.broken_links]
        msgs += [f"{src}: code cells without outputs or execution counts (not executed?)" for src in self.unexecuted]
        return msgs


def _numbered(root: Path, folder: str, kind: str) -> list[Page]:
    pages = []
    for path in (root / folder).glob("*.ipynb"):
        m = _NUMBERED.match(path.name)
        if m:
            pages.append(Page(kind, int(m.group(1)), f"{folder}/{path.name}"))
    return sorted(pages, key=lambda p: (p.number, p.source))


def discover(root: str | os.PathLike) -> tuple[list[Page], list[Page]]:
    """The lessons and exercise notebooks under ``root``, each sorted by their ``NN_`` number."""
    root = Path(root)
    if not (root / LESSON_DIR).is_dir():
        raise ValueError(f"{root} has no {LESSON_DIR}/ folder: not the course repository root")
    return _numbered(root, LESSON_DIR, "lesson"), _numbered(root, EXERCISE_DIR, "exercise")


def notebook_title(nb, fallback: str) -> str:
    """The text of the first Markdown heading, without Markdown markup; ``fallback`` if none."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
            if m:
                text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))  # [text](url) -> text
                return re.sub(r"[*_`]", "", text).strip()
    return fallback


# --------------------------------------------------------------------------- Binder
def binder_base(repo_url: str, ref: str = DEFAULT_REF) -> str:
    """mybinder.org's build URL for a repository (GitHub, GitLab or any public git URL)."""
    if not isinstance(repo_url, str) or not isinstance(ref, str):
        raise TypeError("repo_url and ref must be strings")
    if not ref or any(c.isspace() for c in ref):
        raise ValueError(f"ref must be a branch, tag or commit name, got {ref!r}")
    parsed = urllib.parse.urlparse(repo_url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"repo_url must be an http(s) URL of a git repository, got {repo_url!r}")
    path = parsed.path.strip("/")
    path = path.removesuffix(".git")
    ref_q = urllib.parse.quote(ref, safe="")
    host = parsed.netloc.lower()
    if host in ("github.com", "www.github.com"):
        parts = path.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"a GitHub repo_url must be https://github.com/OWNER/REPO, got {repo_url!r}")
        return f"https://mybinder.org/v2/gh/{parts[0]}/{parts[1]}/{ref_q}"
    if host in ("gitlab.com", "www.gitlab.com"):
        if not path:
            raise ValueError(f"a GitLab repo_url must name a project, got {repo_url!r}")
        return f"https://mybinder.org/v2/gl/{urllib.parse.quote(path, safe='')}/{ref_q}"
    return f"https://mybinder.org/v2/git/{urllib.parse.quote(repo_url.strip(), safe='')}/{ref_q}"


def binder_url(repo_url: str, ref: str, notebook: str) -> str:
    """Binder link that builds the repository (from its ``environment.yml``) and opens ``notebook`` in JupyterLab."""
    urlpath = urllib.parse.quote(f"lab/tree/{notebook}", safe="")
    return f"{binder_base(repo_url, ref)}?urlpath={urlpath}"


def source_url(repo_url: str, ref: str, path: str) -> str:
    """Link to a file of the repository on its forge (GitHub/GitLab ``blob`` layout)."""
    base = repo_url.strip().rstrip("/")
    base = base.removesuffix(".git")
    sep = "/-/blob/" if "gitlab" in urllib.parse.urlparse(base).netloc else "/blob/"
    return f"{base}{sep}{urllib.parse.quote(ref, safe='')}/{urllib.parse.quote(path)}"


def binder_environment(root: Path) -> list[str]:
    """The dependencies Binder installs, read from ``environment.yml`` (which must exist)."""
    env_file = root / "environment.yml"
    if not env_file.is_file():
        raise ValueError(f"{env_file} is missing: Binder builds the course image from it")
    import yaml  # PyYAML comes with jupyter_server (jupyter_events), a dependency of jupyterlab

    env = yaml.safe_load(env_file.read_text(encoding="utf-8")) or {}
    deps = env.get("dependencies") if isinstance(env, dict) else None
    if not isinstance(deps, list) or not deps:
        raise ValueError(f"{env_file} lists no dependencies: Binder would build an empty image")
    out = []
    for dep in deps:
        if isinstance(dep, dict):  # the pip: [...] section
            out += [f"pip: {d}" for d in dep.get("pip", [])]
        else:
            out.append(str(dep))
    return out


# --------------------------------------------------------------------------- links
class _Links:
    """Rewrites the ``href`` targets of one page: course notebooks to their pages, other repository
    files to the forge, solutions to the matching exercise set; records targets that do not exist."""

    def __init__(self, root: Path, pages: dict[str, Page], exercise_by_number: dict[int, Page],
                 repo_url: str, ref: str, report: SiteReport):
        self.root, self.pages, self.exercise_by_number = root, pages, exercise_by_number
        self.repo_url, self.ref, self.report = repo_url, ref, report

    def rewrite(self, page: Page, text: str) -> str:
        here = posixpath.dirname(page.target)

        def one(m: re.Match) -> str:
            href = html.unescape(m.group(3))
            new = self._target(page, here, href)
            return m.group(0) if new is None else f"{m.group(1)}{m.group(2)}{html.escape(new, quote=True)}{m.group(2)}"

        return _HREF.sub(one, text)

    def _target(self, page: Page, here: str, href: str) -> str | None:
        if not href or href.startswith(("#", "/", "//")) or _SCHEME.match(href):
            return None
        path, _, fragment = href.partition("#")
        path = urllib.parse.unquote(path.split("?", 1)[0])
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page.source), path))
        anchor = f"#{fragment}" if fragment else ""
        if resolved.startswith("../") or resolved == "..":
            self.report.broken_links.append((page.source, href))
            return None
        if resolved in self.pages:
            return posixpath.relpath(self.pages[resolved].target, here) + anchor
        m = _NUMBERED.match(posixpath.basename(resolved))
        if resolved.startswith(SOLUTION_DIR + "/") and m and int(m.group(1)) in self.exercise_by_number:
            # The site never shows solutions: send the reader to the exercise set instead.
            return posixpath.relpath(self.exercise_by_number[int(m.group(1))].target, here)
        if (self.root / resolved).exists():
            return source_url(self.repo_url, self.ref, resolved) + anchor
        self.report.broken_links.append((page.source, href))
        return None


# --------------------------------------------------------------------------- rendering
_PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{% block extra_css %}
{{ super() }}
<style>
nav.sk-nav { display: flex; flex-wrap: wrap; gap: .4em 1.2em; align-items: center; padding: .6em 1em;
  margin: 0 0 1em 0; background: #f3f6fa; border-bottom: 1px solid #d0d7de; font: 14px/1.4 system-ui, sans-serif; }
nav.sk-nav.sk-bottom { border-top: 1px solid #d0d7de; border-bottom: none; margin: 2em 0 0 0; }
nav.sk-nav a { text-decoration: none; color: #0550ae; }
nav.sk-nav a:hover { text-decoration: underline; }
nav.sk-nav .sk-home { font-weight: 600; }
nav.sk-nav a.sk-binder { margin-left: auto; padding: .15em .6em; border-radius: 4px; background: #579aca; color: #fff; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
<!--sparsekit-nav-top-->
{%- endblock body_header -%}
{% block body_footer %}
<!--sparsekit-nav-bottom-->
{{ super() }}
{% endblock body_footer %}
"""


def _exporter():
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file="sparsekit_page.html.j2",
        extra_loaders=[jinja2.DictLoader({"sparsekit_page.html.j2": _PAGE_TEMPLATE})],
        embed_images=True,
    )


def _nav(page: Page, lessons: list[Page], exercise_by_number: dict[int, Page],
         lesson_by_number: dict[int, Page], binder: str, where: str) -> str:
    here = posixpath.dirname(page.target)

    def rel(p: Page) -> str:
        return html.escape(posixpath.relpath(p.target, here), quote=True)

    items = [f'<a class="sk-home" href="{html.escape(posixpath.relpath("index.html", here))}">Contents</a>']
    if page.kind == "lesson":
        i = lessons.index(page)
        if i > 0:
            items.append(f'<a class="sk-prev" href="{rel(lessons[i - 1])}">&larr; {html.escape(lessons[i - 1].title)}</a>')
        if i + 1 < len(lessons):
            items.append(f'<a class="sk-next" href="{rel(lessons[i + 1])}">{html.escape(lessons[i + 1].title)} &rarr;</a>')
        if page.number in exercise_by_number:
            items.append(f'<a class="sk-exercises" href="{rel(exercise_by_number[page.number])}">Exercises {page.number:02d}</a>')
    elif page.number in lesson_by_number:
        lesson = lesson_by_number[page.number]
        items.append(f'<a class="sk-lesson" href="{rel(lesson)}">Lesson: {html.escape(lesson.title)}</a>')
    items.append(f'<a class="sk-binder" href="{html.escape(binder, quote=True)}">Launch on Binder</a>')
    cls = "sk-nav sk-top" if where == "top" else "sk-nav sk-bottom"
    return f'<nav class="{cls}" aria-label="course navigation">' + " ".join(items) + "</nav>"


def _exercise_prompt(nb, source: str):
    """The exercise as a learner receives it: outputs cleared; a solution left in is an error."""
    for cell in nb.cells:
        if _SOLUTION_MARKER in cell.source:
            raise ValueError(f"{source} contains {_SOLUTION_MARKER!r}: regenerate the exercises from solutions/")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    return nb


def _is_executed(nb) -> bool:
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    return not code or all(c.execution_count is not None for c in code)


def _index_html(report: SiteReport, lesson_by_number, exercise_by_number, repo_url, ref, env) -> str:
    first = report.lessons[0].source if report.lessons else LESSON_DIR
    rows = []
    for lesson in report.lessons:
        label = lesson.title if re.match(r"^\d", lesson.title) else f"{lesson.number:02d} · {lesson.title}"
        links = [f'<a class="sk-lesson" href="{html.escape(lesson.target)}">{html.escape(label)}</a>']
        ex = exercise_by_number.get(lesson.number)
        if ex is not None:
            links.append(f'<a class="sk-exercises" href="{html.escape(ex.target)}">exercises</a>')
        links.append(f'<a class="sk-binder" href="{html.escape(binder_url(repo_url, ref, lesson.source), quote=True)}">Binder</a>')
        rows.append(f'<li value="{lesson.number}">' + " &middot; ".join(links) + "</li>")
    orphans = [e for e in report.exercises if e.number not in lesson_by_number]
    extra = ""
    if orphans:
        extra = "<h2>More exercises</h2><ul>" + "".join(
            f'<li><a class="sk-exercises" href="{html.escape(e.target)}">{html.escape(e.title)}</a></li>' for e in orphans
        ) + "</ul>"
    placeholder = ""
    if repo_url == PLACEHOLDER_REPO_URL:
        placeholder = ('<p class="sk-warning"><strong>Note:</strong> this site was built with the placeholder '
                       f'repository {html.escape(repo_url)}; rebuild with <code>--repo-url</code> (or '
                       '<code>SPARSEKIT_REPO_URL</code>) for working Binder links.</p>')
    deps = "".join(f"<li><code>{html.escape(d)}</code></li>" for d in env)
    launch = html.escape(binder_url(repo_url, ref, first), quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>sparsekit: a hands-on course in sparse computation</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; color: #1f2328; }}
a {{ color: #0550ae; }} ol.sk-toc {{ list-style: none; padding-left: 0; }} ol.sk-toc li {{ margin: .3em 0; }}
a.sk-launch {{ display: inline-block; padding: .3em .9em; border-radius: 4px; background: #579aca; color: #fff; text-decoration: none; }}
.sk-warning {{ background: #fff8c5; padding: .5em 1em; border-radius: 4px; }}
details {{ margin-top: 2em; }}
</style>
</head>
<body>
<h1>sparsekit: a hands-on course in sparse computation</h1>
<p>From the scatter algorithm of mathematical-programming solvers, through CSR and block formats and
weight pruning, to SIMD kernels in numba measured against dense BLAS. Each lesson below is shown with
the outputs it produced when it was last executed; its exercises are shown as the learner receives them.</p>
<p><a class="sk-launch" href="{launch}">Launch the course on Binder</a> (runs every notebook live in JupyterLab)</p>
{placeholder}
<h2>Contents</h2>
<ol class="sk-toc">
{chr(10).join(rows)}
</ol>
{extra}
<details><summary>The Binder environment (from <code>environment.yml</code>)</summary><ul>{deps}</ul></details>
</body>
</html>
"""


def build_site(root: str | os.PathLike = ".", out: str | os.PathLike = "_site", *,
               repo_url: str | None = None, ref: str = DEFAULT_REF) -> SiteReport:
    """Render the course under ``root`` into the folder ``out`` and return what was written.

    Nothing is executed: lessons are rendered with their committed outputs. ``repo_url``
    defaults to ``SPARSEKIT_REPO_URL`` or :data:`PLACEHOLDER_REPO_URL`.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    repo_url = repo_url or os.environ.get("SPARSEKIT_REPO_URL") or PLACEHOLDER_REPO_URL
    binder_base(repo_url, ref)  # validate before any work
    if out == root or root.is_relative_to(out):
        raise ValueError(f"out={out} would overwrite the repository; choose a folder such as _site")
    lessons, exercises = discover(root)
    env = binder_environment(root)
    if not lessons:
        raise ValueError(f"no lessons {LESSON_DIR}/NN_*.ipynb under {root}")
    report = SiteReport(out=out, lessons=lessons, exercises=exercises)
    for page in lessons + exercises:
        try:  # a broken notebook is named: the error alone ("'int' object is not iterable") is not enough
            nb = nbformat.read(root / page.source, as_version=4)
            page.title = notebook_title(nb, Path(page.source).stem)
            if page.kind == "exercise":
                nb = _exercise_prompt(nb, page.source)
            elif not _is_executed(nb):
                report.unexecuted.append(page.source)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            if str(page.source) in str(exc):
                raise
            raise ValueError(f"{page.source} is not a readable notebook: {type(exc).__name__}: {exc}") from None
        page.notebook = nb
    lesson_by_number = {p.number: p for p in lessons}
    exercise_by_number = {p.number: p for p in exercises}
    links = _Links(root, {p.source: p for p in lessons + exercises}, exercise_by_number, repo_url, ref, report)
    exporter = _exporter()
    for page in lessons + exercises:
        binder = binder_url(repo_url, ref, page.source)
        nav = {where: _nav(page, lessons, exercise_by_number, lesson_by_number, binder, where)
               for where in ("top", "bottom")}
        resources = {
            "metadata": {"name": page.title, "path": str((root / page.source).parent)},
        }
        body, _ = exporter.from_notebook_node(page.notebook, resources=resources)
        body = links.rewrite(page, body)  # the notebook's own links; the navigation is built resolved
        for where in ("top", "bottom"):
            marker = f"<!--sparsekit-nav-{where}-->"
            if body.count(marker) != 1:
                raise RuntimeError(f"nbconvert's lab template changed: no place for the {where} navigation")
            body = body.replace(marker, nav[where])
        target = out / page.target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(
        _index_html(report, lesson_by_number, exercise_by_number, repo_url, ref, env), encoding="utf-8"
    )
    (out / ".nojekyll").write_text("")  # GitHub Pages: serve the folder as it is
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sparsekit.site",
        description="Render the executed lessons and the exercise prompts to a static HTML site (no execution).",
    )
    parser.add_argument("--out", default="_site", help="output folder (default: _site)")
    parser.add_argument("--root", default=".", help="repository root (default: the current folder)")
    parser.add_argument("--repo-url", default=None,
                        help=f"repository for the Binder and source links (default: $SPARSEKIT_REPO_URL or {PLACEHOLDER_REPO_URL})")
    parser.add_argument("--ref", default=DEFAULT_REF, help="branch, tag or commit Binder builds (default: main)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 on broken links or unexecuted lessons")
    args = parser.parse_args(argv)
    check_output_folder(parser, "--out", args.out)
    try:
        report = build_site(args.root, args.out, repo_url=args.repo_url, ref=args.ref)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for msg in report.problems:
        print(f"warning: {msg}", file=sys.stderr)
    print(f"wrote {len(report.lessons)} lessons and {len(report.exercises)} exercise sets to {report.out / 'index.html'}")
    return 1 if args.strict and report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
