"""What a meter's curve gives away: appliance switches, occupancy, and how much of it survives a
coarser resolution or a sum over neighbours.

**Events** (:func:`detect_events`). The Linky's apparent power (PAPP in historic mode, SINSTS in
standard mode, one value every 1-2 s) is a sum of appliances, each drawing a roughly constant
power while on: switching one shows as a *step* between two steady levels. The detector is the
steady-state edge detection of Hart 1992 (G. W. Hart, "Nonintrusive appliance load monitoring",
Proc. IEEE 80(12) 1870-1891, doi:10.1109/5.192069, section "Edge detection"): samples are cut
into runs that stay within `tolerance_va` of the run's mean; a run lasting at least
`min_dwell_s` is a *steady state*; shorter runs are transients (a motor's inrush, a reading
caught mid-switch) and are dropped; two consecutive steady states whose means differ by at least
`threshold_va` make an event at the start of the later run (or of the transient before it), of
size the difference of the means. Steady states closer than the threshold are merged (drift).

**Occupancy** (:func:`infer_occupancy`), per period (15 minutes by default), from the events alone:
events whose size recurs all day, in at least `cyclic_hours` different hours (a fridge's
compressor), are the house's own; the others are people's. A period is *awake* when a person's
event falls within `linger` of it; else *asleep* if it lies in the night hours, else *away*.
This is the inference of Molina-Markham et al. 2010 ("Private memoirs of a smart meter", BuildSys
2010) in its simplest form; it errs on quiet evenings (a long film with no switch) and on naps.

**Resolution and aggregation** (:func:`resample`, :func:`aggregate`, :func:`event_survival`). A
curve published every 15 minutes or summed over a street is still a curve: how many of one home's
events can still be seen in it is measured, not assumed. An event *survives* in a series if the
detector, run on that series, finds a step of the same sign and of size within a factor
`size_factor` of the true step, within one sample (plus `tolerance_s`) of the true time.

Power is in VA (float means after resampling); times are timezone-aware pandas timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading

__all__ = ["EVENT_COLUMNS", "MIN_DWELL_S", "NIGHT_HOURS", "PrivacyError", "RESOLUTIONS", "Score",
           "THRESHOLD_VA", "TOLERANCE_VA", "aggregate", "cyclic_sizes", "detect_events",
           "detectable", "event_survival", "human_events", "infer_occupancy", "match_events",
           "power_from_readings", "power_series", "resample", "steady_states", "survival_table"]

THRESHOLD_VA = 30.0  # smallest step reported as an event: a small lamp
TOLERANCE_VA = 15.0  # how far a sample may stray from its run's mean and stay in it
MIN_DWELL_S = 5.0  # how long a level must hold to be a steady state (3 samples or more)
RESOLUTIONS = ("1s", "1min", "15min", "1h")  # the resolutions the privacy study compares
NIGHT_HOURS = (22.0, 8.0)  # local hours between which a quiet home is taken to be asleep
EVENT_COLUMNS = ["time", "delta_va", "before_va", "after_va"]


class PrivacyError(DaiseeError, ValueError):
    """Bad input to the privacy tools: the message names it and says what is expected."""


# --- input ----------------------------------------------------------------------------------

def power_series(power, times=None) -> pd.Series:
    """Apparent power as a float Series on a sorted, timezone-aware DatetimeIndex.

    `power` is a Series indexed by time, or values with `times` beside them (timestamps, or
    seconds since the epoch). Duplicate times keep the last value. Raises :class:`PrivacyError`
    for missing or negative values, naive timestamps, or mismatched lengths."""
    if isinstance(power, pd.Series) and times is None:
        series = pd.Series(_floats(power), index=power.index)
    else:
        values = _floats(power)
        if times is None or len(times) != len(values) or values.ndim != 1:
            raise PrivacyError(f"give power as a time-indexed Series, or 1-D values with as many "
                               f"times ({None if times is None else len(times)}) as values "
                               f"({values.size})")
        index = times if isinstance(times, pd.DatetimeIndex) else pd.DatetimeIndex(
            pd.to_datetime(np.asarray(times), unit="s", utc=True)
            if np.asarray(times).dtype.kind in "iuf" else pd.to_datetime(list(times)))
        series = pd.Series(values, index=index)
    if not isinstance(series.index, pd.DatetimeIndex) or series.index.tz is None:
        raise PrivacyError("power needs timezone-aware timestamps (a meter's local time is "
                           "Europe/Paris): localise them first")
    bad = ~np.isfinite(series) | (series < 0)
    if bad.any():
        raise PrivacyError(f"power must be a finite, non-negative number of VA; {int(bad.sum())} "
                           f"samples are not, the first at {series.index[bad.argmax()]}")
    if series.empty:
        raise PrivacyError("power has no samples")
    series = series[~series.index.duplicated(keep="last")].sort_index()
    return series.rename("power_va")


def _floats(values) -> np.ndarray:
    """`values` as floats, or a :class:`PrivacyError` saying they are not numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise PrivacyError(f"power must be a number of VA per sample: {exc}") from None


