"""The book's sources: the learners' edition, without the exercises' solutions.

Chapters are notebooks in ``book/``. A code cell tagged ``solution`` holds the worked answer to
the exercise before it; the tests run it like any other cell, and JupyterLab shows it collapsed
until the reader opens it (``jupyter.source_hidden``). The learners' edition is the same
notebooks without those cells. :func:`study_minutes` estimates the time a chapter takes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat

from daisee_lab.errors import DaiseeError

__all__ = ["BookError", "MINUTES_PER_EXERCISE", "SOLUTION_TAG", "WORDS_PER_MINUTE", "is_solution",
           "student_edition", "study_minutes", "without_solutions"]

SOLUTION_TAG = "solution"
WORDS_PER_MINUTE = 200  # reading prose and code at a learner's pace
MINUTES_PER_EXERCISE = 5
_EXERCISE = re.compile(r"^#+ Exercise \d+\.\d+", re.M)


class BookError(DaiseeError):
    """The book's chapters cannot be found, or the learners' edition cannot be written."""


def is_solution(cell: nbformat.NotebookNode) -> bool:
    """True for a cell tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def without_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`notebook` with its solution cells taken out (in place; returned for chaining)."""
    notebook.cells = [cell for cell in notebook.cells if not is_solution(cell)]
    return notebook


def student_edition(book: Path | str, out: Path | str) -> list[Path]:
    """Write every chapter of `book` to `out` without its solution cells; return the new files.
    Raises :class:`BookError` if there are no chapters or `out` cannot be written (the chapters
    written before stay)."""
    book, out = Path(book), Path(out)
    chapters = sorted(book.glob("[0-9][0-9]-*.ipynb"))
    if not chapters:
        raise BookError(f"no chapters (NN-title.ipynb) in {book}")
    if out.resolve() == book.resolve():
        raise BookError("the learners' edition must go to another folder than the book")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    written = []
    for chapter in chapters:
        target = out / chapter.name
        edition = without_solutions(nbformat.read(chapter, as_version=4))
        try:
            nbformat.write(edition, target)
        except OSError as exc:
            raise _unwritable(out, exc) from None
        written.append(target)
    return written


def _unwritable(out: Path, exc: OSError) -> BookError:
    """The error for an edition that cannot be written to `out`: where, and what the system
    said."""
    where = f"{exc.filename}: " if exc.filename and Path(exc.filename) != out else ""
    return BookError(f"cannot write the learners' edition to {out}: {where}"
                     f"{exc.strerror or exc}: give a folder you may write to")


def study_minutes(chapter: Path | str) -> int:
    """The minutes a chapter takes a learner, rounded up to five: its words (markdown and
    code) at :data:`WORDS_PER_MINUTE`, plus :data:`MINUTES_PER_EXERCISE` per exercise; solution
    cells are not counted (a learner writes their own)."""
    notebook = nbformat.read(chapter, as_version=4)
    cells = [cell for cell in notebook.cells if not is_solution(cell)]
    words = sum(len(cell.source.split()) for cell in cells)
    exercises = sum(len(_EXERCISE.findall(cell.source)) for cell in cells
                    if cell.cell_type == "markdown")
    minutes = words / WORDS_PER_MINUTE + MINUTES_PER_EXERCISE * exercises
    return 5 * max(1, math.ceil(minutes / 5))
