"""AuctionMarket: sealed bids, a clearing verified in one pass equal to `clear_double_auction`,
delivery settled from signed readings, the attacks it refuses; and the naive on-chain sort."""

from collections import Counter

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from daisee_lab import units
from daisee_lab.chain import Chain
from daisee_lab.contracts import (Auction, ContractsError, commitment_hash, deploy_auction,
                                  make_members, public_id_bytes, sign_reading)
from daisee_lab.settlement import clear_double_auction
from daisee_lab.settlement.auction_reference import clear_double_auction as reference_clearing

from conftest import CHAIN_EXAMPLES, TEST_CONTRACTS, run_chain_machine

pytestmark = pytest.mark.slow  # its tests send transactions to a chain: seconds each

GRID_BUY = 250_000  # µ€/kWh


class World:
    """One chain: an auction whose members (registered households) are a buyer, two sellers and
    Eve, all funded, and a funded outsider with no meter; each test starts from the snapshot."""

    def __init__(self):
        self.chain = Chain(contract_dirs=[TEST_CONTRACTS])
        accounts = self.chain.accounts
        self.operator, self.buyer, self.seller, self.seller2, self.eve = accounts[:5]
        self.outsider, self.grid = accounts[5], accounts[9]
        self.homes = make_members([self.seller.address, self.seller2.address,
                                      self.buyer.address, self.eve.address], seed=21)
        self.auction = deploy_auction(self.chain, self.operator, self.homes, GRID_BUY,
                                      grid=self.grid.address)
        for trader in (self.buyer, self.seller, self.seller2, self.eve, self.outsider):
            self.auction.fund(trader, 100_000_000)
        self.snapshot = self.chain.snapshot()

    def fresh(self) -> tuple[Auction, int]:
        """Back to the start; a delivery slot whose commit window is open."""
        self.chain.revert_to(self.snapshot)
        return self.auction, self.chain.timestamp // 900 + 3

    def to_reveal(self, slot):
        self.chain.advance_time(slot * 900 - 600 - self.chain.timestamp)

    def to_clearing(self, slot):
        self.chain.advance_time(slot * 900 - self.chain.timestamp)


@pytest.fixture(scope="module")
def world():
    return World()


def kernel_clearing(auction, slot):
    bids, asks = auction.book(slot)
    return clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                asks.price.to_numpy(), asks.qty.to_numpy())


def held_by_others(world, auction):
    """Credits the market owes: withdrawable balances and the community account."""
    accounts = [world.buyer, world.seller, world.seller2, world.eve, world.outsider]
    return (int(auction.balances([a.address for a in accounts] + [world.grid.address]).sum())
            + auction.market.communityBalance())


def two_by_two(world):
    """The worked round: bids 300 000 x 500 Wh and 200 000 x 700 Wh, asks 100 000 x 400 Wh and
    250 000 x 600 Wh (µ€/kWh)."""
    auction, slot = world.fresh()
    orders = [auction.commit(world.buyer, slot, True, 300_000, 500),
              auction.commit(world.buyer, slot, True, 200_000, 700),
              auction.commit(world.seller, slot, False, 100_000, 400),
              auction.commit(world.seller2, slot, False, 250_000, 600)]
    world.to_reveal(slot)
    for order in orders:
        auction.reveal(order)
    world.to_clearing(slot)
    return auction, slot, orders


# --- a round by hand --------------------------------------------------------------------------

def test_a_round_commits_reveals_clears_at_the_uniform_price_and_refunds(world):
    auction, slot = world.fresh()
    order = auction.commit(world.buyer, slot, True, 300_000, 500, deposit=200_000)
    (sealed,) = auction.market.commitments(slot)
    assert sealed[:2] == (world.buyer.address, 200_000)
    assert sealed[2] == commitment_hash(auction.market.address, slot, world.buyer.address, True,
                                        300_000, 500, order.salt)
    assert auction.market.commitmentHash(slot, world.buyer.address, True, 300_000, 500,
                                         order.salt) == sealed[2]
    auction, slot, orders = two_by_two(world)
    bids, asks = auction.book(slot)
    assert bids.price.tolist() == [300_000, 200_000] and asks.qty.tolist() == [400, 600]
    clearing = kernel_clearing(auction, slot)
    assert (clearing.volume, clearing.price) == (500, 250_000)
    receipt = auction.clear(slot, clearing, sender=world.eve)  # anyone may submit it
    (event,) = receipt.events_named("Cleared")
    assert event.args == {"slot": slot, "volume": 500, "price": 250_000, "rounding": 0,
                          "forfeited": 0}
    bids, asks = auction.book(slot)
    assert bids.filled.tolist() == [500, 0] and asks.filled.tolist() == [400, 100]
    assert bids.escrow.tolist() == [0, 0]
    assert asks.escrow.tolist() == [100_000, 25_000]  # the bonds of what was sold
    # buyer: deposits 150 000 + 140 000, pays 500 Wh x 0.25 €/kWh = 125 000 µ€
    # sellers: paid 100 000 and 25 000; bonds of 100 000 and 150 000 keep 100 000 and 25 000
    assert auction.balances([world.buyer.address, world.seller.address,
                             world.seller2.address]).tolist() == [165_000, 100_000, 150_000]
    assert auction.market.rounds(slot) == [290_000 + 250_000, 290_000 + 250_000, True, 250_000,
                                           500]
    assert auction.credit.balanceOf(auction.market.address) == held_by_others(world, auction) \
        + 125_000


