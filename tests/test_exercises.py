"""Every exercise checker accepts a right answer and gives a hint on a wrong one."""

import pytest

from daisee_lab import tic
from daisee_lab.errors import DaiseeError
from daisee_lab.exercises import Feedback, check


def right_standard_checksum(label, horodate, data):
    fields = [label] if horodate is None else [label, horodate]
    return tic.checksum("\t".join(fields + [data]) + "\t")


def forgets_last_tab(label, horodate, data):
    fields = [label] if horodate is None else [label, horodate]
    return tic.checksum("\t".join(fields + [data]))


def crashes(label, horodate, data):
    return label[99]


RIGHT = {
    "1.1": chr((sum(b"PAPP 02840") & 0x3F) + 0x20),
    "1.2": 47371.616,
    "1.3": right_standard_checksum,
}
WRONG = [  # exercise, answer, a phrase the hint must contain
    ("1.1", chr((sum(b"PAPP 02840 ") & 0x3F) + 0x20), "method 2"),
    ("1.1", "ab", "one character"),
    ("1.1", "x", "6 low bits"),
    ("1.2", 47371616, "in Wh"),
    ("1.2", 18328.856, "one index only"),
    ("1.2", 1.0, "BBRH"),
    ("1.2", "lots", "a number"),
    ("1.3", forgets_last_tab, "HT"),
    ("1.3", crashes, "raised IndexError"),
    ("1.3", "not a function", "function itself"),
]


@pytest.mark.parametrize("exercise", sorted(RIGHT))
def test_right_answers_pass(exercise):
    feedback = check(exercise, RIGHT[exercise])
    assert isinstance(feedback, Feedback) and feedback.correct, feedback
    assert repr(feedback).startswith("✔")


@pytest.mark.parametrize("exercise, answer, hint", WRONG)
def test_wrong_answers_get_a_hint(exercise, answer, hint):
    feedback = check(exercise, answer)
    assert not feedback and hint in feedback.message
    assert repr(feedback).startswith("✘")


def test_unknown_exercise():
    with pytest.raises(DaiseeError, match="no exercise '99.9'"):
        check("99.9", 1)
