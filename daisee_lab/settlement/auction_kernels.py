"""Double auctions, the numba kernels: the same integers as :mod:`.auction_reference`, fast.

The definitions (merit order, marginal prices, rules, rounding, bounds) are those of
:mod:`daisee_lab.settlement.auction_reference`; read them there. This module only computes them
faster.

How. Prices are integer ticks (µ€/kWh), so each book is put in merit order by a counting sort:
count the orders at each price between the book's lowest and highest, turn the counts into start
positions, and drop each order, in index order, at its price's next position. That is O(n + P)
for n orders over P ticks instead of a comparison sort's O(n log n), and stable, so ties keep
index order. It also lays out the sorted prices (from the price levels) and quantities, so that
the walk reads contiguous memory. When the price span is much wider than the book
(P > 4n + 1024), a stable merge sort is used instead. Then one pointer walks each book: the best
remaining bid trades with the best remaining ask until they no longer cross, and where the
pointers stop are the (k+1)-th units. Slots are independent: ``prange`` clears them in parallel
(a single auction runs on the calling thread: starting threads would only cost time).
"""

from fractions import Fraction

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from .auction_reference import (NO_PRICE, RULES, SLOT_TRADE_DTYPE, TRADE_DTYPE, Clearing,
                                check_orders, check_rule)

_MIDPOINT, _K_DOUBLE, _LAST_BID, _LAST_ASK, _MCAFEE, _PAY_AS_BID, _PAY_AS_OFFER, _PAIR = (
    RULES.index(name) for name in ("midpoint", "k_double", "last_bid", "last_ask", "mcafee",
                                   "pay_as_bid", "pay_as_offer", "pair_midpoint"))
_BUFFER_ROWS = 1 << 21  # trade rows buffered per batch of slots


def clear_double_auction(bid_prices: npt.ArrayLike, bid_qty: npt.ArrayLike,
                         ask_prices: npt.ArrayLike, ask_qty: npt.ArrayLike,
                         rule: str = "midpoint", k: float | Fraction | None = None) -> Clearing:
    """Clear one double auction, exactly as :func:`.auction_reference.clear_double_auction`."""
    frac = check_rule(rule, k)
    bp, bq, ap, aq = check_orders(bid_prices, bid_qty, ask_prices, ask_qty, ndim=1)
    result = _clear(bp[None], bq[None], ap[None], aq[None], rule, frac, TRADE_DTYPE)
    return Clearing(volume=int(result.volume[0]), price=int(result.price[0]),
                    bid_fills=result.bid_fills[0], ask_fills=result.ask_fills[0],
                    trades=result.trades)


def clear_double_auction_slots(bid_prices: npt.ArrayLike, bid_qty: npt.ArrayLike,
                               ask_prices: npt.ArrayLike, ask_qty: npt.ArrayLike,
                               rule: str = "midpoint",
                               k: float | Fraction | None = None) -> Clearing:
    """Clear one auction per row of 2-D (slots, orders) arrays, as the reference does."""
    frac = check_rule(rule, k)
    bp, bq, ap, aq = check_orders(bid_prices, bid_qty, ask_prices, ask_qty, ndim=2)
    return _clear(bp, bq, ap, aq, rule, frac, SLOT_TRADE_DTYPE)