def test_delivery_charges_what_was_not_exported_at_the_grid_price(world):
    auction, slot, _ = two_by_two(world)
    auction.clear(slot, kernel_clearing(auction, slot))
    world.chain.advance_time(900)
    home, home2 = world.homes[:2]
    key, meter = home.meter_key, home.meter
    readings = [sign_reading(key, auction.market.address, auction.chain_id, meter, slot - 1,
                             10_000, 5_000),
                sign_reading(key, auction.market.address, auction.chain_id, meter, slot,
                             10_050, 5_300)]
    (event,) = auction.settle_delivery(slot, 0, readings).events_named("Delivered")
    # sold 400 Wh, exported 300: 100 Wh bought from the grid at 0.25 €/kWh, from the bond
    assert event.args == {"slot": slot, "ask": 0, "seller": world.seller.address,
                          "deliveredWh": 300, "shortWh": 100, "charge": 25_000}
    assert auction.balances([world.seller.address, world.grid.address]).tolist() == [
        100_000 + 75_000, 25_000]
    assert auction.book(slot)[1].escrow.tolist() == [0, 25_000]
    with world.chain.expect_revert("NothingToSettle"):
        auction.settle_delivery(slot, 0, [])
    late = [sign_reading(home2.meter_key, auction.market.address, auction.chain_id, home2.meter,
                         slot, 0, 0)]
    with world.chain.expect_revert("DeliveryNotMeasurable") as caught:  # no reading at s-1
        auction.settle_delivery(slot, 1, late)
    assert caught.revert.args == {"meter": home2.meter, "lastSlot": 0}
    with world.chain.expect_revert("DeliveryWindowOpen"):
        auction.market.settleUndelivered(slot, 1)
    world.chain.advance_time(3600)
    (event,) = auction.market.settleUndelivered(slot, 1).events_named("Delivered")
    assert (event.args["shortWh"], event.args["charge"]) == (100, 25_000)
    assert auction.balances([world.grid.address]).tolist() == [50_000]
    assert auction.credit.balanceOf(auction.market.address) == held_by_others(world, auction)
    before = auction.credit.balanceOf(world.grid.address)
    (event,) = auction.market.withdraw(50_000, sender=world.grid).events_named("Withdrawn")
    assert event.args == {"account": world.grid.address, "amount": 50_000}
    assert auction.credit.balanceOf(world.grid.address) == before + 50_000


