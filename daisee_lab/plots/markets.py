"""Markets: an order book's supply and demand curves, the prices each rule sets, prices per
slot and the bills each sharing method gives."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import StrMethodFormatter

from daisee_lab.plots.figure import Figure, local_hours

_THOUSANDS = "{x:,.0f}"  # 250,000 rather than 250000 on a price axis


def _steps(prices: np.ndarray, qty: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative quantity and price of a merit-ordered side, as a step curve's points."""
    keep = qty > 0
    prices, qty = prices[keep], qty[keep]
    order = np.argsort(-prices if descending else prices, kind="stable")
    return np.concatenate([[0], np.cumsum(qty[order])]), prices[order]


def merit_order(bid_prices, bid_qty, ask_prices, ask_qty, price: int | None = None,
                volume: int | None = None) -> Figure:
    """Demand (bids high to low) and supply (asks low to high) as step curves, in Wh and
    µ€/kWh; with `price` and `volume`, the clearing point too."""
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    for prices, qty, descending, label, colour in (
            (bid_prices, bid_qty, True, "bids (demand)", "tab:blue"),
            (ask_prices, ask_qty, False, "asks (supply)", "tab:orange")):
        edges, levels = _steps(np.asarray(prices), np.asarray(qty), descending)
        if len(levels):
            ax.stairs(levels, edges, color=colour, linewidth=2, label=label)
    if price is not None and volume is not None and price >= 0:
        ax.axhline(price, color="grey", linestyle="--", linewidth=1)
        ax.axvline(volume, color="grey", linestyle="--", linewidth=1)
        ax.plot([volume], [price], "ko", label=f"clearing: {volume:,} Wh at {price:,} µ€/kWh")
    ax.set_xlabel("energy (Wh)")
    ax.set_ylabel("price (µ€/kWh)")
    ax.yaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    if ax.get_legend_handles_labels()[0]:  # below the chart: the curves fill the axes
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=3, fontsize="small",
                  frameon=False)
    return figure


def bills_by_method(bills, title: str, unit: str = "€") -> Figure:
    """Grouped bars: one group per household (the rows of the DataFrame `bills`), one bar per
    method (its columns), the bill in `unit`; a bill below zero is money paid to the household."""
    figure = Figure(figsize=(8, 3.8))
    ax = figure.add_subplot()
    names, methods = list(bills.index), list(bills.columns)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(names))
    for i, method in enumerate(methods):
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, bills[method].to_numpy(dtype=float),
               width, label=str(method))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, [str(name) for name in names])
    ax.set_xlabel(str(bills.index.name or "household"))
    ax.set_ylabel(f"bill ({unit}; below 0: paid to them)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return figure


def slot_prices(times, prices: dict[str, np.ndarray], title: str, grid_buy: int | None = None,
                grid_sell: int | None = None) -> Figure:
    """Prices per slot (µ€/kWh) against local time, one step line each; `times` are the slots'
    starts (timezone-aware); the grid's buy and sell prices as dashed lines if given."""
    figure = Figure(figsize=(8, 3.5))
    ax = figure.add_subplot()
    for label, values in prices.items():
        ax.step(times, values, where="post", label=label)
    for value, label, style in ((grid_buy, "grid buy price λb", "--"),
                                (grid_sell, "grid sell price λs", ":")):
        if value is not None:
            ax.axhline(value, color="grey", linestyle=style, linewidth=1.2, label=label)
    ax.set_ylabel("price (µ€/kWh)")
    ax.yaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    local_hours(ax)
    return figure


def rule_prices(rules: dict[str, tuple[float, float]], title: str,
                interval: tuple[int, int] | None = None) -> Figure:
    """One row per price rule: the price buyers pay and the price sellers get (µ€/kWh, averages
    over the trades for discriminatory rules), and the Walrasian interval shaded (a line when it
    is a single price)."""
    figure = Figure(figsize=(7, 0.45 * len(rules) + 1.6))
    ax = figure.add_subplot()
    names = list(rules)
    y = np.arange(len(names))
    buy = np.array([rules[name][0] for name in names], dtype=float)
    sell = np.array([rules[name][1] for name in names], dtype=float)
    if interval is not None:
        low, high = interval
        if high > low:
            ax.axvspan(low, high, color="tab:green", alpha=0.2, label="Walrasian interval")
        else:
            ax.axvline(low, color="tab:green", linewidth=6, alpha=0.35,
                       label=f"Walrasian interval [{low:,}, {high:,}]")
    ax.hlines(y, np.minimum(buy, sell), np.maximum(buy, sell), color="grey", linewidth=1)
    ax.plot(buy, y, "o", color="tab:blue", label="buyers pay")
    ax.plot(sell, y, "s", color="tab:orange", markerfacecolor="none", label="sellers get")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_ylabel("price rule")
    ax.set_xlabel("price (µ€/kWh)")
    ax.xaxis.set_major_formatter(StrMethodFormatter(_THOUSANDS))
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    return figure
