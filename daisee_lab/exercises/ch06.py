"""Chapter 6, auctions: the Walrasian interval, gains from trade, and a profitable lie.

The order book's prices are teaching numbers, not the grid's (see daisee_lab.tariffs)."""

from __future__ import annotations

import numpy as np

from daisee_lab.exercises import checker

# One slot's order book: prices in µ€/kWh, quantities in Wh.
BIDS = {"price": [320_000, 280_000, 250_000, 190_000], "wh": [400, 300, 500, 200]}
ASKS = {"price": [110_000, 150_000, 230_000, 260_000], "wh": [300, 400, 250, 500]}
UNIFORM_RULES = ("midpoint", "k_double", "last_bid", "last_ask")
LIAR = 2  # the bid whose owner looks for a better price in exercise 6.3


def _clear(bid_prices=None, rule="midpoint"):
    from daisee_lab.settlement import clear_double_auction

    return clear_double_auction(BIDS["price"] if bid_prices is None else bid_prices, BIDS["wh"],
                                ASKS["price"], ASKS["wh"], rule=rule)


def walrasian_interval() -> tuple[int, int]:
    """The Walrasian interval [max(s_k, b_{k+1}), min(b_k, s_{k+1})] of the chapter's book."""
    bids = sorted(zip(BIDS["price"], BIDS["wh"]), reverse=True)
    asks = sorted(zip(ASKS["price"], ASKS["wh"]))
    volume = int(_clear().volume)

    def unit(side, n, none):  # the price of the n-th unit (1-based) of a merit-ordered side
        for price, wh in side:
            if n <= wh:
                return price
            n -= wh
        return none

    b_k, s_k = unit(bids, volume, 0), unit(asks, volume, 0)
    b_next, s_next = unit(bids, volume + 1, 0), unit(asks, volume + 1, 10**12)
    return max(s_k, b_next), min(b_k, s_next)


@checker("6.1")
def walrasian(answer: object) -> tuple[bool, str]:
    """The Walrasian interval (low, high) of the chapter's order book, in µ€/kWh."""
    low, high = walrasian_interval()
    if not (isinstance(answer, (tuple, list)) and len(answer) == 2):
        return False, "answer with a pair (low, high) of prices in µ€/kWh"
    if tuple(answer) == (low, high):
        prices = {rule: int(_clear(rule=rule).price) for rule in UNIFORM_RULES}
        outside = [rule for rule, p in prices.items() if not low <= p <= high]
        return True, (f"[{low:,}, {high:,}]: one price only, because the marginal bid is only "
                      f"partly filled, so its own price is also b_(k+1). {', '.join(outside)} "
                      "set a price outside it: read on.")
    if tuple(answer) == (230_000, 250_000):
        return False, ("that is [s_k, b_k]; the interval also keeps out b_(k+1) and s_(k+1): the "
                       "marginal bid is only partly filled, so its next unit has its own price")
    if tuple(answer) == (high, low) and low != high:
        return False, "the low end first: (low, high)"
    return False, ("find the k-th units (the last traded, k = the volume) and the (k+1)-th on "
                   "each side of the merit order, then [max(s_k, b_(k+1)), min(b_k, s_(k+1))]")


@checker("6.2")
def gains_from_trade(answer: object) -> tuple[bool, str]:
    """The gains from trade of the midpoint clearing, in µ€: for each trade, its Wh times the
    bid's limit price minus the ask's, over 1000."""
    trades = _clear().trades
    bid_limit = np.asarray(BIDS["price"])[trades["bid"]]
    ask_limit = np.asarray(ASKS["price"])[trades["ask"]]
    right = int(((bid_limit - ask_limit) * trades["wh"]).sum()) / 1000
    if not isinstance(answer, (int, float)):
        return False, "answer with a number of µ€"
    if abs(answer - right) < 0.5:
        return True, (f"{right:,.0f} µ€ of value created in one slot, whatever the price: the "
                      "price only splits it between buyers and sellers.")
    priced = sum(int(t["wh"]) * int(t["buy_price"]) for t in trades) / 1000
    if abs(answer - priced) < 0.5:
        return False, "that is what the buyers pay; gains use each order's own limit price"
    return False, ("for each row of clearing.trades: (bid limit price - ask limit price) × Wh / "
                   "1000, summed")


@checker("6.3")
def profitable_lie(answer: object) -> tuple[bool, str]:
    """A bid price for bid LIAR (true value BIDS["price"][LIAR]) that leaves its owner better off
    under the midpoint rule than bidding the truth."""
    if not isinstance(answer, (int, np.integer)) or not 0 <= answer <= 10_000_000:
        return False, "answer with a whole bid price in µ€/kWh"
    value = BIDS["price"][LIAR]

    def utility(bid: int) -> float:
        prices = list(BIDS["price"])
        prices[LIAR] = int(bid)
        clearing = _clear(prices)
        filled = int(clearing.bid_fills[LIAR])
        return filled * (value - int(clearing.price)) / 1000 if filled else 0.0

    truthful, lying = utility(value), utility(int(answer))
    if lying > truthful:
        return True, (f"bidding {answer} instead of {value} earns {lying:,.0f} µ€ instead of "
                      f"{truthful:,.0f}: the marginal buyer sets the price, so shading pays. "
                      "Under McAfee's rule it would not.")
    if answer > value:
        return False, "bidding more than you value energy can only make you pay more"
    return False, (f"that earns {lying:,.0f} µ€, no better than the truth ({truthful:,.0f}); the "
                   "marginal bid sets the price: shade it a little, staying above the last "
                   "accepted ask")
