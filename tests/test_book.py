"""The book's notebooks are committed clean: outputs only in cells deliberately kept."""

from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]-*.ipynb"))
KEEP = "keep-output"


def test_the_book_has_chapters():
    assert CHAPTERS and CHAPTERS[0].name.startswith("00-")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_only_kept_cells_carry_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        kept = KEEP in cell.metadata.get("tags", [])
        where = f"{path.name} cell {index}"
        if kept:
            assert cell.execution_count is not None and cell.outputs, f"{where}: kept but empty"
        else:
            assert not cell.outputs and cell.execution_count is None, (
                f"{where}: outputs in a cell not tagged {KEEP!r}; clear them "
                f"(nbstripout) or tag the cell if its output is deterministic")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_a_chapter_starts_with_its_title(path):
    first = nbformat.read(path, as_version=4).cells[0]
    number = int(path.name[:2])
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number}. ")
