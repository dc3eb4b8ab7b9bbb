"""Double-auction clearing: hand-worked books, edge cases, bad input, and the numba kernel
against the plain reference on random books (hypothesis)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daisee_lab.errors import DaiseeError
from daisee_lab.settlement import auction_kernels as kernels
from daisee_lab.settlement import auction_reference as reference
from daisee_lab.settlement.auction_reference import (MAX_PRICE, MAX_WH, NO_PRICE, RULES,
                                                     SLOT_TRADE_DTYPE, TRADE_DTYPE, AuctionError)

IMPLEMENTATIONS = pytest.mark.parametrize("impl", [reference, kernels], ids=["reference", "kernel"])

# A book worked by hand. In merit order: bids 1 (300 µ€/kWh, 10 Wh), 2 (250, 20), 0 (200, 10);
# asks 1 (100, 15), 2 (180, 10), 0 (260, 10). The walk: bid 1 takes 10 Wh of ask 1, bid 2 takes
# its last 5 Wh, then 10 Wh of ask 2; bid 2 (15 of 20 Wh filled, the marginal bid) faces ask 0 at
# 260 > 250 and stops. Volume 25 Wh; b_k = 250, s_k = 180, b_{k+1} = 250 (bid 2's rest),
# s_{k+1} = 260; the Walrasian interval is [max(180, 250), min(250, 260)] = [250, 250].
BOOK = dict(bid_prices=[200, 300, 250], bid_qty=[10, 10, 20],
            ask_prices=[260, 100, 180], ask_qty=[10, 15, 10])
PAIRS = [(1, 1, 10), (2, 1, 5), (2, 2, 10)]
EXPECTED = {  # rule: (volume, uniform price, trades as (bid, ask, Wh, buy_price, sell_price))
    "midpoint": (25, 250, [(b, a, e, 250, 250) for b, a, e in PAIRS]),
    "k_double": (25, 215, [(b, a, e, 215, 215) for b, a, e in PAIRS]),  # (250 + 180) // 2
    "last_bid": (25, 250, [(b, a, e, 250, 250) for b, a, e in PAIRS]),
    "last_ask": (25, 180, [(b, a, e, 180, 180) for b, a, e in PAIRS]),
    # p0 = (250 + 260) // 2 = 255 is above b_k = 250: the last Wh of the marginal trade goes
    "mcafee": (24, NO_PRICE, [(1, 1, 10, 250, 180), (2, 1, 5, 250, 180), (2, 2, 9, 250, 180)]),
    "pay_as_bid": (25, NO_PRICE, [(1, 1, 10, 300, 300), (2, 1, 5, 250, 250),
                                  (2, 2, 10, 250, 250)]),
    "pay_as_offer": (25, NO_PRICE, [(1, 1, 10, 100, 100), (2, 1, 5, 100, 100),
                                    (2, 2, 10, 180, 180)]),
    "pair_midpoint": (25, NO_PRICE, [(1, 1, 10, 200, 200), (2, 1, 5, 175, 175),
                                     (2, 2, 10, 215, 215)]),
}


def same(a, b):
    """Whether two clearings hold identical integers (and trade dtypes)."""
    return (np.array_equal(a.volume, b.volume) and np.array_equal(a.price, b.price)
            and np.array_equal(a.bid_fills, b.bid_fills)
            and np.array_equal(a.ask_fills, b.ask_fills)
            and a.trades.dtype == b.trades.dtype and np.array_equal(a.trades, b.trades))


def units(prices, qty, descending):
    """Every Wh of a book as one unit at its order's price, in merit order (the textbook curve)."""
    curve = np.sort(np.repeat(np.asarray(prices, np.int64), qty))
    return curve[::-1] if descending else curve


# --- worked examples ----------------------------------------------------------------------------

@IMPLEMENTATIONS
@pytest.mark.parametrize("rule", RULES)
def test_hand_worked_book(impl, rule):
    volume, price, trades = EXPECTED[rule]
    result = impl.clear_double_auction(**BOOK, rule=rule)
    assert (result.volume, result.price) == (volume, price)
    assert result.trades.dtype == TRADE_DTYPE
    assert result.trades.tolist() == trades
    filled = 14 if rule == "mcafee" else 15  # the marginal bid and ask are partly filled
    assert result.bid_fills.tolist() == [0, 10, filled]
    assert result.ask_fills.tolist() == [0, 15, filled - 5]


