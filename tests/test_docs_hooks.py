"""The site's notebook hooks: solution cells fold (or go, in the learners' edition), links to
pages are rewritten or refused, each chapter offers its notebook, chapters run in a scratch
copy of the book; and the API reference's docstrings become Markdown with cross-references."""

from types import SimpleNamespace

import griffe
import nbformat
import pytest
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import mkdocs_griffe
import mkdocs_hooks

pytestmark = pytest.mark.slow  # builds chapters with mkdocs: seconds each

CELL = ('<div class="jp-Cell jp-CodeCell celltag_solution"><div class="in"><div>x = 1</div>'
        '</div></div>')
DOWNLOAD = ('<p class="chapter-download"><a href="../02-a.ipynb" download>Download this chapter '
            'as a notebook</a> (02-a.ipynb), to run it in JupyterLab.</p>')


def site_file(src):
    """A file of the site; a notebook as mkdocs-jupyter makes it: a folder's index.html."""
    file = File(src, "docs", "site", use_directory_urls=True)
    if src.endswith(".ipynb"):
        file.dest_uri = src.removesuffix(".ipynb") + "/index.html"
        file.url = src.removesuffix(".ipynb") + "/"
    return file


def page(src):
    return SimpleNamespace(file=site_file(src))


def files():
    return Files([site_file(p) for p in ("hardware/index.md", "glossary.md", "book/02-a.ipynb",
                                         "book/03-b.ipynb")])


def test_solution_cells_are_folded_whole():
    html = "<p>before</p>" + CELL + '<div class="jp-Cell">after</div>'
    folded = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert folded == (DOWNLOAD + '<p>before</p><details class="solution"><summary>Solution'
                      '</summary>' + CELL + '</details><div class="jp-Cell">after</div>')


def test_the_learners_edition_leaves_solutions_out(monkeypatch):
    monkeypatch.setenv("DAISEE_EDITION", "student")
    html = "<p>before</p>" + CELL + '<div class="jp-Cell">after</div>'
    out = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert out == DOWNLOAD + '<p>before</p><div class="jp-Cell">after</div>'
    monkeypatch.setenv("DAISEE_EDITION", "teachers")
    with pytest.raises(PluginError, match="use one of teacher, student"):
        mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())


def test_links_to_pages_and_chapters_are_rewritten_and_missing_ones_refused():
    html = ('<a href="../hardware/index.md#wiring">guide</a> <a href="https://x.org/a.md">x</a> '
            '<a href="03-b.ipynb#top">next</a> <a href="../docs/glossary.md#slot">slot</a>')
    out = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert out == DOWNLOAD + ('<a href="../../hardware/#wiring">guide</a> '
                              '<a href="https://x.org/a.md">x</a> <a href="../03-b/#top">next</a> '
                              '<a href="../../glossary/#slot">slot</a>')
    with pytest.raises(PluginError, match="links to ../nowhere.md"):
        mkdocs_hooks.on_page_content('<a href="../nowhere.md">', page("book/02-a.ipynb"), {},
                                     files())
    with pytest.raises(PluginError, match="links to 99-z.ipynb"):
        mkdocs_hooks.on_page_content('<a href="99-z.ipynb">', page("book/02-a.ipynb"), {},
                                     files())


def test_markdown_pages_are_left_alone():
    assert mkdocs_hooks.on_page_content(CELL, page("hardware/index.md"), {}, files()) == CELL


def write_chapter(path, source):
    """A one-cell chapter for the python3 kernel."""
    chapter = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    chapter.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                      "language": "python"}
    nbformat.write(chapter, path)


def test_a_chapter_runs_in_the_scratch_copy_and_writes_there(tmp_path):
    book, scratch = tmp_path / "book", tmp_path / "scratch"
    book.mkdir()
    scratch.mkdir()
    write_chapter(book / "01-x.ipynb",
                  "from pathlib import Path\nPath('lab').mkdir()\nPath('lab/key').write_text("
                  "'secret')\nprint(Path.cwd().name)")
    executed = mkdocs_hooks._execute(book / "01-x.ipynb", scratch)
    assert executed == scratch / "executed" / "book" / "01-x.ipynb"
    (output,) = nbformat.read(executed, as_version=4).cells[0].outputs
    assert output.text.strip() == "scratch"
    assert (scratch / "lab" / "key").is_file() and not (book / "lab").exists()


