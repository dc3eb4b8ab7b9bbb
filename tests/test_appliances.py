"""The appliance-level household day: seeded, consistent with its own ground truth."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from daisee_lab.appliances import (OCCUPANCY_STATES, ApplianceError, simulate_day,
                                   simulate_days)


@pytest.mark.slow  # simulates days
def test_same_seed_same_day_and_seeds_differ():
    a, b, c = simulate_day(7), simulate_day(7), simulate_day(8)
    pd.testing.assert_series_equal(a.power_va, b.power_va)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.power_va.equals(c.power_va)


def test_power_is_the_sum_of_the_switches():
    day = simulate_day(3)
    events = day.events
    assert events.delta_va.sum() == 0  # everything switched on is switched off by midnight
    # rebuild the load from the ground truth alone: it matches the meter within its noise,
    # except during the fridge's start-up surges (a second or two, a few times an hour)
    level = events.set_index("time").delta_va.groupby(level=0).sum().cumsum()
    load = level.reindex(day.power_va.index, method="ffill").fillna(0)
    residual = day.power_va - load
    standby = residual.median()
    assert 30 <= standby <= 80
    assert (abs(residual - standby) <= 20).mean() > 0.99


def test_people_switch_things_only_while_awake():
    for seed in range(4):
        day = simulate_day(seed)
        assert set(day.occupancy) == set(OCCUPANCY_STATES)
        assert len(day.occupancy) == 96 and day.occupancy.index.tz is not None
        ons = day.events[day.events.human & (day.events.delta_va > 0)]
        state = day.occupancy.reindex(ons.time.dt.floor("15min")).to_numpy()
        assert (state == "awake").mean() > 0.9  # the rest: periods mostly spent asleep or away
        assert not day.events[~day.events.human].appliance.isin(["kettle", "lighting"]).any()


def test_days_of_a_street_and_bad_input():
    street = simulate_days([1, 2, 3], date(2025, 1, 15))
    assert [d.power_va.index[0].date() for d in street] == [date(2025, 1, 15)] * 3
    assert np.diff(street[0].power_va.index.asi8).min() > 0
    with pytest.raises(ApplianceError, match="seed"):
        simulate_day(-1)
    with pytest.raises(ApplianceError, match="day"):
        simulate_day(1, "2025-01-15")
