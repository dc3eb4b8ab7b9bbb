"""Collective self-consumption: who gets what each slot under each allocation key
(:func:`daisee_lab.settlement.allocate`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from daisee_lab.plots.figure import Figure, local_hours
from daisee_lab.units import PARIS


def allocation_day(times, allocated: Mapping[str, np.ndarray], production, names: Sequence[str],
                   title: str = "who gets the street's production, by key") -> Figure:
    """One panel per key (``allocated``: key -> (consumers, slots) Wh, e.g. an
    :class:`~daisee_lab.settlement.Allocation`'s ``allocated_wh``): each consumer's allocated
    energy stacked per slot, the operation's ``production`` (slots,) Wh as a black line over it,
    and the gap between them, the surplus sold to the producers' buyer, hatched. ``times``:
    the slots' starts (timezone-aware); ``names``: the consumers. Panels share both axes."""
    times = pd.DatetimeIndex(times).tz_convert(PARIS)
    production = np.asarray(production, dtype=float)
    step = times[1] - times[0] if len(times) > 1 else pd.Timedelta("15min")
    edges = times.append(pd.DatetimeIndex([times[-1] + step]))  # draw the last slot to its end

    def extended(values):
        return np.append(values, values[-1])

    rows = (len(allocated) + 1) // 2
    figure = Figure(figsize=(9, 2.6 * rows + 1.2))
    axes = figure.subplots(rows, 2 if len(allocated) > 1 else 1, sharex=True, sharey=True,
                           squeeze=False).ravel()
    colours = [f"C{i % 10}" for i in range(len(names))]
    summary = []
    for ax, (key, wh) in zip(axes, allocated.items()):
        wh = np.asarray(wh, dtype=float)
        ax.stackplot(edges, [extended(row) for row in wh], colors=colours, step="post",
                     labels=[str(name) for name in names], linewidth=0)
        top = wh.sum(axis=0)
        ax.fill_between(edges, extended(top), extended(np.maximum(production, top)), step="post",
                        facecolor="none", edgecolor="grey", hatch="///", linewidth=0,
                        label="surplus (to the producers' buyer)")
        ax.step(edges, extended(production), where="post", color="black", linewidth=1.2,
                label="production")
        ax.set_title(key, fontsize="medium")
        ax.set_ylabel("energy (Wh per 15 min)")
        local_hours(ax)
        summary.append(f"{key}: {top.sum() / 1000:.1f} kWh allocated, "
                       f"{(production.sum() - top.sum()) / 1000:.1f} kWh surplus")
    for ax in axes[len(allocated):]:
        ax.set_visible(False)
    for ax in axes[:-2] if len(allocated) > 2 else ():
        ax.set_xlabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6),
                  fontsize="small", frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.08 if len(labels) > 6 else 0.05, 1, 1))
    figure.alt = (f"{title}: {len(allocated)} panels, each consumer's allocated energy stacked "
                  f"in Wh per 15 minutes against local time, under the production line "
                  f"({production.sum() / 1000:.1f} kWh that day); " + "; ".join(summary))
    return figure


__all__ = ["allocation_day"]
