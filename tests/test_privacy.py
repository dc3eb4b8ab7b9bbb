"""What a curve reveals: the event detector, occupancy, resolution and aggregation, scored on
simulated days whose appliances are known, and run on a real TIC capture."""

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from conftest import TESTDATA

from daisee_lab import privacy as pv
from daisee_lab.appliances import simulate_day, simulate_days
from daisee_lab.tic import PARIS, decode_frames

CAPTURE = TESTDATA / "tic" / "pyteleinfo_captured_frames.bin"
SEEDS = range(5)  # deterministic days: the bounds below hold for these, never by luck


def steps(levels, seconds=60, start="2025-03-12 12:00"):
    """A clean 1 s series holding each level for `seconds`."""
    values = np.repeat(np.asarray(levels, dtype=float), seconds)
    index = pd.date_range(pd.Timestamp(start, tz=PARIS), periods=values.size, freq="1s")
    return pd.Series(values, index=index)


def test_steps_become_events_with_their_size_and_time():
    events = pv.detect_events(steps([100, 2100, 2100, 150, 150]))
    assert events.delta_va.round().tolist() == [2000, -1950]
    assert [t.strftime("%H:%M:%S") for t in events.time] == ["12:01:00", "12:03:00"]
    assert events.before_va.tolist() == [100, 2100]


def test_transients_and_small_drifts_are_not_events():
    power = steps([100, 100, 100])
    power.iloc[60:62] = 900  # a 2 s start-up surge: shorter than the dwell
    power.iloc[120:] += 20  # a drift below the threshold
    assert pv.detect_events(power).empty
    assert len(pv.detect_events(power, min_dwell_s=1)) == 2  # the surge, if allowed to dwell


@pytest.mark.parametrize("seed", SEEDS)
def test_detector_precision_and_recall_on_known_days(seed):
    day = simulate_day(seed)
    score = pv.match_events(pv.detect_events(day.power_va), pv.detectable(day.events))
    assert score.true_positives > 80
    assert score.precision >= 0.95 and score.recall >= 0.95, score


def test_occupancy_is_read_from_the_events():
    accuracy = []
    for seed in SEEDS:
        day = simulate_day(seed)
        start = day.occupancy.index[0]
        inferred = pv.infer_occupancy(pv.detect_events(day.power_va), start,
                                      start + pd.Timedelta("1D"))
        assert inferred.index.equals(day.occupancy.index)
        accuracy.append((inferred.to_numpy() == day.occupancy.to_numpy()).mean())
    assert min(accuracy) >= 0.85, accuracy


def test_a_fridge_is_not_a_person():
    day = simulate_day(2)
    events = pv.detect_events(day.power_va)
    [(low, high)] = pv.cyclic_sizes(events)
    fridge = day.events[day.events.appliance == "fridge"].delta_va.abs().iloc[0]
    assert low <= fridge <= high
    night = pv.human_events(events).time.dt.hour.between(1, 5)
    assert not night.any()  # at night only the fridge switches: nobody is about


def test_resample_holds_each_sample_and_aggregate_sums():
    start = pd.Timestamp("2025-03-12 12:00", tz=PARIS)
    power = pd.Series([100.0, 400.0, 400.0], index=start + pd.to_timedelta([0, 2, 3], unit="s"))
    assert pv.resample(power, "1s").tolist() == [100, 100, 400, 400]
    assert pv.resample(power, "1min").tolist() == [250]  # 100 VA for 2 s, 400 VA for 2 s
    day = simulate_day(1)
    fine = pv.resample(day.power_va, "1s")
    hourly = pv.resample(day.power_va, "1h")
    assert len(hourly) == 24 and math.isclose(hourly.iloc[3], fine.iloc[3 * 3600 - 1:4 * 3600 - 1]
                                              .mean())
    a, b = simulate_days([1, 2])
    total = pv.aggregate([a.power_va, b.power_va])
    when = total.index[5000]
    assert total[when] == fine[when] + pv.resample(b.power_va, "1s")[when]
    with pytest.raises(pv.PrivacyError, match="1 s"):
        pv.resample(power, "100ms")


def test_coarser_and_larger_sums_hide_events():
    days = simulate_days(range(5))
    table = pv.survival_table(days, households=(1, 5), summed_at=("15min",))
    recall = table.set_index(["study", "resolution", "households"]).recall
    assert recall["resolution", "1s", 1] >= 0.95
    assert recall["resolution", "1h", 1] < recall["resolution", "15min", 1] < 0.8
    assert recall["households", "15min", 5] < recall["households", "15min", 1]


def test_real_capture_a_steady_load():
    """pyteleinfo's capture: ten historic-mode frames, PAPP 2840-2860 VA; no clock in this
    mode, so the frames are placed 1.5 s apart. Two steady levels, 15 VA apart: a drift."""
    frames = decode_frames(CAPTURE.read_bytes())
    assert len(frames) == 10
    power = pv.power_from_readings([f.reading() for f in frames],
                                   datetime(2025, 3, 12, 8, tzinfo=PARIS))
    assert power.between(2840, 2860).all() and len(power) == 10
    assert pv.detect_events(power).empty  # a 2.85 kVA load that drifts: no switch
    assert pv.steady_states(power).power_va.round().tolist() == [2842, 2855]


def test_bad_input_is_named():
    naive = pd.Series([1.0, 2.0], index=pd.date_range("2025-01-01", periods=2, freq="1s"))
    with pytest.raises(pv.PrivacyError, match="timezone-aware"):
        pv.detect_events(naive)
    with pytest.raises(pv.PrivacyError, match="non-negative"):
        pv.detect_events(steps([1, -1]))
    with pytest.raises(pv.PrivacyError, match="as many"):
        pv.power_series([1, 2, 3], [0, 1])
    with pytest.raises(pv.PrivacyError, match="threshold_va"):
        pv.detect_events(steps([1]), threshold_va=float("nan"))
    with pytest.raises(pv.PrivacyError, match="start"):
        pv.power_from_readings([f.reading() for f in decode_frames(CAPTURE.read_bytes())])
    as_arrays = pv.power_series([5, 6], [1_700_000_000, 1_700_000_001])
    assert as_arrays.index.tz is not None and as_arrays.tolist() == [5.0, 6.0]


def test_bad_values_durations_and_event_frames_are_named():
    words = pd.Series("a lot", index=steps([1]).index)
    with pytest.raises(pv.PrivacyError, match="number of VA"):
        pv.detect_events(words)
    with pytest.raises(pv.PrivacyError, match="non-negative"):
        pv.detect_events(steps([1, float("inf")]))
    with pytest.raises(pv.PrivacyError, match="rule.*'banana'"):
        pv.resample(steps([1]), "banana")
    events = pv.detect_events(steps([100, 2100, 100]))
    start = events.time.iloc[0].floor("h")
    with pytest.raises(pv.PrivacyError, match="period.*'xx'"):
        pv.infer_occupancy(events, start, start + pd.Timedelta("1h"), period="xx")
    with pytest.raises(pv.PrivacyError, match="linger"):
        pv.infer_occupancy(events, start, start + pd.Timedelta("1h"), linger="soon")
    no_sizes = pd.DataFrame({"time": events.time})
    with pytest.raises(pv.PrivacyError, match="events needs the columns time and delta_va"):
        pv.infer_occupancy(no_sizes, start, start + pd.Timedelta("1h"))
    with pytest.raises(pv.PrivacyError, match="truth needs the columns time and delta_va"):
        pv.event_survival(no_sizes, steps([1]))
