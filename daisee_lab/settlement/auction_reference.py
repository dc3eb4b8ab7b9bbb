"""Double auctions, the plain reference: obviously right, slow. The numba kernels must match it.

In each settlement slot, buyers send *bids* and sellers send *asks*: an integer price (µ€/kWh)
and an integer quantity (Wh). The auctioneer matches them and says who trades how much, at what
price. Everything below is integer and exact.

Merit order. Bids are ranked by price high to low, asks low to high; equal prices keep the order
in which they were given (lower index first). Orders of 0 Wh are not in the market at all (the
many-slot form uses them as padding).

Quantities are divisible. Think of an order of q Wh as q one-Wh *units* at the order's price.
Listing the bid units in merit order gives the demand curve b_1 >= b_2 >= ..., the ask units the
supply curve s_1 <= s_2 <= .... The t-th bid unit is matched with the t-th ask unit while
b_t >= s_t; ``k`` is the last matched unit, so the volume is k Wh. Walking the two books with one
pointer each gives the same thing: the best remaining bid trades min(its rest, the ask's rest)
with the best remaining ask, until the bid's price is below the ask's. Each step is a *trade*
(bid index, ask index, Wh); the last one holds the *marginal* orders, and either of them may be
filled only partly.

Marginal prices. b_k and s_k are the prices of the marginal bid and ask (the k-th units). b_{k+1}
and s_{k+1} are the prices of the next units: the marginal order's own price if it is only partly
filled, else the next order's. When a side has no unit left, b_{k+1} = 0 and s_{k+1} = +infinity
(the lowest possible bid, the highest possible ask). Then b_k >= s_k and b_{k+1} < s_{k+1}.

Rules (``rule=``). Uniform rules give every trade one price:

``"midpoint"`` (the default)
    Every price in the Walrasian interval [max(s_k, b_{k+1}), min(b_k, s_{k+1})] clears the
    market: no filled order would rather not trade, no unfilled one would. The price is its
    midpoint, floor((lo + hi) / 2).
``"k_double"``
    The k-double auction: p = floor(k·b_k + (1-k)·s_k), k in [0, 1] (the ``k`` argument, default
    1/2: a weight, not the index k of b_k). k is read as the nearest fraction num/den with
    den <= 10**6 (exactly 1/2, 1/3, 0.25 ...) and p = (num·b_k + (den-num)·s_k) // den.
``"last_bid"``, ``"last_ask"``
    The price of the last accepted bid b_k (sellers' best case), or ask s_k (buyers' best case).

``"mcafee"``, McAfee's trade reduction (McAfee 1992, "A dominant strategy double auction", JET
56). With one unit per trader: let p0 = (b_{k+1} + s_{k+1}) / 2. If s_k <= p0 <= b_k, all k units
trade at p0. Otherwise the k-th pair is dropped: k-1 units trade, buyers pay b_k, sellers receive
s_k, and the difference (b_k - s_k)·(k-1) is the auctioneer's budget surplus. No trader's own
price sets the price it pays, so reporting one's true value is a dominant strategy, at the cost
of at most one trade. Adaptation to divisible Wh: the units above are Wh, so the dropped "k-th
pair" is the last Wh of the marginal trade: when the test fails, the volume is k-1 Wh, the
marginal bid and ask each lose one Wh of fill (the last trade disappears if it was 1 Wh), buyers
pay b_k and sellers receive s_k on every trade. p0 is floored; s_{k+1} = +infinity always fails
the test. With multi-Wh orders truthfulness is lost: the marginal order's other Wh trade at its
own price (a bid of 6 for 3 Wh alone against an ask of 0 for 3 Wh buys 2 Wh at 6; bidding 0
instead, it buys them at 0). What remains: the volume is the efficient one or exactly 1 Wh less,
no one trades at a loss, the surplus is never negative, and with 1 Wh orders reporting one's
value is still a dominant strategy (the tests check all four).

Discriminatory rules price each trade (bid i, ask j) on its own: ``"pay_as_bid"`` at b_i,
``"pay_as_offer"`` at s_j, ``"pair_midpoint"`` at floor((b_i + s_j) / 2).

The result is a :class:`Clearing`. ``price`` is the uniform price, or :data:`NO_PRICE` (-1) when
nothing trades or there is no single price (discriminatory rules, McAfee's reduced case);
``trades`` always holds each trade's price, as the price the buyer pays and the price the seller
receives (they differ only in McAfee's reduced case). Paying e Wh at p µ€/kWh is e·p/1000 µ€; that
rounding belongs to whoever settles the trades, not here.

Many slots at once: :func:`clear_double_auction_slots` takes 2-D arrays (slots, orders), each row
one independent auction, rows padded with quantity 0 (at any valid price, e.g. 0) when slots have
fewer orders. Its fields gain a leading slot axis and its trades a ``slot`` column.

Bounds: prices in [0, MAX_PRICE] (10 €/kWh), quantities in [0, MAX_WH], each side's total in one
auction at most MAX_WH (400 GWh). Bad input raises :class:`AuctionError` (a ValueError) naming
the argument.
"""

