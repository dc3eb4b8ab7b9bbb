"""A household day appliance by appliance, with its ground truth: what a Linky's apparent power
(PAPP / SINSTS) would show, every switch that made it, and who was awake, away or asleep.

:mod:`daisee_lab.community` draws smooth per-slot profiles; a privacy study needs the switches
themselves. :func:`simulate_day` builds one seeded day (same seed, same day) from

============== ===================================================================== ==========
appliance      model                                                                 switched by
============== ===================================================================== ==========
standby        30-80 VA, always on (router, boxes, clocks): no event                  nobody
fridge         80-140 VA compressor, on 10-20 min, off 25-45 min, all day, with a      thermostat
               1-2 s start-up surge at 3-5 times its power (a transient, no event)
lighting       2-4 lamps of 40-150 VA, on and off at random while awake in the dark   a person
kettle         1.8-2.2 kVA for 2-4 min, at breakfast and in the evening               a person
microwave      1.0-1.3 kVA for 1-5 min, some evenings                                 a person
television     80-150 VA for 1-3 h in the evening                                     a person
sundry         50-1500 VA for 1-30 min, every 20 min on average while awake (hob,       a person
               computer, hair dryer, vacuum cleaner)
oven           2.0-2.5 kVA: 10 min preheat, then 2-4 min on / 3-6 min off for 30-60 min a person,
                                                                                     then its
                                                                                     thermostat
washing        2 kVA heating for 10-20 min, then a 200-350 VA motor for 40-60 min,   a person,
machine        then a 450-600 VA spin for 8-12 min (some days)                        then its
                                                                                     programme
============== ===================================================================== ==========

Occupancy follows a seeded schedule: a *workday* (asleep until 6:30-7:30, away from about 8:30
to 17:30-18:30, in bed at 22:30-23:30) or, one day in three, a *home day* (up at 8-9, out for
1-3 h in the afternoon). People switch appliances only while awake. The meter is sampled every
1 or 2 s (the TIC's pace in standard mode), with 3 VA of Gaussian noise, rounded to whole VA.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

import numpy as np
import pandas as pd

from daisee_lab.errors import DaiseeError
from daisee_lab.units import PARIS

__all__ = ["ApplianceError", "DAY_SECONDS", "HouseholdDay", "NOISE_VA", "OCCUPANCY_STATES",
           "simulate_day", "simulate_days"]

DAY_SECONDS = 86_400
OCCUPANCY_STATES = ("asleep", "awake", "away")
NOISE_VA = 3.0  # measurement noise, standard deviation
DARK_BEFORE_H, DARK_AFTER_H = 8.0, 19.5  # lamps are needed before and after these hours


class ApplianceError(DaiseeError, ValueError):
    """A bad argument to the household day generator."""


@dataclass(frozen=True)
class HouseholdDay:
    """One simulated day of one household.

    `power_va`: apparent power (int VA) at each meter sample, indexed by local time.
    `events`: the ground truth, one row per switch: ``time``, ``appliance``, ``delta_va``
    (positive: on), ``human`` (switched by a person, not by a thermostat or a programme).
    `occupancy`: the state (``"asleep"``, ``"awake"``, ``"away"``) covering most of each
    15-minute period, indexed by the period's start. `kind`: ``"workday"`` or ``"home"``.
    """

    power_va: pd.Series
    events: pd.DataFrame
    occupancy: pd.Series
    kind: str


class _Day:
    """A day under construction: load intervals (second of day) and the occupancy schedule."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        # start, end, VA, name, switched on by a person, switched off by a person
        self.intervals: list[tuple[int, int, int, str, bool, bool]] = []
        self.states: list[tuple[int, int, str]] = []  # start, end, state
        self.surges: list[tuple[int, int, int]] = []  # start, seconds, extra VA: no event

    def seconds(self, low_h: float, high_h: float) -> int:
        return int(self.rng.uniform(low_h, high_h) * 3600)

    def on(self, start: int, duration: int, va: int, name: str, human: bool = True,
           human_off: bool | None = None) -> int:
        """Switch `name` on at `start` for `duration` s; return its end. The switch-off is
        made by a person if `human_off` (default: like the switch-on)."""
        end = min(start + max(duration, 1), DAY_SECONDS - 1)
        if start < end:
            self.intervals.append((start, end, va, name, human,
                                   human if human_off is None else human_off))
        return end

    def awake(self) -> list[tuple[int, int]]:
        return [(a, b) for a, b, s in self.states if s == "awake"]