@IMPLEMENTATIONS
@pytest.mark.parametrize("k, price", [(0, 180), (1, 250), (Fraction(1, 3), 203), (0.3, 201),
                                      (0.1 + 0.2, 201)])
def test_k_double_weighs_the_marginal_bid(impl, k, price):
    # floor(k·250 + (1-k)·180): 1/3 -> 610/3 = 203.3; 0.3 and 0.30000000000000004 -> 3/10 -> 201
    assert impl.clear_double_auction(**BOOK, rule="k_double", k=k).price == price


@IMPLEMENTATIONS
def test_mcafee_keeps_every_trade_when_p0_is_inside(impl):
    # bids 300, 200 and asks 100, 250, 10 Wh each: k = 10 Wh, b_k = 300, s_k = 100,
    # b_{k+1} = 200, s_{k+1} = 250, p0 = 225 lies in [100, 300]: everyone trades at 225
    result = impl.clear_double_auction([300, 200], [10, 10], [100, 250], [10, 10], rule="mcafee")
    assert (result.volume, result.price) == (10, 225)
    assert result.trades.tolist() == [(0, 0, 10, 225, 225)]
    midpoint = impl.clear_double_auction([300, 200], [10, 10], [100, 250], [10, 10])
    assert midpoint.price == 225  # the Walrasian interval [200, 250]


# --- edge cases ---------------------------------------------------------------------------------

@IMPLEMENTATIONS
@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("book", [
    ([], [], [100], [5]),  # no bids
    ([100], [5], [], []),  # no asks
    ([100, 90], [5, 5], [101, 120], [5, 5]),  # no crossing
    ([500], [0], [10], [7]),  # a bid of 0 Wh is no bid
], ids=["no-bids", "no-asks", "no-crossing", "zero-quantity"])
def test_nothing_trades(impl, rule, book):
    result = impl.clear_double_auction(*book, rule=rule)
    assert (result.volume, result.price, len(result.trades)) == (0, NO_PRICE, 0)
    assert result.bid_fills.tolist() == [0] * len(book[0])
    assert result.ask_fills.tolist() == [0] * len(book[2])


@IMPLEMENTATIONS
@pytest.mark.parametrize("rule", RULES)
def test_all_equal_prices(impl, rule):
    result = impl.clear_double_auction([50, 50], [3, 4], [50, 50, 50], [2, 2, 2], rule=rule)
    # all 6 Wh of asks sell; bid 1 keeps 1 Wh, so b_{k+1} = 50 and s_{k+1} is absent: McAfee's
    # p0 is infinite, it drops one Wh
    assert result.volume == (5 if rule == "mcafee" else 6)
    assert set(result.trades["buy_price"]) == set(result.trades["sell_price"]) == {50}
    assert result.bid_fills.tolist() == ([3, 2] if rule == "mcafee" else [3, 3])


@IMPLEMENTATIONS
def test_ties_fill_in_index_order(impl):
    result = impl.clear_double_auction([100, 100, 100], [5, 5, 5], [90, 90], [4, 4])
    assert result.bid_fills.tolist() == [5, 3, 0]
    assert result.ask_fills.tolist() == [4, 4]
    assert result.trades[["bid", "ask", "wh"]].tolist() == [(0, 0, 4), (0, 1, 1), (1, 1, 3)]


@IMPLEMENTATIONS
def test_single_order_each_side(impl):
    # bid 120 for 10 Wh, ask 80 for 4 Wh: the bid is the marginal order and keeps 6 Wh, so
    # b_{k+1} = 120 and the Walrasian interval is [120, 120]
    book = ([120], [10], [80], [4])
    midpoint = impl.clear_double_auction(*book)
    assert (midpoint.volume, midpoint.price) == (4, 120)
    assert midpoint.bid_fills.tolist() == [4]
    assert impl.clear_double_auction(*book, rule="k_double").price == 100
    mcafee = impl.clear_double_auction(*book, rule="mcafee")
    assert (mcafee.volume, mcafee.price) == (3, NO_PRICE)
    assert mcafee.trades.tolist() == [(0, 0, 3, 120, 80)]  # surplus (120 - 80)·3 Wh


