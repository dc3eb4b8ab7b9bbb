"""Chapter 5's figure draws each key's allocation stacked under the production, with the surplus
between them, labels its axes with units, says what it shows in its alt text, and displays as
an image."""

import numpy as np
import pandas as pd
from IPython.core.formatters import DisplayFormatter

from daisee_lab.plots import Figure, allocation_day

TIMES = pd.date_range("2025-04-20 12:00", periods=3, freq="15min", tz="Europe/Paris")


def test_allocation_day_stacks_each_key_under_the_production():
    production = np.array([500, 300, 0])
    allocated = {"static": np.array([[100, 100, 0], [150, 50, 0]]),
                 "dynamic_default": np.array([[200, 100, 0], [300, 200, 0]])}
    figure = allocation_day(TIMES, allocated, production, ["Alice", "Bob"], "one hour")
    assert isinstance(figure, Figure)
    data, _ = DisplayFormatter().format(figure)
    assert data["image/png"].startswith(b"\x89PNG") and "alt=" in data["text/html"]
    static, default = figure.axes
    assert [static.get_title(), default.get_title()] == ["static", "dynamic_default"]
    assert static.get_ylabel() == "energy (Wh per 15 min)"
    assert default.get_xlabel() == "local time (Europe/Paris)"
    # Alice's band, then Bob's on top of it; the last slot is drawn to its end (4 edges)
    alice, bob = static.collections[:2]
    assert alice.get_paths()[0].vertices[:, 1].max() == 100
    assert bob.get_paths()[0].vertices[:, 1].max() == 250
    line = static.lines[-1]
    assert list(line.get_ydata()) == [500, 300, 0, 0] and line.get_label() == "production"
    assert figure.legends and [t.get_text() for t in figure.legends[0].get_texts()] == [
        "Alice", "Bob", "surplus (to the producers' buyer)", "production"]
    assert "2 panels" in figure.alt and "0.8 kWh that day" in figure.alt
    assert "static: 0.4 kWh allocated, 0.4 kWh surplus" in figure.alt
    assert "dynamic_default: 0.8 kWh allocated, 0.0 kWh surplus" in figure.alt


def test_an_odd_number_of_keys_leaves_the_spare_panel_hidden():
    allocated = {key: np.array([[10, 20, 30]]) for key in ("a", "b", "c")}
    figure = allocation_day(TIMES, allocated, np.array([10, 20, 40]), ["h00"])
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"] and len(figure.axes) == 4
    assert "a: 0.1 kWh allocated, 0.0 kWh surplus" in figure.alt
