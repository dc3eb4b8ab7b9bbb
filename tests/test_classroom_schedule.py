"""The room's timetable: phases at hand-picked chain times, and its JSON form read back, or
refused with an error naming what is wrong."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from daisee_lab.classroom import ClassroomError, Phase, Schedule
from daisee_lab.classroom.schedule import REVEAL_SECONDS

START = datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1)))


def test_phases_at_hand_picked_chain_times():
    schedule = Schedule(first_slot=100, slots=3, slot_seconds=12, start=START)
    # slot 100 runs over chain time [90,000, 90,900); its reveal window is the last 300 s
    assert REVEAL_SECONDS == 300
    assert schedule.phase(90_000) == Phase(100, "commit")
    assert schedule.phase(90_599) == Phase(100, "commit")
    assert schedule.phase(90_600) == Phase(100, "reveal")
    assert schedule.phase(90_899) == Phase(100, "reveal") and Phase(100, "reveal").trading == 101
    assert [schedule.trades(s) for s in (99, 100, 102, 103)] == [False, True, True, False]
    assert (schedule.commit_seconds, schedule.reveal_seconds) == (8, 4)  # 2/3 and 1/3 of 12 s
    assert Schedule(100, None, 12, START).trades(10**9)  # until stopped


@pytest.mark.parametrize("slots", [3, None])
def test_to_json_and_back_through_json_text_is_the_same_schedule(slots):
    schedule = Schedule(first_slot=1_968_000, slots=slots, slot_seconds=7.5, start=START)
    data = json.loads(json.dumps(schedule.to_json()))
    assert data == {"first_slot": 1_968_000, "slots": slots, "slot_seconds": 7.5,
                    "start": "2026-03-29T01:30:00+01:00", "chain_slot": 900,
                    "reveal_seconds": 300, "delivery_seconds": 600}
    back = Schedule.from_json(data)
    assert back == schedule and back.start.utcoffset() == timedelta(hours=1)


GOOD = Schedule(1_968_000, 3, 12, START).to_json()


@pytest.mark.parametrize("data, problem", [
    (None, "it is NoneType, not an object"),
    ([1, 2], "it is list, not an object"),
    ({k: v for k, v in GOOD.items() if k != "first_slot"}, "it has no 'first_slot'"),
    ({k: v for k, v in GOOD.items() if k != "start"}, "it has no 'start'"),
    ({**GOOD, "first_slot": "soon"}, "first_slot='soon' is not a whole number"),
    ({**GOOD, "first_slot": 12.5}, "first_slot=12.5 is not a whole number"),
    ({**GOOD, "slots": True}, "slots=True is not a whole number or null"),
    ({**GOOD, "slots": 0}, "slots=0: give a positive number, or None"),
    ({**GOOD, "slot_seconds": "12"}, "slot_seconds='12' is not a number"),
    ({**GOOD, "slot_seconds": 1}, "slot_seconds=1.0: a classroom slot lasts 3 to 600 s"),
    ({**GOOD, "start": "yesterday"}, "start='yesterday' is not an ISO date and time"),
    ({**GOOD, "start": "2026-03-29T01:30:00"}, "is naive: give a timezone"),
    ({**GOOD, "reveal_seconds": 600}, "reveal_seconds=600, this version's is 300"),
    ({**GOOD, "chain_slot": 60}, "chain_slot=60, this version's is 900"),
])
def test_bad_json_is_refused_naming_the_problem(data, problem):
    with pytest.raises(ClassroomError) as caught:
        Schedule.from_json(data)
    message = str(caught.value)
    assert message.startswith("bad schedule in the seat's data: ") and problem in message
    assert message.endswith("join again with a code from the instructor")