@IMPLEMENTATIONS
def test_midpoints_are_floored(impl):
    # bids 300, 200 and asks 100, 251: Walrasian interval [200, 251], p0 = (200 + 251) / 2
    book = ([300, 200], [10, 10], [100, 251], [10, 10])
    assert impl.clear_double_auction(*book).price == 225
    assert impl.clear_double_auction(*book, rule="mcafee").price == 225
    pair = impl.clear_double_auction([121], [1], [80], [1], rule="pair_midpoint")
    assert pair.trades["buy_price"].tolist() == [100]


@IMPLEMENTATIONS
def test_mcafee_is_not_truthful_for_a_multi_wh_order(impl):
    # one bid of 3 Wh at 6 against one ask of 3 Wh at 0: no s_{k+1}, so the last Wh goes and
    # the other 2 Wh trade at b_k, the bid's own price; shading the bid to 0 buys them at 0
    honest = impl.clear_double_auction([6], [3], [0], [3], rule="mcafee")
    shaded = impl.clear_double_auction([0], [3], [0], [3], rule="mcafee")
    assert honest.trades.tolist() == [(0, 0, 2, 6, 0)]
    assert shaded.trades.tolist() == [(0, 0, 2, 0, 0)]
    assert utility(shaded, "bid", 0, value=6) == 12 > utility(honest, "bid", 0, value=6) == 0


@IMPLEMENTATIONS
def test_mcafee_drops_a_one_wh_trade_entirely(impl):
    # the marginal trade is 1 Wh: bid 1 meets ask 1 for 1 Wh, no one is left behind them
    result = impl.clear_double_auction([200, 150], [4, 1], [100, 120], [4, 1], rule="mcafee")
    assert result.volume == 4
    assert result.trades.tolist() == [(0, 0, 4, 150, 120)]
    assert result.bid_fills.tolist() == [4, 0]


@IMPLEMENTATIONS
def test_zero_quantity_orders_are_not_in_the_market(impl):
    padded = impl.clear_double_auction([999, 200, 300, 250, 0], [0, 10, 10, 20, 0],
                                       [0, 260, 100, 180], [0, 10, 15, 10], rule="mcafee")
    plain = impl.clear_double_auction(**BOOK, rule="mcafee")
    assert (padded.volume, padded.price) == (plain.volume, plain.price)
    assert padded.bid_fills.tolist() == [0, *plain.bid_fills, 0]
    assert padded.trades["wh"].tolist() == plain.trades["wh"].tolist()


# --- many slots ---------------------------------------------------------------------------------

@IMPLEMENTATIONS
def test_slots_are_independent_auctions(impl):
    bids = np.array([[200, 300, 250], [120, 0, 0]])  # slot 1 has one bid, padded with 0 Wh
    bid_qty = np.array([[10, 10, 20], [10, 0, 0]])
    asks = np.array([[260, 100, 180], [80, 0, 0]])
    ask_qty = np.array([[10, 15, 10], [4, 0, 0]])
    result = impl.clear_double_auction_slots(bids, bid_qty, asks, ask_qty)
    assert result.volume.tolist() == [25, 4]
    assert result.price.tolist() == [250, 120]
    assert result.bid_fills.tolist() == [[0, 10, 15], [4, 0, 0]]
    assert result.trades.dtype == SLOT_TRADE_DTYPE
    assert result.trades.tolist() == [(0, 1, 1, 10, 250, 250), (0, 2, 1, 5, 250, 250),
                                      (0, 2, 2, 10, 250, 250), (1, 0, 0, 4, 120, 120)]


@IMPLEMENTATIONS
def test_no_slots(impl):
    empty = np.zeros((0, 3), np.int64)
    result = impl.clear_double_auction_slots(empty, empty, empty, empty)
    assert result.volume.shape == (0,) and result.bid_fills.shape == (0, 3)
    assert result.trades.dtype == SLOT_TRADE_DTYPE and len(result.trades) == 0


def test_kernel_batches_many_slots_like_the_reference(monkeypatch):
    monkeypatch.setattr(kernels, "_BUFFER_ROWS", 50)  # 7 slots of width 20: batches of 2 slots
    rng = np.random.default_rng(3)
    book = (rng.integers(0, 40, (7, 10)), rng.integers(0, 9, (7, 10)),
            rng.integers(0, 40, (7, 10)), rng.integers(0, 9, (7, 10)))
    ref = reference.clear_double_auction_slots(*book, rule="pair_midpoint")
    assert ref.volume.all() and len(ref.trades) > 7  # every slot trades
    assert same(kernels.clear_double_auction_slots(*book, rule="pair_midpoint"), ref)


