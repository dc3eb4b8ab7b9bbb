"""The book's notebooks are committed clean: outputs only in cells deliberately kept."""

import re
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


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_a_chapter_says_what_it_teaches_needs_and_takes(path):
    from daisee_lab.book import study_minutes

    first = nbformat.read(path, as_version=4).cells[0].source
    for marker in ("**You will learn**", "**You need**", "**Time**"):
        assert marker in first, f"{path.name}: the first cell has no {marker}"
    stated = re.search(r"\*\*Time\*\*:? about (\d+) minutes", first)
    assert stated, f"{path.name}: say '**Time**: about N minutes'"
    assert int(stated.group(1)) == study_minutes(path), (
        f"{path.name}: the chapter takes about {study_minutes(path)} minutes now")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_a_chapter_ends_with_what_was_learned_a_task_to_go_further_and_what_comes_next(path):
    cells = [c.source for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "markdown"]
    assert any(s.startswith("## What you learned") for s in cells), path.name
    assert any(s.startswith("## Go further") for s in cells), path.name
    if path != CHAPTERS[-1]:
        assert "**Next**" in cells[-1], f"{path.name}: end on a teaser for the next chapter"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_exercises_offer_a_hint_and_keep_their_solutions_folded(path):
    from daisee_lab.book import is_solution

    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "markdown" and re.search(r"^#+ Exercise \d+\.\d+", cell.source,
                                                      re.M):
            assert "<details><summary>Hint</summary>" in cell.source, f"{path.name} cell {index}"
        if is_solution(cell):
            hidden = cell.metadata.get("jupyter", {})
            assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), (
                f"{path.name} cell {index}: a solution shows before the learner asks for it")
