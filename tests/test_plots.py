"""The book's figures draw what they are given."""

import numpy as np

from daisee_lab.plots import merit_order


def test_merit_order_draws_both_sides_sorted_and_the_clearing_point():
    figure = merit_order([200, 300], [1, 2], [260, 100], [4, 1], price=250, volume=3)
    (ax,) = figure.axes
    demand, supply = ax.patches[:2]
    assert demand.get_label() == "bids (demand)" and supply.get_label() == "asks (supply)"
    np.testing.assert_array_equal(demand.get_data().values, [300, 200])
    np.testing.assert_array_equal(demand.get_data().edges, [0, 2, 3])
    np.testing.assert_array_equal(supply.get_data().values, [100, 260])
    (point,) = ax.lines[2:]
    assert list(point.get_xdata()) == [3] and list(point.get_ydata()) == [250]


def test_empty_side_and_no_price():
    figure = merit_order([], [], [100], [0], price=-1, volume=0)
    assert not figure.axes[0].patches and not figure.axes[0].lines


def test_energy_day_draws_one_line_per_series():
    import pandas as pd

    from daisee_lab.plots import energy_day

    times = pd.date_range("2025-06-21", periods=4, freq="15min", tz="UTC")
    figure = energy_day(times, {"load": np.array([1, 2, 3, 4]), "pv": np.array([0, 5, 5, 0])},
                        "a day")
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.lines] == ["load", "pv"]
    assert list(ax.lines[1].get_ydata()) == [0, 5, 5, 0] and ax.get_title() == "a day"
