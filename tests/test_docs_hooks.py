"""The site's notebook hooks: solution cells fold, links to pages are rewritten or refused."""

from types import SimpleNamespace

import pytest
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

import mkdocs_hooks

CELL = ('<div class="jp-Cell jp-CodeCell celltag_solution"><div class="in"><div>x = 1</div>'
        '</div></div>')


def page(src):
    """A page as mkdocs-jupyter makes one: a notebook served as a folder's index.html."""
    file = File(src, "docs", "site", use_directory_urls=True)
    if src.endswith(".ipynb"):
        file.dest_uri = src.removesuffix(".ipynb") + "/index.html"
        file.url = src.removesuffix(".ipynb") + "/"
    return SimpleNamespace(file=file)


def files():
    return Files([File(p, "docs", "site", use_directory_urls=True)
                  for p in ("hardware/index.md", "book/02-a.ipynb")])


def test_solution_cells_are_folded_whole():
    html = "<p>before</p>" + CELL + '<div class="jp-Cell">after</div>'
    folded = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert folded == ('<p>before</p><details class="solution"><summary>Solution</summary>'
                      + CELL + '</details><div class="jp-Cell">after</div>')


def test_links_to_pages_are_rewritten_and_missing_ones_refused():
    html = '<a href="../hardware/index.md#wiring">guide</a> <a href="https://x.org/a.md">x</a>'
    out = mkdocs_hooks.on_page_content(html, page("book/02-a.ipynb"), {}, files())
    assert out == '<a href="../../hardware/#wiring">guide</a> <a href="https://x.org/a.md">x</a>'
    with pytest.raises(PluginError, match="links to ../nowhere.md"):
        mkdocs_hooks.on_page_content('<a href="../nowhere.md">', page("book/02-a.ipynb"), {},
                                     files())


def test_markdown_pages_are_left_alone():
    assert mkdocs_hooks.on_page_content(CELL, page("hardware/index.md"), {}, files()) == CELL
