"""contracts.AuctionDay, the driver of a day of sealed-bid rounds (the main job's), and the
community driver's hooks the main job uses (Community.settle_energy's start_wh and on_slot):
small days worked out by hand."""

import numpy as np
import pytest

from daisee_lab.chain import Chain
from daisee_lab.contracts import (AuctionDay, ClearingRefused, ContractsError, deploy_auction,
                                  deploy_community, make_members)
from daisee_lab.settlement import clear_double_auction_slots

pytestmark = pytest.mark.slow  # its tests send transactions to a chain: seconds each

GRID_BUY, GRID_SELL = 250_000, 100_000  # µ€/kWh


@pytest.fixture(scope="module")
def chain():
    return Chain()


@pytest.fixture
def fresh(chain):
    snapshot = chain.snapshot()
    yield chain
    chain.revert_to(snapshot)


def two_slot_day(chain):
    """Three members, A (a buyer), B (a seller) and C, over two delivery slots:
    slot 0: A bids 500 Wh at 150 000 µ€/kWh, B asks 400 Wh at 100 000;
    slot 1: C bids 300 Wh at 120 000, B asks 300 Wh at 130 000 (no cross: nothing trades).
    B's meter exports 400 Wh in slot 0 and 300 in slot 1 from an index of 1 000 Wh."""
    traders = chain.accounts[1:4]
    members = make_members([t.address for t in traders], seed=7)
    auction = deploy_auction(chain, chain.accounts[0], members, GRID_BUY)
    first = chain.timestamp // 900 + 3  # its commit window is open
    bid_prices = np.array([[150_000, 0, 0], [0, 0, 120_000]])
    bid_qty = np.array([[500, 0, 0], [0, 0, 300]])
    ask_prices = np.array([[0, 100_000, 0], [0, 130_000, 0]])
    ask_qty = np.array([[0, 400, 0], [0, 300, 0]])
    index_in = np.full((3, 3), 5_000)  # nobody's import matters to a delivery
    index_out = np.array([[0, 1_000, 0], [0, 1_400, 0], [0, 1_700, 0]])
    orders = (bid_prices, bid_qty, ask_prices, ask_qty)
    day = AuctionDay(auction, traders, members, [first, first + 1], orders, index_in, index_out)
    return day, orders


def test_a_day_of_rounds_clears_pays_and_settles_deliveries_as_worked_by_hand(fresh):
    day, orders = two_slot_day(fresh)
    clearing = clear_double_auction_slots(*orders)
    # slot 0: the bid (150 000) is above the ask (100 000): 400 Wh trade, the bid only in
    # part, so its 401st Wh would still buy at 150 000 and the Walrasian interval is
    # [max(100 000, 150 000), min(150 000, no next ask)]: 150 000 µ€/kWh;
    # slot 1: 120 000 < 130 000, nothing trades
    assert clearing.volume.tolist() == [400, 0] and clearing.price[0] == 150_000
    steps = []
    trades = day.trade(clearing, lambda: steps.append(1))
    assert len(steps) == 4  # a commit and a clear per slot
    assert [(r[-2], r[-1]) for r in trades.rounds] == [(150_000, 400), (0, 0)]
    assert trades.bid_fills == [[400], [0]] and trades.ask_fills == [[400], [0]]
    # A pays 400 Wh x 150 000 µ€/kWh / 1000 = 60 000 µ€; B, who delivered (its index went
    # from 1 000 to 1 400 Wh), gets them and its bond back; C's unfilled bid costs nothing
    assert trades.paid.tolist() == [60_000, -60_000, 0]
    # each trader was given exactly its orders' deposits: A 500 x 150 000 / 1000 = 75 000;
    # B two bonds at the grid price, 400 x 250 000 / 1000 + 300 x 250 000 / 1000 = 175 000;
    # C 300 x 120 000 / 1000 = 36 000
    assert day.funded == [75_000, 175_000, 36_000]
    assert day.last_signed == [0, day.slots[0], 0]  # B signed its delivery of slot 0 only


def test_a_clearing_the_contract_refuses_names_its_slot(fresh):
    day, orders = two_slot_day(fresh)
    clearing = clear_double_auction_slots(*orders)
    clearing.volume[0] = 399  # not what the books clear to
    day.fund()
    for t in range(2):
        day.commit(t)
    with pytest.raises(ClearingRefused, match=f"slot {day.slots[0]}: the contract refused") as e:
        day.clear(0, clearing)
    assert e.value.slot == day.slots[0] and e.value.reason
    assert isinstance(e.value, ContractsError)


def test_a_day_refuses_orders_of_the_wrong_shape(fresh):
    day, orders = two_slot_day(fresh)
    with pytest.raises(ContractsError, match=r"shape \(slots, members\) = \(2, 3\)"):
        AuctionDay(day.auction, day.traders, day.members, day.slots,
                   [side[:1] for side in orders], day.index_in, day.index_out)
    with pytest.raises(ContractsError, match="one or more consecutive slots"):
        AuctionDay(day.auction, day.traders, day.members, [day.slots[0], day.slots[0] + 2],
                   orders, day.index_in, day.index_out)
    with pytest.raises(ContractsError, match="one trader per member"):
        AuctionDay(day.auction, day.traders[:2], day.members, day.slots, orders, day.index_in,
                   day.index_out)
    with pytest.raises(ContractsError, match=r"\(slots \+ 1, members\) = \(3, 3\)"):
        AuctionDay(day.auction, day.traders, day.members, day.slots, orders,
                   day.index_in[:2], day.index_out[:2])


def test_settle_energy_starts_from_the_meters_own_indexes_and_reports_each_slot(fresh):
    """Two households whose meters start at real indexes (not 0): A imports 300 Wh, B exports
    500 Wh, in one slot, mid-market rate between 250 000 and 100 000 µ€/kWh."""
    chain = fresh
    members = make_members([a.address for a in chain.accounts[1:3]], seed=3)
    community = deploy_community(chain, chain.accounts[0], members, GRID_BUY, GRID_SELL)
    community.fund({m.account: 1_000_000 for m in members} | {community.grid: 1_000_000})
    slot = chain.timestamp // 900 - 10
    settled = []
    paid = community.settle_energy([[300], [0]], [[0], [500]], slot,
                                   start_wh=([1_000, 50], [0, 2_000]),
                                   on_slot=lambda s, receipt: settled.append(
                                       (s, receipt.events_named("SlotSettled")[0].args)))
    # the price is the mid-market rate, (250 000 + 100 000) / 2 = 175 000 µ€/kWh: A pays
    # 300 x 175 000 / 1000 = 52 500; B gets those and sells its other 200 Wh to the grid at
    # 100 000, 200 x 100 000 / 1000 = 20 000: 72 500 in all
    assert paid[slot].tolist() == [52_500, -72_500]
    assert [s for s, _ in settled] == [slot]  # the anchor (slot - 1) is not reported
    assert settled[0][1]["gridBill"] == -20_000 and settled[0][1]["rounding"] == 0
    assert [community.market.lastReading(m.meter)[1:] for m in members] == [
        [slot, 1_300, 0], [slot, 50, 2_500]]
    with pytest.raises(ContractsError, match="reads 1300 and 0 Wh on chain"):
        community.settle_energy([[0], [0]], [[0], [0]], slot + 1,
                                start_wh=([1_000, 50], [0, 2_500]))
