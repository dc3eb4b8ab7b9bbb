"""What a 6-bit checksum cannot catch (issue 18): a stream holds to one historic checksum method,
an implausible index is flagged and not used, and an index has one bound (units.MAX_INDEX_WH)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import TESTDATA

from daisee_lab.simulator import MeterSimulator
from daisee_lab.tic import (
    PARIS, TicDecoder, checksum, decode_frames, decode_groups, encode_frame, encode_group,
    group_checksum,
)
from daisee_lab.units import MAX_INDEX_WH

TIC = TESTDATA / "tic"
NOON = datetime(2025, 6, 21, 12, 0, tzinfo=PARIS)


def corrupt(digits: str) -> str:
    """`digits` with its millions digit one up and its hundreds digit one down: the byte sum,
    so the checksum, is the same, and the index is 999,900 Wh higher (a line-noise error the
    checksum cannot see)."""
    million, hundred = len(digits) - 7, len(digits) - 3
    assert digits[million] != "9" and digits[hundred] != "0"
    out = list(digits)
    out[million], out[hundred] = chr(ord(out[million]) + 1), chr(ord(out[hundred]) - 1)
    return "".join(out)


def test_corrupt_keeps_the_checksum():
    assert corrupt("012345678") == "013345578"
    assert checksum("BASE 012345678") == checksum("BASE 013345578")


# ------------------------------------------------------------------------ checksum method

def historic(base: int, method: int = 1, corrupt_papp_method: int | None = None) -> bytes:
    """A historic frame, every group under `method`; PAPP under the other if asked."""
    groups = [("ADCO", "021861348497"), ("OPTARIF", "BASE"), ("ISOUSC", "30"),
              ("BASE", f"{base:09d}"), ("PTEC", "TH.."), ("IINST", "002"), ("IMAX", "090"),
              ("PAPP", "00520"), ("HHPHC", "A"), ("MOTDETAT", "000000")]
    return b"\x02" + b"".join(
        encode_group(label, data, "historic",
                     method=corrupt_papp_method if label == "PAPP" and corrupt_papp_method
                     else method) for label, data in groups) + b"\x03"


def test_a_stream_learns_its_checksum_method_and_holds_to_it():
    decoder = TicDecoder()
    [first] = decoder.feed(historic(1000))
    assert decoder.method == 1 and first.rejected == ()
    [second] = decoder.feed(historic(1001, corrupt_papp_method=2))
    assert "PAPP" not in second.values and second.values["BASE"] == "000001001"
    [rejected] = second.rejected
    assert rejected.reason == "method" and rejected.raw == encode_group(
        "PAPP", "00520", "historic", method=2)[1:-1]
    assert "PAPP" in rejected.detail and "method 2" in rejected.detail \
        and "uses method 1" in rejected.detail
    assert decoder.stats.rejected == {"method": 1} and decoder.stats.groups == 19


def test_a_method_2_stream_is_held_to_method_2():
    decoder = TicDecoder()
    decoder.feed(historic(1000, method=2))
    assert decoder.method == 2
    [frame] = decoder.feed(historic(1001, method=2, corrupt_papp_method=1))
    assert [r.reason for r in frame.rejected] == ["method"] and "PAPP" not in frame.values


def test_a_stray_method_2_group_in_the_first_frame_loses_the_vote():
    decoder = TicDecoder()
    [frame] = decoder.feed(historic(1000, corrupt_papp_method=2))
    assert decoder.method == 1 and [r.reason for r in frame.rejected] == ["method"]


def test_the_method_is_fixed_only_after_enough_groups():
    decoder = TicDecoder()
    short = b"\x02" + encode_group("ADCO", "021861348497", "historic", method=2) + b"\x03"
    decoder.feed(short)
    assert decoder.method is None  # one group decides nothing for good
    [frame] = decoder.feed(historic(1000))  # ten method-1 groups outvote it
    assert decoder.method == 1 and frame.rejected == ()


def test_a_real_capture_is_method_1_throughout():
    decoder = TicDecoder()
    frames = decoder.feed((TIC / "pyteleinfo_captured_frames.bin").read_bytes())
    assert decoder.method == 1 and len(frames) == 10 and not decoder.stats.rejected


def test_decode_groups_holds_a_capture_to_its_majority_method():
    data = historic(1000, corrupt_papp_method=2)
    groups, rejected = decode_groups(data)
    assert "PAPP" not in {g.label for g in groups} and len(groups) == 9
    assert [r.reason for r in rejected] == ["method"]
    assert all(g.checksum == group_checksum(g.label, g.data, "historic", method=1)
               for g in groups)


# ------------------------------------------------------------------------ plausibility

def standard(east: int, when: datetime, pref: str = "06", eait: int | None = None,
             meter_id: str = "123456789012") -> bytes:
    groups = [("ADSC", meter_id), ("DATE", when, ""), ("EAST", f"{east:09d}"),
              ("EASF01", f"{east:09d}")]
    if eait is not None:
        groups.append(("EAIT", f"{eait:09d}"))
    groups += [("PREF", pref), ("SINSTS", "00520")]
    return encode_frame(groups, "standard")


def readings(decoder: TicDecoder, frames: list[bytes], at: list[float] | None = None):
    out = []
    for n, frame in enumerate(frames):
        out += [f.reading() for f in decoder.feed(frame, *([at[n]] if at else []))]
    return out


def test_an_index_that_jumps_past_the_subscribed_power_is_flagged_and_not_used():
    east = 12_345_678
    frames = [standard(east, NOON), standard(int(corrupt(f"{east + 1:09d}")),
                                             NOON + timedelta(seconds=1)),
              standard(east + 2, NOON + timedelta(seconds=2))]
    first, bad, after = readings(TicDecoder(), frames)
    assert first.import_wh == east and first.index_ok and first.flags == ()
    assert not bad.index_ok and bad.import_wh is None
    assert "EAST" not in bad.registers and "EASF01" not in bad.registers
    [east_flag, easf_flag] = bad.flags
    assert east_flag.startswith("EAST = 13345579 Wh") and "6000 VA" in east_flag
    assert easf_flag.startswith("EASF01")
    assert after.import_wh == east + 2 and after.index_ok  # checked against the last good one


def test_the_allowance_is_the_subscribed_power_over_the_meter_clock():
    # PREF 06: 6 kVA, twice over 600 s (+1 s of clock resolution) is 2003 Wh (+1 truncation)
    start = 5_000_000
    ok = readings(TicDecoder(), [standard(start, NOON),
                                 standard(start + 2004, NOON + timedelta(seconds=600))])
    assert ok[1].import_wh == start + 2004
    over = readings(TicDecoder(), [standard(start, NOON),
                                   standard(start + 2005, NOON + timedelta(seconds=600))])
    assert over[1].import_wh is None and over[1].flags


def test_an_index_that_goes_backwards_is_flagged():
    first, back = readings(TicDecoder(), [standard(1_000_000, NOON, eait=500_000),
                                          standard(1_000_000, NOON + timedelta(seconds=1),
                                                   eait=499_999)])
    assert back.import_wh == 1_000_000 and back.export_wh is None
    assert back.flags == ("EAIT = 499999 Wh: below 500000 Wh, the last plausible index: "
                          "an index never goes backwards",)


def test_historic_frames_are_timed_by_the_caller():
    base = 4_000_500
    frames = [historic(base), historic(int(corrupt(f"{base + 1:09d}"))), historic(base + 2)]
    timed = readings(TicDecoder(), frames, at=[100.0, 101.5, 103.0])
    assert [r.import_wh for r in timed] == [base, None, base + 2]
    assert timed[1].flags[0].startswith("BASE = 5000401 Wh") and "ISOUSC" in timed[1].flags[0]
    untimed = readings(TicDecoder(), frames)  # no clock at all: only the backward check
    assert [r.import_wh for r in untimed] == [base, 5_000_401, None]


def test_a_corrupt_first_index_is_outvoted_by_three_consistent_readings():
    east = 2_000_500
    frames = [standard(int(corrupt(f"{east:09d}")), NOON)] + [
        standard(east + n, NOON + timedelta(seconds=n)) for n in range(1, 5)]
    out = readings(TicDecoder(), frames)
    assert [r.import_wh for r in out] == [3_000_400, None, None, east + 3, east + 4]
    assert any("re-anchored" in w for w in out[3].warnings)


def test_each_meter_on_a_line_is_tracked_on_its_own():
    other = standard(1_000, NOON + timedelta(seconds=1), meter_id="123456789013")
    out = readings(TicDecoder(), [standard(5_000_000, NOON), other])
    assert [r.import_wh for r in out] == [5_000_000, 1_000]


@pytest.mark.parametrize("settings", [
    {"mode": "standard", "producer": True}, {"mode": "historic", "phases": 3, "tariff": "hchp"},
    {"mode": "standard", "producer": True, "frame_seconds": 225},
    {"mode": "historic", "frame_seconds": 225}])
def test_the_simulators_indexes_are_never_flagged(settings):
    sim = MeterSimulator(seed=6, start=NOON.replace(hour=11), **settings)
    decoder = TicDecoder()
    out = [f.reading() for f in decoder.feed(sim.render(120))]
    assert len(out) == 120 and all(r.index_ok and r.import_wh is not None for r in out)


# ------------------------------------------------------------------------ one bound

def test_an_index_above_the_bound_is_an_invalid_register():
    big = MAX_INDEX_WH + 1
    [frame] = decode_frames(encode_frame(
        [("ADSC", "123456789012"), ("EAST", str(big)), ("EAIT", str(2**63))], "standard"))
    r = frame.reading()
    assert r.import_wh is None and r.export_wh is None and r.registers == {}
    assert any(w.startswith(f"EAST = {big} Wh: above the largest index {MAX_INDEX_WH} Wh")
               for w in r.warnings)
    assert any(w.startswith("EAIT = ") for w in r.warnings)
    assert "no total energy index: import_wh not computed" in r.warnings
    [frame] = decode_frames(encode_frame(
        [("ADSC", "123456789012"), ("EAST", str(MAX_INDEX_WH))], "standard"))
    assert frame.reading().import_wh == MAX_INDEX_WH