# --- bad input ----------------------------------------------------------------------------------

@IMPLEMENTATIONS
@pytest.mark.parametrize("change, message", [
    (dict(bid_qty=[10, -1, 20]), r"bid_qty must hold Wh in \[0, .*got -1 at index 1"),
    (dict(ask_prices=[260.0, 100.0, 180.0]), "ask_prices must be an integer array"),
    (dict(bid_prices=[200, 300]), r"bid_prices has shape \(2,\) but bid_qty has shape \(3,\)"),
    (dict(ask_qty=[[10, 15, 10]]), r"ask_qty must be 1-D \(orders,\)"),
    (dict(ask_prices=[260, MAX_PRICE + 1, 0]), "ask_prices must hold µ€/kWh"),
    (dict(bid_qty=[MAX_WH, MAX_WH, 0]), "bid_qty totals 800000000000 Wh, above the bound"),
    (dict(rule="vickrey"), "rule must be one of"),
    (dict(rule="k_double", k=1.5), r"k must be a number in \[0, 1\]"),
    (dict(rule="k_double", k=-0.1), r"k must be a number in \[0, 1\]"),
    (dict(rule="k_double", k=float("nan")), r"k must be a number in \[0, 1\]"),
    (dict(rule="k_double", k="1/2"), r"k must be a number in \[0, 1\]"),
    (dict(rule="midpoint", k=0.5), "k applies to rule='k_double' only"),
])
def test_bad_input_names_the_argument(impl, change, message):
    with pytest.raises(AuctionError, match=message) as error:
        impl.clear_double_auction(**{**BOOK, **change})
    assert isinstance(error.value, ValueError) and isinstance(error.value, DaiseeError)


@IMPLEMENTATIONS
def test_bad_slots(impl):
    book = np.zeros((2, 3), np.int64)
    with pytest.raises(AuctionError, match="bid_prices has 2 slots but ask_prices has 1"):
        impl.clear_double_auction_slots(book, book, book[:1], book[:1])
    qty = np.array([[1, 1, 1], [MAX_WH, MAX_WH, 0]])
    with pytest.raises(AuctionError, match="ask_qty totals .* in slot 1"):
        impl.clear_double_auction_slots(book, book, book, qty)


# --- random books: the kernel equals the reference, and the reference equals the textbook -------

@st.composite
def books(draw, max_orders=10, max_qty=60):
    """A random book: narrow price spans make ties (counting sort), wide ones the merge sort."""
    top = draw(st.sampled_from([0, 3, 30, MAX_PRICE]))
    side = []
    for _ in range(2):
        n = draw(st.integers(0, max_orders))
        side += [draw(st.lists(st.integers(0, top), min_size=n, max_size=n)),
                 draw(st.lists(st.integers(0, max_qty), min_size=n, max_size=n))]
    return side


RANDOM = settings(deadline=None)
K_VALUES = st.one_of(st.none(), st.fractions(0, 1, max_denominator=50), st.floats(0, 1))


@RANDOM
@given(books(), st.sampled_from(RULES), K_VALUES)
def test_kernel_matches_reference(book, rule, k):
    k = k if rule == "k_double" else None
    ref = reference.clear_double_auction(*book, rule=rule, k=k)
    assert same(kernels.clear_double_auction(*book, rule=rule, k=k), ref)


