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


def test_a_figure_displays_as_an_image_with_alt_text_without_pyplot():
    import pandas as pd
    from IPython.core.formatters import DisplayFormatter

    from daisee_lab.plots import energy_day

    times = pd.date_range("2025-06-21 10:00", periods=4, freq="15min", tz="Europe/Paris")
    figure = energy_day(times, {"load": np.array([1, 2, 3, 4])}, "a day")
    data, _ = DisplayFormatter().format(figure)
    assert data["image/png"].startswith(b"\x89PNG")
    assert 'alt="a day: energy (Wh per 15 min) against local time (Europe/Paris) (load)"' \
        in data["text/html"]
    figure.alt = "one household's load"
    assert 'alt="one household&#x27;s load"' in figure._repr_html_()


def test_time_axes_are_in_local_time(tmp_path):
    import pandas as pd

    from daisee_lab.plots import energy_day

    times = pd.date_range("2025-06-21 10:00", periods=8, freq="15min", tz="UTC")
    figure = energy_day(times, {"load": np.arange(8)}, "noon")
    figure.savefig(tmp_path / "noon.png")  # a plain script saves it
    ax = figure.axes[0]
    figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "12:00" in labels and "10:00" not in labels  # 10:00 UTC is noon in Paris in June
    assert (tmp_path / "noon.png").read_bytes().startswith(b"\x89PNG")


def test_power_day_draws_each_series_in_its_unit_on_local_hours():
    import pandas as pd

    from daisee_lab.plots import power_day

    times = pd.date_range("2025-06-21 10:00", periods=3, freq="1min", tz="UTC")
    figure = power_day(times, {"drawn": np.array([300, 0, 0]),
                               "injected": np.array([0, 1500, 2000])},
                       "a sunny noon")
    (ax,) = figure.axes
    assert [line.get_label() for line in ax.lines] == ["drawn", "injected"]
    assert list(ax.lines[1].get_ydata()) == [0, 1500, 2000]
    assert ax.get_ylabel() == "power (VA)" and "local time" in ax.get_xlabel()
    assert len(ax.collections) == 2  # each area filled
    figure.canvas.draw()
    assert "12:00" in [t.get_text() for t in ax.get_xticklabels()]
    assert power_day(times, {"load": np.ones(3)}, "t", unit="W").axes[0].get_ylabel() == "power (W)"


def test_bills_by_method_draws_one_bar_per_household_and_method():
    import pandas as pd

    from daisee_lab.plots import bills_by_method

    bills = pd.DataFrame({"none": [4.0, -1.0], "mmr": [3.5, -2.0], "sdr": [3.0, -2.5]},
                         index=pd.Index(["h00", "h01"], name="household"))
    figure = bills_by_method(bills, "a week's bills")
    (ax,) = figure.axes
    assert ax.get_legend_handles_labels()[1] == ["none", "mmr", "sdr"]
    heights = [bar.get_height() for container in ax.containers for bar in container]
    assert heights == [4.0, -1.0, 3.5, -2.0, 3.0, -2.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["h00", "h01"]
    assert ax.get_xlabel() == "household" and "€" in ax.get_ylabel()


def test_slot_prices_draws_each_price_and_the_grid_prices():
    import pandas as pd

    from daisee_lab.plots import slot_prices

    times = pd.date_range("2025-06-21", periods=3, freq="15min", tz="Europe/Paris")
    figure = slot_prices(times, {"buyers pay": np.array([194_000, 150_000, 117_000])}, "prices",
                         grid_buy=194_000, grid_sell=40_000)
    (ax,) = figure.axes
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["buyers pay", "grid buy price λb", "grid sell price λs"]
    assert list(ax.lines[0].get_ydata()) == [194_000, 150_000, 117_000]
    assert list(ax.lines[2].get_ydata()) == [40_000, 40_000]
    assert ax.get_ylabel() == "price (µ€/kWh)" and "local time" in ax.get_xlabel()


def test_rule_prices_marks_both_sides_of_each_rule_and_the_walrasian_interval():
    from daisee_lab.plots import rule_prices

    figure = rule_prices({"midpoint": (250, 250), "mcafee": (250, 230)}, "rules",
                         interval=(250, 250))
    (ax,) = figure.axes
    buyers, sellers = [line for line in ax.lines
                       if line.get_label() in ("buyers pay", "sellers get")]
    assert list(buyers.get_xdata()) == [250, 250] and list(sellers.get_xdata()) == [250, 230]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["midpoint", "mcafee"]
    assert "Walrasian interval [250, 250]" in ax.get_legend_handles_labels()[1]
    wide = rule_prices({"midpoint": (5, 5)}, "rules", interval=(4, 6)).axes[0]
    assert wide.patches[0].get_label() == "Walrasian interval"
    assert ax.get_xlabel() == "price (µ€/kWh)"


def test_a_day_given_in_utc_ticks_on_round_local_hours():
    import pandas as pd

    from daisee_lab.plots import energy_day

    times = pd.date_range("2025-06-20 22:00", periods=96, freq="15min", tz="UTC")  # a Paris day
    figure = energy_day(times, {"load": np.arange(96)}, "a day")
    figure.canvas.draw()
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert labels and all(label.endswith(":00") for label in labels)
    assert {int(label[:2]) % 3 for label in labels} == {0}, labels  # 00:00, 03:00... not 23:00
