"""Chapter 2, a live meter: line settings, a recording, power from energy indexes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from daisee_lab.exercises import checker
from daisee_lab.meter import TIC_LINES
from daisee_lab.reading import Reading
from daisee_lab.recorder import Recorder


@checker("2.1")
def historic_line(answer: object) -> tuple[bool, str]:
    """The (mode, baud rate) open_meter detected on the historic simulator."""
    right = ("historic", TIC_LINES["historic"].baudrate)
    if answer == right:
        return True, "historic mode runs at 1200 baud: the factory default of every Linky."
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return False, "answer with a pair: (meter.mode, meter.line.baudrate)"
    if answer[0] == "standard":
        return False, "that is the standard simulator: open the historic one (mode='historic')"
    return False, "read the mode and the line that open_meter found: meter.mode, meter.line"


@checker("2.2")
def exported_energy(answer: object) -> tuple[bool, str]:
    """(database path, Wh): the energy the producer injected between its first and last
    recorded reading, computed from the recorder's DataFrame."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return False, "answer with a pair: (path of your database, energy in Wh)"
    path, wh = answer
    if not Path(path).is_file():
        return False, f"there is no database at {path!r}: record some readings first"
    with Recorder(path) as recorder:
        frame = recorder.to_dataframe()
    exports = frame["export_wh"].dropna()
    if len(exports) < 2:
        return False, "record at least two readings of a producer (producer=True)"
    right = int(exports.iloc[-1] - exports.iloc[0])
    if wh == right:
        return True, f"{right} Wh injected: the difference of two cumulative indexes."
    if wh == int(exports.iloc[-1]):
        return False, "that is the index itself; the energy is the difference of two indexes"
    if wh == int(frame["import_wh"].iloc[-1] - frame["import_wh"].iloc[0]):
        return False, "that is the energy drawn (import_wh); injected energy is export_wh"
    return False, "take export_wh of the last row minus that of the first (oldest) row"


def _reading(wh: int, when: datetime) -> Reading:
    return Reading("tic", "standard", "000000000000", import_wh=wh, meter_time=when)


@checker("2.3")
def average_power(answer: object) -> tuple[bool, str]:
    """A function ``f(first, second)`` giving the average power (W) drawn between two
    readings, from their import indexes and meter times."""
    if not callable(answer):
        return False, "pass your function itself (its name, without calling it)"
    start = datetime(2025, 1, 15, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    cases = [(1000, 1250, 900), (5_000_000, 5_000_000, 60), (10, 3610, 3600), (0, 7, 1)]
    for wh1, wh2, seconds in cases:
        first, second = _reading(wh1, start), _reading(wh2, start + timedelta(seconds=seconds))
        right = (wh2 - wh1) * 3600 / seconds
        try:
            got = answer(first, second)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            return False, f"your function raised {exc!r}"
        if not isinstance(got, (int, float)) or abs(got - right) > 1e-6 * max(1.0, right):
            hint = ("Wh per second is not W: multiply by 3600 s/h"
                    if isinstance(got, (int, float)) and abs(got * 3600 - right) < 1e-3
                    else "power = energy / time: (second.import_wh - first.import_wh) Wh over "
                         "(second.meter_time - first.meter_time) in hours")
            return False, f"{wh2 - wh1} Wh in {seconds} s gave {got!r}. {hint}"
    return True, "energy differences over time: exactly how chapter 3 builds 15-minute slots."