def test_a_failing_chapter_fails_the_build_with_its_error(tmp_path):
    write_chapter(tmp_path / "01-x.ipynb", "1 / 0")
    with pytest.raises(PluginError, match=r"(?s)01-x.ipynb failed.*\nZeroDivisionError: division"):
        mkdocs_hooks._execute(tmp_path / "01-x.ipynb", tmp_path)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """A small package whose docstrings use Sphinx roles, doctest lines and a literal block."""
    root = tmp_path_factory.mktemp("pkg")
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text('"""The package: see :mod:`.util`."""\n')
    (root / "pkg" / "util.py").write_text(
        '"""Helpers.\n\n>>> x = make(1)\n>>> x.value\n\nA frame::\n\n    STX LF ETX\n\n'
        'Done."""\n\n\nclass Thing:\n    """A thing; see :meth:`value` and :func:`make`, '
        'not :func:`nowhere`."""\n\n    def value(self):\n        """Its value."""\n\n\n'
        'def make(n):\n    """A :class:`~pkg.util.Thing`."""\n\n\ndef _hidden():\n'
        '    """Hidden: :func:`_hidden`."""\n')
    return griffe.load("pkg", search_paths=[root], resolve_aliases=True)


def test_roles_become_cross_references_to_what_the_reference_renders(package):
    rendered = {"pkg.util"}
    text = mkdocs_griffe.to_markdown(package["util.Thing"].docstring.value,
                                     package["util.Thing"], rendered)
    assert text == ("A thing; see [`value`][pkg.util.Thing.value] and "
                    "[`make`][pkg.util.make], not `nowhere`.")
    assert mkdocs_griffe.to_markdown(":class:`~pkg.util.Thing`", package["util"], rendered) \
        == "[`Thing`][pkg.util.Thing]"
    assert mkdocs_griffe.to_markdown(":mod:`.util`", package, set()) == "`util`"  # not rendered


def test_doctest_lines_and_literal_blocks_become_fenced_code(package):
    text = mkdocs_griffe.to_markdown(package["util"].docstring.value, package["util"], set())
    assert "```python\nx = make(1)\nx.value\n```" in text
    assert "A frame:\n\n```text\nSTX LF ETX\n```" in text and text.endswith("Done.")


def test_the_download_link_sits_under_the_chapter_title():
    html = '<div><h1 id="t">2. A<a class="anchor-link" href="#t">¶</a></h1><p>text</p></div>'
    out = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert out == ('<div><h1 id="t">2. A<a class="anchor-link" href="#t">¶</a></h1>' + DOWNLOAD
                   + "<p>text</p></div>")


def test_a_chapter_whose_cell_gets_no_reply_is_run_once_more(tmp_path, monkeypatch):
    monkeypatch.setattr(mkdocs_hooks, "CELL_TIMEOUT", 3)
    write_chapter(tmp_path / "01-x.ipynb",
                  "import pathlib, time\nfirst = not pathlib.Path('ran').exists()\n"
                  "pathlib.Path('ran').touch()\nif first:\n    time.sleep(30)  # no reply in time\n"
                  "print('second run')")
    executed = mkdocs_hooks._execute(tmp_path / "01-x.ipynb", tmp_path)
    (output,) = nbformat.read(executed, as_version=4).cells[0].outputs
    assert output.text == "second run\n"
    monkeypatch.setattr(mkdocs_hooks, "RUNS", 1)
    (tmp_path / "ran").unlink()
    with pytest.raises(PluginError, match="01-x.ipynb: a cell got no reply in 1 runs"):
        mkdocs_hooks._execute(tmp_path / "01-x.ipynb", tmp_path)
