"""A neighbourhood's energy: households, seeded synthetic profiles, and readings -> energy per slot.

Everything is integer Wh per 15-minute slot (``slot = unix_seconds // 900``), in arrays shaped
(households, slots) for :mod:`daisee_lab.settlement`, with a tidy pandas view for people.

Synthetic profiles (:func:`profiles`)
    *Load*: demandlib's BDEW H25 standard household profile (morning and evening peaks, more in
    winter, its own Saturday and Sunday shapes; no public holidays), computed on local time for
    whole calendar years. Each household gets it shifted by up to ±45 minutes and multiplied by
    seeded noise (appliances switching), then rounded by largest remainder so that **a calendar
    year of a household's load sums to ``annual_kwh`` × 1000 Wh exactly**; any window is the same
    slice of its year, across DST changes and New Year.
    *PV*: pvlib's clear-sky irradiance (Ineichen, with the Linke turbidity table that ships with
    pvlib: nothing is downloaded) on each roof's plane (tilt, azimuth), times a performance ratio,
    times a seeded :func:`cloudiness` shared by the neighbourhood: the same clouds pass over every
    roof. About 1 250 kWh a year per kWp in Lyon.
    *Battery*: :func:`self_consumption` charges from PV surplus and discharges to cover the load,
    at 0.5 C with 90 % round-trip efficiency (lost on charge), in integer Wh; it starts empty at
    the start of the window.
    Each household's randomness is keyed by the seed and its name, so adding neighbours changes
    no one else's profile. What the meter sees is ``import_wh`` and ``export_wh``.

Recorded readings (:func:`energy_per_slot`)
    A meter reports cumulative indexes. The index at each slot boundary is interpolated linearly in
    time between the readings around it and rounded down, and a slot's energy is the difference
    of its two boundary indexes: summed over slots, it telescopes to the index difference. Repairs
    are counted per meter in :attr:`SlotEnergy.report`, never silent: rows with no time or no
    import index (or no export index, on a meter that reports export) are dropped; exact
    duplicates are dropped; rows out of order are sorted; of rows sharing a time, the last given is
    kept. A pause longer than ``max_gap`` is spread over the slots it covers, flagged
    ``estimated``. A fall of an index is a meter reset: the new counter starts from 0, so the
    energy across the fall is the first index after it, capped at what ``max_power_w`` could draw
    in that interval; the slots it covers are flagged ``estimated``. Slots without readings on both
    sides are flagged ``missing`` and hold 0. A meter that never reports export (TIC historic mode)
    gets ``has_export=False`` and zero export.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from math import isfinite
from numbers import Real

import numpy as np
import pandas as pd

from daisee_lab.errors import DaiseeError
from daisee_lab.units import SLOT_SECONDS

__all__ = ["BATTERY_C_RATE", "BATTERY_EFFICIENCY_PERCENT", "BATTERY_KWH_CHOICES", "CLOUD_DRIFT",
           "CLOUD_MEAN", "CLOUD_SEASON", "CommunityError", "Household", "LOAD_NOISE",
           "LOAD_SHIFT_SLOTS", "LYON", "PERFORMANCE_RATIO", "PV_KWP_RANGE", "Profiles",
           "REPORT_COLUMNS", "Site", "SlotEnergy", "YEARS", "cloudiness", "energy_per_slot",
           "largest_remainder", "make_households", "profiles", "self_consumption"]

# The years this module models: a profile's clouds are seeded by days since 1970 (none before),
# and readings are timed in pandas' nanosecond timestamps (to April 2262).
YEARS = range(1971, 2262)
PERFORMANCE_RATIO = 0.85  # AC energy / (plane irradiance x kWp): inverter, wiring, heat, dirt
LOAD_SHIFT_SLOTS = 3  # each household's load is shifted by up to this many slots either way
LOAD_NOISE = 0.35  # sigma of the log-normal factor applied to each slot of load
CLOUD_MEAN = 0.67  # mean clear-sky index over the year
CLOUD_SEASON = 0.12  # how much sunnier July is than the mean, and January cloudier
CLOUD_DRIFT = 0.12  # sigma of the clear-sky index's drift within a day
BATTERY_C_RATE = 0.5  # charge and discharge power, as a fraction of the capacity per hour
BATTERY_EFFICIENCY_PERCENT = 90  # round trip, lost on charge
PV_KWP_RANGE = (3.0, 9.0)  # make_households: PV size of a producer
BATTERY_KWH_CHOICES = (5, 10)  # make_households: battery size, for a third of the producers
REPORT_COLUMNS = ("readings", "duplicates", "out_of_order", "conflicts", "incomplete", "gaps",
                  "import_resets", "export_resets", "estimated_slots", "missing_slots",
                  "has_export")

_LOAD_STREAM, _CLOUD_STREAM = 1, 2  # keep the load's and the clouds' random streams apart


class CommunityError(DaiseeError, ValueError):
    """Bad input to the community module: the message names the argument and what to do."""


@dataclass(frozen=True)
class Site:
    """Where the neighbourhood is: degrees north and east, metres above sea level."""

    name: str
    latitude: float
    longitude: float
    altitude_m: float


LYON = Site("Lyon", 45.76, 4.84, 170.0)


@dataclass(frozen=True)
class Household:
    """A household: yearly consumption (kWh), PV peak power (kWp) on a roof of `pv_tilt` degrees
    facing `pv_azimuth` degrees (180 is south), and battery capacity (kWh)."""

    name: str
    annual_kwh: float
    pv_kwp: float = 0
    battery_kwh: float = 0
    pv_tilt: float = 30
    pv_azimuth: float = 180

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise CommunityError(f"name={self.name!r}: a household needs a non-empty name")
        limits = {"annual_kwh": "kWh a year", "pv_kwp": "kWp", "battery_kwh": "kWh",
                  "pv_tilt": (0, 90), "pv_azimuth": (0, 360)}
        for field, limit in limits.items():
            value = getattr(self, field)
            low, high = limit if isinstance(limit, tuple) else (0, np.inf)
            if not (isinstance(value, Real) and isfinite(value) and low <= value <= high):
                wanted = (f"{limit} >= 0" if high == np.inf else f"degrees from {low} to {high}")
                raise CommunityError(f"{self.name}: {field}={value!r}: give {wanted}")

    @property
    def annual_wh(self) -> int:
        """The exact yearly total of the load, Wh."""
        return round(self.annual_kwh * 1000)

    @property
    def prosumer(self) -> bool:
        """True when the household has PV panels."""
        return self.pv_kwp > 0


def make_households(n: int, seed: int, producer_share: float = 0.4) -> list[Household]:
    """`n` seeded households named h00, h01, …: 1 500-12 000 kWh a year; exactly
    ``round(n * producer_share)`` of them have 3-9 kWp of PV, and a third of those a 5 or
    10 kWh battery."""
    if not isinstance(n, int) or n < 1:
        raise CommunityError(f"n={n!r}: a community needs at least one household")
    if not (isinstance(producer_share, Real) and 0 <= producer_share <= 1):
        raise CommunityError(f"producer_share={producer_share!r} must be between 0 and 1")
    rng = np.random.default_rng(seed)
    producers = rng.choice(n, size=round(n * producer_share), replace=False)
    batteries = set(rng.choice(producers, size=round(len(producers) / 3), replace=False).tolist())
    producers = set(producers.tolist())
    households = []
    for i in range(n):
        annual = int(np.clip(round(rng.lognormal(np.log(4000), 0.4)), 1500, 12000))
        pv = round(float(rng.uniform(*PV_KWP_RANGE)), 1) if i in producers else 0
        battery = int(rng.choice(BATTERY_KWH_CHOICES)) if i in batteries else 0
        households.append(Household(f"h{i:02d}", annual, pv_kwp=pv, battery_kwh=battery))
    return households


@dataclass(frozen=True, eq=False)
class Profiles:
    """Energy per household and slot, int64 Wh arrays shaped (households, slots).

    `consumption_wh` and `production_wh` are what the house uses and its panels make;
    `import_wh` and `export_wh` what its meter counts after the battery, and `stored_wh` the
    battery's charge at the end of each slot.
    """

    households: tuple[Household, ...]
    slots: np.ndarray
    consumption_wh: np.ndarray
    production_wh: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    stored_wh: np.ndarray

    @property
    def times(self) -> pd.DatetimeIndex:
        """The start of each slot, UTC."""
        return pd.to_datetime(self.slots * SLOT_SECONDS, unit="s", utc=True)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per household and slot, household by household."""
        count = len(self.slots)
        names = [home.name for home in self.households]
        return pd.DataFrame({
            "household": np.repeat(names, count),
            "slot": np.tile(self.slots, len(names)),
            "time": np.tile(self.times, len(names)),
            **{column: getattr(self, column).ravel() for column in (
                "consumption_wh", "production_wh", "import_wh", "export_wh", "stored_wh")}})