def _duration(name: str, value) -> pd.Timedelta:
    """`value` (``"15min"``, ``"1h"``, a Timedelta) as a pandas Timedelta, or a
    :class:`PrivacyError` naming the argument."""
    try:
        return pd.Timedelta(value)
    except (TypeError, ValueError):
        raise PrivacyError(f"{name} must be a duration such as '1s', '15min' or '1h', got "
                           f"{value!r}") from None


def _events_frame(name: str, frame) -> pd.DataFrame:
    """`frame` if it is a DataFrame of events (``time`` and ``delta_va`` columns)."""
    if not isinstance(frame, pd.DataFrame) or not {"time", "delta_va"} <= set(frame.columns):
        columns = list(frame.columns) if isinstance(frame, pd.DataFrame) else type(frame).__name__
        raise PrivacyError(f"{name} needs the columns time and delta_va, has {columns}")
    return frame


def power_from_readings(readings: Sequence[Reading], start: datetime | None = None,
                        period_s: float = 1.5) -> pd.Series:
    """The apparent power (PAPP / SINSTS) of decoded TIC readings. A reading's time is its
    meter clock (standard mode's DATE); readings without one (historic mode sends no clock) are
    spaced `period_s` apart from `start`. Readings without apparent power are skipped."""
    kept = [r for r in readings if r.apparent_power_va is not None]
    if not kept:
        raise PrivacyError("none of the readings carries an apparent power (PAPP or SINSTS)")
    if all(r.meter_time is not None for r in kept):
        times = [r.meter_time for r in kept]
    elif start is None or start.tzinfo is None:
        raise PrivacyError("these readings have no meter clock: give a timezone-aware start")
    else:
        times = [pd.Timestamp(start) + pd.Timedelta(seconds=i * period_s)
                 for i in range(len(kept))]
    return power_series([r.apparent_power_va for r in kept], pd.DatetimeIndex(times))


# --- the event detector ---------------------------------------------------------------------

def _runs(values: np.ndarray, tolerance: float) -> list[tuple[int, int, float]]:
    """Cut `values` into runs that stay within `tolerance` of their running mean:
    (first index, end index, mean)."""
    runs, start, total = [], 0, values[0]
    for i in range(1, len(values)):
        mean = total / (i - start)
        if abs(values[i] - mean) > tolerance:
            runs.append((start, i, mean))
            start, total = i, 0.0
        total += values[i]
    runs.append((start, len(values), total / (len(values) - start)))
    return runs


