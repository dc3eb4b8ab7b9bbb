"""mkdocs hooks for the book's chapters on the site.

- Links: in JupyterLab a chapter links to ``../hardware/index.md``, a file of the repository;
  mkdocs rewrites such links in Markdown pages but not in notebooks. They are rewritten here to the
  page's URL on the site, and the strict build fails if the target does not exist.
- Solutions: cells tagged ``solution`` are folded into a ``<details>`` block, closed by default.
- Widgets: the chapters' ipywidgets are rendered by @jupyter-widgets/html-manager, which nbconvert
  loads from unpkg.com; the site serves its own copy (npm, pinned in package.json) instead, so
  that it works with no internet.
"""

from __future__ import annotations

import posixpath
import re
import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError

from daisee_lab.chain.compiler import node_modules_dirs

WIDGETS_DIR = "assets/widgets"
_WIDGET_RENDERER = re.compile(r"https://unpkg\.com/@jupyter-(?:js-)?widgets[^'\"]*/dist/embed(?:-amd)?\.js")

_MD_LINK = re.compile(r'href="(?![a-z]+:|#|/)([^"#]+\.md)(#[^"]*)?"')
_SOLUTION_CELL = re.compile(r'<div[^>]*\bclass="[^"]*\bcelltag_solution\b[^"]*"[^>]*>')
_DIV = re.compile(r"<div\b|</div>")


def _fold_solutions(html: str) -> str:
    """Wrap each solution cell (a balanced <div> subtree) in a closed <details> block."""
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
        out += [html[position:start], '<details class="solution"><summary>Solution</summary>',
                html[start:end], "</details>"]
        position = end
    return "".join(out) + html[position:]


def on_page_content(html, page, config, files):
    if not page.file.src_uri.endswith(".ipynb"):
        return html

    def rewrite(match: re.Match) -> str:
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri),
                                                   match.group(1)))
        linked = files.get_file_from_path(target)
        if linked is None:
            raise PluginError(f"{page.file.src_uri} links to {match.group(1)}, "
                              f"which is not a page of the site")
        return f'href="{linked.url_relative_to(page.file)}{match.group(2) or ""}"'

    local = posixpath.relpath(f"{WIDGETS_DIR}/embed.js", posixpath.dirname(page.file.dest_uri))
    html = _WIDGET_RENDERER.sub(local, html)
    return _fold_solutions(_MD_LINK.sub(rewrite, html))


def on_post_build(config):
    """Copy the widget renderer (and the fonts it loads) into the site."""
    for modules in node_modules_dirs():
        dist = modules / "@jupyter-widgets" / "html-manager" / "dist"
        if (dist / "embed.js").is_file():
            target = Path(config["site_dir"]) / WIDGETS_DIR
            target.mkdir(parents=True, exist_ok=True)
            for item in dist.iterdir():
                if not item.name.endswith((".map", "-amd.js")):
                    shutil.copy2(item, target / item.name)
            return
    raise PluginError("@jupyter-widgets/html-manager is not installed: run `make setup`")