@contextmanager
def _quiet_pandas_deprecations(message: str):
    """Silence the pandas deprecation warnings matching `message` that a library emits."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=message, category=pd.errors.Pandas4Warning)
        yield


def largest_remainder(weights, totals) -> np.ndarray:
    """Integers proportional to each row of `weights` (non-negative) that sum to the row's total
    exactly: the floors, plus one for the largest remainders (ties: the first)."""
    values = np.asarray(weights, dtype=float)
    single = values.ndim == 1
    values = np.atleast_2d(values)
    totals = np.atleast_1d(np.asarray(totals, dtype=np.int64))
    if values.ndim != 2 or totals.shape != (len(values),):
        raise CommunityError(f"weights shaped {values.shape} need one total each, got "
                             f"{totals.shape}")
    sums = values.sum(axis=1)
    if (values < 0).any() or (totals < 0).any() or ((sums <= 0) & (totals > 0)).any():
        raise CommunityError("weights and totals must be >= 0, and a row with a total needs a "
                             "positive weight")
    exact = values * (totals / np.where(sums > 0, sums, 1))[:, None]
    shares = np.floor(exact).astype(np.int64)
    short = totals - shares.sum(axis=1)
    order = np.argsort(shares - exact, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(values.shape[1]), axis=1)
    shares += rank < short[:, None]
    return shares[0] if single else shares


def cloudiness(times: pd.DatetimeIndex, seed: int) -> np.ndarray:
    """The clear-sky index (0.05-1) at each of `times` (timezone-aware), shared by a neighbourhood.

    Each UTC day draws a level from a Beta distribution whose mean follows the season (cloudier in
    January, sunnier in July), then drifts within the day through knots every three hours. A
    value depends only on its time and `seed`, so a window is a slice of any longer one.
    """
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        raise CommunityError("cloudiness needs timezone-aware times: localize them (or give UTC)")
    seconds = times.as_unit("s").asi8
    days, within = np.divmod(seconds, 86_400)
    knots = np.arange(0, 86_401, 3 * 3600)
    index = np.empty(len(seconds))
    for day in np.unique(days).tolist():
        rng = np.random.default_rng([seed, _CLOUD_STREAM, day])
        mean = CLOUD_MEAN - CLOUD_SEASON * np.cos(2 * np.pi * (day - 14) / 365.2425)
        level = rng.beta(4 * mean, 4 * (1 - mean))
        drift = level + rng.normal(0, CLOUD_DRIFT, len(knots))
        today = days == day
        index[today] = np.interp(within[today], knots, drift)
    return np.clip(index, 0.05, 1)


@lru_cache(maxsize=8)
def _h25(year: int, tz: str) -> np.ndarray:
    """demandlib's H25 profile for each slot of the local calendar `year` (read-only)."""
    from demandlib.bdew import H25

    with _quiet_pandas_deprecations("The inplace keyword"):
        shape = H25(_local_year(year, tz)).to_numpy(dtype=float)
    shape.setflags(write=False)
    return shape