import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from ..errors import DaiseeError
from ..units import MAX_PRICE, MAX_WH  # µ€/kWh; Wh per order and per side of one auction

RULES = ("midpoint", "k_double", "last_bid", "last_ask", "mcafee", "pay_as_bid", "pay_as_offer",
         "pair_midpoint")
NO_PRICE = -1  # the uniform price when nothing trades, or when there is no single price
MAX_K_DENOMINATOR = 1_000_000
TRADE_COLUMNS = ("bid", "ask", "wh", "buy_price", "sell_price")
TRADE_DTYPE = np.dtype([(name, np.int64) for name in TRADE_COLUMNS])
SLOT_TRADE_DTYPE = np.dtype([("slot", np.int64), *TRADE_DTYPE.descr])


class AuctionError(DaiseeError, ValueError):
    """Bad input to a double auction: the message names the argument and the bad value."""


@dataclass(frozen=True, eq=False)
class Clearing:
    """The outcome of a double auction; in the many-slot form every field gains a slot axis."""

    volume: int | np.ndarray  # Wh traded
    price: int | np.ndarray  # the uniform price in µ€/kWh, or NO_PRICE
    bid_fills: np.ndarray  # int64 Wh filled per bid, in the order given
    ask_fills: np.ndarray  # int64 Wh filled per ask, in the order given
    trades: np.ndarray  # TRADE_DTYPE (SLOT_TRADE_DTYPE for many slots), in merit order


def clear_double_auction(bid_prices: npt.ArrayLike, bid_qty: npt.ArrayLike,
                         ask_prices: npt.ArrayLike, ask_qty: npt.ArrayLike,
                         rule: str = "midpoint", k: float | Fraction | None = None) -> Clearing:
    """Clear one double auction: 1-D integer arrays of prices (µ€/kWh) and quantities (Wh) per side.

    ``rule`` is one of :data:`RULES`; ``k`` (``"k_double"`` only, default 1/2) weighs the
    marginal bid against the marginal ask. Returns a :class:`Clearing`.
    """
    frac = check_rule(rule, k)
    return _clear(*check_orders(bid_prices, bid_qty, ask_prices, ask_qty, ndim=1), rule, frac)


def clear_double_auction_slots(bid_prices: npt.ArrayLike, bid_qty: npt.ArrayLike,
                               ask_prices: npt.ArrayLike, ask_qty: npt.ArrayLike,
                               rule: str = "midpoint",
                               k: float | Fraction | None = None) -> Clearing:
    """Clear one independent auction per row of 2-D (slots, orders) arrays, padded with 0 Wh."""
    frac = check_rule(rule, k)
    bp, bq, ap, aq = check_orders(bid_prices, bid_qty, ask_prices, ask_qty, ndim=2)
    results = [_clear(*rows, rule, frac) for rows in zip(bp, bq, ap, aq)]
    trades = [r.trades for r in results]
    slot = np.repeat(np.arange(len(results)), [len(t) for t in trades])
    columns = {name: np.concatenate([t[name] for t in trades]) if trades else np.zeros(0, np.int64)
               for name in TRADE_COLUMNS}
    return Clearing(volume=np.array([r.volume for r in results], np.int64),
                    price=np.array([r.price for r in results], np.int64),
                    bid_fills=np.array([r.bid_fills for r in results], np.int64).reshape(bq.shape),
                    ask_fills=np.array([r.ask_fills for r in results], np.int64).reshape(aq.shape),
                    trades=trade_table(**columns, slot=slot))


