"""mkdocs hook: make the book's links to Markdown pages work on the site.

In JupyterLab a chapter links to ``../hardware/index.md``, a file of the repository; mkdocs rewrites
such links in Markdown pages but not in notebooks. This hook rewrites them in the chapters' HTML
to the page's URL on the site, and fails the strict build if the target does not exist.
"""

from __future__ import annotations

import posixpath
import re

from mkdocs.exceptions import PluginError

_MD_LINK = re.compile(r'href="(?![a-z]+:|#|/)([^"#]+\.md)(#[^"]*)?"')


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

    return _MD_LINK.sub(rewrite, html)