def test_a_sellers_sales_draw_on_its_export_in_ask_order_whoever_shows_the_proof(world):
    """A proof (the seller's signed readings) measures what the seller exported in the slot once;
    its sales draw on it in the order they were revealed, whichever is settled first and by
    whom. Copied onto the seller's other sale, the proof settles that sale as the seller would
    have, and the seller's own call, with the same proof, still goes through (issue 14: it
    reverted, and the copier chose which sale was served first)."""
    auction, slot = world.fresh()
    orders = [auction.commit(world.buyer, slot, True, 300_000, 1_000),
              auction.commit(world.seller, slot, False, 100_000, 400),
              auction.commit(world.seller, slot, False, 200_000, 300)]
    world.to_reveal(slot)
    for order in orders:
        auction.reveal(order)
    world.to_clearing(slot)
    auction.clear(slot, kernel_clearing(auction, slot))
    assert auction.book(slot)[1].filled.tolist() == [400, 300]
    world.chain.advance_time(900)
    home = world.homes[0]
    def sign(at, wh):
        return sign_reading(home.meter_key, auction.market.address, auction.chain_id,
                            home.meter, at, 0, wh)
    readings = [sign(slot - 1, 1_000), sign(slot, 1_500)]  # 500 Wh exported for 700 sold
    copied = auction.settle_delivery(slot, 1, readings, sender=world.eve)
    second = copied.events_named("Delivered")[0].args
    assert (second["deliveredWh"], second["shortWh"], second["charge"]) == (100, 200, 50_000)
    own = auction.settle_delivery(slot, 0, readings, sender=world.seller)
    first = own.events_named("Delivered")[0].args
    assert (first["deliveredWh"], first["shortWh"], first["charge"]) == (400, 0, 0)
    with world.chain.expect_revert("NothingToSettle"):
        auction.settle_delivery(slot, 1, readings, sender=world.seller)
    # the seller ends as if it had settled both sales itself: paid 100 000 x 0.4 + 0.3 kWh at
    # the clearing price, its bonds back but the 200 Wh it did not deliver
    price = auction.market.rounds(slot)[3]
    assert auction.balances([world.seller.address]).tolist() == [
        400 * price // 1000 + 300 * price // 1000 + 100_000 + 75_000 - 50_000]


def test_delivery_errors(world):
    auction, slot, _ = two_by_two(world)
    auction.clear(slot, kernel_clearing(auction, slot))
    chain, market = world.chain, auction.market
    home, home2 = world.homes[:2]
    def sign(h, s, e):
        return sign_reading(h.meter_key, market.address, auction.chain_id, h.meter, s, 0, e)
    with chain.expect_revert("DeliveryNotOver"):
        auction.settle_delivery(slot, 0, [sign(home, slot - 1, 0), sign(home, slot, 500)])
    chain.advance_time(900)
    for ask, readings, error, args in (
            (7, [], "UnknownOrder", {"slot": slot, "ask": 7}),
            (0, [], "DeliveryNotMeasurable", {"meter": home.meter, "lastSlot": 0}),
            (0, [sign(home2, slot - 1, 0), sign(home2, slot, 500)], "WrongMeter",
             {"meter": home2.meter, "sellerMeter": home.meter})):
        with chain.expect_revert(error) as caught:
            auction.settle_delivery(slot, ask, readings)
        assert caught.revert.args == args
    with chain.expect_revert("ReadingsOnlyForDelivery"):
        market.submitReading(slot, sign(home, slot, 0).calldata())


# --- the cross-check against clear_double_auction -------------------------------------------

@st.composite
def books(draw):
    """1-4 bids and 1-4 asks on a coarse price grid (ties happen), of MIN_ORDER_WH to 900 Wh."""
    price = st.integers(0, 8).map(lambda p: p * 50_000)
    side = st.lists(st.tuples(price, st.integers(units.MIN_ORDER_WH, 900)), min_size=1,
                    max_size=4)
    return draw(side), draw(side)


@settings(max_examples=CHAIN_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(book=books())
def test_on_chain_clearing_equals_clear_double_auction(world, book):
    bids, asks = book
    auction, slot = world.fresh()
    buyers, sellers = [world.buyer, world.eve], [world.seller, world.seller2]
    sealed = [auction.commit(buyers[i % 2], slot, True, p, q) for i, (p, q) in enumerate(bids)]
    sealed += [auction.commit(sellers[i % 2], slot, False, p, q) for i, (p, q) in enumerate(asks)]
    world.to_reveal(slot)
    for order in sealed:
        auction.reveal(order)
    world.to_clearing(slot)
    clearing = kernel_clearing(auction, slot)
    reference = reference_clearing(*(np.array(v) for v in (*zip(*bids), *zip(*asks))))
    assert (clearing.volume, clearing.price) == (reference.volume, reference.price)
    (event,) = auction.clear(slot, clearing).events_named("Cleared")
    on_bids, on_asks = auction.book(slot)
    assert on_bids.filled.tolist() == reference.bid_fills.tolist()
    assert on_asks.filled.tolist() == reference.ask_fills.tolist()
    assert (event.args["volume"], event.args["price"]) == (reference.volume,
                                                           max(reference.price, 0))
    paid = sum(-(-f * max(reference.price, 0) // 1000) for f in reference.bid_fills.tolist())
    earned = sum(f * max(reference.price, 0) // 1000 for f in reference.ask_fills.tolist())
    assert event.args["rounding"] == paid - earned
    deposits = sum(o.deposit for o in sealed if o.is_bid)
    assert sum(auction.balances([world.buyer.address, world.eve.address])) == deposits - paid
    bonds = int(on_asks.escrow.sum())
    assert auction.credit.balanceOf(auction.market.address) == held_by_others(world, auction) \
        + bonds


# --- attacks and every refusal ----------------------------------------------------------------

def test_a_copied_commitment_cannot_be_opened_by_the_copier_and_is_forfeited(world):
    auction, slot = world.fresh()
    alice = auction.commit(world.buyer, slot, True, 300_000, 100)
    (_, _, alice_hash), = auction.market.commitments(slot)
    copy = auction.market.commit(slot, alice_hash, 77_777, sender=world.eve)
    copy_id = copy.events_named("Committed")[0].args["id"]
    world.to_reveal(slot)
    with world.chain.expect_revert("BadReveal") as caught:
        auction.market.reveal(slot, copy_id, True, 300_000, 100, alice.salt, sender=world.eve)
    assert caught.revert.args == {"slot": slot, "id": copy_id}
    with world.chain.expect_revert("NotYourCommitment") as caught:
        auction.market.reveal(slot, copy_id, True, 300_000, 100, alice.salt, sender=world.buyer)
    assert caught.revert.args == {"slot": slot, "id": copy_id, "trader": world.eve.address}
    with world.chain.expect_revert("NotYourCommitment"):
        auction.market.reveal(slot, alice.id, True, 300_000, 100, alice.salt, sender=world.eve)
    auction.reveal(alice)
    with world.chain.expect_revert("BadReveal"):  # a commitment opens once
        auction.reveal(alice)
    world.to_clearing(slot)
    (event,) = auction.clear(slot, kernel_clearing(auction, slot)).events_named("Cleared")
    assert (event.args["volume"], event.args["forfeited"]) == (0, 77_777)
    assert auction.market.communityBalance() == 77_777
    assert auction.balances([world.buyer.address, world.eve.address]).tolist() == [30_000, 0]
    with world.chain.expect_revert("AccessControlUnauthorizedAccount"):
        auction.market.withdrawCommunity(world.eve.address, 1, sender=world.eve)
    with world.chain.expect_revert("InsufficientBalance"):
        auction.market.withdrawCommunity(world.eve.address, 77_778, sender=world.operator)
    receipt = auction.market.withdrawCommunity(world.operator.address, 77_777,
                                               sender=world.operator)
    assert receipt.events_named("CommunityWithdrawn")[0].args["amount"] == 77_777


def test_a_clearing_that_is_not_the_merit_order_result_is_refused(world):
    auction, slot, _ = two_by_two(world)
    chain, market = world.chain, auction.market
    good = ([0, 1], [0, 1], 500, 250_000)
    for args, error, expected in (
            (([1, 0], [0, 1], 500, 250_000), "NotMeritOrder", {"bids": True, "position": 1}),
            (([0, 1], [1, 0], 500, 250_000), "NotMeritOrder", {"bids": False, "position": 1}),
            (([0, 0], [0, 1], 500, 250_000), "NotMeritOrder", {"bids": True, "position": 1}),
            (([0, 5], [0, 1], 500, 250_000), "NotMeritOrder", {"bids": True, "position": 1}),
            (([0], [0, 1], 500, 250_000), "WrongOrderCount",
             {"bids": True, "given": 1, "revealed": 2}),
            (([0, 1], [0, 1], 400, 250_000), "WrongClearing", {"volume": 400, "price": 250_000}),
            (([0, 1], [0, 1], 500, 249_999), "WrongClearing", {"volume": 500, "price": 249_999}),
            (([0, 1], [0, 1], 500, 300_001), "WrongClearing", {"volume": 500, "price": 300_001})):
        with chain.expect_revert(error) as caught:
            market.clear(slot, *args, sender=world.eve)
        assert caught.revert.args == expected, args
        assert market.rounds(slot)[2] is False
    market.clear(slot, *good, sender=world.eve)
    with chain.expect_revert("AlreadyCleared"):
        market.clear(slot, *good, sender=world.eve)


def test_every_phase_has_its_window(world):
    auction, slot = world.fresh()
    chain, market = world.chain, auction.market
    order = auction.commit(world.buyer, slot, True, 100_000, 10)
    with chain.expect_revert("RevealNotOpen") as caught:
        auction.reveal(order)
    assert caught.revert.args == {"slot": slot, "opensAt": slot * 900 - 600}
    with chain.expect_revert("ClearingTooEarly"):
        market.clear(slot, [], [], 0, 0)
    world.to_reveal(slot)
    with chain.expect_revert("CommitClosed") as caught:
        auction.commit(world.buyer, slot, True, 100_000, 10)
    assert caught.revert.args == {"slot": slot, "closedAt": slot * 900 - 600}
    world.to_clearing(slot)
    with chain.expect_revert("RevealClosed") as caught:  # a reveal after the deadline
        auction.reveal(order)
    assert caught.revert.args == {"slot": slot, "closedAt": slot * 900}
    (event,) = market.clear(slot, [], [], 0, 0).events_named("Cleared")
    assert event.args["forfeited"] == 1_000


def test_orders_are_checked_when_committed_and_revealed(world):
    auction, slot = world.fresh()
    chain, market = world.chain, auction.market
    salt = b"\1" * 32

    def sealed(trader, is_bid, price, qty, deposit):
        hashed = commitment_hash(market.address, slot, trader.address, is_bid, price, qty, salt)
        return market.commit(slot, hashed, deposit, sender=trader).events_named(
            "Committed")[0].args["id"]

    with chain.expect_revert("ZeroAmount"):
        market.commit(slot, salt, 0, sender=world.buyer)
    with chain.expect_revert("DepositTooLarge") as caught:
        market.commit(slot, salt, units.MAX_DEPOSIT + 1, sender=world.buyer)
    assert caught.revert.args == {"deposit": units.MAX_DEPOSIT + 1}
    with chain.expect_revert("NotAMember") as caught:  # only the community's households trade
        market.commit(slot, salt, 1, sender=world.outsider)
    assert caught.revert.args == {"account": world.outsider.address}
    cases = [(world.buyer, True, 10_000_001, 1, 10**7, "BadOrder",
              {"price": 10_000_001, "qty": 1}),
             (world.buyer, True, 1, 0, 1, "BadOrder", {"price": 1, "qty": 0}),
             (world.buyer, True, 1, units.MIN_ORDER_WH - 1, 1, "BadOrder",
              {"price": 1, "qty": units.MIN_ORDER_WH - 1}),
             (world.buyer, True, 300_000, 1000, 299_999, "InsufficientDeposit",
              {"deposit": 299_999, "required": 300_000}),
             (world.seller, False, 0, 1000, 249_999, "InsufficientDeposit",
              {"deposit": 249_999, "required": 250_000})]
    ids = [sealed(t, b, p, q, d) for t, b, p, q, d, _, _ in cases]
    world.to_reveal(slot)
    with chain.expect_revert("UnknownCommitment") as caught:
        market.reveal(slot, 99, True, 1, 1, salt, sender=world.buyer)
    assert caught.revert.args == {"slot": slot, "id": 99}
    for id_, (trader, is_bid, price, qty, _, error, args) in zip(ids, cases):
        with chain.expect_revert(error) as caught:
            market.reveal(slot, id_, is_bid, price, qty, salt, sender=trader)
        assert caught.revert.args == args
    with pytest.raises(ContractsError, match="salt must be 32 bytes"):
        auction.commit(world.buyer, slot - 1, True, 1, units.MIN_ORDER_WH, salt=b"short")
    with pytest.raises(ContractsError, match=r"qty must be an integer in \[10, "):
        auction.commit(world.buyer, slot, True, 1, units.MIN_ORDER_WH - 1)
    with pytest.raises(ContractsError, match="price must be an integer"):
        auction.commit(world.buyer, slot, True, -1, 1)


def test_withdrawals_and_deployment_checks(world):
    auction, _ = world.fresh()
    chain, market = world.chain, auction.market
    with chain.expect_revert("ZeroAmount"):
        market.withdraw(0, sender=world.buyer)
    with chain.expect_revert("InsufficientBalance") as caught:
        market.withdraw(1, sender=world.buyer)
    assert caught.revert.args == {"account": world.buyer.address, "balance": 0, "amount": 1}
    operator, credit = world.operator, auction.credit.address
    for args, error in (((operator.address, credit, operator.address, 10_000_001, 600, 0, 9),
                         "BadSettings"),
                        ((operator.address, credit, operator.address, 1, 0, 0, 9), "BadSettings"),
                        ((operator.address, credit, operator.address, 1, 600, 0, 1001),
                         "BadSettings"),
                        ((operator.address, credit, operator.address, 1, 600, 0, 1),
                         "BadSettings"),
                        ((operator.address, "0x" + "00" * 20, operator.address, 1, 600, 0, 9),
                         "ZeroAddress")):
        with chain.expect_revert(error):
            chain.deploy("AuctionMarket", *args, sender=operator)
    with chain.expect_revert("AccessControlUnauthorizedAccount") as caught:
        market.register([(world.eve.address, public_id_bytes("E"), world.eve.address)],
                        sender=world.eve)
    assert caught.revert.args["neededRole"] == keccak(text="OPERATOR_ROLE")


def test_a_trader_contract_cannot_reenter_withdraw_to_be_paid_twice(world):
    auction, slot = world.fresh()
    chain, market, credit = world.chain, auction.market, auction.credit
    attacker = chain.deploy("ReentrantHousehold", market.address, sender=world.eve)
    auction.register(make_members([attacker.address], seed=22))
    credit.mint(attacker.address, 150_000, sender=world.operator)
    act = lambda contract, fn, *args: attacker.execute(  # noqa: E731
        contract.address, contract.web3.encode_abi(fn, args=list(args)), sender=world.eve)
    act(credit, "approve", market.address, 150_000)
    salt = b"\x07" * 32
    act(market, "commit", slot, commitment_hash(market.address, slot, attacker.address, True,
                                                300_000, 500, salt), 150_000)
    world.to_reveal(slot)
    act(market, "reveal", slot, 0, True, 300_000, 500, salt)
    world.to_clearing(slot)
    auction.clear(slot, kernel_clearing(auction, slot))  # no asks: the bid's deposit comes back
    assert auction.balances([attacker.address]).tolist() == [150_000]
    held = credit.balanceOf(market.address)
    attacker.attack(150_000, sender=world.eve)
    assert attacker.received() == 150_000
    assert credit.balanceOf(market.address) == held - 150_000
    reason = attacker.reentryError()  # why the re-entered withdraw failed: already debited
    selector = function_signature_to_4byte_selector("InsufficientBalance(address,uint256,uint256)")
    assert reason[:4] == selector
    assert abi_decode(["address", "uint256", "uint256"], reason[4:]) == (
        attacker.address.lower(), 0, 150_000)
    assert auction.balances([attacker.address]).tolist() == [0]


# --- for the book: sorting on chain versus checking a sorted permutation ----------------------

def test_sorting_the_book_on_chain_runs_out_of_block_gas_where_checking_does_not(anvil_node):
    """On anvil (30M gas blocks): an insertion sort of 200 stored bids needs more than a block;
    checking the merit order computed off chain costs under 5% of one, and grows linearly."""
    chain = Chain(anvil_node.url, contract_dirs=[TEST_CONTRACTS])
    snapshot = chain.snapshot()
    rng = np.random.default_rng(5)
    gas = {}
    try:
        for n in (50, 100, 200):
            naive = chain.deploy("NaiveSortMarket")
            prices = rng.integers(0, 400_000, n).tolist()
            naive.addBids(prices)
            merit = np.argsort(-np.array(prices), kind="stable").tolist()
            with chain.expect_revert("NotSorted"):
                naive.checkBids(merit[::-1])
            check = naive.checkBids(merit).gas_used
            tx = naive.web3.functions.sortBids().transact(
                {"from": chain.accounts[0].address, "gas": 30_000_000})
            sort = chain.w3.eth.wait_for_transaction_receipt(tx)
            gas[n] = (check, sort["gasUsed"], sort["status"])
            if sort["status"]:
                assert [naive.order(i) for i in range(n)] == merit
    finally:
        chain.revert_to(snapshot)
    assert [status for _, _, status in gas.values()] == [1, 1, 0]  # 200 bids: out of gas
    assert gas[200][1] == 30_000_000 and gas[200][0] < 1_500_000
    assert gas[100][1] > 3.5 * gas[50][1]  # quadratic
    assert gas[200][0] < 2.2 * gas[100][0]  # linear


def test_a_flood_cannot_keep_an_honest_trader_out(world):
    """Issue 14: Eve revealing a book's worth of 1-Wh orders at the opening of the reveal window
    made every honest reveal fail with BookFull, and her deposits came back. Now only members
    trade, a round holds at most MAX_ORDERS_PER_TRADER orders of a member per side, so a book
    of `maxOrders` always has room for every member (registration stops at maxOrders /
    MAX_ORDERS_PER_TRADER members), orders are at least MIN_ORDER_WH, and the commitments Eve
    sealed beyond what she may open are forfeited."""
    chain, most = world.chain, units.MAX_ORDERS_PER_TRADER
    chain.revert_to(world.snapshot)
    small = deploy_auction(chain, world.operator, world.homes[2:], GRID_BUY, max_orders=2 * most)
    assert small.market.maxMembers() == 2
    with chain.expect_revert("TooManyMembers") as caught:
        small.register(world.homes[:1])
    assert caught.revert.args == {"most": 2}
    with chain.expect_revert("TooManyMembers"):  # counted within one batch too
        deploy_auction(chain, world.operator, world.homes[:3], GRID_BUY, max_orders=2 * most)
    for trader in (world.buyer, world.eve):
        small.fund(trader, 10_000_000)
    slot = chain.timestamp // 900 + 3
    flood = [small.commit(world.eve, slot, True, 0, units.MIN_ORDER_WH)
             for _ in range(units.MAX_COMMITS)]
    with chain.expect_revert("TooManyCommitments"):
        small.commit(world.eve, slot, True, 0, units.MIN_ORDER_WH)
    honest = [small.commit(world.buyer, slot, True, 180_000, 400) for _ in range(most)]
    world.to_reveal(slot)
    for order in flood[:most]:  # first in the window
        small.reveal(order)
    with chain.expect_revert("TooManyOrders") as caught:
        small.reveal(flood[most])
    assert caught.revert.args == {"slot": slot, "trader": world.eve.address, "bids": True,
                                  "most": most}
    for order in honest:
        small.reveal(order)  # the book still had room
    assert len(small.book(slot)[0]) == 2 * most == small.market.maxOrders()
    world.to_clearing(slot)
    (event,) = small.clear(slot, kernel_clearing(small, slot)).events_named("Cleared")
    assert event.args["forfeited"] == sum(o.deposit for o in flood[most:])
    assert small.market.commitsOf(slot, world.eve.address) == units.MAX_COMMITS
    assert small.market.ordersOf(slot, world.eve.address, True) == most


# --- invariants over random rounds ------------------------------------------------------------

class AuctionMachine(RuleBasedStateMachine):
    """Whole rounds (random orders committed, some revealed, the clearing, deliveries of part of
    what was sold, or none) and withdrawals. After every step each µ€ the market holds is owed to
    someone: withdrawable balances, the community account, escrow of revealed orders, deposits
    of commitments not cleared yet. `met` counts what the sequences did."""

    world: World = None
    met: Counter = Counter()

    @staticmethod
    def side(traders, is_bid, prices):
        """Two orders of one side (two each way sell more asks, whose deliveries then vary):
        (trader, is_bid, price step, Wh, extra deposit, revealed?, % of a sale delivered or
        None for never)."""
        return st.lists(st.tuples(st.sampled_from(traders), st.just(is_bid), prices,
                                  st.integers(units.MIN_ORDER_WH, 500),
                                  st.sampled_from([0, 1, 5_000]),
                                  st.sampled_from([True, True, True, False]),
                                  st.sampled_from([None, 0, 50, 100, 120])),
                        min_size=2, max_size=2)

    @initialize()
    def start(self):
        self.auction, _ = self.world.fresh()
        w = self.world
        self.traders = [w.buyer, w.seller, w.seller2, w.eve]
        self.accounts = self.traders + [w.grid]
        self.sellers = {h.account: h for h in w.homes}
        self.slots, self.unsettled = [], []
        self.exports = {h.meter: 0 for h in w.homes}

    @rule(bids=side([0, 3], True, st.integers(2, 8)),
          asks=side([1, 2], False, st.integers(0, 6)),
          pick=st.integers(0, 4), share=st.integers(1, 100))
    def round_then_withdraw(self, bids, asks, pick, share):
        """A whole round, then a withdrawal (as a rule of its own, Hypothesis's swarm testing
        would switch withdrawals off in many sequences)."""
        self.round(bids, asks)
        self.withdraw(pick, share)

    def round(self, bids, asks):
        """Commit `bids` and `asks`, reveal some, clear, deliver the sales shown delivered, and
        settle as undelivered the earlier sales whose delivery window has closed."""
        w, auction = self.world, self.auction
        slot = w.chain.timestamp // 900 + 3
        self.slots.append(slot)
        sealed = []
        for who, is_bid, price, qty, extra, revealed, delivered in bids + asks:
            trader = self.traders[who]
            deposit = auction.required_deposit(is_bid, price * 50_000, qty) + extra
            sealed.append((auction.commit(trader, slot, is_bid, price * 50_000, qty, deposit),
                           revealed, delivered))
        w.to_reveal(slot)
        asks = []  # what each revealed ask will deliver, in reveal order
        for order, revealed, delivered in sealed:
            if revealed:
                auction.reveal(order)
                if not order.is_bid:
                    asks.append(delivered)
        w.to_clearing(slot)
        (event,) = auction.clear(slot, kernel_clearing(auction, slot)).events_named("Cleared")
        assert event.args["forfeited"] == sum(o.deposit for o, r, _ in sealed if not r)
        self.met["deposit forfeited"] += event.args["forfeited"] > 0
        w.chain.advance_time(900)
        book = auction.market.book(slot, False)  # (trader, price, qty, escrow, filled)
        sales = [(ask, self.sellers[order[0]], order[4], share)
                 for ask, (order, share) in enumerate(zip(book, asks)) if order[3]]
        self.met["round cleared with a trade"] += bool(sales)
        self.unsettled += [(slot, ask) for ask, _, _, share in sales if share is None]
        self._deliver(slot, sales)
        closed = [u for u in self.unsettled if w.chain.timestamp >= (u[0] + 1) * 900 + 3600]
        for late in closed:  # nobody showed these deliveries: their bonds go to the grid
            (event,) = auction.market.settleUndelivered(*late).events_named("Delivered")
            assert event.args["deliveredWh"] == 0
            self.unsettled.remove(late)
            self.met["late delivery settled as undelivered"] += 1

    def _deliver(self, slot, sales):
        """Each seller whose delivery is shown exports the shares of its shown sales in total;
        all its sales, shown or not, draw on that export in ask order (the contract's rule),
        and the shown ones are settled."""
        auction = self.auction
        for meter in sorted({home.meter for _, home, _, share in sales if share is not None}):
            own = [(ask, sold, share) for ask, home, sold, share in sales if home.meter == meter]
            home = next(h for _, h, _, _ in sales if h.meter == meter)
            start = self.exports[home.meter]
            left = sum(sold * share // 100 for _, sold, share in own if share is not None)
            self.exports[home.meter] = start + left
            readings = [sign_reading(home.meter_key, auction.market.address, auction.chain_id,
                                     home.meter, at, 0, export)
                        for at, export in ((slot - 1, start), (slot, start + left))]
            for ask, sold, share in own:
                drawn = min(sold, left)
                left -= drawn
                if share is None:  # nobody shows it: settled as undelivered later
                    continue
                receipt = auction.settle_delivery(slot, ask, readings)
                (event,) = receipt.events_named("Delivered")
                assert event.args["deliveredWh"] == drawn
                how = "in full" if drawn == sold else "in part" if drawn else "nothing"
                self.met[f"sale delivered {how}"] += 1
                readings = []

    def withdraw(self, pick, share):
        """An account with a balance takes `share` % of it out."""
        holders = [a for a in self.accounts if self.auction.market.balanceOf(a.address)]
        if holders:
            self._withdraw(holders[pick % len(holders)], share, "withdrawal between rounds")

    def teardown(self):
        """At the end, every account withdraws its whole balance (the issue's case)."""
        for account in self.accounts:
            if self.auction.market.balanceOf(account.address):
                self._withdraw(account, 100, "whole balance withdrawn at the end")

    def _withdraw(self, account, share: int, what: str):
        """`account` takes `share` % of its balance out; `what` counts it in `met`."""
        market, credit = self.auction.market, self.auction.credit
        balance, held = market.balanceOf(account.address), credit.balanceOf(account.address)
        amount = balance * share // 100
        if amount:
            market.withdraw(amount, sender=account)
            assert market.balanceOf(account.address) == balance - amount
            assert credit.balanceOf(account.address) == held + amount
            self.met[what] += 1

    @invariant()
    def every_credit_is_owed_to_someone(self):
        market = self.auction.market
        owed = held_by_others(self.world, self.auction)
        for slot in self.slots:
            owed += sum(o[3] for side in (True, False) for o in market.book(slot, side))
        assert self.auction.credit.balanceOf(market.address) == owed


# Derandomized Hypothesis begins with its simplest sequences (the first has no step), and the
# sequences it draws depend on the machine's source: each machine runs enough of them, whatever
# the profile, to meet all it claims to check (with 12 other seeds too, when they were set). If
# an edit leaves one of these unmet, raise min_examples.
ROUND_EVENTS = {"round cleared with a trade", "deposit forfeited", "sale delivered in full",
                "sale delivered in part", "sale delivered nothing",
                "late delivery settled as undelivered", "withdrawal between rounds",
                "whole balance withdrawn at the end"}


def test_random_rounds_keep_every_credit_accounted_for(world):
    met = run_chain_machine(AuctionMachine, world, steps=4, min_examples=6)
    assert set(met) >= ROUND_EVENTS, met


class FloodMachine(RuleBasedStateMachine):
    """A member household (a contract: one transaction seals up to MAX_COMMITS orders, another
    opens them all, first in the reveal window) floods rounds of the tightest book the
    contract allows, ``maxOrders = members x MAX_ORDERS_PER_TRADER``, with orders of any size
    and deposit. Whatever it does, the honest buyer's bid and seller's ask, opened after it,
    always get in; every µ€ the market holds stays owed to someone. `met` counts what the
    sequences did."""

    world: World = None
    met: Counter = Counter()

    @initialize()
    def start(self):
        self.world.fresh()
        w, chain = self.world, self.world.chain
        self.auction = deploy_auction(chain, w.operator, [w.homes[0], w.homes[2]], GRID_BUY,
                                      max_orders=3 * units.MAX_ORDERS_PER_TRADER,
                                      grid=w.grid.address)
        self.flooder = chain.deploy("FloodTrader", self.auction.credit.address,
                                    self.auction.market.address, sender=w.eve)
        self.auction.register(make_members([self.flooder.address], seed=24))
        with chain.expect_revert("TooManyMembers"):  # the book is as tight as it may be
            self.auction.register(make_members([w.eve.address], seed=25))
        for trader in (w.buyer, w.seller):
            self.auction.fund(trader, 100_000_000)
        self.auction.credit.mint(self.flooder.address, 10**9, sender=w.operator)
        self.slots = []

    @rule(orders=st.lists(st.tuples(st.booleans(), st.integers(0, 8),
                                    st.integers(0, 3 * units.MIN_ORDER_WH),
                                    st.sampled_from(["one", "required", "plenty"])),
                          min_size=2 * units.MAX_ORDERS_PER_TRADER + 1,  # more than it may open
                          max_size=units.MAX_COMMITS),
          bid=st.integers(units.MIN_ORDER_WH, 600), ask=st.integers(units.MIN_ORDER_WH, 600),
          twice=st.booleans())
    def round(self, orders, bid, ask, twice):
        w, auction, flooder = self.world, self.auction, self.flooder
        slot = w.chain.timestamp // 900 + 3
        self.slots.append(slot)
        honest = [auction.commit(w.buyer, slot, True, 180_000, bid),
                  auction.commit(w.seller, slot, False, 60_000, ask)]
        deposits = {"one": lambda b, p, q: 1, "plenty": lambda b, p, q: 10**6,
                    "required": lambda b, p, q: auction.required_deposit(b, p, q)}
        sealed = [(is_bid, step * 50_000, qty, deposits[how](is_bid, step * 50_000, qty))
                  for is_bid, step, qty, how in orders]
        flooder.seal(slot, sealed, sender=w.eve)
        w.to_reveal(slot)
        flooder.open(slot, sender=w.eve)  # first in the window
        for order in honest:
            auction.reveal(order)  # never refused
        if twice:
            flooder.open(slot, sender=w.eve)
        bids, asks = auction.book(slot)
        for side in (bids, asks):
            assert (side.trader == flooder.address).sum() <= units.MAX_ORDERS_PER_TRADER
            assert (side.qty >= units.MIN_ORDER_WH).all()
        assert w.buyer.address in set(bids.trader) and w.seller.address in set(asks.trader)
        w.to_clearing(slot)
        (event,) = auction.clear(slot, kernel_clearing(auction, slot)).events_named("Cleared")
        committed, revealed, *_ = auction.market.rounds(slot)
        assert committed == sum(o.deposit for o in honest) + sum(d for *_, d in sealed)
        assert event.args["forfeited"] == committed - revealed
        mine = [int((side.trader == flooder.address).sum()) for side in (bids, asks)]
        assert flooder.opened(slot) == sum(mine)
        self.met["the flooder at its cap on a side"] += max(mine) == units.MAX_ORDERS_PER_TRADER
        self.met["the flooder's reveals refused"] += sum(mine) < len(sealed)
        self.met["the flooder's deposits forfeited"] += event.args["forfeited"] > 0
        self.met["the flooder opened twice"] += twice
        filled = [o[4] for side in (True, False) for o in auction.market.book(slot, side)
                  if o[0] in (w.buyer.address, w.seller.address)]
        self.met["the honest orders traded"] += all(filled)

    @invariant()
    def every_credit_is_owed_to_someone(self):
        if not hasattr(self, "auction"):
            return
        w, market = self.world, self.auction.market
        accounts = [w.buyer.address, w.seller.address, self.flooder.address, w.grid.address]
        owed = int(self.auction.balances(accounts).sum()) + market.communityBalance()
        for slot in self.slots:
            owed += sum(o[3] for side in (True, False) for o in market.book(slot, side))
        assert self.auction.credit.balanceOf(market.address) == owed


FLOOD_EVENTS = {"the flooder at its cap on a side", "the flooder's reveals refused",
                "the flooder's deposits forfeited", "the flooder opened twice",
                "the honest orders traded"}


def test_whatever_a_flooder_does_an_honest_trader_gets_in(world):
    met = run_chain_machine(FloodMachine, world, steps=4, min_examples=5)
    assert set(met) >= FLOOD_EVENTS, met


def test_every_bound_on_chain_is_the_one_in_units(world):
    """The contract's constants are the bounds of daisee_lab/units.py, all of them (the kernel
    and the classroom read the same ones)."""
    from test_units_bounds import AUCTION_BOUNDS

    market = world.auction.market
    constants = {e["name"] for e in market.abi if e["type"] == "function" and not e["inputs"]
                 and e["name"].isupper() and e["outputs"][0]["type"] == "uint256"}
    assert constants >= {"SLOT_SECONDS", *AUCTION_BOUNDS}  # and the registry's own bounds
    for name in constants:
        assert getattr(market, name)() == getattr(units, name), name