@RANDOM
@given(st.lists(books(max_orders=6), max_size=4), st.sampled_from(RULES))
def test_slots_match_one_auction_at_a_time(slot_books, rule):
    width = [max([len(b[side]) for b in slot_books], default=0) for side in (0, 2)]
    padded = [np.zeros((len(slot_books), width[side // 2]), np.int64) for side in range(4)]
    for s, book in enumerate(slot_books):
        for side in range(4):
            padded[side][s, :len(book[side])] = book[side]
    ref = reference.clear_double_auction_slots(*padded, rule=rule)
    assert same(kernels.clear_double_auction_slots(*padded, rule=rule), ref)
    for s in range(len(slot_books)):
        one = reference.clear_double_auction(*(side[s] for side in padded), rule=rule)
        assert (ref.volume[s], ref.price[s]) == (one.volume, one.price)
        assert ref.bid_fills[s].tolist() == one.bid_fills.tolist()
        assert ref.trades[ref.trades["slot"] == s][list(TRADE_DTYPE.names)].tolist() == \
            one.trades.tolist()


@RANDOM
@given(books(), st.sampled_from(RULES))
def test_clearing_follows_the_unit_curves(book, rule):
    bp, bq, ap, aq = (np.asarray(side, np.int64) for side in book)
    result = reference.clear_double_auction(*book, rule=rule)
    b, s = units(bp, bq, descending=True), units(ap, aq, descending=False)
    m = min(len(b), len(s))
    efficient = int(np.count_nonzero(b[:m] >= s[:m]))  # b_t - s_t never rises
    trades = result.trades
    assert result.bid_fills.sum() == result.ask_fills.sum() == trades["wh"].sum() == result.volume
    assert (result.bid_fills <= bq).all() and (result.ask_fills <= aq).all()
    assert (trades["wh"] > 0).all()
    # no one trades at a loss; the auctioneer never pays
    assert (trades["buy_price"] <= bp[trades["bid"]]).all()
    assert (trades["sell_price"] >= ap[trades["ask"]]).all()
    assert (trades["buy_price"] >= trades["sell_price"]).all()
    if efficient == 0:
        assert (result.volume, result.price) == (0, NO_PRICE)
        return
    b_next = int(b[efficient]) if efficient < len(b) else 0
    s_next = int(s[efficient]) if efficient < len(s) else None
    uniform = reference.uniform_price(rule, int(b[efficient - 1]), int(s[efficient - 1]), b_next,
                                      s_next) if rule in RULES[:5] else NO_PRICE
    if rule == "mcafee":
        # the efficient volume, or exactly one Wh less with buyers at b_k and sellers at s_k
        assert result.volume == (efficient if uniform is not None else efficient - 1)
        assert result.price == (NO_PRICE if uniform is None else uniform)
        if uniform is None:
            assert set(trades["buy_price"]) <= {b[efficient - 1]}
            assert set(trades["sell_price"]) <= {s[efficient - 1]}
    else:
        assert result.volume == efficient
        assert result.price == uniform
    if rule == "midpoint":  # a Walrasian price: no order wants to change its fill
        p = result.price
        assert (bp[result.bid_fills > 0] >= p).all() and (bp[result.bid_fills < bq] <= p).all()
        assert (ap[result.ask_fills > 0] <= p).all() and (ap[result.ask_fills < aq] >= p).all()


def utility(result, side, trader, value):
    """A trader's gain from trade at its true ``value`` (µ€/kWh times Wh)."""
    trades = result.trades[result.trades[side] == trader]
    if side == "bid":
        return int(((value - trades["buy_price"]) * trades["wh"]).sum())
    return int(((trades["sell_price"] - value) * trades["wh"]).sum())


@RANDOM
@given(st.lists(st.integers(0, 20), min_size=1, max_size=8),
       st.lists(st.integers(0, 20), min_size=1, max_size=8),
       st.sampled_from(["bid", "ask"]), st.integers(0, 7), st.integers(0, 20))
def test_mcafee_is_truthful_for_one_wh_traders(bids, asks, side, who, lie):
    books = {"bid": list(bids), "ask": list(asks)}
    who %= len(books[side])
    value = books[side][who]

    def clear(book):
        return kernels.clear_double_auction(book["bid"], [1] * len(bids), book["ask"],
                                            [1] * len(asks), rule="mcafee")

    honest = utility(clear(books), side, who, value)
    books[side][who] = lie
    assert honest >= utility(clear(books), side, who, value)


def test_both_sorts_on_large_books():
    rng = np.random.default_rng(7)
    n = 5_000
    for top in (1_000, MAX_PRICE):  # counting sort over 1001 ticks; merge sort over 10**7
        book = (rng.integers(0, top, n), rng.integers(0, 3_000, n),
                rng.integers(0, top, n), rng.integers(0, 3_000, n))
        for rule in ("midpoint", "mcafee", "pay_as_offer"):
            ref = reference.clear_double_auction(*book, rule=rule)
            assert ref.volume > 0
            assert same(kernels.clear_double_auction(*book, rule=rule), ref)
