"""What a meter's curve gives away: the switches a detector reads in it, the occupancy it
infers, the same curve at coarser resolutions, and how many of one home's switches survive a
coarser curve or a sum of homes (:mod:`daisee_lab.privacy`)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from daisee_lab.plots.figure import Figure, local_hours
from daisee_lab.units import PARIS

STATE_COLOURS = {"asleep": "#3b4cc0", "awake": "#f2a900", "away": "#bdbdbd"}


def _paris(series: pd.Series) -> pd.Series:
    return series.set_axis(pd.DatetimeIndex(series.index).tz_convert(PARIS))


def switches(power: pd.Series, detected: pd.DataFrame, truth: pd.DataFrame | None = None,
             title: str = "the switches read from the curve") -> Figure:
    """A stretch of apparent power (VA) against local time with the `detected` events
    (:func:`daisee_lab.privacy.detect_events`) marked on the curve, ▲ switch-on, ▼ switch-off;
    with `truth` (``time`` column), the true switches as grey ticks under the curve."""
    power = _paris(power)
    figure = Figure(figsize=(8.5, 3.8))
    ax = figure.add_subplot()
    ax.step(power.index, power.to_numpy(), where="post", color="tab:blue", linewidth=0.9,
            label="apparent power")
    ons, offs = detected[detected.delta_va > 0], detected[detected.delta_va < 0]
    for events, marker, colour, label in ((ons, "^", "tab:green", "detected switch-on"),
                                          (offs, "v", "tab:red", "detected switch-off")):
        ax.plot(pd.DatetimeIndex(events.time).tz_convert(PARIS), events.after_va, marker,
                color=colour, markersize=7, linestyle="none", label=label)
    if truth is not None and len(truth):
        top = float(power.max()) or 1.0
        ax.plot(pd.DatetimeIndex(truth.time).tz_convert(PARIS), np.full(len(truth), -0.04 * top),
                "|", color="grey", markersize=10, linestyle="none", label="true switch")
        ax.set_ylim(-0.08 * top, top * 1.12)
    else:
        ax.set_ylim(bottom=0)
    ax.set_ylabel("apparent power (VA)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", ncol=2)
    local_hours(ax)
    figure.alt = (f"{title}: apparent power in VA against local time, "
                  f"{len(ons)} switch-ons and {len(offs)} switch-offs detected"
                  + (f", {len(truth)} true switches" if truth is not None else ""))
    return figure


def _states(ax, occupancy: pd.Series, row: int) -> None:
    occupancy = _paris(occupancy)
    width = (occupancy.index[1] - occupancy.index[0]) if len(occupancy) > 1 else pd.Timedelta(
        "15min")
    for state, colour in STATE_COLOURS.items():
        starts = occupancy.index[occupancy.to_numpy() == state]
        ax.broken_barh([(t, width) for t in starts], (row - 0.4, 0.8), color=colour)


def occupancy_day(power: pd.Series, truth: pd.Series, inferred: pd.Series,
                  title: str = "who is home, read from the curve") -> Figure:
    """A day's apparent power (VA) above two bands of occupancy per period, the true one and
    the one inferred from the switches (:func:`daisee_lab.privacy.infer_occupancy`); the
    periods where they agree are counted in the alt text."""
    figure = Figure(figsize=(8.5, 4.6))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    power = _paris(power)
    top.plot(power.index, power.to_numpy(), color="tab:blue", linewidth=0.6)
    top.set_ylim(bottom=0)
    top.set_ylabel("apparent power (VA)")
    top.set_title(title)
    _states(bottom, truth, 1)
    _states(bottom, inferred, 0)
    bottom.set_yticks([1, 0], ["true", "inferred"])
    bottom.set_ylim(-0.6, 1.6)
    bottom.set_ylabel("occupancy")
    bottom.legend(handles=[Patch(color=c, label=s) for s, c in STATE_COLOURS.items()],
                  loc="upper center", bbox_to_anchor=(0.5, -0.55), ncol=3, fontsize=8,
                  frameon=False)
    local_hours(bottom)
    agree = (truth.to_numpy() == inferred.reindex(truth.index).to_numpy()).mean()
    figure.alt = (f"{title}: apparent power in VA over the day, above the true and the "
                  f"inferred occupancy (asleep, awake, away) per period; they agree in "
                  f"{agree:.0%} of the periods")
    return figure


def resolutions(curves: Mapping[str, pd.Series],
                title: str = "one home's curve at four resolutions") -> Figure:
    """Several versions of one curve (label -> mean power per bin, VA), e.g. a home's evening
    at 1 s, 1 min, 15 min and 1 h, drawn as steps one over the other, finest first."""
    figure = Figure(figsize=(8.5, 3.8))
    ax = figure.add_subplot()
    widths = np.linspace(0.6, 2.4, len(curves))
    for (label, series), width in zip(curves.items(), widths):
        series = _paris(series)
        step = series.index[1] - series.index[0] if len(series) > 1 else pd.Timedelta("1s")
        # the last bin lasts as long as the others: draw it to its end
        times = series.index.append(pd.DatetimeIndex([series.index[-1] + step]))
        values = np.append(series.to_numpy(), series.to_numpy()[-1])
        ax.step(times, values, where="post", linewidth=width, label=label,
                alpha=0.55 if width == widths[0] else 1.0)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("mean apparent power (VA)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", title="one value every", title_fontsize=8)
    local_hours(ax)
    figure.alt = (f"{title}: mean apparent power in VA against local time, "
                  + ", ".join(f"{label} ({len(s)} values)" for label, s in curves.items()))
    return figure


def survival(table: pd.DataFrame, chance: Mapping[str, float] | None = None,
             title: str = "how many of one home's switches can still be seen") -> Figure:
    """The recall (and precision) of one home's switches from
    :func:`daisee_lab.privacy.survival_table`: left, in its own curve at each resolution, with
    the recall that chance alone gives (`chance`: resolution -> recall, e.g. measured on
    another home's curve) as black ticks; right, in the sum of n homes, one line per
    resolution of the sum."""
    figure = Figure(figsize=(9.5, 3.9))
    left, right = figure.subplots(1, 2, width_ratios=(1, 1.3))
    own = table[table.study == "resolution"]
    x = np.arange(len(own))
    left.bar(x - 0.2, own.recall * 100, 0.4, label="recall: its switches seen")
    left.bar(x + 0.2, own.precision * 100, 0.4, label="precision: steps seen that are its")
    if chance:
        left.plot(x - 0.2, [chance.get(r, np.nan) * 100 for r in own.resolution], "_",
                  color="black", markersize=16, markeredgewidth=2, label="recall by chance")
    left.set_xticks(x, list(own.resolution))
    left.set_xlabel("resolution of the home's own curve")
    left.set_ylabel("% of switches")
    left.set_ylim(0, 140)  # room for the legend above the bars
    left.set_yticks(range(0, 101, 20))
    left.legend(fontsize=7, loc="upper right")
    summed = table[table.study == "households"]
    for rule, rows in summed.groupby("resolution", sort=False):
        (line,) = right.plot(rows.households, rows.recall * 100, "o-",
                             label=f"recall, sum every {rule}")
        right.plot(rows.households, rows.precision * 100, "s--", color=line.get_color(),
                   alpha=0.6, label=f"precision, sum every {rule}")
    right.set_xticks(sorted(set(summed.households)))
    right.set_xlabel("homes in the sum")
    right.set_ylabel("% of switches")
    right.set_ylim(0, 105)
    right.legend(fontsize=7, loc="upper right")
    figure.suptitle(title)
    parts = [f"{r} {v:.0%}" for r, v in zip(own.resolution, own.recall)]
    sums = [f"{n} homes every {r} {v:.0%}" for r, n, v in
            zip(summed.resolution, summed.households, summed.recall)]
    figure.alt = (f"{title}: recall in the home's own curve by resolution, "
                  + ", ".join(parts) + "; in sums of homes, " + ", ".join(sums))
    return figure


__all__ = ["occupancy_day", "resolutions", "survival", "switches"]