def _schedule(day: _Day) -> str:
    rng, states = day.rng, day.states
    if rng.random() < 1 / 3:
        kind, wake, bed = "home", day.seconds(8, 9), day.seconds(22.5, 23.5)
        out = day.seconds(13.5, 15.5)
        back = out + day.seconds(1, 3)
        states += [(0, wake, "asleep"), (wake, out, "awake"), (out, back, "away"),
                   (back, bed, "awake"), (bed, DAY_SECONDS, "asleep")]
    else:
        kind, wake, bed = "workday", day.seconds(6.5, 7.5), day.seconds(22.5, 23.5)
        leave, back = day.seconds(8.2, 8.8), day.seconds(17.5, 18.5)
        states += [(0, wake, "asleep"), (wake, leave, "awake"), (leave, back, "away"),
                   (back, bed, "awake"), (bed, DAY_SECONDS, "asleep")]
    return kind


def _fridge(day: _Day) -> None:
    rng = day.rng
    va = int(rng.integers(80, 141))
    t = int(rng.integers(0, 1800))
    while t < DAY_SECONDS:
        day.surges.append((t, int(rng.integers(1, 3)), va * int(rng.integers(2, 5))))
        end = day.on(t, int(rng.integers(600, 1201)), va, "fridge", human=False)
        t = end + int(rng.integers(1500, 2701))


def _lighting(day: _Day) -> None:
    rng = day.rng
    lamps = [int(rng.integers(40, 151)) for _ in range(int(rng.integers(2, 5)))]
    for a, b in day.awake():
        dark = [(a, min(b, int(DARK_BEFORE_H * 3600))), (max(a, int(DARK_AFTER_H * 3600)), b)]
        for lo, hi in dark:
            for va in lamps:
                t = lo + int(rng.integers(0, 600))
                while t < hi - 60:
                    end = day.on(t, min(int(rng.integers(300, 3600)), hi - t), va, "lighting")
                    t = end + int(rng.integers(120, 2400))


def _short(day: _Day, name: str, va_range: tuple[int, int], minutes: tuple[float, float],
           when: tuple[int, int]) -> None:
    rng = day.rng
    va = int(rng.integers(*va_range))
    duration = int(rng.uniform(*minutes) * 60)
    start = int(rng.integers(when[0], max(when[0] + 1, when[1] - duration)))
    day.on(start, duration, va, name)


def _oven(day: _Day, a: int, b: int) -> None:
    rng = day.rng
    va = int(rng.integers(2000, 2501))
    t = a + int(rng.integers(0, max(1, b - a - 4800)))
    stop = t + int(rng.integers(1800, 3601))
    t = day.on(t, 600, va, "oven", human=True, human_off=False)
    while t < stop:
        t += int(rng.integers(180, 361))
        t = day.on(t, int(rng.integers(120, 241)), va, "oven", human=False)


def _washing(day: _Day, a: int, b: int) -> None:
    rng = day.rng
    t = a + int(rng.integers(0, max(1, b - a - 6000)))
    t = day.on(t, int(rng.integers(600, 1201)), int(rng.integers(1800, 2201)),
               "washing machine", human=True, human_off=False)
    t = day.on(t + 30, int(rng.integers(2400, 3601)), int(rng.integers(200, 351)),
               "washing machine", human=False)
    day.on(t + 30, int(rng.integers(480, 721)), int(rng.integers(450, 601)), "washing machine",
           human=False)


