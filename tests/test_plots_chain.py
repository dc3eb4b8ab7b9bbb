"""The chain chapters' figures draw what they are given, label both axes with units, say what
they show in their alt text, and display as images."""

import numpy as np
import pandas as pd
import pytest
from IPython.core.formatters import DisplayFormatter

from daisee_lab.plots import (Figure, cost_against_gas_price, curves_read_from_chain,
                              digest_bits, gas_per_transaction, paid_over_day,
                              settlement_capacity, sorting_wall)

TIMES = pd.date_range("2025-06-21 10:00", periods=4, freq="15min", tz="UTC")


def shown_as_an_image(figure):
    assert isinstance(figure, Figure)
    data, _ = DisplayFormatter().format(figure)
    assert data["image/png"].startswith(b"\x89PNG") and "alt=" in data["text/html"]
    for ax in figure.axes:
        if ax.get_label() != "<colorbar>":
            assert ax.get_xlabel() and ax.get_ylabel(), ax
    return figure.axes[0]


def test_gas_per_transaction_one_bar_each_in_order():
    figure = gas_per_transaction(["deploy", "log", "log"], [172_911, 67_480, 33_256])
    ax = shown_as_an_image(figure)
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == [172_911, 67_480, 33_256]
    assert [bar.get_y() for bar in ax.patches] == sorted(bar.get_y() for bar in ax.patches)[::-1]
    assert "log 67,480 gas" in figure.alt and ax.get_xlabel() == "gas used"


def test_digest_bits_marks_the_bits_that_differ():
    first = bytes(32)
    other = bytes([0b1000_0001]) + bytes(31)
    figure = digest_bits({"genuine": first, "tampered": other})
    ax = shown_as_an_image(figure)
    image = ax.images[0].get_array()
    assert image.shape[:2] == (2, 256)
    red = (image[1, :, 0] > 0.8) & (image[1, :, 1] < 0.3)
    assert red.nonzero()[0].tolist() == [0, 7]
    assert "tampered: 2 of 256 bits differ" in figure.alt
    assert [t.get_text() for t in ax.get_yticklabels()] == ["genuine (reference)",
                                                             "tampered (2 bits differ)"]


def test_paid_over_day_draws_running_totals_in_euros():
    figure = paid_over_day(TIMES, [[1_000_000, 0, 500_000, 0], [-2_000_000] * 4], ["a", "b"])
    ax = shown_as_an_image(figure)
    assert list(ax.lines[0].get_ydata()) == [1.0, 1.0, 1.5, 1.5]
    assert ax.lines[1].get_ydata()[-1] == -8.0
    assert "a +1.50 €" in figure.alt and "b -8.00 €" in figure.alt
    assert ax.get_xlabel() == "local time (Europe/Paris)"


def test_sorting_wall_draws_only_the_sorts_that_went_through_and_crosses_the_others():
    figure = sorting_wall([20, 40, 60], [1e6, 4e6, 3e7], [1e5, 2e5, 3e5], [True, True, False],
                          {"a block": 30_000_000, "a transaction": 2**24})
    ax = shown_as_an_image(figure)
    sort, check, failed = ax.lines[:3]
    assert list(sort.get_xdata()) == [20, 40] and list(sort.get_ydata()) == [1.0, 4.0]
    assert list(check.get_xdata()) == [20, 40, 60] and list(failed.get_xdata()) == [60]
    limits = [line.get_ydata()[0] for line in ax.lines[3:]]
    assert limits == pytest.approx([30.0, 16.777216])
    assert "a transaction 16.8 M" in figure.alt


def test_settlement_capacity_marks_where_the_line_meets_each_limit():
    figure = settlement_capacity(32_000, 11_650, {8: 125_000, 40: 498_000},
                                 {"tx cap": 2**24, "block": 60_000_000}, households=6_000)
    ax = shown_as_an_image(figure)
    line = ax.lines[0]
    assert list(line.get_xdata()) == [0, 6_000]
    assert line.get_ydata()[1] == pytest.approx((32_000 + 11_650 * 6_000) / 1e6)
    notes = [text.get_text() for text in ax.texts]
    assert notes == [f"{(2**24 - 32_000) // 11_650:,}", f"{(60_000_000 - 32_000) // 11_650:,}"]
    assert "tx cap (16.8 M gas) at 1,437 households" in figure.alt


def test_cost_against_gas_price_is_log_log_with_the_break_even():
    gwei = np.array([0.01, 1, 100])
    figure = cost_against_gas_price(gwei, {"2,500 €/ETH": gwei * 3.0}, gain=0.75)
    ax = shown_as_an_image(figure)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.lines[-1].get_ydata()[0] == 0.75
    assert "2,500 €/ETH above 0.25 gwei" in figure.alt


def test_curves_read_from_chain_is_a_heat_map_of_meters_by_slot():
    energy = np.array([[0, 10, 20, 30], [100, 0, 0, 0]])
    figure = curves_read_from_chain(TIMES, energy, ["000001", "000002"])
    ax = shown_as_an_image(figure)
    assert ax.collections[0].get_array().reshape(2, 4).tolist() == energy.tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["000001", "000002"]
    assert "the largest user is 000002 with 0.1 kWh" in figure.alt


def test_time_axes_tick_on_local_hours_whatever_the_zone_given():
    times = pd.date_range("2025-06-21", periods=96, freq="15min", tz="Europe/Paris")
    for figure in (paid_over_day(times.tz_convert("UTC"), np.ones((1, 96)), ["a"]),
                   curves_read_from_chain(times.tz_convert("UTC"), np.ones((1, 96)), ["a"])):
        figure.canvas.draw()
        labels = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
        assert "00:00" in labels and "12:00" in labels and "23:00" not in labels, labels