def steady_states(power, *, tolerance_va: float = TOLERANCE_VA,
                  min_dwell_s: float = MIN_DWELL_S) -> pd.DataFrame:
    """The steady states of a power series: ``start``, ``end`` (the next run's start, or the
    last sample's time), ``power_va`` (mean). A run lasts until the next run starts."""
    series = power_series(power)
    values = series.to_numpy()
    seconds = (series.index - series.index[0]).total_seconds().to_numpy()
    step = float(np.median(np.diff(seconds))) if len(seconds) > 1 else 1.0
    rows = []
    for first, end, mean in _runs(values, tolerance_va):
        stop = seconds[end] if end < len(values) else seconds[-1] + step
        if stop - seconds[first] >= min_dwell_s:
            rows.append((first, end, mean))
    index = series.index
    return pd.DataFrame(
        {"start": [index[a] for a, _, _ in rows],
         "end": [index[b] if b < len(index) else index[-1] for _, b, _ in rows],
         "power_va": [m for _, _, m in rows], "first": [a for a, _, _ in rows],
         "stop": [b for _, b, _ in rows]})


def detect_events(power, *, threshold_va: float = THRESHOLD_VA,
                  tolerance_va: float = TOLERANCE_VA,
                  min_dwell_s: float = MIN_DWELL_S) -> pd.DataFrame:
    """Switch-on and switch-off events in a power series (Hart's steady-state edge detection;
    see the module docstring). Returns one row per event: ``time``, ``delta_va`` (positive:
    something switched on), ``before_va`` and ``after_va`` (the steady levels around it)."""
    for name, value in (("threshold_va", threshold_va), ("tolerance_va", tolerance_va),
                        ("min_dwell_s", min_dwell_s)):
        if not np.isfinite(value) or value < 0:
            raise PrivacyError(f"{name} must be a non-negative number, got {value!r}")
    series = power_series(power)
    states = steady_states(series, tolerance_va=tolerance_va, min_dwell_s=min_dwell_s)
    rows = []
    if len(states):
        level, stop = states.power_va.iloc[0], states.stop.iloc[0]
        for first, next_stop, mean in zip(states["first"].iloc[1:], states.stop.iloc[1:],
                                          states.power_va.iloc[1:]):
            if abs(mean - level) >= threshold_va:
                # the event is where the old level ended: the first sample after it
                rows.append((series.index[min(stop, first)], mean - level, level, mean))
                level = mean
            stop = next_stop
    return pd.DataFrame(rows, columns=EVENT_COLUMNS).astype(
        {"delta_va": float, "before_va": float, "after_va": float})


# --- scoring against a ground truth ---------------------------------------------------------

