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
