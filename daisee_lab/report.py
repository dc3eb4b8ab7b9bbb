"""The report folder of ``daisee-lab run``: CSV tables, PNG plots and a static ``index.html``.

:func:`write_report` writes, next to the run's ``readings.sqlite`` and ``run.json``:

``bills.csv``
    One row per household: meter id, mode, phases, import and export (Wh, from its readings),
    the bill from the kernel and from the chain (on chain only), the baseline bill without a
    community and the savings (µ€, positive = paid).
``slots.csv``
    One row per slot: local time, the community's demand and surplus, energy traded inside and
    with the grid (Wh), the grid's prices and the buy and sell prices (µ€/kWh, floored for
    display), the grid bill and the rounding account (µ€), and the grid bill without a
    community.
``gas.csv``
    Gas per contract and function: calls, min, mean, max, total (on chain only).
``households.png``, ``community.png``, ``prices.png``, ``bills.png``
    Each household's load and PV next to what its meter counted; the community's demand,
    surplus, grid import and export; the prices per slot against the grid's; the bills against
    the baseline.
``index.html``
    One page showing all of the above with relative links: copy the folder anywhere. Off chain
    (collective self-consumption), it says so and why no chain is needed (:data:`OFF_CHAIN`).
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure

from daisee_lab import plots
from daisee_lab.units import PARIS, SLOT_SECONDS

__all__ = ["FIGURES", "OFF_CHAIN", "Report", "bills_figure", "community_figure",
           "households_figure", "page", "prices_figure", "write_report"]

if TYPE_CHECKING:
    from daisee_lab import community, settlement

FIGURES = ("households.png", "community.png", "prices.png", "bills.png")
_TABLES = ("bills.csv", "slots.csv", "gas.csv")
# Why a collective self-consumption day needs no chain (docs/collective-self-consumption.md).
OFF_CHAIN = (
    "This method settles off chain, and needs no chain: in a French collective "
    "self-consumption operation (autoconsommation collective, Code de l'énergie L315-2 and "
    "following), the allocation is a deterministic function of the grid operator's certified "
    "meter curves, computed once by the party the law names (Enedis, with the key the "
    "operation's legal entity, the PMO, gave it). What the operation needs besides, the legal "
    "entity, its contract with Enedis and the suppliers' billing of each consumer's complement, "
    "are not things a chain provides. So the kernel's settlement is the settlement: there are "
    "no contracts, no transactions and no gas. The daisee-lab documentation's page "
    "'Collective self-consumption (France)' gives the rules and their sources.")


@dataclass(frozen=True, eq=False)
class Report:
    """What a run produced. `meters` has one row per household; `bills`, `slots` and `gas` are
    the tables written as CSV (`gas` is None off chain); `energy` is what the recorder's
    readings gave per slot; `kernel` the kernel's result (a
    :class:`~daisee_lab.settlement.Settlement`, or a :class:`~daisee_lab.settlement.Clearing`
    for the auction) and `baseline` the settlement without a community. `contracts` gives the
    deployed contracts' addresses by name (none off chain), `files` each written file's path by
    name, `timings` each stage's seconds and `figures` what was measured."""

    out: Path
    method: str
    day: date
    meters: pd.DataFrame
    energy: community.SlotEnergy
    kernel: settlement.Settlement | settlement.Clearing
    baseline: settlement.Settlement
    bills: pd.DataFrame
    slots: pd.DataFrame
    gas: pd.DataFrame | None
    contracts: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def on_chain(self) -> bool:
        """Whether the day was settled on chain too (:data:`daisee_lab.run.CHAIN_METHODS`): it
        then has a gas table."""
        return self.gas is not None

    @property
    def index(self) -> Path:
        """The report's page, ``index.html``."""
        return self.files["index.html"]

    def summary(self) -> str:
        """The bills as a text table (€), the totals, and where the report is."""
        bills = self.bills.set_index("household")
        table = pd.DataFrame({
            "meter": bills.meter_id, "mode": bills["mode"],
            "import kWh": bills.import_wh / 1000, "export kWh": bills.export_wh / 1000,
            "baseline €": bills.baseline_ueur / 1e6, f"{self.method} €": bills.kernel_ueur / 1e6,
            "savings €": bills.savings_ueur / 1e6})
        total = pd.DataFrame([{"meter": "", "mode": "", **table.sum(numeric_only=True)}],
                             index=["total"])
        table = pd.concat([table, total])
        slots = len(self.slots)
        settled = ("kernel and chain agree on every household and slot" if self.on_chain else
                   "settled off chain, as a collective self-consumption operation is")
        lines = [f"{self.day} · {len(self.bills)} households · {slots} slots · {self.method}\n"
                 f"{self.figures['frames']:,} frames decoded and recorded · every meter counted "
                 f"its profile's energy, to the Wh · {settled}",
                 table.to_string(float_format=lambda v: f"{v:,.2f}"),
                 "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
                 + f"; {sum(self.timings.values()):.1f} s in all",
                 f"report: {self.index}\nopen it: {_opener()} {self.index}  (or, in a browser, "
                 f"{self.index.resolve().as_uri()})"]
        return "\n\n".join(lines)


