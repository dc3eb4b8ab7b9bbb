"""Every exercise checker accepts a right answer and gives a hint on a wrong one."""

from datetime import UTC, datetime, timedelta

import pytest

from daisee_lab import tic
from daisee_lab.errors import DaiseeError
from daisee_lab.exercises import Feedback, check
from daisee_lab.reading import Reading
from daisee_lab.recorder import Recorder


def right_standard_checksum(label, horodate, data):
    fields = [label] if horodate is None else [label, horodate]
    return tic.checksum("\t".join(fields + [data]) + "\t")


def forgets_last_tab(label, horodate, data):
    fields = [label] if horodate is None else [label, horodate]
    return tic.checksum("\t".join(fields + [data]))


def crashes(label, horodate, data):
    return label[99]


def right_average_power(first, second):
    hours = (second.meter_time - first.meter_time).total_seconds() / 3600
    return (second.import_wh - first.import_wh) / hours


def per_second(first, second):
    return right_average_power(first, second) / 3600


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A producer's recording: export 1000 -> 1130 Wh, import 500 -> 520 Wh."""
    path = tmp_path_factory.mktemp("rec") / "r.sqlite"
    start = datetime(2025, 6, 21, 10, tzinfo=UTC)
    with Recorder(path) as recorder:
        for i, (imp, exp) in enumerate([(500, 1000), (510, 1060), (520, 1130)]):
            when = start + timedelta(minutes=i)
            recorder.record(Reading("tic", "standard", "042", imp, exp, meter_time=when),
                            b"raw", received_at=when)
    return str(path)


RIGHT = {
    "1.1": chr((sum(b"PAPP 02840") & 0x3F) + 0x20),
    "1.2": 47371.616,
    "1.3": right_standard_checksum,
    "2.1": ("historic", 1200),
    "2.2": None,  # needs the recording fixture: see test_exercise_2_2
    "2.3": right_average_power,
    "6.1": (250_000, 250_000),
    "6.2": 124_000,
    "6.3": 240_000,
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
    ("2.1", ("standard", 9600), "standard simulator"),
    ("2.1", ("historic", 9600), "meter.line"),
    ("2.1", "historic", "a pair"),
    ("2.2", ("/nonexistent/x.sqlite", 130), "no database"),
    ("2.2", 130, "a pair"),
    ("2.3", per_second, "multiply by 3600"),
    ("2.3", lambda a, b: b.import_wh - a.import_wh, "power = energy / time"),
    ("6.1", (230_000, 250_000), "partly filled"),
    ("6.1", (250_000, 260_000), "k-th units"),
    ("6.1", "midpoint", "a pair"),
    ("6.2", 237_500, "what the buyers pay"),
    ("6.2", 1, "summed"),
    ("6.3", 250_000, "no better than the truth"),
    ("6.3", 100_000, "no better than the truth"),
    ("6.3", 300_000, "pay more"),
    ("6.3", 2.5e5, "whole bid price"),
]


@pytest.mark.parametrize("exercise", sorted(k for k, v in RIGHT.items() if v is not None))
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


def test_exercise_2_2(recording):
    assert check("2.2", (recording, 130))
    assert "the index itself" in check("2.2", (recording, 1130)).message
    assert "energy drawn" in check("2.2", (recording, 20)).message
    assert "export_wh of the last row" in check("2.2", (recording, 7)).message


def test_chapter_3_and_4_checkers():
    import numpy as np

    from daisee_lab.exercises import ch03

    homes, day = ch03._street()
    i = next(k for k, h in enumerate(homes) if h.pv_kwp)
    assert check("3.1", float(1 - day.import_wh[i].sum() / day.consumption_wh[i].sum()))
    assert not check("3.1", 2.0)
    shared = int(np.minimum(day.import_wh.sum(0), day.export_wh.sum(0)).sum())
    assert check("3.2", shared) and not check("3.2", shared + 1)
    assert check("3.3", lambda m: int(m.timestamp()) // 900)
    assert "time zone" in check("3.3", lambda m: (m.hour * 3600 + m.minute * 60) // 900).message
    assert check("4.1", 45_666) and "negative" in check("4.1", -45_666).message
    assert "rounded down" in check("4.1", 45_667).message  # nearest, not down
    assert "both sellers" in check("4.1", 82_199).message
    assert "a dict" in check("4.2", "mmr").message


def test_exercise_4_1_needs_the_rounding_rule():
    """Bob's 500 of 900 Wh at (Pmid·600 + λs·300)/900 is not a whole number of µ€."""
    import numpy as np

    from daisee_lab.settlement import settle
    from daisee_lab.tariffs import GRID_BUY, GRID_SELL

    result = settle(np.array([[600], [0], [0]]), np.array([[0], [500], [400]]), GRID_BUY,
                    GRID_SELL, "mmr")
    exact = 500 * ((GRID_BUY + GRID_SELL) / 2 * 600 + GRID_SELL * 300) / 900 / 1000
    assert exact != int(exact) and -result.payments[1, 0] == int(exact) == 45_666
    assert result.rounding[0] == 1


def test_exercise_4_2_producers_share_of_the_savings():
    from daisee_lab.exercises import ch04

    shares = ch04._producers_share()
    assert shares["bill_sharing"] < 0 < shares["sdr"] < shares["mmr"]  # bill sharing: producers pay
    assert check("4.2", shares)
    assert check("4.2", {m: round(v, 3) for m, v in shares.items()})
    assert "consumers' share" in check("4.2", {**shares, "sdr": 1 - shares["sdr"]}).message
    assert "one share for each" in check("4.2", {"mmr": 0.5}).message
    assert "is off" in check("4.2", {**shares, "sdr": 0.3}).message


def conserved(result):
    per_slot = (result.payments.sum(axis=0) == result.grid_bill + result.rounding).all()
    return bool(per_slot and (result.rounding >= 0).all())


def test_exercise_4_3_conservation():
    assert check("4.3", conserved)
    totals_only = check("4.3", lambda r: bool(r.payments.sum() == r.grid_bill.sum()
                                                + r.rounding.sum()))
    assert not totals_only and "moved between slots" in totals_only.message
    no_sign = check("4.3", lambda r: bool((r.payments.sum(axis=0) == r.grid_bill
                                           + r.rounding).all()))
    assert not no_sign and "never negative" in no_sign.message
    assert "a real settlement is conserved" in check("4.3", lambda r: False).message
    assert "raised" in check("4.3", lambda r: r.nothing).message
    assert "function itself" in check("4.3", 3).message


def test_an_exercise_not_answered_yet_gets_no_verdict():
    feedback = check("4.1", None)
    assert not feedback and not feedback.answered
    assert repr(feedback).startswith("… exercise 4.1: not answered yet")
    assert "✘" not in repr(feedback)
