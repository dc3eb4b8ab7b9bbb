"""A learner's real meter in the room: a simulated Linky on a pty, read and signed in a meter
process of its own. The room registers its key's address for the seat and bills what it
reports; the trading process never holds the key and forecasts from the ledger."""

import json

from daisee_lab.classroom import Classroom, LedgerForecast, MeterProcess, join
from daisee_lab.meter import MeterSimulator

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
