"""The main job's markets: the auction's orders and payments, and the day settled on chain
through the contracts' own drivers (:meth:`daisee_lab.contracts.Community.settle_energy`,
:class:`daisee_lab.contracts.AuctionDay`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from daisee_lab import contracts, settlement
from daisee_lab.chain import Chain, Receipt
from daisee_lab.run.checks import demand_and_surplus
from daisee_lab.run.common import FUNDS_UEUR, SettlementMismatch
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, dated and sourced there
from daisee_lab.units import MIN_ORDER_WH, SLOT_SECONDS, buyer_pays, seller_gets

__all__ = ["auction_orders", "auction_payments", "chain_auction", "chain_community", "indexes"]

Bar = Callable[[str, int, str], tqdm]  # a progress bar's maker: description, total, unit


def auction_orders(imports: np.ndarray, exports: np.ndarray,
                    seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per slot (rows) and household (columns): buyers bid their net import, sellers ask their
    net export, each at a seeded price between the grid's feed-in and import prices; the other
    side's entries are 0 Wh (no order), and so is a need below the auction's smallest order
    (`MIN_ORDER_WH`): the grid serves it."""
    net = (imports.astype(np.int64) - exports).T
    rng = np.random.default_rng(seed)
    bid_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    ask_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    bids, asks = (np.where(q >= MIN_ORDER_WH, q, 0)
                  for q in (np.maximum(net, 0), np.maximum(-net, 0)))
    return bid_prices, bids, ask_prices, asks


def auction_payments(clearing: settlement.Clearing, imports: np.ndarray,
                      exports: np.ndarray) -> tuple[np.ndarray, ...]:
    """What each household pays per slot (µ€, households x slots) for its trades at the
    clearing price (buyers rounded up, sellers down, as the AuctionMarket does), and for the
    rest of its net energy (unfilled, or too small to order), bought from or sold to the grid
    at the baseline's rule."""
    net = (imports.astype(np.int64) - exports).T
    price = np.maximum(clearing.price, 0)[:, None]
    trades = buyer_pays(clearing.bid_fills, price) - seller_gets(clearing.ask_fills, price)
    rest = settlement.settle((np.maximum(net, 0) - clearing.bid_fills).T,
                             (np.maximum(-net, 0) - clearing.ask_fills).T,
                             GRID_BUY, GRID_SELL, "none")
    return trades.T, rest.payments



def indexes(anchors: list[int], energy: np.ndarray) -> np.ndarray:
    """A meter's indexes at the end of each slot (rows; row 0 is the anchor, before the first
    slot) from its first reading's and the energies per slot (households x slots)."""
    return np.asarray(anchors, dtype=np.int64) + np.vstack(
        [np.zeros(len(energy), np.int64), np.cumsum(energy.T, axis=0)])



def chain_community(chain: Chain, members: list[contracts.Member], imports, exports,
                    anchors, slots: np.ndarray, method: str, bar: Bar) -> dict:
    """Settle every slot in a CommunityMarket from the meters' signed indexes (anchored at
    `anchors`, the meters' indexes at the start of the first slot); return the payments per
    household and slot (µ€) and each slot's grid bill and rounding, read from the chain."""
    market = contracts.deploy_community(chain, chain.accounts[0], members, GRID_BUY, GRID_SELL,
                                        method)
    demand, surplus = demand_and_surplus(imports, exports)
    # The grid account prepays the community's net export: what the day's costs it, rounded up.
    export_cost = buyer_pays(np.maximum(surplus - demand, 0), GRID_SELL)
    market.fund({m.account: FUNDS_UEUR for m in members}
                | {market.grid: max(int(export_cost.sum()), 1)})
    chain.advance_to((int(slots[-1]) + 1) * SLOT_SECONDS)
    bills, rounding = [], []
    with bar("chain", len(slots), "slot") as progress:
        def settled(slot: int, receipt: Receipt) -> None:
            (event,) = receipt.events_named("SlotSettled")
            bills.append(event.args["gridBill"])
            rounding.append(event.args["rounding"])
            progress.update()

        paid = market.settle_energy(imports, exports, int(slots[0]), start_wh=anchors,
                                    on_slot=settled)
    return {"contracts": {"EnergyCredit": market.credit.address,
                          "CommunityMarket": market.market.address},
            "paid": paid.to_numpy(dtype=np.int64), "grid_bill": np.array(bills),
            "rounding": np.array(rounding)}


def chain_auction(chain: Chain, members: list[contracts.Member], imports, exports,
                  anchors, slots: np.ndarray, orders, clearing: settlement.Clearing,
                  bar: Bar) -> dict:
    """Run each slot's sealed-bid round in an AuctionMarket (:class:`contracts.AuctionDay`):
    commit every order first, then per slot reveal, clear with the kernel's result (the
    contract checks it), and settle the sales' delivery from the sellers' signed indexes.
    Return each round's volume, price and fills and each household's payments (µ€) over the
    day, read from the chain."""
    auction = contracts.deploy_auction(chain, chain.accounts[0], members, GRID_BUY)
    day = contracts.AuctionDay(auction, chain.accounts[1:len(members) + 1], members,
                               slots.tolist(), orders, indexes(anchors[0], imports),
                               indexes(anchors[1], exports))
    with bar("chain", 2 * len(slots), "step") as progress:
        try:
            trades = day.trade(clearing, progress.update)
        except contracts.ClearingRefused as exc:
            raise SettlementMismatch([f"slot {exc.slot}: the contract refused the kernel's "
                                      f"clearing ({exc.reason})"]) from exc
    return {"contracts": {"EnergyCredit": auction.credit.address,
                          "AuctionMarket": auction.market.address},
            "paid": trades.paid, "rounds": trades.rounds, "bid_fills": trades.bid_fills,
            "ask_fills": trades.ask_fills}
