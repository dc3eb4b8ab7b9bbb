"""What a chain costs and shows: gas per transaction, the sorting wall, how many households a
transaction or block settles, euros against the gas price; what each household paid through a
day settled on chain; what a signature's digest or public calldata gives away. (Bills per method
and prices per slot are drawn by :mod:`.markets`.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import StrMethodFormatter

from daisee_lab.plots.figure import Figure, local_hours
from daisee_lab.units import PARIS

MILLION = 1e6


def _paris(times) -> pd.DatetimeIndex:
    """`times` (timezone-aware) in Paris time, so that the axis ticks fall on local hours."""
    return pd.DatetimeIndex(times).tz_convert(PARIS)


def gas_per_transaction(labels: Sequence[str], gas: Sequence[int],
                        title: str = "gas of each transaction, in the order sent") -> Figure:
    """One bar per transaction (gas used), labelled with what it did, in the order sent."""
    figure = Figure(figsize=(7, 0.45 * len(labels) + 1.2))
    ax = figure.add_subplot()
    positions = np.arange(len(labels))[::-1]
    bars = ax.barh(positions, gas, color="tab:blue")
    ax.bar_label(bars, labels=[f"{g:,}" for g in gas], padding=3, fontsize=8)
    ax.set_yticks(positions, labels)
    ax.set_xlabel("gas used")
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel("transaction")
    ax.set_title(title)
    ax.set_xlim(0, max(gas, default=1) * 1.18)
    figure.alt = (f"{title}: " + "; ".join(f"{label} {g:,} gas"
                                            for label, g in zip(labels, gas)))
    return figure


def digest_bits(digests: Mapping[str, bytes], title: str = "the 256 bits each meter signs") \
        -> Figure:
    """The bits of several 32-byte digests, one row each; bits that differ from the first row's
    are marked, so that a small change to the message shows as a scramble of the digest."""
    names = list(digests)
    rows = np.array([np.unpackbits(np.frombuffer(bytes(digests[n]), dtype=np.uint8))
                     for n in names])
    differs = rows != rows[0]
    figure = Figure(figsize=(9, 0.5 * len(names) + 1.8))
    ax = figure.add_subplot()
    image = np.where(differs, 2, rows)  # 0, 1 as in the first digest; 2 where it differs
    colours = np.array([[0.93, 0.93, 0.93], [0.45, 0.45, 0.45], [0.84, 0.15, 0.16]])
    ax.imshow(colours[image], aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(names)),
                  [f"{n} ({d.sum()} bits differ)" if i else f"{n} (reference)"
                   for i, (n, d) in enumerate(zip(names, differs))])
    ax.set_xlabel("bit of the digest (0 = the first bit of its 32 bytes)")
    ax.set_ylabel("message signed")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=colours[0], label="bit 0, as in the first row"),
                       Patch(color=colours[1], label="bit 1, as in the first row"),
                       Patch(color=colours[2], label="differs from the first row")],
              loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8,
              frameon=False)
    figure.alt = (f"{title}: " + "; ".join(
        f"{n}: {d.sum()} of 256 bits differ from the first" for n, d in
        list(zip(names, differs))[1:]))
    return figure


def paid_over_day(times, payments, names: Sequence[str],
                  title: str = "what each household has paid, slot after slot") -> Figure:
    """Each household's cumulative payment (€, positive when it paid, negative when it was
    paid) against local time; `payments` is households x slots in µ€."""
    payments, times = np.asarray(payments), _paris(times)
    figure = Figure(figsize=(8, 3.8))
    ax = figure.add_subplot()
    for name, row in zip(names, payments):
        ax.step(times, np.cumsum(row) / MILLION, where="post", label=name)
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("paid so far (€)")
    ax.set_title(title)
    ax.legend(ncol=3, fontsize=8, loc="lower left")
    local_hours(ax)
    totals = payments.sum(axis=1) / MILLION
    figure.alt = (f"{title}, in euros against local time; at the end of the day: "
                  + ", ".join(f"{n} {t:+.2f} €" for n, t in zip(names, totals)))
    return figure


def _limits(ax, limits: Mapping[str, int], colours=("tab:red", "tab:purple", "tab:grey")):
    for (label, gas), colour in zip(limits.items(), colours):
        ax.axhline(gas / MILLION, color=colour, linestyle="--", linewidth=1,
                   label=f"{label}: {gas / MILLION:,.1f} M")


def sorting_wall(bids, sort_gas, check_gas, went_through, limits: Mapping[str, int],
                 title: str = "sorting a book on chain, or checking a sort done off chain") \
        -> Figure:
    """Gas (millions) of sorting `bids` rising bids on chain and of checking them sorted off
    chain, against the book's size; sorts that ran out of gas are crosses; `limits` (label ->
    gas) are drawn as dashed lines."""
    bids, went = np.asarray(bids), np.asarray(went_through, dtype=bool)
    sort_gas, check_gas = np.asarray(sort_gas), np.asarray(check_gas)
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    ax.plot(bids[went], sort_gas[went] / MILLION, "o-", label="sortBids: sort on chain")
    ax.plot(bids, check_gas / MILLION, "s-", label="checkBids: check a sort done off chain")
    if (~went).any():
        ax.plot(bids[~went], sort_gas[~went] / MILLION, "x", color="black", markersize=10,
                label="sortBids: out of gas")
    _limits(ax, limits)
    ax.set_xlabel("bids in the book (rising prices)")
    ax.set_ylabel("gas (millions)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    figure.alt = (f"{title}: gas in millions against the number of bids; sorting grows with "
                  f"the square of the book, from {sort_gas[went][0] / MILLION:.1f} M at "
                  f"{bids[went][0]} bids to {sort_gas[went][-1] / MILLION:.1f} M at "
                  f"{bids[went][-1]}; checking stays under {check_gas.max() / MILLION:.1f} M; "
                  + "; ".join(f"{k} {v / MILLION:,.1f} M" for k, v in limits.items()))
    return figure


def settlement_capacity(fixed: float, per_household: float, measured: Mapping[int, float],
                        limits: Mapping[str, int], households: int,
                        title: str = "gas of one slot's settlement transaction") -> Figure:
    """The gas of settling one slot for 0..`households` households (the line ``fixed +
    per_household * n``), the measured points (households -> gas), and `limits` (label -> gas)
    as dashed lines, each marked where the line crosses it."""
    figure = Figure(figsize=(7.5, 4))
    ax = figure.add_subplot()
    n = np.array([0, households])
    ax.plot(n, (fixed + per_household * n) / MILLION, color="tab:blue",
            label=f"{fixed:,.0f} + {per_household:,.0f} × households")
    ax.plot(list(measured), np.array(list(measured.values())) / MILLION, "o", color="black",
            label="measured in this chapter")
    _limits(ax, limits)
    crossings = []
    for gas in limits.values():
        most = int((gas - fixed) // per_household)
        if 0 < most <= households:
            ax.annotate(f"{most:,}", (most, gas / MILLION), textcoords="offset points",
                        xytext=(-4, 6), ha="right", fontsize=8)
            crossings.append(most)
    ax.set_xlim(0, households)
    ax.set_ylim(0, max(max(limits.values(), default=0), fixed + per_household * households)
                / MILLION * 1.08)
    ax.set_xlabel("households settled in one transaction")
    ax.set_ylabel("gas (millions)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    figure.alt = (f"{title}: a straight line of {fixed:,.0f} gas plus {per_household:,.0f} per "
                  "household; it reaches " + "; ".join(
                      f"{label} ({gas / MILLION:,.1f} M gas) at "
                      f"{int((gas - fixed) // per_household):,} households"
                      for label, gas in limits.items()))
    return figure


def cost_against_gas_price(gwei, costs: Mapping[str, Sequence[float]], gain: float,
                           title: str = "settling on chain, against what sharing saves") \
        -> Figure:
    """What a household's day of settlement costs (€) against the gas price (gwei), one line per
    ether price (label -> cost for each gwei), both axes logarithmic, with the day's `gain` from
    sharing (€) as a dashed line: above it, the chain eats the gain."""
    gwei = np.asarray(gwei, dtype=float)
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    for label, cost in costs.items():
        ax.loglog(gwei, cost, label=label)
    ax.axhline(gain, color="tab:green", linestyle="--", label=f"sharing saves {gain:.2f} €")
    ax.set_xlabel("gas price (gwei per gas)")
    ax.set_ylabel("€ per household per day")
    ax.set_title(title)
    ax.legend(fontsize=8)
    breaks = []
    for label, cost in costs.items():
        values = np.asarray(cost, dtype=float)
        # cost is proportional to gwei: the break-even gas price
        breaks.append(f"{label} above {gain / values[-1] * gwei[-1]:.2g} gwei")
    figure.alt = (f"{title}: € per household per day against gwei, log-log; the chain costs "
                  "more than the gain " + ", ".join(breaks))
    return figure


def curves_read_from_chain(times, energy, labels: Sequence[str],
                           title: str = "every meter's energy, read from public calldata") \
        -> Figure:
    """A heat map of energy per slot (Wh, rows = meters, `energy` meters x slots) against local
    time: what anyone can read back from a public chain."""
    energy, times = np.asarray(energy, dtype=float), _paris(times)
    figure = Figure(figsize=(9, 0.35 * len(labels) + 1.6))
    ax = figure.add_subplot()
    step = times[1] - times[0]
    edges = list(times) + [times[-1] + step]
    mesh = ax.pcolormesh(edges, np.arange(len(labels) + 1), energy, cmap="viridis",
                         shading="flat")
    colourbar = figure.colorbar(mesh, ax=ax, pad=0.01)
    colourbar.set_label("Wh per 15 min")
    ax.set_yticks(np.arange(len(labels)) + 0.5, labels)
    ax.invert_yaxis()
    ax.set_ylabel("meter (public id)")
    ax.set_title(title)
    local_hours(ax)
    busiest = int(np.argmax(energy.sum(axis=1)))
    figure.alt = (f"{title}: a heat map of Wh per 15 minutes for {len(labels)} meters against "
                  f"local time; the largest user is {labels[busiest]} with "
                  f"{energy[busiest].sum() / 1000:.1f} kWh")
    return figure
