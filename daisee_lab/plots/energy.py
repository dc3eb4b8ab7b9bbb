"""Energy against time: a day's energy per slot, in local time."""

from __future__ import annotations

import numpy as np

from daisee_lab.plots.figure import Figure, local_hours


def energy_day(times, lines: dict[str, np.ndarray], title: str) -> Figure:
    """Energy per slot (Wh) of several series against local time, one line each; `times`
    are the slots' starts (timezone-aware)."""
    figure = Figure(figsize=(8, 3.5))
    ax = figure.add_subplot()
    for label, values in lines.items():
        ax.step(times, values, where="post", label=label)
    ax.set_ylabel("energy (Wh per 15 min)")
    ax.set_title(title)
    ax.legend(loc="upper left")
    local_hours(ax)
    return figure


def power_day(times, lines: dict[str, np.ndarray], title: str, unit: str = "VA") -> Figure:
    """Power (in `unit`, e.g. VA or W) of several series against local time, one filled line
    each; `times` are the moments of the values (timezone-aware), e.g. a meter's readings."""
    figure = Figure(figsize=(8, 3.5))
    ax = figure.add_subplot()
    for label, values in lines.items():
        (line,) = ax.plot(times, values, linewidth=1.2, label=label)
        ax.fill_between(times, values, alpha=0.2, color=line.get_color(), linewidth=0)
    ax.set_ylabel(f"power ({unit})")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(loc="upper left")
    local_hours(ax)
    return figure