def _opener() -> str:
    """The command that opens a file in its default application here."""
    return {"darwin": "open", "win32": "start"}.get(sys.platform, "xdg-open")


def write_report(report: Report, load_wh: np.ndarray, pv_wh: np.ndarray,
                 tick: Callable[[], object] = lambda: None) -> dict[str, Path]:
    """Write the tables, plots and page of `report` into ``report.out``; `load_wh` and `pv_wh`
    are the households' load and PV over the run's slots (households x slots, from their
    profiles). `tick` is called after each file. Returns each file's path by name
    (``readings.sqlite`` and ``run.json`` included)."""
    out = report.out
    files = {}
    for name, table in zip(_TABLES, (report.bills, report.slots, report.gas), strict=True):
        if table is not None:  # no gas off chain
            files[name] = out / name
            table.to_csv(files[name], index=False)
        tick()
    times = pd.to_datetime(report.slots.slot * SLOT_SECONDS, unit="s", utc=True).dt.tz_convert(
        PARIS)
    figures = {"households.png": households_figure(report, load_wh, pv_wh, times),
               "community.png": community_figure(report, times),
               "prices.png": prices_figure(report, times),
               "bills.png": bills_figure(report)}
    for name, figure in figures.items():
        files[name] = out / name
        figure.savefig(files[name], dpi=100)
        tick()
    files["index.html"] = out / "index.html"
    files["index.html"].write_text(page(report), encoding="utf-8")
    tick()
    files["readings.sqlite"] = out / "readings.sqlite"
    files["run.json"] = out / "run.json"
    return files


