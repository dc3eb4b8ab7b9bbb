"""mkdocs hooks for the book's chapters on the site.

- Links: in JupyterLab a chapter links to another (``04-sharing-fairly.ipynb``) or to a file of
  the repository (``../hardware/index.md``, ``../docs/glossary.md#slot``); mkdocs rewrites such
  links in Markdown pages but not in notebooks. They are rewritten here to the page's URL on the
  site, and the build fails if the target is not a page of the site.
- Download: under its title, each chapter page links to its own notebook, copied beside the
  page (without outputs, as in the repository).
- Solutions: cells tagged ``solution`` are folded into a ``<details>`` block, closed by default.
  With ``DAISEE_EDITION=student`` in the environment, the site is the learners' edition: solution
  cells are left out of the pages and of the downloadable notebooks, for graded work.
- Execution: the chapters are run here, each in a fresh kernel in a scratch copy of the book
  (what they write at run time, keys and ledgers included, never reaches the site nor meets a
  learner's or a test's own run), two at a time, and mkdocs-jupyter renders the results. A cell
  that gets no reply within ``CELL_TIMEOUT`` seconds fails; the chapter is then run once more
  from the start, since nbclient can miss a reply from an idle kernel (jupyter/nbclient#312).
  A chapter that fails twice fails the build, with its error.
- Widgets: the chapters' ipywidgets are rendered by @jupyter-widgets/html-manager, which nbconvert
  loads from unpkg.com; the site serves its own copy (npm, pinned in package.json) instead, so
  that it works with no internet. Likewise the iframe-worker shim that Material's offline plugin
  needs for search from a folder (``extra.polyfills`` in mkdocs.yml) is served from the site.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from mkdocs.exceptions import PluginError
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from daisee_lab.book import without_solutions
from daisee_lab.chain.compiler import node_modules_dirs

WIDGETS_DIR = "assets/widgets"
SHIM = "assets/iframe-worker/shim.js"  # as named in mkdocs.yml's extra.polyfills
CELL_TIMEOUT = 300  # seconds: the slowest cell of the book takes under a minute
RUNS = 2            # a chapter is run again once if a cell got no reply
_scratch: list[Path] = []  # the scratch copy of the book of the build in progress
_WIDGET_RENDERER = re.compile(r"https://unpkg\.com/@jupyter-(?:js-)?widgets[^'\"]*/dist/embed(?:-amd)?\.js")

_PAGE_LINK = re.compile(r'href="(?![a-z]+:|#|/)([^"#]+\.(?:md|ipynb))(#[^"]*)?"')
EDITIONS = ("teacher", "student")
_SOLUTION_CELL = re.compile(r'<div[^>]*\bclass="[^"]*\bcelltag_solution\b[^"]*"[^>]*>')
_DIV = re.compile(r"<div\b|</div>")


def edition() -> str:
    """The edition being built: ``teacher`` (solutions folded) or ``student`` (none)."""
    name = os.environ.get("DAISEE_EDITION", "teacher")
    if name not in EDITIONS:
        raise PluginError(f"DAISEE_EDITION={name!r}: use one of {', '.join(EDITIONS)}")
    return name


def _fold_solutions(html: str, keep: bool = True) -> str:
    """Wrap each solution cell (a balanced <div> subtree) in a closed <details> block, or
    leave it out if not `keep`."""
    out, position = [], 0
    for start in [m.start() for m in _SOLUTION_CELL.finditer(html)]:
        if start < position:
            continue
        depth, end = 0, None
        for tag in _DIV.finditer(html, start):
            depth += 1 if tag.group() == "<div" else -1
            if depth == 0:
                end = tag.end()
                break
        if end is None:
            raise PluginError("a solution cell's HTML is not balanced: cannot fold it")
        out.append(html[position:start])
        if keep:
            out += ['<details class="solution"><summary>Solution</summary>', html[start:end],
                    "</details>"]
        position = end
    return "".join(out) + html[position:]


def _execute(chapter: Path, scratch: Path) -> Path:
    """Run `chapter` in a fresh kernel with `scratch` (a copy of the book) as its folder; write
    the executed notebook there and return its path."""
    for run in range(1, RUNS + 1):
        notebook = nbformat.read(chapter, as_version=4)
        client = NotebookClient(notebook, timeout=CELL_TIMEOUT, allow_errors=False,
                                store_widget_state=True, kernel_name="python3",
                                resources={"metadata": {"path": str(scratch)}})
        try:
            client.execute()
            break
        except CellTimeoutError as exc:
            if run == RUNS:
                raise PluginError(f"{chapter.name}: a cell got no reply in {RUNS} runs: {exc}") \
                    from None
        except CellExecutionError as exc:
            plain = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # the traceback's colours
            raise PluginError(f"{chapter.name} failed: {plain}") from None
    executed = scratch / "executed" / "book" / chapter.name  # mkdocs-jupyter: book/*.ipynb
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed)
    return executed


def on_files(files, config):
    """Run every chapter (see the module's docstring) and have the site render the results."""
    chapters = [f for f in files if f.src_uri.startswith("book/") and f.src_uri.endswith(".ipynb")]
    scratch = Path(tempfile.mkdtemp(prefix="daisee-site-book-"))
    _scratch.append(scratch)
    for chapter in chapters:
        shutil.copy2(chapter.abs_src_path, scratch / Path(chapter.abs_src_path).name)
    with ThreadPoolExecutor(max_workers=2) as pool:
        executed = list(pool.map(lambda f: _execute(Path(f.abs_src_path), scratch), chapters))
    for chapter, path in zip(chapters, executed):
        chapter.abs_src_path = str(path)
    return files


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html

    def rewrite(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri),
                                                   match.group(1)))
        target = target.removeprefix("docs/")  # the repository's docs/ is the site's root
        linked = files.get_file_from_path(target)
        if linked is None:
            raise PluginError(f"{page.file.src_uri} links to {match.group(1)}, "
                              f"which is not a page of the site")
        return f'href="{linked.url_relative_to(page.file)}{match.group(2) or ""}"'

    local = posixpath.relpath(f"{WIDGETS_DIR}/embed.js", posixpath.dirname(page.file.dest_uri))
    html = _WIDGET_RENDERER.sub(local, html)
    name = posixpath.basename(page.file.src_uri)
    notebook = posixpath.relpath(page.file.src_uri, posixpath.dirname(page.file.dest_uri))
    download = (f'<p class="chapter-download"><a href="{notebook}" download>Download this '
                f'chapter as a notebook</a> ({name}), to run it in JupyterLab.</p>')
    html = _fold_solutions(_PAGE_LINK.sub(rewrite, html), edition() == "teacher")
    title_end = html.find("</h1>") + len("</h1>") if "</h1>" in html else 0
    return html[:title_end] + download + html[title_end:]  # under the chapter's title


