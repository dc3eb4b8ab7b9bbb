"""Community data: households, seeded profiles that look real, and readings -> energy per slot."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daisee_lab import dsmr
from daisee_lab.community import (
    CLOUD_MEAN, CLOUD_SEASON, REPORT_COLUMNS, CommunityError, Household, cloudiness,
    energy_per_slot, largest_remainder, make_households, profiles, self_consumption)
from daisee_lab.errors import DaiseeError
from daisee_lab.recorder import Recorder

T0 = datetime(2025, 6, 21, tzinfo=UTC)  # a slot boundary
SOUTH = Household("south", 4000, pv_kwp=6.0)  # 30° tilt, due south, no battery


@pytest.fixture(scope="module")
def homes():
    return make_households(8, seed=3) + [SOUTH]


@pytest.fixture(scope="module")
def year(homes):
    return profiles(homes, date(2025, 1, 1), 365, seed=11)


# --- households -------------------------------------------------------------------------------

def test_make_households_is_seeded_and_has_the_asked_share_of_producers():
    homes = make_households(10, seed=4)
    assert homes == make_households(10, seed=4)
    assert homes != make_households(10, seed=5)
    assert [h.name for h in homes] == [f"h{i:02d}" for i in range(10)]
    assert sum(h.prosumer for h in homes) == 4
    assert all(h.battery_kwh == 0 for h in homes if not h.prosumer)
    assert all(1000 <= h.annual_kwh <= 15000 and h.annual_kwh == int(h.annual_kwh) for h in homes)
    assert not any(h.prosumer for h in make_households(5, seed=4, producer_share=0))
    assert make_households(101, seed=1)[-1].name == "h100"


@pytest.mark.parametrize("make, message", [
    (lambda: Household("a", -1), "annual_kwh=-1"),
    (lambda: Household("", 1000), "non-empty"),
    (lambda: Household("a", 1000, pv_tilt=95), "pv_tilt=95"),
    (lambda: make_households(0, seed=1), "n=0"),
    (lambda: make_households(3, seed=1, producer_share=1.5), "producer_share=1.5"),
    (lambda: profiles([Household("a", 1), Household("a", 2)], date(2025, 1, 1), 1, 0),
     "repeated: ['a']"),
    (lambda: profiles([SOUTH], date(2025, 1, 1), 0, seed=1), "days=0"),
    # clouds are seeded by days since 1970, readings timed in nanoseconds to 2262
    (lambda: profiles([SOUTH], date(1970, 1, 2), 1, seed=1), "years 1971 to 2261 only"),
    (lambda: profiles([SOUTH], date(2261, 12, 31), 2, seed=1), "years 1971 to 2261 only"),
    (lambda: profiles([SOUTH], date(9999, 12, 31), 1, seed=1), "years 1971 to 2261 only"),
])
def test_bad_households_and_windows_are_refused_by_name(make, message):
    with pytest.raises(CommunityError, match=message.replace("[", r"\[")) as caught:
        make()
    assert isinstance(caught.value, DaiseeError) and isinstance(caught.value, ValueError)


# --- profiles ---------------------------------------------------------------------------------

@pytest.mark.slow  # a year of profiles
def test_a_year_of_consumption_sums_to_the_annual_kwh_exactly(year, homes):
    assert year.consumption_wh.dtype == np.int64
    assert year.consumption_wh.shape == (len(homes), 365 * 96)
    assert year.consumption_wh.sum(axis=1).tolist() == [h.annual_wh for h in homes]
    assert year.consumption_wh.min() >= 0 and year.production_wh.min() >= 0
    assert np.array_equal(year.slots, np.arange(year.slots[0], year.slots[0] + 365 * 96))
    assert year.times[0] == pd.Timestamp("2024-12-31T23:00Z")  # local midnight, stored UTC


def test_load_has_morning_and_evening_peaks_and_more_in_winter(year):
    local = year.times.tz_convert("Europe/Paris")
    load = pd.Series(year.consumption_wh.sum(axis=0), index=local)
    winter_weekdays = load[(local.day_of_week < 5) & local.month.isin([1, 2, 12])]
    hourly = winter_weekdays.groupby(winter_weekdays.index.hour).mean()
    night, morning, evening = hourly[2:5].mean(), hourly[7:9].mean(), hourly[18:21].mean()
    assert morning > 1.3 * night
    assert hourly[8] > hourly[10]  # the morning peak falls back before lunch
    assert hourly.idxmax() in (18, 19, 20) and evening > 1.4 * morning
    monthly = load.groupby(local.month).sum()
    assert monthly[1] > 1.2 * monthly[7] and monthly[12] > 1.2 * monthly[6]


def test_pv_is_zero_at_night_peaks_at_solar_noon_and_yields_more_in_summer(year):
    pv = pd.Series(year.production_wh[-1], index=year.times)  # SOUTH
    local = year.times.tz_convert("Europe/Paris")
    june, december = local.month == 6, local.month == 12
    assert pv[june & ((local.hour >= 22) | (local.hour < 5))].max() == 0
    assert pv[december & ((local.hour >= 18) | (local.hour < 8))].max() == 0
    solar_noon = 12 - 4.84 / 15  # hours UTC at Lyon's longitude, give or take the equation of time
    for month in (june, december):
        hours = (year.times.hour + year.times.minute / 60 + 7.5 / 60)[month]
        centroid = (hours * pv[month]).sum() / pv[month].sum()
        assert abs(centroid - solar_noon) < 0.25
    assert pv[june].sum() > 2 * pv[december].sum()
    assert 1000 < pv.sum() / 6.0 / 1000 < 1500  # kWh per kWp: what a Lyon roof yields
    assert year.production_wh[[h for h, home in enumerate(year.households)
                               if not home.prosumer]].max() == 0


def test_same_seed_same_arrays_different_seed_different(homes):
    first = profiles(homes, date(2025, 5, 1), 2, seed=5)
    again = profiles(homes, date(2025, 5, 1), 2, seed=5)
    other = profiles(homes, date(2025, 5, 1), 2, seed=6)
    for name in ("consumption_wh", "production_wh", "import_wh", "export_wh", "stored_wh"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.consumption_wh, other.consumption_wh)
    assert not np.array_equal(first.production_wh, other.production_wh)


@pytest.mark.slow  # a year of profiles
def test_a_window_is_a_slice_of_its_year_across_dst_and_new_year(year, homes):
    spring = profiles(homes, date(2025, 3, 29), 3, seed=11)  # 30 March: 23 hours in Paris
    assert spring.slots.size == 96 + 92 + 96
    at = int(np.searchsorted(year.slots, spring.slots[0]))
    cut = slice(at, at + spring.slots.size)
    assert np.array_equal(spring.consumption_wh, year.consumption_wh[:, cut])
    assert np.array_equal(spring.production_wh, year.production_wh[:, cut])

    new_year = profiles(homes, date(2025, 12, 31), 2, seed=11)
    assert np.array_equal(new_year.consumption_wh[:, :96], year.consumption_wh[:, -96:])
    assert new_year.slots[96] == year.slots[-1] + 1


def test_a_household_keeps_its_profile_when_neighbours_join(homes):
    alone = profiles(homes[:2], date(2025, 7, 1), 1, seed=2)
    together = profiles(homes, date(2025, 7, 1), 1, seed=2)
    assert np.array_equal(alone.consumption_wh, together.consumption_wh[:2])
    assert np.array_equal(alone.production_wh, together.production_wh[:2])


# --- clouds -----------------------------------------------------------------------------------

YEAR_2025 = pd.date_range("2025-01-01", "2026-01-01", freq="15min", inclusive="left", tz="UTC")


def test_cloudiness_is_a_clear_sky_index_with_a_season():
    clouds = cloudiness(YEAR_2025, seed=4)
    assert clouds.shape == (len(YEAR_2025),)
    assert clouds.min() >= 0.05 and clouds.max() <= 1 and (clouds == 1).any()  # clipped at 1
    assert abs(clouds.mean() - CLOUD_MEAN) < 0.05
    january, july = (clouds[YEAR_2025.month == month].mean() for month in (1, 7))
    assert july - january > CLOUD_SEASON  # the season's swing is 2 x CLOUD_SEASON on average


def test_cloudiness_depends_only_on_the_time_and_the_seed():
    clouds = cloudiness(YEAR_2025, seed=4)
    assert np.array_equal(cloudiness(YEAR_2025, seed=4), clouds)
    assert not np.array_equal(cloudiness(YEAR_2025[:96], seed=5), clouds[:96])
    window = slice(10_000, 10_500)
    assert np.array_equal(cloudiness(YEAR_2025[window], seed=4), clouds[window])  # a slice
    shuffled = np.random.default_rng(0).permutation(len(YEAR_2025))[:300]
    assert np.array_equal(cloudiness(YEAR_2025[shuffled], seed=4), clouds[shuffled])
    paris = YEAR_2025[:500].tz_convert("Europe/Paris")  # the same instants, other clock
    assert np.array_equal(cloudiness(paris, seed=4), clouds[:500])
    with pytest.raises(CommunityError, match="timezone-aware"):  # naive: which clock?
        cloudiness(YEAR_2025[:500].tz_localize(None), seed=4)


def test_cloudiness_is_one_level_a_utc_day_drifting_linearly_between_three_hour_knots():
    clouds = cloudiness(YEAR_2025, seed=4).reshape(365, 8, 12)  # days, knots, 15-min steps
    steps = np.diff(clouds, axis=2)
    inside = (clouds[:, :, 1:] > 0.05) & (clouds[:, :, 1:] < 1) & (clouds[:, :, :-1] > 0.05) \
        & (clouds[:, :, :-1] < 1)
    straight = np.abs(steps - steps[:, :, :1]) < 1e-12
    assert straight[inside & inside[:, :, :1]].all()  # unclipped, each 3 hours is a line
    day_means = clouds.mean(axis=(1, 2))
    assert np.corrcoef(day_means[:-1], day_means[1:])[0, 1] < 0.5  # each day draws its own level


def test_meter_view_without_battery_is_the_net_and_with_battery_never_worse(year):
    net = year.consumption_wh - year.production_wh
    for row, home in enumerate(year.households):
        imports, exports = year.import_wh[row], year.export_wh[row]
        assert not ((imports > 0) & (exports > 0)).any()
        if home.battery_kwh == 0:
            assert np.array_equal(imports - exports, net[row])
            assert year.stored_wh[row].max() == 0
        else:
            assert 0 < year.stored_wh[row].max() <= home.battery_kwh * 1000
            assert imports.sum() < np.maximum(net[row], 0).sum()
            assert exports.sum() < np.maximum(-net[row], 0).sum()
    assert any(h.battery_kwh for h in year.households)


def test_self_consumption_dispatch_by_hand():
    # 1 kWh battery: 125 Wh per slot at 0.5 C, 90 % of each charge kept.
    imports, exports, stored = self_consumption([[0, 0, 300, 100]], [[200, 50, 0, 0]], [1000])
    assert imports.tolist() == [[0, 0, 175, 68]]
    assert exports.tolist() == [[75, 0, 0, 0]]
    assert stored.tolist() == [[112, 157, 32, 0]]
    _, exports, stored = self_consumption([[0] * 10], [[200] * 10], [1000])
    assert stored[0].tolist() == [112, 224, 336, 448, 560, 672, 784, 896, 999, 999]
    assert exports[0, -2:].tolist() == [85, 199]  # full: the surplus goes to the grid


def test_largest_remainder_hits_the_total_and_stays_proportional():
    shares = largest_remainder([[1, 1, 1], [0.5, 0.25, 0.25], [3, 0, 1]], [10, 7, 100])
    assert shares.tolist() == [[4, 3, 3], [3, 2, 2], [75, 0, 25]]  # 3.5 1.75 1.75


def test_profiles_tidy_view(homes):
    window = profiles(homes, date(2025, 6, 1), 1, seed=9)
    frame = window.to_dataframe()
    assert list(frame.columns) == ["household", "slot", "time", "consumption_wh",
                                   "production_wh", "import_wh", "export_wh", "stored_wh"]
    assert len(frame) == len(homes) * 96
    row = frame.iloc[96 * 2 + 50]
    assert row["household"] == homes[2].name and row["slot"] == window.slots[50]
    assert row["time"] == window.times[50] == pd.Timestamp("2025-05-31T22:00Z") + timedelta(
        minutes=15 * 50)
    assert row["consumption_wh"] == window.consumption_wh[2, 50]
    assert frame.groupby("household")["production_wh"].sum()[SOUTH.name] == \
        window.production_wh[-1].sum()


# --- readings -> energy per slot --------------------------------------------------------------

def readings(meter, seconds, imports, exports=None):
    """A recorder-like frame: one meter, times in seconds after T0."""
    return pd.DataFrame({
        "meter_id": meter,
        "received_at": [pd.Timestamp(T0) + pd.Timedelta(seconds=int(s)) for s in seconds],
        "import_wh": pd.array(imports, dtype="Int64"),
        "export_wh": pd.array([None] * len(seconds) if exports is None else exports,
                              dtype="Int64")})


@pytest.fixture
def truth():
    """Readings every 5 minutes from 10 minutes before T0 to 10 minutes after 8 slots, and the
    true energy of each slot."""
    rng = np.random.default_rng(0)
    seconds = np.arange(-600, 8 * 900 + 601, 300)
    imports = 1_000_000 + np.concatenate([[0], np.cumsum(rng.integers(0, 60, seconds.size - 1))])
    exports = 20_000 + np.concatenate([[0], np.cumsum(rng.integers(0, 30, seconds.size - 1))])
    at = {s: i for i, s in enumerate(seconds)}
    boundaries = [at[900 * k] for k in range(9)]
    return {"frame": readings("A", seconds, imports, exports), "seconds": seconds,
            "imports": imports, "exports": exports,
            "import_wh": np.diff(imports[boundaries]), "export_wh": np.diff(exports[boundaries])}


def measure(frame, **options):
    return energy_per_slot(frame, T0, T0 + timedelta(hours=2), **options)


def counts(result, meter="A"):
    row = result.report.loc[meter]
    return {name: row[name] for name in REPORT_COLUMNS if row[name] and name != "has_export"}


def test_clean_readings_give_the_true_energy(truth):
    result = measure(truth["frame"])
    assert result.meters == ("A",)
    assert result.slots.tolist() == list(range(int(T0.timestamp()) // 900,
                                               int(T0.timestamp()) // 900 + 8))
    assert result.import_wh[0].tolist() == truth["import_wh"].tolist()
    assert result.export_wh[0].tolist() == truth["export_wh"].tolist()
    assert not result.estimated.any() and not result.missing.any()
    assert counts(result) == {"readings": len(truth["seconds"])}
    assert bool(result.report.loc["A", "has_export"])


def test_duplicated_frames_are_dropped_and_counted(truth):
    frame = truth["frame"]
    result = measure(pd.concat([frame, frame.iloc[[3, 5, 5]]], ignore_index=True))
    assert result.import_wh[0].tolist() == truth["import_wh"].tolist()
    assert counts(result) == {"readings": len(frame), "duplicates": 3}


def test_out_of_order_rows_are_sorted_and_counted(truth):
    frame = truth["frame"]
    order = list(range(len(frame)))
    order[6], order[7] = order[7], order[6]
    result = measure(frame.iloc[order])
    assert result.import_wh[0].tolist() == truth["import_wh"].tolist()
    assert counts(result) == {"readings": len(frame), "out_of_order": 1}
    shuffled = measure(frame.sample(frac=1, random_state=1))
    assert shuffled.export_wh[0].tolist() == truth["export_wh"].tolist()
    assert shuffled.report.loc["A", "out_of_order"] > 5


def test_a_gap_is_spread_over_its_slots_and_flagged(truth):
    seconds = truth["seconds"]
    kept = (seconds <= 1500) | (seconds >= 4200)  # nothing between 00:25 and 01:10
    result = measure(truth["frame"][kept])
    imports = result.import_wh[0]
    assert np.flatnonzero(result.estimated[0]).tolist() == [1, 2, 3, 4]
    assert imports[[0, 5, 6, 7]].tolist() == truth["import_wh"][[0, 5, 6, 7]].tolist()
    assert imports[1:5].sum() == truth["import_wh"][1:5].sum()  # nothing lost, nothing made up
    across = truth["imports"][seconds == 4200][0] - truth["imports"][seconds == 1500][0]
    assert abs(imports[2] - across / 3) <= 1 and abs(imports[3] - across / 3) <= 1
    assert counts(result) == {"readings": kept.sum(), "gaps": 1, "estimated_slots": 4}


def test_an_index_reset_starts_a_new_baseline_and_is_flagged(truth):
    seconds, imports = truth["seconds"], truth["imports"].copy()
    at_swap = imports[seconds == 3600][0]
    imports[seconds > 3600] -= at_swap  # meter replaced at 01:00, the new one counts from 0
    frame = readings("A", seconds, imports, truth["exports"])
    result = measure(frame)
    assert result.import_wh[0].tolist() == truth["import_wh"].tolist()
    assert result.export_wh[0].tolist() == truth["export_wh"].tolist()
    assert np.flatnonzero(result.estimated[0]).tolist() == [4]
    assert counts(result) == {"readings": len(frame), "import_resets": 1, "estimated_slots": 1}


def test_a_spurious_fall_adds_no_more_than_the_connection_could_draw(truth):
    seconds, imports = truth["seconds"], truth["imports"].copy()
    imports[seconds == 2700] += 100  # one glitched frame at 00:45, above the next one
    result = measure(readings("A", seconds, imports, truth["exports"]), max_power_w=6000)
    lost = truth["imports"][seconds == 3000][0] - truth["imports"][seconds == 2700][0]
    expected = truth["import_wh"].copy()
    expected[2] += 100
    expected[3] += 6000 * 300 // 3600 - lost  # the fall to 00:50 counts 500 Wh, not the index
    assert result.import_wh[0].tolist() == expected.tolist()
    assert np.flatnonzero(result.estimated[0]).tolist() == [3]
    assert counts(result) == {"readings": len(seconds), "import_resets": 1, "estimated_slots": 1}


def test_a_historic_meter_without_export_index_reports_it(truth):
    frame = readings("A", truth["seconds"], truth["imports"])
    result = measure(frame)
    assert result.import_wh[0].tolist() == truth["import_wh"].tolist()
    assert result.export_wh[0].tolist() == [0] * 8 and not result.missing.any()
    assert not bool(result.report.loc["A", "has_export"])


def test_slots_beyond_the_readings_are_missing_not_zero(truth):
    seconds = truth["seconds"]
    result = measure(truth["frame"][(seconds >= 1000) & (seconds <= 6300)])
    assert np.flatnonzero(result.missing[0]).tolist() == [0, 1, 7]
    assert result.import_wh[0, [0, 1, 7]].tolist() == [0, 0, 0]
    assert result.import_wh[0, 2:7].tolist() == truth["import_wh"][2:7].tolist()
    assert counts(result)["missing_slots"] == 3 and not result.estimated.any()


def test_rows_sharing_a_time_keep_the_last_given_and_incomplete_rows_are_dropped(truth):
    frame = truth["frame"]
    boundary = frame[frame["received_at"] == pd.Timestamp(T0) + pd.Timedelta(seconds=900)]
    before = truth["imports"][truth["seconds"] == 600][0]
    wrong = boundary.assign(import_wh=before)  # a second frame at 00:15 with the 00:10 index
    untimed = boundary.assign(received_at=pd.NaT)
    result = measure(pd.concat([frame, wrong, untimed], ignore_index=True))
    moved = boundary["import_wh"].iloc[0] - before
    expected = truth["import_wh"].copy()
    expected[0] -= moved
    expected[1] += moved
    assert result.import_wh[0].tolist() == expected.tolist()
    assert counts(result) == {"readings": len(frame), "conflicts": 1, "incomplete": 1,
                              "out_of_order": 1}


def test_meters_fix_the_rows_and_an_unknown_meter_is_all_missing(truth):
    frame = truth["frame"]
    other = frame.assign(meter_id="B", import_wh=frame["import_wh"] * 2)
    result = measure(pd.concat([frame, other]), meters=["B", "ghost", "A"])
    assert result.meters == ("B", "ghost", "A")
    assert result.import_wh.shape == (3, 8)
    assert result.import_wh[0].tolist() == (2 * truth["import_wh"]).tolist()
    assert result.import_wh[2].tolist() == truth["import_wh"].tolist()
    assert result.missing[1].all() and result.report.loc["ghost", "readings"] == 0
    assert measure(pd.concat([other, frame])).meters == ("A", "B")

    tidy = result.to_dataframe()
    assert list(tidy.columns) == ["meter_id", "slot", "time", "import_wh", "export_wh",
                                  "estimated", "missing"]
    assert len(tidy) == 24
    last = tidy.iloc[-1]
    assert (last["meter_id"], last["import_wh"], last["time"]) == (
        "A", truth["import_wh"][-1], pd.Timestamp(T0) + timedelta(minutes=105))


@pytest.mark.parametrize("call, message", [
    (lambda f: energy_per_slot(f, datetime(2025, 6, 21), T0 + timedelta(hours=1)), "naive"),
    (lambda f: energy_per_slot(f, T0 + timedelta(minutes=5), T0 + timedelta(hours=1)),
     "not on a 15-minute"),
    (lambda f: energy_per_slot(f, T0, T0), "must be after"),
    (lambda f: energy_per_slot(f.drop(columns="import_wh"), T0, T0 + timedelta(hours=1)),
     r"\['import_wh'\]"),
    (lambda f: energy_per_slot(f.assign(received_at=f["received_at"].dt.tz_localize(None)), T0,
                               T0 + timedelta(hours=1)), "not timezone-aware"),
])
def test_bad_windows_and_tables_are_refused_by_name(truth, call, message):
    with pytest.raises(CommunityError, match=message):
        call(truth["frame"])


def test_recorded_real_telegram_readings_give_energy_per_slot_on_the_meter_clock(tmp_path,
                                                                                  testdata):
    # A real DSMR 5.0 telegram (import 6825 Wh, export 2444 Wh at 2017-01-02 19:20:02 local),
    # then an hour of readings from the same meter drawing 600 W and injecting 180 W.
    text = (testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    first = dsmr.parse_telegram(text).reading()
    assert (first.import_wh, first.export_wh) == (6825, 2444)
    with Recorder(tmp_path / "meter.db") as recorder:
        for minute in range(61):
            reading = replace(first, import_wh=first.import_wh + 10 * minute,
                              export_wh=first.export_wh + 3 * minute,
                              meter_time=first.meter_time + timedelta(minutes=minute))
            recorder.record(reading, text, received_at=reading.meter_time + timedelta(seconds=2))
        frame = recorder.to_dataframe()
    start = datetime(2017, 1, 2, 18, 30, tzinfo=UTC)  # 19:30 in Amsterdam
    result = energy_per_slot(frame, start, start + timedelta(minutes=45), time_column="meter_time")
    assert result.meters == (first.meter_id,)
    assert result.import_wh.tolist() == [[150, 150, 150]]
    assert result.export_wh.tolist() == [[45, 45, 45]]
    assert not result.estimated.any() and not result.missing.any()
    assert result.report.loc[first.meter_id, "readings"] == 61


def test_profiles_recorded_as_indexes_come_back_slot_for_slot(homes):
    simulated = profiles(homes, date(2025, 6, 21), 1, seed=8)
    seconds = np.append(simulated.slots, simulated.slots[-1] + 1) * 900
    rows = []
    for row, home in enumerate(simulated.households):
        rows.append(pd.DataFrame({
            "meter_id": home.name,
            "received_at": pd.to_datetime(seconds, unit="s", utc=True),
            "import_wh": 5_000_000 + np.concatenate([[0], np.cumsum(simulated.import_wh[row])]),
            "export_wh": np.concatenate([[0], np.cumsum(simulated.export_wh[row])])}))
    start = simulated.times[0].to_pydatetime()
    measured = energy_per_slot(pd.concat(rows), start, start + timedelta(days=1),
                               meters=[h.name for h in homes])
    assert np.array_equal(measured.slots, simulated.slots)
    assert np.array_equal(measured.import_wh, simulated.import_wh)
    assert np.array_equal(measured.export_wh, simulated.export_wh)
    assert not measured.estimated.any() and not measured.missing.any()


@st.composite
def monotone_series(draw):
    """Slots, then sorted distinct reading times covering them end to end, and a rising index."""
    slots = draw(st.integers(1, 12))
    inner = draw(st.lists(st.integers(1, slots * 900 - 1), max_size=40, unique=True))
    seconds = sorted({0, slots * 900, *inner})
    steps = draw(st.lists(st.integers(0, 5000), min_size=len(seconds) - 1,
                          max_size=len(seconds) - 1))
    first = draw(st.integers(0, 10**9))
    return slots, seconds, first + np.concatenate([[0], np.cumsum(steps, dtype=np.int64)])


@settings(deadline=None)
@given(monotone_series(), st.randoms(use_true_random=False))
def test_per_slot_energy_sums_to_last_minus_first_index(series, random):
    slots, seconds, index = series
    frame = readings("A", seconds, index.tolist(), index.tolist())
    order = list(range(len(frame)))
    random.shuffle(order)
    result = energy_per_slot(frame.iloc[order], T0, T0 + timedelta(minutes=15 * slots),
                             max_gap=10**6)
    assert result.import_wh.sum() == index[-1] - index[0]
    assert result.export_wh.sum() == index[-1] - index[0]
    assert result.import_wh.min() >= 0
    assert not result.missing.any() and not result.estimated.any()