@dataclass(frozen=True)
class Score:
    """How detected events match true ones: counts, precision and recall (NaN when undefined)."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else float("nan")

    @property
    def recall(self) -> float:
        real = self.true_positives + self.false_negatives
        return self.true_positives / real if real else float("nan")


def match_events(detected: pd.DataFrame, truth: pd.DataFrame, *, tolerance_s: float = 5.0,
                 size_factor: float | None = None) -> Score:
    """Pair each true event with at most one detected event of the same sign within
    `tolerance_s` (nearest first); with `size_factor`, the sizes must also agree within that
    factor. Both frames need ``time`` and ``delta_va``."""
    detected, truth = _events_frame("detected", detected), _events_frame("truth", truth)
    det_t = detected.time.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    det_d = detected.delta_va.to_numpy(dtype=float)
    used = np.zeros(len(det_t), dtype=bool)
    hits = 0
    order = np.argsort(det_t)
    det_t, det_d = det_t[order], det_d[order]
    for t, d in zip(truth.time.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9,
                    truth.delta_va.to_numpy(dtype=float)):
        lo, hi = np.searchsorted(det_t, [t - tolerance_s, t + tolerance_s], side="left")
        hi = np.searchsorted(det_t, t + tolerance_s, side="right")
        candidates = [j for j in range(lo, hi) if not used[j] and np.sign(det_d[j]) == np.sign(d)
                      and (size_factor is None
                           or 1 / size_factor <= det_d[j] / d <= size_factor)]
        if candidates:
            used[min(candidates, key=lambda j: abs(det_t[j] - t))] = True
            hits += 1
    return Score(hits, int(len(det_t) - hits), int(len(truth) - hits))


def detectable(truth: pd.DataFrame, threshold_va: float = THRESHOLD_VA,
               merge_s: float = 3.0) -> pd.DataFrame:
    """The true events a detector with `threshold_va` can be asked to find: switches less
    than `merge_s` apart show as one step (their sum), kept if at least the threshold."""
    truth = _events_frame("truth", truth).sort_values("time", kind="stable")
    seconds = truth.time.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    group = np.concatenate([[0], np.cumsum(np.diff(seconds) >= merge_s)])
    merged = pd.DataFrame({"time": truth.time.to_numpy(), "delta_va": truth.delta_va.to_numpy(
        dtype=float), "group": group}).groupby("group").agg(time=("time", "first"),
                                                            delta_va=("delta_va", "sum"))
    merged["time"] = pd.DatetimeIndex(merged.time).tz_localize("UTC").tz_convert(
        truth.time.dt.tz) if merged.time.dt.tz is None else merged.time
    return merged[merged.delta_va.abs() >= threshold_va].reset_index(drop=True)


# --- occupancy -----------------------------------------------------------------------------

def cyclic_sizes(events: pd.DataFrame, *, cyclic_hours: int = 12,
                 size_tolerance: float = 0.15) -> list[tuple[float, float]]:
    """Size bands (VA, low and high) of switch-ons that recur in at least `cyclic_hours`
    different hours: the house's own cycles (a fridge), not people's."""
    events = _events_frame("events", events)
    ons = events[events.delta_va > 0].sort_values("delta_va")
    bands: list[list[tuple[float, pd.Timestamp]]] = []
    members: list[tuple[float, pd.Timestamp]] = []
    for size, hour in zip(ons.delta_va, ons.time.dt.floor("h")):
        if members and size > members[0][0] * (1 + 2 * size_tolerance):
            bands.append(members)
            members = []
        members.append((size, hour))
    if members:
        bands.append(members)
    return [(min(s for s, _ in band) * (1 - size_tolerance),
             max(s for s, _ in band) * (1 + size_tolerance))
            for band in bands if len({h for _, h in band}) >= cyclic_hours]


def human_events(events: pd.DataFrame, *, cyclic_hours: int = 12) -> pd.DataFrame:
    """The events not explained by a cyclic appliance (see :func:`cyclic_sizes`)."""
    bands = cyclic_sizes(events, cyclic_hours=cyclic_hours)
    size = events.delta_va.abs()
    cyclic = np.zeros(len(events), dtype=bool)
    for low, high in bands:
        cyclic |= ((size >= low) & (size <= high)).to_numpy()
    return events[~cyclic]


def infer_occupancy(events: pd.DataFrame, start, end, *, period: str = "15min",
                    linger: str = "30min", night: tuple[float, float] = NIGHT_HOURS,
                    cyclic_hours: int = 12) -> pd.Series:
    """``"awake"``, ``"asleep"`` or ``"away"`` for each `period` from `start` to `end` (local
    times), inferred from detected `events` (see the module docstring)."""
    step, linger_ns = _duration("period", period), _duration("linger", linger).value
    events = _events_frame("events", events)
    index = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=step, inclusive="left")
    if not len(index) or index.tz is None:
        raise PrivacyError("start and end must be timezone-aware, with at least one period "
                           "between them")
    people = np.sort(human_events(events, cyclic_hours=cyclic_hours).time.to_numpy(
        dtype="datetime64[ns]").astype(np.int64))
    starts = index.as_unit("ns").asi8
    lo = np.searchsorted(people, starts - linger_ns, side="left")
    hi = np.searchsorted(people, starts + step.value + linger_ns, side="left")
    hours = index.hour + index.minute / 60 + step.value / 2 / 3.6e12
    evening, morning = night
    asleep = (hours >= evening) | (hours < morning) if evening > morning else (
        (hours >= evening) & (hours < morning))
    states = np.where(hi > lo, "awake", np.where(asleep, "asleep", "away"))
    return pd.Series(states, index=index, name="occupancy")


# --- resolution and aggregation -------------------------------------------------------------

def resample(power, rule: str = "15min") -> pd.Series:
    """The mean power over each `rule` bin (``"1s"``, ``"1min"``, ``"15min"``, ``"1h"``, any
    pandas frequency), each sample holding until the next: the energy is kept. Bins start on
    the first sample's floor."""
    series = power_series(power)
    step = _duration("rule", rule)
    if step < pd.Timedelta("1s"):
        raise PrivacyError(f"the finest resolution is 1 s, got {rule!r}")
    grid = pd.date_range(series.index[0].floor("s"), series.index[-1].floor("s"), freq="1s")
    held = series.groupby(series.index.floor("s")).last().reindex(grid).ffill()
    return held.resample(step, origin=grid[0].floor(step)).mean().rename("power_va")