def uniform_price(rule, b_k, s_k, b_next=0, s_next=None, k=Fraction(1, 2)):
    """The uniform price of ``rule`` from the marginal prices b_k, s_k, b_{k+1}, s_{k+1}.

    ``s_next=None`` stands for +infinity (no ask unit left); ``k`` is a Fraction.

    For ``"mcafee"``, None when the trade reduction applies (p0 outside [s_k, b_k]).
    """
    lo = max(s_k, b_next)
    hi = b_k if s_next is None else min(b_k, s_next)
    if rule == "midpoint":
        return (lo + hi) // 2
    if rule == "k_double":
        return (k.numerator * b_k + (k.denominator - k.numerator) * s_k) // k.denominator
    if rule == "last_bid":
        return b_k
    if rule == "last_ask":
        return s_k
    if rule == "mcafee":
        p0 = None if s_next is None else (b_next + s_next) // 2
        return p0 if p0 is not None and s_k <= p0 <= b_k else None
    raise AuctionError(f"rule {rule!r} has no uniform price; uniform rules are {RULES[:5]}")


def trade_table(bid, ask, wh, buy_price, sell_price, slot=None):
    """Trade columns as one structured array (TRADE_DTYPE, or SLOT_TRADE_DTYPE given ``slot``)."""
    columns = dict(bid=bid, ask=ask, wh=wh, buy_price=buy_price, sell_price=sell_price)
    if slot is not None:
        columns = dict(slot=slot, **columns)
    table = np.empty(len(wh), SLOT_TRADE_DTYPE if slot is not None else TRADE_DTYPE)
    for name, column in columns.items():
        table[name] = column
    return table


def _merit_order(prices, qty, descending):
    """Indices of the orders with quantity > 0, best price first, ties by index."""
    live = np.flatnonzero(qty > 0)
    key = -prices[live] if descending else prices[live]
    return live[np.argsort(key, kind="stable")]


def _clear(bp, bq, ap, aq, rule, k):
    """Clear one auction on validated int64 arrays, straight from the unit picture."""
    bids = _merit_order(bp, bq, descending=True)
    asks = _merit_order(ap, aq, descending=False)
    bid_ends = np.cumsum(bq[bids])  # bids[i] holds the bid units (bid_ends[i-1], bid_ends[i]]
    ask_ends = np.cumsum(aq[asks])
    most = min(bid_ends[-1] if bids.size else 0, ask_ends[-1] if asks.size else 0)
    # Between two consecutive order ends (of either side) one bid faces one ask: a trade segment.
    ends = np.sort(np.concatenate([bid_ends, ask_ends]), kind="stable")  # a merge of two runs
    ends = ends[(ends <= most) & (np.diff(ends, prepend=0) > 0)]  # each end once
    seg_bid = bids[np.searchsorted(bid_ends, ends)]
    seg_ask = asks[np.searchsorted(ask_ends, ends)]
    crossed = bp[seg_bid] >= ap[seg_ask]  # True, ..., True, False, ...: b_t - s_t never rises
    n = len(ends) if crossed.all() else int(np.argmin(crossed))

    bid_fills = np.zeros(bp.size, np.int64)
    ask_fills = np.zeros(ap.size, np.int64)
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Clearing(0, NO_PRICE, bid_fills, ask_fills, trade_table(*[empty] * 5))

    tb, ta = seg_bid[:n], seg_ask[:n]
    wh = np.diff(ends[:n], prepend=0)
    volume = int(ends[n - 1])
    b_k, s_k = int(bp[tb[-1]]), int(ap[ta[-1]])
    i = int(np.searchsorted(bid_ends, volume + 1))  # the merit position of unit k+1
    j = int(np.searchsorted(ask_ends, volume + 1))
    b_next = int(bp[bids[i]]) if i < bids.size else 0
    s_next = int(ap[asks[j]]) if j < asks.size else None

    price = NO_PRICE
    if rule == "pay_as_bid":
        buy = sell = bp[tb]
    elif rule == "pay_as_offer":
        buy = sell = ap[ta]
    elif rule == "pair_midpoint":
        buy = sell = (bp[tb] + ap[ta]) // 2
    else:
        uniform = uniform_price(rule, b_k, s_k, b_next, s_next, k)
        if uniform is None:  # McAfee's trade reduction: drop the last Wh of the marginal trade
            wh[-1] -= 1
            volume -= 1
            buy, sell = np.full(n, b_k), np.full(n, s_k)
        else:
            price = uniform
            buy = sell = np.full(n, uniform)
    kept = wh > 0
    trades = trade_table(tb[kept], ta[kept], wh[kept], buy[kept], sell[kept])
    np.add.at(bid_fills, trades["bid"], trades["wh"])
    np.add.at(ask_fills, trades["ask"], trades["wh"])
    return Clearing(volume, price, bid_fills, ask_fills, trades)


