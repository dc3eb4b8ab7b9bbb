"""A Griffe extension: the library's reStructuredText docstrings as Markdown for mkdocstrings.

The library's docstrings use Sphinx roles (``:class:`Chain```), literal blocks after ``::`` and
doctest lines (``>>> chain = Chain()``). mkdocstrings renders Markdown, where those show raw or
run together into one paragraph. Once the package is loaded, every docstring is rewritten:

- a role becomes a cross-reference to the object it names, resolved in the docstring's own
  scope (``~`` keeps only the last name as the text), when the API reference page
  (``docs/reference.md``) renders that object: a module it lists, or a documented member of
  one; any other name stays as code, unlinked;
- a run of ``>>>`` lines, and an indented block after a paragraph ending in ``::``, become
  fenced Python code blocks.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import griffe

REFERENCE_PAGE = Path(__file__).parent / "docs" / "reference.md"

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
LITERAL_INTRO = re.compile(r"::\s*$")


class SphinxToMarkdown(griffe.Extension):
    """Rewrite every docstring of the loaded package (see the module's docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        rendered = set(re.findall(r"^::: (\S+)", REFERENCE_PAGE.read_text(), re.M))
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = to_markdown(obj.docstring.value, obj, rendered)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _is_rendered(obj: griffe.Object, rendered: set[str]) -> bool:
    """True if the reference page shows `obj`: a listed module, or a documented member of one
    whose parents are documented too."""
    while not obj.is_module:
        if not obj.docstring or obj.name.startswith("_"):
            return False
        obj = obj.parent
    return obj.path in rendered


def _target(name: str, scope: griffe.Object, rendered: set[str]) -> str | None:
    """The full path of the rendered object `name` refers to from `scope`, or None."""
    name = name.strip("()")
    if name.startswith("."):  # relative to the module (or package) of the docstring
        base = scope if scope.is_module else scope.module
        if base.is_init_module or base.is_package:
            package = base
        else:
            package = base.parent
        name = f"{package.path}{name}"
    head, _, rest = name.partition(".")
    try:
        path = scope.resolve(head) if head else None
    except (griffe.NameResolutionError, KeyError, AttributeError):
        path = None
    full = f"{path}.{rest}" if path and rest else path or name
    try:
        found = scope.modules_collection.get_member(full)
    except (KeyError, AttributeError, ValueError):
        return None
    try:
        found = found.final_target if found.is_alias else found
    except griffe.AliasResolutionError:
        return None
    return found.path if _is_rendered(found, rendered) else None


def _role(match: re.Match, scope: griffe.Object, rendered: set[str]) -> str:
    short, name = match.groups()
    text = name.rsplit(".", 1)[-1] if short else name.lstrip(".")
    target = _target(name, scope, rendered)
    return f"[`{text}`][{target}]" if target else f"`{text}`"


def _fence_code(text: str) -> str:
    """Fence runs of doctest lines and the literal blocks introduced by ``::``."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].lstrip().startswith((">>>", "...")):
                prompt_and_code = lines[i].lstrip()
                block.append(prompt_and_code[4:] if prompt_and_code[3:4] == " "
                             else prompt_and_code[3:])
                i += 1
            out += ["", "```python", *block, "```", ""]
            continue
        if LITERAL_INTRO.search(line) and i + 1 < len(lines):
            out.append("" if line.strip() == "::" else LITERAL_INTRO.sub(":", line))
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```text", *textwrap.dedent("\n".join(block)).split("\n"), "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def to_markdown(text: str, scope: griffe.Object, rendered: set[str]) -> str:
    """`text`, an RST docstring of `scope`, as Markdown with cross-references to the objects
    of `rendered` modules."""
    return ROLE.sub(lambda m: _role(m, scope, rendered), _fence_code(text))