@lru_cache(maxsize=16)
def _watts_per_kwp(site: Site, year: int, tz: str, tilt: float, azimuth: float) -> np.ndarray:
    """Clear-sky AC power (W per kWp) of a plane at the middle of each slot of the local `year`."""
    import pvlib

    middles = (_local_year(year, tz) + pd.Timedelta(seconds=SLOT_SECONDS / 2)).tz_convert("UTC")
    location = pvlib.location.Location(site.latitude, site.longitude, altitude=site.altitude_m)
    with _quiet_pandas_deprecations("DatetimeIndex.dayofyear"):
        sky = location.get_clearsky(middles, model="ineichen")
        sun = location.get_solarposition(middles)
        plane = pvlib.irradiance.get_total_irradiance(
            tilt, azimuth, sun["apparent_zenith"], sun["azimuth"], sky["dni"], sky["ghi"],
            sky["dhi"])
    watts = np.clip(np.nan_to_num(plane["poa_global"].to_numpy()), 0, None) * PERFORMANCE_RATIO
    watts.setflags(write=False)
    return watts


def _local_year(year: int, tz: str) -> pd.DatetimeIndex:
    """The start of each slot of a calendar year, local time."""
    return pd.date_range(pd.Timestamp(year, 1, 1).tz_localize(tz),
                         pd.Timestamp(year + 1, 1, 1).tz_localize(tz),
                         freq="15min", inclusive="left")


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def _year_of(households: tuple[Household, ...], year: int, seed: int, site: Site,
             tz: str) -> tuple[np.ndarray, np.ndarray]:
    """Load and PV (Wh, shaped (households, slots)) over the whole local calendar `year`."""
    shape = _h25(year, tz)
    times = _local_year(year, tz)
    clouds = cloudiness(times + pd.Timedelta(seconds=SLOT_SECONDS / 2), seed)
    load, pv = [], []
    for home in households:
        rng = np.random.default_rng([seed, _LOAD_STREAM, year, _name_key(home.name)])
        shifted = np.roll(shape, int(rng.integers(-LOAD_SHIFT_SLOTS, LOAD_SHIFT_SLOTS + 1)))
        load.append(largest_remainder(shifted * rng.lognormal(0, LOAD_NOISE, len(shape)),
                                      home.annual_wh))
        watts = (_watts_per_kwp(site, year, tz, home.pv_tilt, home.pv_azimuth)
                 if home.prosumer else np.zeros(len(shape)))
        pv.append(np.rint(watts * home.pv_kwp * clouds * SLOT_SECONDS / 3600).astype(np.int64))
    return np.array(load), np.array(pv)