def _clear(bp, bq, ap, aq, rule, frac, dtype):
    """Run the kernel on validated 2-D int64 arrays, a batch of slots at a time.

    The kernel writes trades as int64 rows of ``dtype``'s columns (all int64), so the rows of
    all slots, packed together, are viewed as the structured array without a copy.
    """
    bp, bq, ap, aq = (np.ascontiguousarray(a) for a in (bp, bq, ap, aq))  # one compiled layout
    slots = bp.shape[0]
    width = bp.shape[1] + ap.shape[1]  # a slot makes at most n_bids + n_asks - 1 trades
    columns = len(dtype.names)
    volume = np.zeros(slots, np.int64)
    price = np.zeros(slots, np.int64)
    counts = np.zeros(slots, np.int64)
    bid_fills = np.zeros(bq.shape, np.int64)
    ask_fills = np.zeros(aq.shape, np.int64)
    batch = max(1, _BUFFER_ROWS // max(width, 1))
    rows = []
    for start in range(0, slots, batch):
        part = slice(start, min(start + batch, slots))
        buffer = np.empty((part.stop - start, width, columns), np.int64)
        run = _clear_parallel if len(buffer) > 1 else _clear_serial  # no threads for one slot
        run(bp[part], bq[part], ap[part], aq[part], RULES.index(rule), frac.numerator,
            frac.denominator, start, volume[part], price[part], counts[part], bid_fills[part],
            ask_fills[part], buffer)
        if len(buffer) == 1:  # one slot: its rows are already packed
            rows.append(buffer[0, :counts[start]])
        else:
            rows.append(buffer[np.arange(width) < counts[part, None]])
    packed = rows[0] if len(rows) == 1 else np.concatenate(rows or [np.zeros((0, columns),
                                                                              np.int64)])
    trades = packed.view(dtype)[:, 0]
    return Clearing(volume, price, bid_fills, ask_fills, trades)


@njit(parallel=True, cache=True, nogil=True)
def _clear_parallel(bp, bq, ap, aq, rule, k_num, k_den, first_slot, volume, price, counts,
                    bid_fills, ask_fills, trades):
    for s in prange(bp.shape[0]):
        volume[s], price[s], counts[s] = _clear_slot(
            bp[s], bq[s], ap[s], aq[s], rule, k_num, k_den, first_slot + s, bid_fills[s],
            ask_fills[s], trades[s])


@njit(cache=True, nogil=True)
def _clear_serial(bp, bq, ap, aq, rule, k_num, k_den, first_slot, volume, price, counts,
                  bid_fills, ask_fills, trades):
    for s in range(bp.shape[0]):
        volume[s], price[s], counts[s] = _clear_slot(
            bp[s], bq[s], ap[s], aq[s], rule, k_num, k_den, first_slot + s, bid_fills[s],
            ask_fills[s], trades[s])


@njit(cache=True, nogil=True)
def _merit_order(prices, qty, descending):
    """The orders with quantity > 0, best price first, ties by index: (indices, prices, qty)."""
    n = lo = hi = 0
    for i in range(prices.size):
        if qty[i] > 0:
            lo = prices[i] if n == 0 else min(lo, prices[i])
            hi = prices[i] if n == 0 else max(hi, prices[i])
            n += 1
    span = hi - lo + 1
    if span > 4 * n + 1024:
        live = np.flatnonzero(qty > 0)
        keys = -prices[live] if descending else prices[live]
        order = live[np.argsort(keys, kind="mergesort")]
        return order, prices[order], qty[order]
    starts = np.zeros(span + 1, np.int64)  # then each price level's first position
    for i in range(prices.size):
        if qty[i] > 0:
            starts[(hi - prices[i] if descending else prices[i] - lo) + 1] += 1
    for key in range(span):
        starts[key + 1] += starts[key]
    sorted_prices = np.empty(n, np.int64)
    for key in range(span):
        for pos in range(starts[key], starts[key + 1]):
            sorted_prices[pos] = hi - key if descending else lo + key
    order = np.empty(n, np.int64)
    sorted_qty = np.empty(n, np.int64)
    for i in range(prices.size):
        if qty[i] > 0:
            key = hi - prices[i] if descending else prices[i] - lo
            order[starts[key]] = i
            sorted_qty[starts[key]] = qty[i]
            starts[key] += 1
    return order, sorted_prices, sorted_qty


@njit(cache=True, nogil=True)
def _clear_slot(bp, bq, ap, aq, rule, k_num, k_den, slot, bid_fills, ask_fills, trades):
    """Clear one auction: write fills and trade rows ([slot,] bid, ask, wh, buy_price,
    sell_price); return (volume, uniform price, number of trades)."""
    c = trades.shape[1] - 5  # 1 when the rows start with the slot, else 0
    bids, b_price, b_qty = _merit_order(bp, bq, True)  # contiguous, for the walk
    asks, a_price, a_qty = _merit_order(ap, aq, False)
    nb, na = bids.size, asks.size
    i = j = n = volume = 0
    rest_b = b_qty[0] if nb else 0
    rest_a = a_qty[0] if na else 0
    while i < nb and j < na and b_price[i] >= a_price[j]:
        wh = min(rest_b, rest_a)
        trades[n, c], trades[n, c + 1], trades[n, c + 2] = i, j, wh  # merit positions, for now
        n += 1
        volume += wh
        rest_b -= wh
        rest_a -= wh
        if rest_b == 0:
            i += 1
            rest_b = b_qty[i] if i < nb else 0
        if rest_a == 0:
            j += 1
            rest_a = a_qty[j] if j < na else 0
    if n == 0:
        return 0, NO_PRICE, 0

    # the pointers now hold the (k+1)-th units; absent: b_{k+1} = 0, s_{k+1} = -1 for +infinity
    b_k, s_k = b_price[trades[n - 1, c]], a_price[trades[n - 1, c + 1]]
    b_next = b_price[i] if i < nb else 0
    s_next = a_price[j] if j < na else -1
    lo = max(s_k, b_next)
    hi = b_k if s_next < 0 else min(b_k, s_next)
    price = NO_PRICE
    if rule == _MIDPOINT:
        price = (lo + hi) // 2
    elif rule == _K_DOUBLE:
        price = (k_num * b_k + (k_den - k_num) * s_k) // k_den
    elif rule == _LAST_BID:
        price = b_k
    elif rule == _LAST_ASK:
        price = s_k
    elif rule == _MCAFEE:
        p0 = (b_next + s_next) // 2
        if s_next >= 0 and s_k <= p0 <= b_k:
            price = p0
        else:  # trade reduction: drop the last Wh of the marginal trade
            volume -= 1
            trades[n - 1, c + 2] -= 1
            if trades[n - 1, c + 2] == 0:
                n -= 1
    for t in range(n):
        x, y = trades[t, c], trades[t, c + 1]
        buy = sell = price
        if rule == _PAY_AS_BID:
            buy = sell = b_price[x]
        elif rule == _PAY_AS_OFFER:
            buy = sell = a_price[y]
        elif rule == _PAIR:
            buy = sell = (b_price[x] + a_price[y]) // 2
        elif rule == _MCAFEE and price == NO_PRICE:
            buy, sell = b_k, s_k
        if c:
            trades[t, 0] = slot
        trades[t, c], trades[t, c + 1], trades[t, c + 3], trades[t, c + 4] = bids[x], asks[y], \
            buy, sell
        bid_fills[bids[x]] += trades[t, c + 2]
        ask_fills[asks[y]] += trades[t, c + 2]
    return volume, price, n
