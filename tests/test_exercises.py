"""Every exercise checker accepts a right answer and gives a hint on a wrong one."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

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
    "5.1": "last_ask",
    "5.2": 124_000,
    "5.3": 240_000,
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
    ("5.1", "midpoint", "take the lowest"),
    ("5.1", "mcafee", "answer with one of"),
    ("5.2", 237_500, "what the buyers pay"),
    ("5.2", 1, "summed"),
    ("5.3", 250_000, "no better than the truth"),
    ("5.3", 100_000, "no better than the truth"),
    ("5.3", 300_000, "pay more"),
    ("5.3", 2.5e5, "whole bid price"),
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


@pytest.fixture(scope="module")
def meter_log_lab(tmp_path_factory):
    """Chapter 6's MeterLog.sol, taken from the chapter itself, in a `lab/` folder."""
    import nbformat

    from conftest import REPO

    chapter = nbformat.read(REPO / "book" / "06-your-first-contract.ipynb", as_version=4)
    (source,) = [c.source for c in chapter.cells
                 if c.source.startswith("%%writefile lab/MeterLog.sol")]
    lab = tmp_path_factory.mktemp("ch06") / "lab"
    lab.mkdir()
    (lab / "MeterLog.sol").write_text(source.split("\n", 1)[1])
    return lab


def test_chapter_6_checkers(meter_log_lab, monkeypatch):
    from daisee_lab.chain import Chain

    monkeypatch.chdir(meter_log_lab.parent)
    chain = Chain(contract_dirs=[meter_log_lab])
    owner, neighbour = chain.accounts[:2]

    meter_log = chain.deploy("MeterLog", sender=owner)
    assert "last slot logged is 0" in check("6.1", meter_log).message
    for slot, wh in {10: 1200, 11: 800, 12: 950}.items():
        meter_log.log(slot, wh, sender=owner)
    assert check("6.1", meter_log)
    assert "pass the handle" in check("6.1", "a contract").message
    meter_log.log(13, 1, sender=owner)
    assert "expected 2950" in check("6.1", meter_log).message

    with chain.expect_revert() as caught:
        meter_log.log(14, 5, sender=neighbour)
    assert check("6.2", caught.revert)
    with chain.expect_revert() as caught:
        meter_log.log(13, 5, sender=owner)
    assert "another account" in check("6.2", caught.revert).message
    assert "caught.revert" in check("6.2", None).message

    fresh = chain.deploy("MeterLog", sender=owner)
    first, second = fresh.log(1, 500).gas_used, fresh.log(2, 700).gas_used
    assert first - second > 15_000
    assert check("6.3", first - second)
    assert "other way round" in check("6.3", second - first).message
    assert "gas of one log" in check("6.3", first).message
    assert "whole number" in check("6.3", "lots").message


