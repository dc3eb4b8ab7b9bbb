"""Chapter 5, auctions: price rules, gains from trade, and a profitable lie."""

from __future__ import annotations

import numpy as np

from daisee_lab.exercises import checker

# One slot's order book: prices in µ€/kWh, quantities in Wh.
BIDS = {"price": [320_000, 280_000, 250_000, 190_000], "wh": [400, 300, 500, 200]}
ASKS = {"price": [110_000, 150_000, 230_000, 260_000], "wh": [300, 400, 250, 500]}
UNIFORM_RULES = ("midpoint", "k_double", "last_bid", "last_ask")
LIAR = 2  # the bid whose owner looks for a better price in exercise 5.3


def _clear(bid_prices=None, rule="midpoint"):
    from daisee_lab.settlement import clear_double_auction

    return clear_double_auction(BIDS["price"] if bid_prices is None else bid_prices, BIDS["wh"],
                                ASKS["price"], ASKS["wh"], rule=rule)


@checker("5.1")
def buyers_best_rule(answer: object) -> tuple[bool, str]:
    """The uniform price rule that gives the buyers of the chapter's order book the lowest price."""
    prices = {rule: int(_clear(rule=rule).price) for rule in UNIFORM_RULES}
    best = min(prices.values())
    if answer not in prices:
        return False, f"answer with one of {', '.join(UNIFORM_RULES)}"
    if prices[answer] == best:
        return True, (f"{answer} sets {best} µ€/kWh, the lowest of the uniform prices "
                      f"{prices}.")
    return False, (f"{answer} gives {prices[answer]} µ€/kWh; compare each rule's Clearing.price "
                   "and take the lowest")


@checker("5.2")
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


@checker("5.3")
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

    truthful, lying = utility(value), utility(answer)
    if lying > truthful:
        return True, (f"bidding {answer} instead of {value} earns {lying:,.0f} µ€ instead of "
                      f"{truthful:,.0f}: the marginal buyer sets the price, so shading pays. "
                      "Under McAfee's rule it would not.")
    if answer > value:
        return False, "bidding more than you value energy can only make you pay more"
    return False, (f"that earns {lying:,.0f} µ€, no better than the truth ({truthful:,.0f}); the "
                   "marginal bid sets the price: shade it a little, staying above the last "
                   "accepted ask")
