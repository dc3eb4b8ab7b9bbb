"""The book's sources: the learners' edition, without the exercises' solutions.

Chapters are notebooks in ``book/``. A code cell tagged ``solution`` holds the worked answer to
the exercise before it; the tests run it like any other cell. The learners' edition is the same
notebooks without those cells.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from daisee_lab.errors import DaiseeError

SOLUTION_TAG = "solution"


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_edition(book: Path | str, out: Path | str) -> list[Path]:
    """Write every chapter of `book` to `out` without its solution cells; return the new files."""
    book, out = Path(book), Path(out)
    chapters = sorted(book.glob("[0-9][0-9]-*.ipynb"))
    if not chapters:
        raise DaiseeError(f"no chapters (NN-title.ipynb) in {book}")
    if out.resolve() == book.resolve():
        raise DaiseeError("the learners' edition must go to another folder than the book")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in chapters:
        notebook = nbformat.read(chapter, as_version=4)
        notebook.cells = [cell for cell in notebook.cells if not is_solution(cell)]
        target = out / chapter.name
        nbformat.write(notebook, target)
        written.append(target)
    return written
