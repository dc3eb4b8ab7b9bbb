"""A slot's bills: what each learner paid in the room's auction, and the rest at grid prices.

For learner ``i`` in slot ``s``, with ``ΔI``/``ΔE`` the energy its meter imported and exported
(from its signed readings in the ledger), ``B`` the Wh its bids bought, ``d`` the Wh its sales
delivered (as measured on chain) and ``p`` the clearing price:

* auction (µ€, on chain): ``Σ ceil(fill·p/1000)`` over its bids, minus ``Σ floor(fill·p/1000)``
  over its asks, plus the grid price of what it sold and did not deliver (charged to its bond),
  plus the deposits of orders it sealed and never opened (forfeited);
* grid (µ€, off chain): the rest of its energy, ``g = ΔI - ΔE - B + d`` Wh, bought from the grid
  at ``grid_buy`` if positive or sold at ``grid_sell`` if negative, priced by the settlement
  kernel (``settle(..., method="none")``: buyers round up, sellers down);
* bill = auction + grid; baseline = the whole ``ΔI - ΔE`` at grid prices, the bill without the
  room; savings = baseline - bill. A learner who placed no order pays the baseline.

A sale's shortfall (sold, not delivered) is bought from the grid at ``grid_buy`` by the
contract, out of the bond: counting ``d`` and not the Wh sold in ``g`` keeps it from being
billed twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from daisee_lab.settlement import settle
from daisee_lab.units import buyer_pays, seller_gets

COLUMNS = ["slot", "learner", "import_wh", "export_wh", "bought_wh", "sold_wh", "delivered_wh",
           "auction_ueur", "grid_ueur", "bill_ueur", "baseline_ueur", "savings_ueur",
           "traded_wh", "price", "volume_wh"]


def auction_flows(trader: str | None, bids: pd.DataFrame, asks: pd.DataFrame, price: int,
                  deliveries: pd.DataFrame, commitments: Sequence) -> dict[str, int]:
    """One trader's on-chain flows in a cleared slot: Wh bought, sold and delivered, and µ€ net
    paid (bids, minus sales, plus shortfall charges and forfeited deposits)."""
    mine_b, mine_a = bids[bids.trader == trader], asks[asks.trader == trader]
    paid = sum(buyer_pays(int(f), price) for f in mine_b.filled)
    earned = sum(seller_gets(int(f), price) for f in mine_a.filled)
    shown = deliveries[deliveries.seller == trader]
    forfeited = sum(int(c[1]) for c in commitments if c[0] == trader and any(c[2]))
    return {"bought_wh": int(mine_b.filled.sum()), "sold_wh": int(mine_a.filled.sum()),
            "delivered_wh": int(shown.delivered_wh.sum()),
            "auction_ueur": paid - earned + int(shown.charge.sum()) + forfeited}


def slot_bills(slot: int, learners: Sequence[str], energy: np.ndarray, flows: Sequence[dict],
               price: int, volume: int, grid_buy: int, grid_sell: int) -> pd.DataFrame:
    """The bill table of `slot`: `energy` holds (import, export) Wh per learner, `flows` each
    learner's :func:`auction_flows`; the rest is priced at grid prices."""
    energy = np.asarray(energy, dtype=np.int64).reshape(len(learners), 2)
    table = pd.DataFrame(list(flows), index=range(len(learners))).astype("int64")
    net = energy[:, 0] - energy[:, 1]
    rest = net - table.bought_wh.to_numpy() + table.delivered_wh.to_numpy()
    grid = settle(np.maximum(rest, 0)[:, None], np.maximum(-rest, 0)[:, None], grid_buy,
                  grid_sell, method="none").payments[:, 0]
    baseline = settle(energy[:, :1], energy[:, 1:], grid_buy, grid_sell,
                      method="none").payments[:, 0]
    table.insert(0, "slot", slot)
    table.insert(1, "learner", list(learners))
    table.insert(2, "import_wh", energy[:, 0])
    table.insert(3, "export_wh", energy[:, 1])
    table["grid_ueur"] = grid
    table["bill_ueur"] = table.auction_ueur + grid
    table["baseline_ueur"] = baseline
    table["savings_ueur"] = baseline - table.bill_ueur
    table["traded_wh"] = table.bought_wh + table.sold_wh
    table["price"], table["volume_wh"] = price, volume
    return table[COLUMNS]


def leaderboard(results: pd.DataFrame) -> pd.DataFrame:
    """Totals per learner over the slots billed so far, best savings first: bill, baseline,
    savings (µ€) and energy traded (Wh)."""
    if results.empty:
        return pd.DataFrame(columns=["learner", "bill_ueur", "baseline_ueur", "savings_ueur",
                                     "traded_wh"])
    totals = results.groupby("learner", sort=False)[
        ["bill_ueur", "baseline_ueur", "savings_ueur", "traded_wh"]].sum()
    totals = totals.sort_values(["savings_ueur", "traded_wh"], ascending=False).reset_index()
    totals.index = pd.RangeIndex(1, len(totals) + 1, name="rank")
    return totals


def format_slot(table: pd.DataFrame, results: pd.DataFrame) -> str:
    """A slot's line and the leaderboard so far, for a terminal (amounts in €)."""
    first = table.iloc[0]
    price = f"{first.price / 1e6:.4f} €/kWh" if first.volume_wh else "no trade"
    head = (f"slot {first.slot}: {first.volume_wh} Wh traded, {price}; room saved "
            f"{table.savings_ueur.sum() / 1e6:+.4f} €")
    board = leaderboard(results)
    for column in ("bill_ueur", "baseline_ueur", "savings_ueur"):
        board[column.replace("_ueur", "_eur")] = (board.pop(column) / 1e6).round(4)
    return f"{head}\n{board.to_string()}"