# --- validation, shared with the kernels --------------------------------------------------------

def check_rule(rule: str, k: float | Fraction | None) -> Fraction:
    """Validate ``rule`` and ``k``; return k as a Fraction (1/2 when not given)."""
    if rule not in RULES:
        raise AuctionError(f"rule must be one of {RULES}, got {rule!r}")
    if k is None:
        return Fraction(1, 2)
    if rule != "k_double":
        raise AuctionError(f"k applies to rule='k_double' only, got k={k!r} with rule={rule!r}")
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not 0 <= k <= 1:
        raise AuctionError(f"k must be a number in [0, 1] (1 = price at the marginal bid, "
                           f"0 = at the marginal ask), got k={k!r}")
    return Fraction(k).limit_denominator(MAX_K_DENOMINATOR)


def check_orders(bid_prices: npt.ArrayLike, bid_qty: npt.ArrayLike, ask_prices: npt.ArrayLike,
                 ask_qty: npt.ArrayLike,
                 ndim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four order arrays as int64, checked for dtype, shape and bounds; ValueError if not."""
    shape = "(orders,)" if ndim == 1 else "(slots, orders)"
    arrays = {}
    for name, value, bound, unit in (("bid_prices", bid_prices, MAX_PRICE, "µ€/kWh"),
                                     ("bid_qty", bid_qty, MAX_WH, "Wh"),
                                     ("ask_prices", ask_prices, MAX_PRICE, "µ€/kWh"),
                                     ("ask_qty", ask_qty, MAX_WH, "Wh")):
        array = np.asarray(value)
        if array.size == 0:
            array = array.astype(np.int64)  # [] is float64 to NumPy: an empty book is fine
        if array.dtype.kind not in "iu":
            raise AuctionError(f"{name} must be an integer array of {unit}, got dtype "
                               f"{array.dtype} (round first, e.g. np.rint(x).astype(np.int64))")
        if array.ndim != ndim:
            raise AuctionError(f"{name} must be {ndim}-D {shape}, got shape {array.shape}")
        bad = np.argwhere((array < 0) | (array > bound))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            raise AuctionError(f"{name} must hold {unit} in [0, {bound}], got {array[where]} "
                               f"at index {where if ndim > 1 else where[0]}")
        arrays[name] = array.astype(np.int64, copy=False)
    for side in ("bid", "ask"):
        prices, qty = arrays[f"{side}_prices"], arrays[f"{side}_qty"]
        if prices.shape != qty.shape:
            raise AuctionError(f"{side}_prices has shape {prices.shape} but {side}_qty has shape "
                               f"{qty.shape}: one price and one quantity per order")
        # float64 sums of values <= MAX_WH < 2**53 are exact up to MAX_WH, so this test is exact
        totals = np.atleast_1d(qty.sum(axis=-1, dtype=np.float64))
        if np.any(totals > MAX_WH):
            first = int(np.argmax(totals > MAX_WH))
            in_slot = "" if ndim == 1 else f" in slot {first}"
            raise AuctionError(f"{side}_qty totals {int(totals[first])} Wh{in_slot}, above the "
                               f"bound {MAX_WH} Wh per side of one auction")
    if ndim == 2 and arrays["bid_prices"].shape[0] != arrays["ask_prices"].shape[0]:
        raise AuctionError(f"bid_prices has {arrays['bid_prices'].shape[0]} slots but ask_prices "
                           f"has {arrays['ask_prices'].shape[0]}: one row per slot on both sides")
    return arrays["bid_prices"], arrays["bid_qty"], arrays["ask_prices"], arrays["ask_qty"]