def households_figure(report: Report, load_wh: np.ndarray, pv_wh: np.ndarray,
                      times) -> Figure:
    """One panel per household: its load and PV (the profile) and the import and export its
    meter counted (from the recorded readings), Wh per slot."""
    n = len(report.bills)
    columns = 2 if n <= 8 else 4
    rows = -(-n // columns)
    figure = Figure(figsize=(5 * columns, 1.9 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).ravel()
    series = (("load", load_wh, "tab:blue", "-"), ("PV", pv_wh, "tab:orange", "-"),
              ("meter import", report.energy.import_wh, "black", ":"),
              ("meter export", report.energy.export_wh, "tab:green", ":"))
    for i, ax in enumerate(axes):
        if i >= n:
            ax.set_visible(False)
            continue
        for label, values, colour, style in series:
            ax.step(times, values[i], where="post", color=colour, linestyle=style,
                    linewidth=1.2, label=label)
        meter = report.meters.iloc[i]
        ax.set_title(f"{meter.household}: {meter['mode']}, {meter.phases} phase"
                     f"{'s' if meter.phases > 1 else ''}"
                     f"{f', {meter.pv_kwp:g} kWp' if meter.pv_kwp else ''}"
                     f"{f', {meter.battery_kwh:g} kWh battery' if meter.battery_kwh else ''}",
                     fontsize=9)
        _hours(ax)
    axes[0].legend(loc="upper left", fontsize=7)
    figure.supxlabel("local time")
    figure.supylabel("Wh per 15 min")
    return figure


def community_figure(report: Report, times) -> Figure:
    """The community's demand and surplus, and what it bought from and sold to the grid."""
    slots = report.slots
    figure = plots.energy_day(times, {"demand D": slots.demand_wh.to_numpy(),
                                      "surplus G": slots.surplus_wh.to_numpy(),
                                      "grid import": slots.grid_import_wh.to_numpy(),
                                      "grid export": slots.grid_export_wh.to_numpy()},
                              f"the community, {report.day} ({report.method})")
    _hours(figure.axes[0])
    figure.axes[0].set_xlabel("local time")
    return figure


def prices_figure(report: Report, times) -> Figure:
    """The buy and sell prices of each slot against the grid's import and feed-in prices."""
    figure = Figure(figsize=(8, 3.5), layout="constrained")
    ax = figure.add_subplot()
    slots = report.slots
    traded = (slots.traded_wh > 0) | (report.method != "auction")
    for column, label, colour in (("buy_price", "buyers pay", "tab:red"),
                                  ("sell_price", "sellers get", "tab:green")):
        values = slots[column].where(traded).to_numpy(dtype=float) / 1000
        ax.step(times, values, where="post", color=colour, label=label,
                marker="." if report.method == "auction" else None)
    for column, label in (("grid_buy", "grid import λb"), ("grid_sell", "grid feed-in λs")):
        ax.step(times, slots[column] / 1000, where="post", color="grey", linestyle="--",
                linewidth=1)
        ax.annotate(label, (times.iloc[0], slots[column].iloc[0] / 1000), fontsize=8,
                    color="grey", xytext=(2, 2), textcoords="offset points")
    ax.set_ylabel("m€/kWh")
    ax.set_title(f"prices per slot ({report.method})")
    ax.legend(loc="center right")
    _hours(ax)
    ax.set_xlabel("local time")
    return figure


def bills_figure(report: Report) -> Figure:
    """Each household's bill for the day with the community against the baseline (€)."""
    bills = report.bills
    figure = Figure(figsize=(max(6, 0.7 * len(bills) + 2), 3.8), layout="constrained")
    ax = figure.add_subplot()
    x = np.arange(len(bills))
    ax.bar(x - 0.2, bills.baseline_ueur / 1e6, 0.4, label="without a community",
           color="tab:grey")
    where = "on chain" if report.on_chain else "off chain"
    ax.bar(x + 0.2, bills.kernel_ueur / 1e6, 0.4, label=f"{report.method} ({where})",
           color="tab:blue")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, bills.household)
    ax.set_ylabel("€ for the day (negative: earned)")
    ax.set_title("bills against the baseline")
    ax.legend()
    return figure


def _hours(ax) -> None:
    """Label a time axis with local hours."""
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=PARIS))


def page(report: Report) -> str:
    """The report's ``index.html``: the run's figures and tables, with relative links."""
    money = {"kernel_ueur": "kernel €", "chain_ueur": "chain €", "baseline_ueur": "baseline €",
             "savings_ueur": "savings €"}
    money = {column: name for column, name in money.items() if column in report.bills}
    bills = report.bills.assign(**{column: report.bills[column] / 1e6 for column in money}
                                ).rename(columns=money)
    facts = {"day": str(report.day), "method": report.method,
             "households": len(report.bills), "slots": len(report.slots),
             **{f"{stage} (s)": seconds for stage, seconds in report.timings.items()},
             **report.figures}
    figures = "\n".join(f'<figure><img src="{name}" alt="{name[:-4]}"></figure>'
                        for name in FIGURES)
    tables = _TABLES if report.on_chain else tuple(t for t in _TABLES if t != "gas.csv")
    links = " · ".join(f'<a href="{name}">{name}</a>'
                       for name in (*tables, "readings.sqlite", "run.json"))
    title = f"daisee-lab run: {report.day}, {report.method}"
    if report.gas is not None:  # on chain
        settled = ("settled by the kernel and on chain, both agree on every household and "
                   "slot.</p>")
        gas = f"<h2>Gas</h2>\n{report.gas.to_html(index=False, border=0)}"
    else:
        settled = (f"settled by the kernel, off chain.</p>\n<h2>Why no chain</h2>\n"
                   f"<p>{html.escape(OFF_CHAIN)}</p>")
        gas = ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="daisee-lab run">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>The meters' readings, every frame they sent ({report.figures["frames"]:,} frames), counted
the households' energy to the Wh in every slot; {settled}
<p>{links}</p>
<h2>Bills</h2>
{bills.to_html(index=False, float_format=lambda v: f"{v:,.2f}", border=0)}
<h2>Figures</h2>
{figures}
{gas}
<h2>The run</h2>
<pre>{html.escape(json.dumps(facts, indent=2, default=str))}</pre>
</body>
</html>
"""