def test_chapter_3_and_4_checkers():
    import numpy as np

    from daisee_lab.exercises import ch03, ch04
    from daisee_lab.settlement import settle

    homes, day = ch03._street()
    i = next(k for k, h in enumerate(homes) if h.pv_kwp)
    assert check("3.1", float(1 - day.import_wh[i].sum() / day.consumption_wh[i].sum()))
    assert not check("3.1", 2.0)
    shared = int(np.minimum(day.import_wh.sum(0), day.export_wh.sum(0)).sum())
    assert check("3.2", shared) and not check("3.2", shared + 1)
    assert check("3.3", lambda m: int(m.timestamp()) // 900)
    assert "time zone" in check("3.3", lambda m: (m.hour * 3600 + m.minute * 60) // 900).message
    bob = -int(settle(np.array([[600], [0]]), np.array([[0], [900]]), 251_600, 40_000,
                      "mmr").payments[1, 0])
    assert check("4.1", bob) and "negative" in check("4.1", -bob).message
    assert "one of" in check("4.2", "cheapest").message
    _homes, week = ch04._week()
    rounding = int(settle(week.import_wh, week.export_wh, 251_600, 40_000,
                          "bill_sharing").rounding.sum())
    assert check("4.3", rounding) and not check("4.3", rounding + 1)


def test_chapter_7_checkers():
    from dataclasses import replace

    from daisee_lab.chain import Chain
    from daisee_lab.contracts import make_households, public_id_bytes, sign_reading
    from daisee_lab.exercises import ch07

    chain = Chain(accounts=3)
    operator, alice, bob = chain.accounts
    homes = make_households([alice.address, bob.address], seed=7)
    registry = chain.deploy("MeterRegistry", operator.address, sender=operator)
    registry.register([(homes[0].meter, public_id_bytes(homes[0].public_id), alice.address)],
                      sender=operator)
    chain_id, meter, key = chain.w3.eth.chain_id, homes[0].meter, homes[0].meter_key
    signed = sign_reading(key, registry.address, chain_id, meter, 100, 4_200_000, 0)
    assert check("7.1", (registry, signed))
    assert registry.lastReading(meter)[1] == 0  # the checker only asked
    assert "sign import 4200000" in check("7.1", (registry, replace(signed, import_wh=1))).message
    stranger = sign_reading(bob, registry.address, chain_id, meter, 100, 4_200_000, 0)
    assert "meter's own key" in check("7.1", (registry, stranger)).message
    unregistered = sign_reading(homes[1].meter_key, registry.address, chain_id, homes[1].meter,
                                100, 4_200_000, 0)
    assert "not registered" in check("7.1", (registry, unregistered)).message
    registry.submitReading(100, signed.calldata(), sender=operator)
    assert "lastReading" in check("7.1", (registry, signed)).message
    assert "a pair" in check("7.1", signed).message

    right = {"tampered": "InvalidSignature", "replayed": "StaleReading",
             "other registry": "InvalidSignature"}
    assert check("7.2", right)
    assert "EIP-712 domain" in check("7.2", {**right, "other registry": "UnknownMeter"}).message
    assert "last reading" in check("7.2", {**right, "replayed": "InvalidSignature"}).message
    assert "the keys" in check("7.2", {"tampered": "InvalidSignature"}).message

    # 7.3, the chapter's way: sign the two indexes, let the registry take the difference
    first, last, imported = ch07._exported_in_slot()
    registry.register([(homes[1].meter, public_id_bytes(homes[1].public_id), bob.address)],
                      sender=operator)
    for slot, export in ((200, first), (201, last)):
        reading = sign_reading(homes[1].meter_key, registry.address, chain_id, homes[1].meter,
                               slot, 1000, export)
        receipt = registry.submitReading(slot, reading.calldata(), sender=operator)
    exported = receipt.events[0].args["exportedWh"]
    assert exported > 0 and check("7.3", exported)
    assert "an index" in check("7.3", last).message
    assert "anchors" in check("7.3", 0).message
    if imported not in (0, exported):
        assert "imported" in check("7.3", imported).message
    assert "whole number" in check("7.3", float(exported)).message


def test_chapter_8_checkers():
    """Right answers come from the chain in the chapter (nbval runs its solutions); here, from
    the kernel: the hints."""
    from daisee_lab.exercises import ch08
    from daisee_lab.settlement import settle

    homes, day = ch08._day()
    sunniest = max(range(len(homes)), key=lambda i: homes[i].pv_kwp)
    paid = int(ch08._payments("mmr")[sunniest].sum())
    assert paid < 0 and check("8.1", paid)
    assert "keep the sign" in check("8.1", -paid).message
    assert "grid alone" in check("8.1", int(ch08._payments("none")[sunniest].sum())).message
    assert "whole number" in check("8.1", "much").message
    result = settle(day.import_wh, day.export_wh, ch08.GRID_BUY, ch08.GRID_SELL, "mmr")
    rounding = int(result.rounding.sum())
    assert 0 < rounding < 96 * (len(homes) + 2) and check("8.2", rounding)
    assert "below zero" in check("8.2", -rounding).message
    assert "grid was paid" in check("8.2", int(result.grid_bill.sum())).message
    slot, debt = ch08.debt_after_day()
    first = int(datetime(2025, 6, 21, tzinfo=ZoneInfo("Europe/Paris")).timestamp()) // 900
    cumulative = result.payments[ch08.DEBTOR].cumsum()
    assert cumulative[slot - first - 1] <= ch08.DEBTOR_DEPOSIT < cumulative[
        slot - first]
    assert check("8.3", (slot, debt))
    assert "unix_seconds // 900" in check("8.3", (slot - first, debt)).message
    assert "debt_ueur" in check("8.3", (slot, debt + 1)).message
    assert "pair" in check("8.3", slot).message