def aggregate(powers: Sequence) -> pd.Series:
    """The sum of several households' power on a common 1 s grid (each sample holding until
    the next), over the seconds they all cover: what one connection point would see."""
    if not powers:
        raise PrivacyError("aggregate needs at least one power series")
    held = [resample(p, "1s") for p in powers]
    start, end = max(h.index[0] for h in held), min(h.index[-1] for h in held)
    if start > end:
        raise PrivacyError("the power series do not overlap in time")
    return sum(h.loc[start:end] for h in held).rename("power_va")


def event_survival(truth: pd.DataFrame, series, *, threshold_va: float = THRESHOLD_VA,
                   tolerance_s: float = 5.0, size_factor: float = 2.0) -> Score:
    """How many of one home's `truth` events still show in `series` (that home's curve at
    some resolution, or a sum of homes): the detector runs on `series` and the events are
    matched within one sample plus `tolerance_s`, same sign and size within `size_factor` (see
    the module docstring). Precision counts the detected steps that are not this home's."""
    series = power_series(series)
    step = (pd.Series(series.index).diff().median().total_seconds()
            if len(series) > 1 else 1.0)
    detected = detect_events(series, threshold_va=threshold_va)
    return match_events(detected, detectable(truth, threshold_va),
                        tolerance_s=step + tolerance_s, size_factor=size_factor)


def survival_table(days, resolutions: Sequence[str] = RESOLUTIONS,
                   households: Sequence[int] = (1, 2, 5, 10, 20),
                   summed_at: Sequence[str] = ("1s", "15min")) -> pd.DataFrame:
    """Recall and precision of the first home's events in its own curve at each of
    `resolutions` (study ``"resolution"``), and in the sum of the first ``n`` homes for each
    ``n`` in `households` at each resolution of `summed_at` (study ``"households"``). `days`
    is a list of :class:`~daisee_lab.appliances.HouseholdDay` of the same date, at least
    ``max(households)`` of them."""
    if not households or len(days) < max(households):
        raise PrivacyError(f"survival_table needs {max(households, default=1)} household days, "
                           f"got {len(days)}")
    truth = days[0].events
    rows = [("resolution", rule, 1, event_survival(truth, resample(days[0].power_va, rule)))
            for rule in resolutions]
    for n in households:
        total = aggregate([d.power_va for d in days[:n]])
        rows += [("households", rule, n, event_survival(truth, resample(total, rule)))
                 for rule in summed_at]
    return pd.DataFrame([{"study": s, "resolution": r, "households": n, "recall": sc.recall,
                          "precision": sc.precision, "found": sc.true_positives,
                          "events": sc.true_positives + sc.false_negatives}
                         for s, r, n, sc in rows])