def profiles(households: Sequence[Household], start: date, days: int, seed: int, *,
             site: Site = LYON, tz: str = "Europe/Paris") -> Profiles:
    """Seeded 15-minute profiles of `households` for `days` local days from `start` at `site`.

    Same seed, same arrays; each window is the same slice of its calendar year.
    """
    households = tuple(households)
    if not households or not all(isinstance(home, Household) for home in households):
        raise CommunityError("households must be a non-empty list of Household")
    repeated = sorted(name for name, count in Counter(h.name for h in households).items()
                      if count > 1)
    if repeated:
        raise CommunityError(f"household names repeated: {repeated}; give each a unique name")
    if not isinstance(days, int) or days < 1:
        raise CommunityError(f"days={days!r}: give a whole number of days >= 1")
    if not isinstance(seed, int) or seed < 0:
        raise CommunityError(f"seed={seed!r} must be an integer >= 0")
    try:
        begin = pd.Timestamp(start.year, start.month, start.day).tz_localize(tz)
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise CommunityError(f"start={start!r}, tz={tz!r}: need a date and a time zone name "
                             f"({exc})") from exc
    if start.year not in YEARS or start.toordinal() + days > date(YEARS.stop, 1, 1).toordinal():
        raise CommunityError(f"start={start}, days={days}: profiles cover the years "
                             f"{YEARS.start} to {YEARS.stop - 1} only")
    stop = (begin.tz_localize(None) + pd.Timedelta(days=days)).tz_localize(tz)
    first, last = (int(moment.timestamp()) // SLOT_SECONDS for moment in (begin, stop))
    loads, pvs = [], []
    for year in range(begin.year, (stop - pd.Timedelta(seconds=1)).year + 1):
        year_first = int(pd.Timestamp(year, 1, 1).tz_localize(tz).timestamp()) // SLOT_SECONDS
        year_load, year_pv = _year_of(households, year, seed, site, tz)
        cut = slice(max(first, year_first) - year_first,
                    min(last, year_first + year_load.shape[1]) - year_first)
        loads.append(year_load[:, cut])
        pvs.append(year_pv[:, cut])
    consumption, production = np.concatenate(loads, axis=1), np.concatenate(pvs, axis=1)
    imports, exports, stored = self_consumption(
        consumption, production, [round(home.battery_kwh * 1000) for home in households])
    return Profiles(households, np.arange(first, last, dtype=np.int64), consumption, production,
                    imports, exports, stored)


def self_consumption(consumption_wh, production_wh, battery_wh) -> tuple[np.ndarray, ...]:
    """What each household's meter sees behind its battery: ``(import_wh, export_wh, stored_wh)``.

    `consumption_wh` and `production_wh` are shaped (households, slots); `battery_wh` gives each
    household's capacity in Wh (0: none). A battery starts empty, charges from the PV surplus and
    discharges to cover the load, at most ``BATTERY_C_RATE`` of its capacity per hour; it keeps
    ``BATTERY_EFFICIENCY_PERCENT`` % of each charge (rounded down), so its charge never passes
    its capacity. `stored_wh` is the charge at the end of each slot.
    """
    load = np.asarray(consumption_wh, dtype=np.int64)
    pv = np.asarray(production_wh, dtype=np.int64)
    capacities = [int(capacity) for capacity in battery_wh]
    if load.ndim != 2 or pv.shape != load.shape or len(capacities) != len(load):
        raise CommunityError(f"consumption {load.shape} and production {pv.shape} must be shaped "
                             f"(households, slots) alike, with one battery each "
                             f"(got {len(capacities)})")
    if min(capacities, default=0) < 0:
        raise CommunityError(f"battery_wh={capacities}: capacities must be >= 0")
    net = load - pv
    imports, exports = np.maximum(net, 0), np.maximum(-net, 0)
    stored = np.zeros_like(net)
    for row, capacity in enumerate(capacities):
        if capacity == 0:
            continue
        limit = int(capacity * BATTERY_C_RATE * SLOT_SECONDS / 3600)
        level = 0
        for slot, need in enumerate(net[row].tolist()):
            if need < 0:
                charge = min(-need, limit, (capacity - level) * 100 // BATTERY_EFFICIENCY_PERCENT)
                level += charge * BATTERY_EFFICIENCY_PERCENT // 100
                exports[row, slot] = -need - charge
            else:
                given = min(need, limit, level)
                level -= given
                imports[row, slot] = need - given
            stored[row, slot] = level
    return imports, exports, stored


@dataclass(frozen=True, eq=False)
class SlotEnergy:
    """Energy per meter and slot from recorded readings, and what was done to get it.

    `import_wh` / `export_wh`: int64 (meters, slots). `estimated`: True where a gap or an index
    reset was spread over the slot. `missing`: True where the slot lacks readings on both sides
    (energy 0, not to be trusted). `report`: one row per meter, the counts of
    :data:`REPORT_COLUMNS`.
    """

    meters: tuple[str, ...]
    slots: np.ndarray
    import_wh: np.ndarray
    export_wh: np.ndarray
    estimated: np.ndarray
    missing: np.ndarray
    report: pd.DataFrame

    def to_dataframe(self) -> pd.DataFrame:
        """One row per meter and slot, meter by meter."""
        count = len(self.slots)
        return pd.DataFrame({
            "meter_id": np.repeat(list(self.meters), count),
            "slot": np.tile(self.slots, len(self.meters)),
            "time": np.tile(pd.to_datetime(self.slots * SLOT_SECONDS, unit="s", utc=True),
                            len(self.meters)),
            **{column: getattr(self, column).ravel() for column in (
                "import_wh", "export_wh", "estimated", "missing")}})


def _boundary_slot(moment: datetime, name: str) -> int:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise CommunityError(f"{name}={moment!r} is naive: give a timezone-aware time")
    if stamp.value % (SLOT_SECONDS * 10**9):
        raise CommunityError(f"{name}={moment!r} is not on a 15-minute boundary "
                             "(:00, :15, :30 or :45)")
    return stamp.value // (SLOT_SECONDS * 10**9)


def _utc_nanoseconds(column: pd.Series, name: str) -> pd.arrays.IntegerArray:
    """Nanoseconds since the epoch (NA where there is no time) of a timezone-aware column."""
    if not isinstance(column.dtype, pd.DatetimeTZDtype):
        if column.dropna().map(lambda value: getattr(value, "tzinfo", None) is None).any():
            raise CommunityError(f"readings[{name!r}] is not timezone-aware: localize it "
                                 "(meter horodates are local time) or convert it to UTC")
        column = pd.to_datetime(column, utc=True)
    stamps = column.dt.tz_convert("UTC").dt.tz_localize(None).dt.as_unit("ns")
    return pd.arrays.IntegerArray(stamps.to_numpy().view(np.int64), stamps.isna().to_numpy())


def _continuous(values: np.ndarray, t: np.ndarray, max_power_w: float):
    """An index that goes on across falls (resets), and the indices where it fell."""
    steps = np.diff(values)
    falls = np.flatnonzero(steps < 0)
    cap = np.floor(max_power_w * np.diff(t)[falls].astype(float) / 3.6e12).astype(np.int64)
    steps[falls] = np.minimum(np.maximum(values[falls + 1], 0), cap)
    return values[0] + np.concatenate([[0], np.cumsum(steps)]), falls + 1


def _at_boundaries(index: np.ndarray, t: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The index at each boundary (all within the readings), interpolated and rounded down."""
    before = np.searchsorted(t, bounds, side="right") - 1
    after = np.minimum(before + 1, len(t) - 1)
    v0, v1 = index[before].astype(object), index[after].astype(object)
    t0, t1 = t[before].astype(object), t[after].astype(object)
    elapsed = bounds.astype(object) - t0
    span = np.where(elapsed == 0, 1, t1 - t0)
    return np.array(v0 + (v1 - v0) * elapsed // span, dtype=np.int64)


def _overlapping(starts, ends, bounds) -> tuple[np.ndarray, int]:
    """Which slots the open intervals (starts, ends) touch, and how many touch the window."""
    touch = (starts[:, None] < bounds[None, 1:]) & (ends[:, None] > bounds[None, :-1])
    return touch.any(axis=0), int(touch.any(axis=1).sum())


def _one_meter(rows: pd.DataFrame, bounds: np.ndarray, max_gap_ns: float, max_power_w: float):
    """Energy per slot, flags and report of one meter's rows (columns t, import_wh, export_wh)."""
    slots = len(bounds) - 1
    has_export = bool(rows["export_wh"].notna().any())
    needed = ["t", "import_wh", "export_wh"] if has_export else ["t", "import_wh"]
    complete = rows.dropna(subset=needed)
    report = {"incomplete": len(rows) - len(complete), "has_export": has_export}
    unique = complete.drop_duplicates(subset=needed)
    report["duplicates"] = len(complete) - len(unique)
    t = unique["t"].to_numpy(dtype=np.int64)
    report["out_of_order"] = int((t[1:] < np.maximum.accumulate(t)[:-1]).sum()) if len(t) else 0
    ordered = unique.sort_values("t", kind="stable")
    kept = ordered.drop_duplicates(subset="t", keep="last")
    report["conflicts"] = len(ordered) - len(kept)
    report["readings"] = len(kept)

    energy = {"import_wh": np.zeros(slots, np.int64), "export_wh": np.zeros(slots, np.int64)}
    if len(kept) == 0:
        missing = np.ones(slots, bool)
        estimated = np.zeros(slots, bool)
        report.update(gaps=0, import_resets=0, export_resets=0)
    else:
        t = kept["t"].to_numpy(dtype=np.int64)
        known = (bounds >= t[0]) & (bounds <= t[-1])
        missing = ~(known[:-1] & known[1:])
        pause = np.flatnonzero(np.diff(t) > max_gap_ns)
        estimated, report["gaps"] = _overlapping(t[pause], t[pause + 1], bounds)
        for column in ("import_wh", "export_wh"):
            resets_name = column.replace("_wh", "_resets")
            if column == "export_wh" and not has_export:
                report[resets_name] = 0
                continue
            index, falls = _continuous(kept[column].to_numpy(dtype=np.int64), t, max_power_w)
            reset_slots, report[resets_name] = _overlapping(t[falls - 1], t[falls], bounds)
            estimated |= reset_slots
            if known.any():
                at = np.zeros(len(bounds), np.int64)
                at[known] = _at_boundaries(index, t, bounds[known])
                energy[column] = np.where(missing, 0, np.diff(at))
        estimated &= ~missing
    report.update(estimated_slots=int(estimated.sum()), missing_slots=int(missing.sum()))
    return energy["import_wh"], energy["export_wh"], estimated, missing, report


def energy_per_slot(readings: pd.DataFrame, start: datetime, end: datetime, *,
                    meters: list[str] | None = None, time_column: str = "received_at",
                    max_gap: float = 900, max_power_w: float = 36_000) -> SlotEnergy:
    """Energy per 15-minute slot in [start, end) of each meter in `readings`.

    `readings` is a table like :meth:`Recorder.to_dataframe`: ``meter_id``, a timezone-aware
    `time_column` and cumulative ``import_wh`` (and ``export_wh``) indexes, rows in any order.
    `meters` fixes the rows of the result (default: every meter in `readings`, sorted); a meter
    with no readings is all missing. `max_gap` (seconds) is the longest pause not flagged as a
    gap; `max_power_w` caps the energy counted across an index reset.
    """
    first, last = _boundary_slot(start, "start"), _boundary_slot(end, "end")
    if last <= first:
        raise CommunityError(f"end={end!r} must be after start={start!r}")
    lacking = [name for name in ("meter_id", time_column, "import_wh")
               if name not in readings.columns]
    if lacking:
        raise CommunityError(f"readings lacks columns {lacking}: pass Recorder.to_dataframe() "
                             "or a table with the same columns")
    times = _utc_nanoseconds(readings[time_column], time_column)
    try:
        indexes = {column: (readings[column].astype("Int64").array
                            if column in readings.columns else pd.NA)
                   for column in ("import_wh", "export_wh")}
    except (TypeError, ValueError) as exc:
        raise CommunityError(f"readings: import_wh and export_wh must be integer Wh ({exc})"
                             ) from exc
    table = pd.DataFrame({"meter_id": readings["meter_id"].to_numpy(), "t": times, **indexes})
    ids = tuple(meters) if meters is not None else tuple(sorted(table["meter_id"].dropna()
                                                                .unique().tolist()))
    slots = np.arange(first, last, dtype=np.int64)
    bounds = np.append(slots, last) * SLOT_SECONDS * 10**9
    groups = dict(list(table.groupby("meter_id", sort=False)))
    results = [_one_meter(groups.get(meter, table.iloc[:0]), bounds, max_gap * 1e9,
                          max_power_w) for meter in ids]
    report = pd.DataFrame([result[4] for result in results], index=pd.Index(ids, name="meter_id"),
                          columns=list(REPORT_COLUMNS))
    shape = (len(ids), len(slots))
    import_wh, export_wh, estimated, missing = (
        np.array([result[k] for result in results]).reshape(shape) for k in range(4))
    return SlotEnergy(ids, slots, import_wh, export_wh, estimated, missing, report)
