"""Order books: a double auction's bids and asks as supply and demand curves."""

from __future__ import annotations

import numpy as np

from daisee_lab.plots.figure import Figure


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
        ax.plot([volume], [price], "ko", label=f"clearing: {volume} Wh at {price} µ€/kWh")
    ax.set_xlabel("energy (Wh)")
    ax.set_ylabel("price (µ€/kWh)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right")
    return figure
