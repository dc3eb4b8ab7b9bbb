"""The learners' edition drops the solution cells and nothing else."""

import nbformat
import pytest

from daisee_lab.book import BookError, is_solution, student_edition
from daisee_lab.cli import main
from daisee_lab.errors import DaiseeError

from test_book import BOOK, CHAPTERS


def test_student_edition_removes_exactly_the_solutions(tmp_path):
    written = student_edition(BOOK, tmp_path)
    assert [p.name for p in written] == [p.name for p in CHAPTERS]
    solutions = 0
    for source, edition in zip(CHAPTERS, written):
        full = nbformat.read(source, as_version=4).cells
        kept = nbformat.read(edition, as_version=4).cells
        solutions += sum(map(is_solution, full))
        assert [c.source for c in kept] == [c.source for c in full if not is_solution(c)]
    assert solutions >= 3 * 3  # three exercises in each chapter that has them


def test_every_exercise_has_a_solution():
    for path in CHAPTERS:
        cells = nbformat.read(path, as_version=4).cells
        for index, cell in enumerate(cells):
            exercise = "answer = None" in cell.source and "check(\"" in cell.source
            if cell.cell_type == "code" and exercise and not is_solution(cell):
                assert is_solution(cells[index + 1]), f"{path.name} cell {index} has no solution"


def test_cli_and_bad_folders(tmp_path, capsys):
    assert main(["book", "student", "--book", str(BOOK), "--out", str(tmp_path / "s")]) == 0
    assert "00-welcome.ipynb" in capsys.readouterr().out
    with pytest.raises(DaiseeError, match="no chapters"):
        student_edition(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DaiseeError, match="another folder"):
        student_edition(BOOK, BOOK)


def test_an_edition_that_cannot_be_written_is_a_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("mine")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "student"):
        with pytest.raises(BookError, match=f"cannot write the learners' edition to {out}"):
            student_edition(BOOK, out)
    assert (tmp_path / "a-file").read_text() == "mine"
    taken = tmp_path / "taken"
    (taken / CHAPTERS[1].name).mkdir(parents=True)  # a folder where a chapter goes
    with pytest.raises(BookError, match=f"{CHAPTERS[1].name}: Is a directory"):
        student_edition(BOOK, taken)
    assert (taken / CHAPTERS[0].name).is_file()  # what was written stays
