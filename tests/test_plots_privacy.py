"""Chapter 12's figures draw what they are given, label their axes with units, say what they
show in their alt text, and display as images."""

import numpy as np
import pandas as pd
from IPython.core.formatters import DisplayFormatter

from daisee_lab.plots import occupancy_day, resolutions, survival, switches

from test_plots_chain import shown_as_an_image

START = pd.Timestamp("2025-03-12 07:00", tz="Europe/Paris")


def power(levels, seconds=60):
    values = np.repeat(np.asarray(levels, dtype=float), seconds)
    return pd.Series(values, index=pd.date_range(START, periods=values.size, freq="1s"))


def test_switches_marks_ons_and_offs_where_the_detector_put_them():
    detected = pd.DataFrame({"time": [START + pd.Timedelta("60s"), START + pd.Timedelta("120s")],
                             "delta_va": [2000.0, -2000.0], "before_va": [100.0, 2100.0],
                             "after_va": [2100.0, 100.0]})
    truth = detected[["time", "delta_va"]]
    figure = switches(power([100, 2100, 100]), detected, truth, "a kettle")
    ax = shown_as_an_image(figure)
    on, off = ax.lines[1], ax.lines[2]
    assert list(on.get_ydata()) == [2100.0] and list(off.get_ydata()) == [100.0]
    assert ax.get_ylabel() == "apparent power (VA)"
    assert "1 switch-ons and 1 switch-offs detected, 2 true switches" in figure.alt


def test_occupancy_day_shows_both_bands_and_counts_agreement():
    index = pd.date_range(START, periods=4, freq="15min")
    truth = pd.Series(["asleep", "awake", "awake", "away"], index=index)
    inferred = pd.Series(["asleep", "asleep", "awake", "away"], index=index)
    figure = occupancy_day(power([100, 300], 1800), truth, inferred)
    data, _ = DisplayFormatter().format(figure)
    assert data["image/png"].startswith(b"\x89PNG") and "alt=" in data["text/html"]
    curve, bands = figure.axes  # one time axis, shared, labelled under the bands
    assert curve.get_ylabel() == "apparent power (VA)" and bands.get_ylabel() == "occupancy"
    assert bands.get_xlabel() == "local time (Europe/Paris)"
    assert [t.get_text() for t in bands.get_yticklabels()] == ["true", "inferred"]
    assert "agree in 75% of the periods" in figure.alt


def test_resolutions_draws_each_curve_to_the_end_of_its_last_bin():
    fine = power([100, 400], 1800)
    hourly = pd.Series([250.0], index=[START])
    figure = resolutions({"1s": fine, "1h": hourly})
    ax = shown_as_an_image(figure)
    assert list(ax.lines[1].get_ydata()) == [250.0, 250.0]
    assert len(ax.lines[0].get_xdata()) == fine.size + 1
    assert "1s (3600 values), 1h (1 values)" in figure.alt


def test_survival_plots_recall_by_resolution_and_by_households():
    table = pd.DataFrame({
        "study": ["resolution", "resolution", "households", "households"],
        "resolution": ["1s", "15min", "1s", "1s"], "households": [1, 1, 1, 5],
        "recall": [1.0, 0.4, 1.0, 0.9], "precision": [1.0, 0.7, 1.0, 0.2]})
    figure = survival(table, {"1s": 0.0, "15min": 0.2})
    left = shown_as_an_image(figure)
    right = figure.axes[1]
    assert [bar.get_height() for bar in left.patches[:2]] == [100.0, 40.0]
    assert list(left.lines[0].get_ydata()) == [0.0, 20.0]
    assert list(right.lines[0].get_ydata()) == [100.0, 90.0]
    assert "1s 100%, 15min 40%" in figure.alt and "5 homes every 1s 90%" in figure.alt
