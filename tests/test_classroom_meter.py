"""A learner's real meter in the room: a simulated Linky on a pty, read and signed in a meter
process of its own. The room registers its key's address for the seat and bills what it
reports; the trading process never holds the key and forecasts from the ledger."""

import json
import os
import threading
import time
import tty
from datetime import datetime, timedelta

import pytest
from eth_account import Account
from test_tic_index import corrupt

from daisee_lab.classroom import Classroom, LedgerForecast, MeterProcess, SerialMeter, join
from daisee_lab.classroom.meter_process import signed_slot
from daisee_lab.classroom.meters import signing_problem
from daisee_lab.classroom.schedule import ClassroomError
from daisee_lab.reading import Reading
from daisee_lab.simulator import MeterSimulator
from daisee_lab.tic import PARIS, encode_frame
from daisee_lab.units import MAX_INDEX_WH

pytestmark = pytest.mark.slow  # a learner's meter in its own process, signing on anvil

SLOTS = 3


def test_a_learners_own_meter_signs_in_its_own_process(tmp_path):
    key_file = tmp_path / "meter-key.json"
    with MeterSimulator(producer=True, seed=4, speed=60) as linky, Classroom(
            2, tmp_path / "room", port=None, slots=SLOTS, slot_seconds=8, seed=9) as room:
        process = MeterProcess(linky.port, key_file=key_file)
        try:
            me = join(room.url, room.seats[0].code, process, keep=tmp_path / "seat.json")
            other = join(room.url, room.seats[1].code)
            for learner in (me, other):
                learner.start(auto=True)
            results = room.run()
            for learner in (me, other):
                learner.stop()
        finally:
            reports = process.close()
        seat = room.seats[0]
        assert seat.own_meter == process.address != seat.meter.address
        assert isinstance(me.meter, LedgerForecast) and me.meter_address == process.address
        assert json.loads(key_file.read_text())["meter_key"] not in (
            (tmp_path / "seat.json").read_text() + (room.out_dir / "state.json").read_text())
        first = room.schedule.first_slot
        assert [r["slot"] for r in reports] == list(range(first - 1, first + SLOTS))
        assert not any(r["refused"] for r in reports)
        readings = {e.args.slot: (e.args.importWh, e.args.exportWh) for e in
                    room.ledger.web3.events.ReadingAccepted.get_logs(
                        argument_filters={"meter": process.address}, from_block=0)}
        assert readings == {r["slot"]: (r["import_wh"], r["export_wh"]) for r in reports}
        mine = results[results.learner == seat.name].set_index("slot")
        for slot in range(first, first + SLOTS):  # billed from what the meter process signed
            assert (mine.import_wh[slot], mine.export_wh[slot]) == (
                readings[slot][0] - readings[slot - 1][0],
                readings[slot][1] - readings[slot - 1][1])
        assert (mine.import_wh + mine.export_wh).sum() > 0


# -------------------------------------------------------------------- never sign a flagged index

NOON = datetime(2025, 6, 21, 12, 0, tzinfo=PARIS)
EAST = 12_345_500


class Line:
    """A pty carrying a Linky's standard frames, one meter second apart: a thread writes honest
    ones (EAST up 1 Wh each) until `hold()`, then the test writes what it wants."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port, self.k = os.ttyname(self.slave), 0
        self._hold = threading.Event()
        self._thread = threading.Thread(target=self._honest, daemon=True)
        self._thread.start()

    @staticmethod
    def frame(k: int, east: str | None = None) -> bytes:
        return encode_frame([("ADSC", "123456789012"), ("DATE", NOON + timedelta(seconds=k), ""),
                             ("EAST", east or f"{EAST + k:09d}"), ("PREF", "06"),
                             ("SINSTS", "00520")], "standard")

    def _honest(self):
        while not self._hold.is_set():
            os.write(self.master, self.frame(self.k))
            self.k += 1
            time.sleep(0.02)

    def hold(self) -> None:
        self._hold.set()
        self._thread.join()

    def send(self, frame: bytes) -> None:
        os.write(self.master, frame)
        self.k += 1

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def wait_for(meter: SerialMeter, k: int) -> None:
    deadline = time.monotonic() + 20
    while meter.latest is None or meter.latest.meter_time != NOON + timedelta(seconds=k):
        assert time.monotonic() < deadline, f"frame {k} never read"
        time.sleep(0.02)


def test_a_serial_meter_never_signs_a_flagged_or_missing_index(caplog):
    line = Line()
    meter = SerialMeter(line.port)
    try:
        meter.wait_for_reading()
        line.hold()
        k = line.k
        corrupted = corrupt(f"{EAST + k:09d}")  # the same checksum, 999,900 Wh more
        line.send(line.frame(k, corrupted))
        wait_for(meter, k)
        assert meter.indexes(100) == (EAST + k - 1, 0)  # the last honest reading, not 13.3 MWh
        assert meter.refusals == 1 and meter.refused.startswith(
            f"implausible index, not signed: EAST = {int(corrupted)} Wh")
        assert meter.refused in caplog.text
        line.send(line.frame(k + 1, str(MAX_INDEX_WH + 1)))  # above the bound: no import index
        wait_for(meter, k + 1)
        assert meter.usable.import_wh == EAST + k - 1 and meter.refusals == 2
        assert "no import index" in meter.refused and "EAST = 1099511627776 Wh" in meter.refused
        line.send(line.frame(k + 2))
        wait_for(meter, k + 2)
        assert meter.indexes(101) == (EAST + k + 2, 0)
    finally:
        meter._closing.set()
        line.send(line.frame(line.k))  # the reader stops after the next frame
        meter.close()
        line.close()


class FixedMeter:
    def __init__(self, *indexes):
        self._indexes = indexes

    def indexes(self, slot):
        return self._indexes


def test_a_slot_that_cannot_be_signed_is_a_classroom_error_not_a_crash():
    key = Account.create()
    registry = "0x" + "11" * 20
    good = signed_slot(FixedMeter(MAX_INDEX_WH, 0), key, registry, 31337, 5)
    assert (good.slot, good.import_wh) == (5, MAX_INDEX_WH)
    with pytest.raises(ClassroomError, match=r"slot 5: the meter's indexes \(1099511627776, 0 "
                       r"Wh\) cannot be signed: import_wh"):
        signed_slot(FixedMeter(MAX_INDEX_WH + 1, 0), key, registry, 31337, 5)


@pytest.mark.parametrize("reading, problem", [
    (Reading("tic", "standard", "1", 10, flags=("EAST = 10 Wh: below 11 Wh",)),
     "implausible index, not signed: EAST = 10 Wh: below 11 Wh"),
    (Reading("tic", "standard", "1", None, warnings=("index EAST missing or invalid",)),
     "no import index, nothing to sign (index EAST missing or invalid)"),
    (Reading("dsmr", "5", "1", 2**63, 0), "import_wh = 9223372036854775808 Wh is outside"),
    (Reading("tic", "historic", "1", 10), None),
])
def test_what_a_meter_refuses_to_sign(reading, problem):
    found = signing_problem(reading)
    assert found == problem if problem is None else found.startswith(problem)