def on_post_build(config):
    """Offer each chapter's notebook for download (without outputs, as in the repository; in
    the learners' edition without solutions), copy the widget renderer (and the fonts it
    loads) and the search shim into the site, and remove the scratch copy of the book."""
    site = Path(config["site_dir"])
    for chapter in sorted((Path(config["docs_dir"]) / "book").glob("[0-9][0-9]-*.ipynb")):
        notebook = nbformat.read(chapter, as_version=4)
        if edition() == "student":
            without_solutions(notebook)
        (site / "book").mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, site / "book" / chapter.name)
    widgets = _node_package("@jupyter-widgets/html-manager", "dist/embed.js").parent
    (site / WIDGETS_DIR).mkdir(parents=True, exist_ok=True)
    for item in widgets.iterdir():
        if not item.name.endswith((".map", "-amd.js")):
            shutil.copy2(item, site / WIDGETS_DIR / item.name)
    shim = _node_package("iframe-worker", "shim/index.js")
    (site / SHIM).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(shim, site / SHIM)
    shutil.copy2(shim.parent.parent / "LICENSE", (site / SHIM).parent / "LICENSE")
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def _node_package(name: str, path: str) -> Path:
    """The file `path` of the npm package `name`, installed by ``make setup``."""
    for modules in node_modules_dirs():
        if (modules / name / path).is_file():
            return modules / name / path
    raise PluginError(f"the npm package {name} is not installed: run `make setup`")