def _people(day: _Day) -> None:
    rng = day.rng
    spans = sorted(day.awake(), key=lambda s: s[1] - s[0])
    morning, evening = min(day.awake()), spans[-1]
    _short(day, "kettle", (1800, 2201), (2, 4), (morning[0] + 300, morning[1]))
    for a, b in day.awake():
        if b - a < 3600:
            continue
        if rng.random() < 0.7:
            _short(day, "kettle", (1800, 2201), (2, 4), (a, b))
        if rng.random() < 0.5:
            _short(day, "microwave", (1000, 1301), (1, 5), (a, b))
        t = a + int(rng.exponential(1200))
        while t < b - 60:
            end = day.on(t, min(int(rng.integers(60, 1801)), b - t), int(rng.integers(50, 1501)),
                         "sundry")
            t = end + int(rng.exponential(1200))
    a, b = evening
    _short(day, "television", (80, 151), (60, 180), (a + 1800, b))
    if rng.random() < 0.6:
        _oven(day, a, b)
    if rng.random() < 0.4:
        _washing(day, a, b)


def _check(seed: int, day: date | None) -> date:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ApplianceError(f"seed must be a non-negative integer, got {seed!r}")
    if day is None:
        return date(2025, 3, 12)
    if not isinstance(day, date) or isinstance(day, datetime):
        raise ApplianceError(f"day must be a datetime.date, got {day!r}")
    return day


def simulate_day(seed: int = 0, day: date | None = None) -> HouseholdDay:
    """One seeded household day (default 12 March 2025, a day with no clock change): see the
    module docstring for the appliances and the schedule. Same seed, same day."""
    day = _check(seed, day)
    build = _Day(np.random.default_rng([seed, day.toordinal()]))
    kind = _schedule(build)
    _fridge(build)
    _lighting(build)
    _people(build)
    midnight = pd.Timestamp(datetime.combine(day, time(0), PARIS))
    power, events = _render(build, midnight)
    return HouseholdDay(power, events, _occupancy(build.states, midnight), kind)


def _render(day: _Day, midnight: pd.Timestamp) -> tuple[pd.Series, pd.DataFrame]:
    rng = day.rng
    steps = np.zeros(DAY_SECONDS + 1)
    rows = []
    for start, end, va, name, human_on, human_off in day.intervals:
        steps[start] += va
        steps[end] -= va
        rows += [(start, name, va, human_on), (end, name, -va, human_off)]
    load = np.cumsum(steps[:-1]) + int(rng.integers(30, 81))
    for start, seconds, extra in day.surges:
        load[start:start + seconds] += extra
    times = np.cumsum(rng.integers(1, 3, size=DAY_SECONDS))
    times = times[times < DAY_SECONDS]
    noisy = np.rint(load[times] + rng.normal(0, NOISE_VA, size=times.size)).astype(np.int64)
    index = midnight + pd.to_timedelta(times, unit="s")
    power = pd.Series(np.maximum(noisy, 0), index=index, name="power_va")
    events = pd.DataFrame(rows, columns=["second", "appliance", "delta_va", "human"])
    events = events.sort_values("second", kind="stable").reset_index(drop=True)
    events.insert(0, "time", midnight + pd.to_timedelta(events.pop("second"), unit="s"))
    return power, events


def _occupancy(states: list[tuple[int, int, str]], midnight: pd.Timestamp) -> pd.Series:
    period = 900
    labels = []
    for p in range(0, DAY_SECONDS, period):
        cover = dict.fromkeys(OCCUPANCY_STATES, 0)
        for a, b, state in states:
            cover[state] += max(0, min(b, p + period) - max(a, p))
        labels.append(max(OCCUPANCY_STATES, key=cover.__getitem__))
    index = midnight + pd.to_timedelta(np.arange(0, DAY_SECONDS, period), unit="s")
    return pd.Series(labels, index=index, name="occupancy")


def simulate_days(seeds, day: date | None = None) -> list[HouseholdDay]:
    """The same day in several households, one per seed (a street for aggregation studies)."""
    return [simulate_day(int(s), day) for s in seeds]
