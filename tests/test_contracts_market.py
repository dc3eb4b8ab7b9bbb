"""CommunityMarket: money in and out, settling slots equal to `daisee_lab.settlement` to the µ€,
prepaid imports (a buyer who cannot pay is left out and blocks nobody), the attacks it refuses,
and conservation under random sequences."""

import numpy as np
import pytest
from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, keccak
from collections import Counter

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)

from daisee_lab.chain import Chain
from daisee_lab.contracts import (SLOT_SECONDS, Community, ContractsError, SignedReading,
                                  deploy_community, make_members, public_id_bytes,
                                  sign_reading)
from daisee_lab.settlement.reference import settle

from conftest import CHAIN_EXAMPLES, TEST_CONTRACTS, chain_settings

pytestmark = pytest.mark.slow  # its tests send transactions to a chain: seconds each

BUY, SELL = 250_000, 100_000  # µ€/kWh


class World:
    """One chain for the module: an mmr and a bill-sharing market with nobody registered yet,
    six household accounts, a grid account; tests start from `fresh` and roll back."""

    def __init__(self):
        self.chain = Chain(contract_dirs=[TEST_CONTRACTS])
        self.operator, *self.people = self.chain.accounts[:7]
        self.grid = self.chain.accounts[9]
        self.homes = make_members([p.address for p in self.people], seed=11)
        self.markets = {}
        for method in ("mmr", "bill_sharing"):
            c = deploy_community(self.chain, self.operator, [], BUY, SELL, method,
                                 grid=self.grid.address)
            self.markets[method] = (c.credit, c.market)
        self.slot = self.chain.timestamp // SLOT_SECONDS - 5_000  # settled slots are past
        self.empty = self.chain.snapshot()
        self.snapshots = {}

    def fresh(self, households=3, funds=5_000_000, method="mmr"):
        """Back to the empty markets, then the first `households` registered and funded (that
        state is built once and snapshotted)."""
        credit, market = self.markets[method]
        community = Community(self.chain, credit, market, self.operator, self.grid.address,
                              self.homes[:households])
        key = (households, funds, method)
        if key in self.snapshots:
            self.chain.revert_to(self.snapshots[key])
            return community
        self.chain.revert_to(self.empty)
        community.households = []
        community.register(self.homes[:households])
        if funds:
            community.fund({h.account: funds for h in community.households})
        self.snapshots[key] = self.chain.snapshot()
        return community


@pytest.fixture(scope="module")
def world():
    return World()


def readings(c, slot, imports, exports):
    return [r.calldata() for r in c.sign_readings(slot, imports, exports)]


def positions(c):
    return c.accounts().balance_ueur.to_numpy()


# --- one slot by hand -----------------------------------------------------------------------

def test_a_slot_settles_at_the_mid_market_rate_with_the_rounding_rule(world):
    c = world.fresh()
    s = world.slot
    c.settle_slot(s, c.sign_readings(s, [10_000, 20_000, 30_000], [0, 5_000, 0]))  # anchor
    before = positions(c)
    # A buys 800 Wh, B sells 500 Wh, C buys 300 Wh: D = 1100, G = 500, 600 Wh imported.
    receipt = c.settle_slot(s + 1, c.sign_readings(s + 1, [10_800, 20_000, 30_300],
                                                   [0, 5_500, 0]))
    # buyers: (Pmid·G + λb·(D-G))/D = (175000·500 + 250000·600)/1100 µ€/kWh, rounded up
    assert (before - positions(c)).tolist() == [172_728, -87_500, 64_773, -150_000]
    (event,) = receipt.events_named("SlotSettled")
    assert event.args == {"slot": s + 1, "demandWh": 1100, "surplusWh": 500,
                          "gridBill": 150_000, "rounding": 1}
    reference = settle(np.array([[800], [0], [300]]), np.array([[0], [500], [0]]), BUY, SELL)
    assert reference.payments[:, 0].tolist() == [172_728, -87_500, 64_773]
    assert (reference.grid_bill[0], reference.rounding[0]) == (150_000, 1)
    assert c.market.prices(1100, 500) == [475_000_000, 2_200_000, 350_000, 2000]
    assert (c.market.lastSettledSlot(), c.market.roundingBalance()) == (s + 1, 1)
    assert c.market.lastReading(c.households[1].meter) == [True, s + 1, 20_000, 5_500]
    assert receipt.events_named("LeftOut") == []


def test_bill_sharing_shares_the_grid_bill_per_slot(world):
    c = world.fresh(method="bill_sharing")
    paid = c.settle_energy([[800], [0], [300]], [[0], [500], [0]], world.slot)
    # 600 Wh imported at 250 000 µ€/kWh = 150 000 µ€ shared by 1100 Wh of demand; the seller's
    # energy lowered the bill, it is paid nothing in a slot where the community imports.
    assert paid.iloc[:, 0].tolist() == [109_091, 0, 40_910]
    reference = settle(np.array([[800], [0], [300]]), np.array([[0], [500], [0]]), BUY, SELL,
                       "bill_sharing")
    assert paid.to_numpy().tolist() == reference.payments.tolist()
    assert c.market.prices(1100, 500) == [150_000_000, 1_100_000, 0, 1]


# --- the cross-check against the settlement reference ---------------------------------------

@st.composite
def community_days(draw):
    """3-6 households, 1-3 slots, Wh per slot, per-slot grid prices, some households unfunded."""
    households, slots = draw(st.integers(3, 6)), draw(st.integers(1, 3))
    energy = st.one_of(st.just(0), st.integers(0, 4_000))
    consumption = draw(arrays(np.int64, (households, slots), elements=energy))
    production = draw(arrays(np.int64, (households, slots), elements=energy))
    buy = draw(st.lists(st.integers(0, 400_000), min_size=slots, max_size=slots))
    sell = [draw(st.integers(0, b)) for b in buy]
    funds = draw(st.lists(st.sampled_from([0, 0, 1, 150_000, 3_000_000]), min_size=households,
                          max_size=households))
    return consumption, production, buy, sell, funds


def prepaid_reference(consumption, production, buy, sell, funds, method):
    """The reference settlement of a day, slot by slot, with the buyers the market leaves out
    (balance below their import at λb) out of the pool: (payments, grid bills, roundings,
    left-out Wh per household)."""
    balances, left_out = np.array(funds, dtype=np.int64), np.zeros(len(funds), dtype=np.int64)
    payments, bills, roundings = [], [], []
    for t in range(consumption.shape[1]):
        cons, prod = consumption[:, t].copy(), production[:, t]
        net = cons - prod
        out = (net > 0) & (net * buy[t] > balances * 1000)
        left_out += np.where(out, net, 0)
        cons[out] = prod[out]  # out of the pool: no net energy
        ref = settle(cons[:, None], prod[:, None], buy[t], sell[t], method)
        balances -= ref.payments[:, 0]
        payments.append(ref.payments[:, 0])
        bills.append(int(ref.grid_bill[0]))
        roundings.append(int(ref.rounding[0]))
    return np.array(payments).T, bills, roundings, left_out


def settles_as_the_reference(world, c, day, method):
    """Fund `c` as `day` says (and the grid enough for any export), settle the day on chain and
    check every payment, grid bill, rounding and left-out import against the reference, and the
    market's books."""
    consumption, production, buy, sell, funds = day
    c.fund({h.account: f for h, f in zip(c.households, funds) if f} | {world.grid.address: 10**9})
    start = world.chain.w3.eth.block_number
    paid = c.settle_energy(consumption, production, world.slot, grid_buy=buy, grid_sell=sell)
    payments, bills, roundings, left_out = prepaid_reference(consumption, production, buy, sell,
                                                             funds, method)
    assert paid.to_numpy().tolist() == payments.tolist()
    events = c.market.web3.events.SlotSettled.get_logs(from_block=start + 1)
    assert [e.args.gridBill for e in events[1:]] == bills
    assert [e.args.rounding for e in events[1:]] == roundings
    assert c.accounts().left_out_wh.tolist()[:-1] == left_out.tolist()
    books = c.books()
    assert books["held"] == books["balances"] + books["rounding"]


@pytest.mark.parametrize("method", ["mmr", "bill_sharing"])
@settings(max_examples=CHAIN_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(day=community_days())
def test_on_chain_payments_equal_the_settlement_reference_to_the_micro_euro(world, method, day):
    *_, funds = day
    c = world.fresh(len(funds), funds=0, method=method)
    settles_as_the_reference(world, c, day, method)


# --- money in and out, shortfalls -------------------------------------------------------------

def test_deposits_and_withdrawals_move_credits_and_are_announced(world):
    c = world.fresh(funds=0)
    alice = world.people[0]
    c.credit.mint(alice.address, 1_000_000, sender=world.operator)
    c.credit.approve(c.market.address, 1_000_000, sender=alice)
    receipt = c.market.deposit(alice.address, 600_000, sender=alice)
    (event,) = receipt.events_named("Deposited")
    assert event.args == {"account": alice.address, "payer": alice.address, "amount": 600_000}
    c.market.deposit(world.grid.address, 400_000, sender=alice)  # anyone may pay for anyone
    assert c.market.accountsOf([alice.address, world.grid.address]) == [[600_000, 400_000], [0, 0]]
    assert c.credit.balanceOf(c.market.address) == 1_000_000
    (event,) = c.withdraw(alice, 250_000).events_named("Withdrawn")
    assert event.args == {"account": alice.address, "amount": 250_000}
    c.withdraw(world.grid, 400_000)
    assert c.credit.balanceOf(alice.address) == 250_000
    assert c.credit.balanceOf(world.grid.address) == 400_000
    assert c.market.accountsOf([alice.address, world.grid.address]) == [[350_000, 0], [0, 0]]


def test_money_errors_name_the_account_and_amounts(world):
    c = world.fresh(funds=100)
    alice, stranger = world.people[0], world.people[5]
    for call, error, args in (
            (lambda: c.market.deposit(alice.address, 0), "ZeroAmount", {}),
            (lambda: c.market.deposit(stranger.address, 5), "UnknownAccount",
             {"account": stranger.address}),
            (lambda: c.withdraw(alice, 0), "ZeroAmount", {}),
            (lambda: c.withdraw(alice, 101), "InsufficientBalance",
             {"account": alice.address, "balance": 100, "amount": 101}),
            (lambda: c.withdraw(stranger, 1), "UnknownAccount", {"account": stranger.address}),
            (lambda: c.market.accountsOf([stranger.address]), "UnknownAccount",
             {"account": stranger.address})):
        with world.chain.expect_revert(error) as caught:
            call()
        assert caught.revert.args == args
    c.credit.mint(world.operator.address, 2**64, sender=world.operator)
    c.credit.approve(c.market.address, 2**64, sender=world.operator)
    for account, amount in ((alice.address, 2**64 - 100), (world.grid.address, 2**64)):
        with world.chain.expect_revert("BalanceOverflow") as caught:
            c.market.deposit(account, amount, sender=world.operator)
        assert caught.revert.args == {"account": account}
    c.market.deposit(alice.address, 2**64 - 101, sender=world.operator)  # the largest balance
    assert c.market.accountsOf([alice.address])[0] == [2**64 - 1]


def test_a_household_that_cannot_prepay_is_left_out_and_blocks_nobody(world):
    c = world.fresh(funds=0)
    c.fund({c.households[1].account: 1_000_000, c.households[2].account: 1_000_000,
            world.grid.address: 1_000_000})
    s = world.slot
    c.settle_slot(s, c.sign_readings(s, [0, 0, 0], [0, 0, 0]))
    receipt = c.settle_slot(s + 1, c.sign_readings(s + 1, [800, 0, 300], [0, 500, 0]))
    (left,) = receipt.events_named("LeftOut")
    assert left.args == {"account": c.households[0].account, "slot": s + 1, "importedWh": 800,
                         "balance": 0}
    # The pool is B's 500 Wh for C's 300: D = 300 < G = 500, C pays Pmid, B gets
    # (Pmid·D + λs·(G-D))/G = 145 000 µ€/kWh, the grid buys 200 Wh at λs.
    table = c.accounts()
    assert table.balance_ueur.tolist() == [0, 1_072_500, 1_000_000 - 52_500, 1_000_000 - 20_000]
    assert table.left_out_wh.tolist() == [800, 0, 0, 0]
    # Once A has prepaid, its next import is in the pool.
    c.fund({c.households[0].account: 100_000})
    receipt = c.settle_slot(s + 2, c.sign_readings(s + 2, [1_100, 0, 300], [0, 500, 0]))
    assert receipt.events_named("LeftOut") == []
    assert c.accounts().balance_ueur.iloc[0] == 100_000 - 75_000  # 300 Wh at λb: no sellers


def test_the_grid_account_prepays_the_community_export(world):
    c = world.fresh()
    s = world.slot
    c.settle_slot(s, c.sign_readings(s, [0, 0, 0], [0, 0, 0]))
    readings = c.sign_readings(s + 1, [0, 0, 0], [999, 0, 0])
    with world.chain.expect_revert("InsufficientBalance") as caught:  # 999 Wh · 0.1 €/kWh
        c.settle_slot(s + 1, readings)
    assert caught.revert.args == {"account": world.grid.address, "balance": 0, "amount": 99_900}
    c.fund({world.grid.address: 100_000})
    c.settle_slot(s + 1, readings)
    assert c.market.gridBalance() == 100
    c.settle_slot(s + 2, c.sign_readings(s + 2, [1000, 0, 0], [999, 0, 0]))  # grid paid 250 000
    assert c.market.gridBalance() == 250_100
    c.withdraw(world.grid, 250_100)
    assert c.credit.balanceOf(world.grid.address) == 250_100


def test_the_rounding_account_is_withdrawn_by_the_operator_only(world):
    c = world.fresh()
    c.settle_energy([[800], [0], [300]], [[0], [500], [0]], world.slot)
    assert c.market.roundingBalance() == 1
    intruder, treasurer = world.people[5], world.people[4]
    with world.chain.expect_revert("AccessControlUnauthorizedAccount"):
        c.market.withdrawRounding(intruder.address, 1, sender=intruder)
    with world.chain.expect_revert("InsufficientBalance") as caught:
        c.market.withdrawRounding(treasurer.address, 2, sender=world.operator)
    assert caught.revert.args == {"account": c.market.address, "balance": 1, "amount": 2}
    receipt = c.market.withdrawRounding(treasurer.address, 1, sender=world.operator)
    assert receipt.events_named("RoundingWithdrawn")[0].args == {"to": treasurer.address,
                                                                 "amount": 1}
    assert (c.market.roundingBalance(), c.credit.balanceOf(treasurer.address)) == (0, 1)


# --- operator functions and deployment --------------------------------------------------------

def test_grid_prices_are_set_by_the_operator_within_bounds(world):
    c = world.fresh()
    receipt = c.market.setGridPrices(300_000, 50_000, sender=world.operator)
    assert receipt.events_named("GridPricesSet")[0].args == {"gridBuy": 300_000,
                                                             "gridSell": 50_000}
    assert (c.market.gridBuy(), c.market.gridSell()) == (300_000, 50_000)
    for buy, sell in ((100, 101), (10_000_001, 0)):
        with world.chain.expect_revert("BadPrices") as caught:
            c.market.setGridPrices(buy, sell, sender=world.operator)
        assert caught.revert.args == {"gridBuy": buy, "gridSell": sell}
    intruder = world.people[5]
    for call in (lambda: c.market.setGridPrices(1, 0, sender=intruder),
                 lambda: c.market.register([(intruder.address, public_id_bytes("X"),
                                             intruder.address)], sender=intruder)):
        with world.chain.expect_revert("AccessControlUnauthorizedAccount") as caught:
            call()
        assert caught.revert.args == {"account": intruder.address,
                                       "neededRole": keccak(text="OPERATOR_ROLE")}


def test_deployment_and_registration_checks(world):
    chain, operator = world.chain, world.operator
    credit, market = world.markets["mmr"]
    zero = "0x" + "00" * 20
    for args, error in (((zero, credit.address, operator.address, 0, BUY, SELL), "ZeroAddress"),
                        ((operator.address, zero, operator.address, 0, BUY, SELL), "ZeroAddress"),
                        ((operator.address, credit.address, zero, 0, BUY, SELL), "ZeroAddress"),
                        ((operator.address, credit.address, operator.address, 0, 1, 2),
                         "BadPrices")):
        with chain.expect_revert(error):
            chain.deploy("CommunityMarket", *args, sender=operator)
    c = world.fresh()
    assert (market.credit(), market.grid(), market.method()) == (
        credit.address, world.grid.address, 0)
    with chain.expect_revert("GridCannotBeHousehold") as caught:
        market.register([(world.homes[5].meter, public_id_bytes("G"), world.grid.address)],
                        sender=operator)
    assert caught.revert.args == {"grid": world.grid.address}
    with chain.expect_revert("ReadingsOnlyInSettlement"):
        market.submitReading(world.slot, c.sign_readings(world.slot, [1, 1, 1],
                                                         [0, 0, 0])[0].calldata())
    with pytest.raises(ContractsError, match="method must be one of"):
        deploy_community(chain, operator, [], BUY, SELL, "auction")


# --- attacks on settlement ------------------------------------------------------------------

def test_attacks_on_a_settlement_fail_and_change_nothing(world):
    c = world.fresh()
    chain, market, s = world.chain, c.market, world.slot
    c.settle_slot(s, c.sign_readings(s, [1000, 2000, 3000], [0, 0, 0]))
    good = c.sign_readings(s + 1, [1100, 2000, 3000], [0, 50, 0])
    honest = [r.calldata() for r in good]
    home = c.households
    forged = sign_reading(home[1].meter_key, market.address, c.chain_id, home[0].meter, s + 1,
                          900_000, 0)  # B signs a huge consumption for A
    stranger = world.homes[5]
    outsider = sign_reading(stranger.meter_key, market.address, c.chain_id, stranger.meter,
                            s + 1, 5, 0)
    backwards = c.sign_readings(s + 1, [999, 2000, 3000], [0, 0, 0])[0]
    replayed = c.sign_readings(s, [1000, 2000, 3000], [0, 0, 0])[0]  # the anchor, for slot s
    now = chain.timestamp // SLOT_SECONDS
    state = (positions(c).tolist(), market.lastSettledSlot(), market.roundingBalance())
    cases = [
        ((s, 0, 0, [r.calldata() for r in c.sign_readings(s, [1000, 2000, 3000], [0, 0, 0])]),
         "SlotAlreadySettled", {"slot": s, "lastSettledSlot": s}),
        ((s - 1, 0, 0, honest), "SlotAlreadySettled", {"slot": s - 1, "lastSettledSlot": s}),
        ((now, 100, 50, [r.calldata() for r in c.sign_readings(now, [1100, 2000, 3000],
                                                                 [0, 50, 0])]),
         "SlotNotOver", {"slot": now}),
        ((s + 1, 100, 0, honest), "WrongTotals",
         {"demandWh": 100, "surplusWh": 0, "actualDemandWh": 100, "actualSurplusWh": 50}),
        ((s + 1, 2**72, 0, honest), "TotalsTooLarge", {"demandWh": 2**72, "surplusWh": 0}),
        ((s + 1, 100, 50, [forged.calldata()] + honest[1:]), "InvalidSignature",
         {"meter": home[0].meter}),
        ((s + 1, 100, 50, [outsider.calldata()] + honest[1:]), "UnknownMeter",
         {"meter": stranger.meter}),
        ((s + 1, 0, 50, [backwards.calldata()] + honest[1:]), "IndexWentBackwards",
         {"meter": home[0].meter, "lastImportWh": 1000, "importWh": 999, "lastExportWh": 0,
          "exportWh": 0}),
        ((s + 1, 0, 0, [replayed.calldata()] + honest[1:]), "InvalidSignature",
         {"meter": home[0].meter}),
        ((s + 1, 100, 50, [honest[0], honest[1], honest[1]]), "StaleReading",
         {"meter": home[1].meter, "slot": s + 1, "lastSlot": s + 1}),
    ]
    for args, error, expected in cases:
        with chain.expect_revert(error) as caught:
            market.settle(*args, sender=world.people[5])
        assert expected.items() <= caught.revert.args.items(), error
        assert (positions(c).tolist(), market.lastSettledSlot(),
                market.roundingBalance()) == state
    market.settle(s + 1, 100, 50, honest, sender=world.people[5])  # anyone may submit
    assert market.lastSettledSlot() == s + 1


def test_a_household_contract_cannot_reenter_withdraw_to_be_paid_twice(world):
    c = world.fresh()
    attacker = world.chain.deploy("ReentrantHousehold", c.market.address,
                                  sender=world.people[5])
    meter = make_members([attacker.address], seed=12)[0]
    c.register([meter])
    c.fund({attacker.address: 700_000})
    held = c.credit.balanceOf(c.market.address)
    attacker.attack(700_000, sender=world.people[5])
    assert attacker.received() == 700_000
    assert c.credit.balanceOf(attacker.address) == 700_000
    assert c.credit.balanceOf(c.market.address) == held - 700_000
    reason = attacker.reentryError()
    selector = function_signature_to_4byte_selector("InsufficientBalance(address,uint256,uint256)")
    assert reason[:4] == selector  # the balance was debited before the credits were sent
    assert abi_decode(["address", "uint256", "uint256"], reason[4:]) == (
        attacker.address.lower(), 0, 700_000)
    assert c.market.accountsOf([attacker.address]) == [[0], [0]]


# --- the Python faces -------------------------------------------------------------------------

def test_community_tables_and_gas_report(world):
    c = world.fresh()
    c.settle_energy([[800, 0], [0, 300], [300, 0]], [[0, 500], [500, 0], [0, 0]], world.slot)
    table = c.accounts()
    assert list(table.columns) == ["role", "public_id", "balance_ueur", "left_out_wh"]
    assert table.role.tolist() == ["household"] * 3 + ["grid"]
    assert table.public_id.tolist()[:3] == [h.public_id for h in c.households]
    books = c.books()
    assert books["held"] == 15_000_000
    assert books["held"] == books["balances"] + books["rounding"]
    gas = c.gas()
    assert gas.loc[("CommunityMarket", "settle"), "calls"] >= 3
    assert ("EnergyCredit", "mint") in gas.index and "Fixture" not in gas.index.unique(0)
    with pytest.raises(ContractsError, match="consumption_wh must be non-negative integer Wh"):
        c.settle_energy([[1.5], [0], [0]], [[0], [0], [0]], world.slot + 10)
    with pytest.raises(ContractsError, match=r"production_wh .* got int64 of shape \(2, 1\)"):
        c.settle_energy([[1], [0], [0]], [[0], [0]], world.slot + 10)
    with pytest.raises(ContractsError, match=r"grid_buy must be a scalar or one price per slot"):
        c.settle_energy([[1], [0], [0]], [[0], [0], [0]], world.slot + 10, [1, 2], 0)
    with pytest.raises(ContractsError, match="give both grid_buy and grid_sell"):
        c.settle_energy([[1], [0], [0]], [[0], [0], [0]], world.slot + 10, 1)
    with pytest.raises(ContractsError, match="import_wh and export_wh need one index"):
        c.sign_readings(world.slot + 10, [1, 2], [0, 0])


def test_signed_reading_calldata_packs_the_meter_and_indexes_in_one_word(world):
    c = world.fresh()
    reading = c.sign_readings(world.slot, [2**40 - 1, 0, 0], [12_345, 0, 0])[0]
    word, r, vs = reading.calldata()
    assert word == int(reading.meter, 16) << 80 | (2**40 - 1) << 40 | 12_345
    assert c.market.unpack(word) == [reading.meter, 2**40 - 1, 12_345]
    assert isinstance(reading, SignedReading) and (r, vs) == (reading.r, reading.vs)


# --- invariants under random sequences --------------------------------------------------------

ANCHOR_WH = 1_000  # the meters' first indexes: above 0, so that one can go backwards
START_UEUR = 1_000_000  # each account's balance when a sequence starts (4 kWh at the most λb)
FAULTS = {"silent": None, "forged": "InvalidSignature", "implausible": "ImplausibleEnergy",
          "backwards": "IndexWentBackwards"}


class MarketMachine(RuleBasedStateMachine):
    """Deposits, withdrawals, price changes and settlements in random order, some with a faulty
    meter (silent, forged, implausible, going backwards). After every step: credits are
    conserved (the market holds exactly balances + rounding, the token's supply is where it
    should be), every household can withdraw its whole balance, no meter blocked the others (a
    faulty reading is refused naming its meter, and the slot settles without it), and the state
    matches a model: the reference settlement of the prepaid pool. `met` counts what the
    sequences did (each fault refused, whole balances withdrawn, slots settled)."""

    world: World = None
    met: Counter = Counter()

    @initialize()
    def start(self):
        world = self.world
        self.c = world.fresh(households=4, funds=START_UEUR)
        self.people, self.grid = world.people[:4], world.grid
        self.signers = self.people + [self.grid]
        self.accounts = [p.address for p in self.signers]
        c = self.c
        c.credit.mint(world.operator.address, 10**12, sender=world.operator)
        c.credit.approve(c.market.address, 10**12, sender=world.operator)
        c.market.deposit(self.grid.address, START_UEUR, sender=world.operator)
        self.balances = dict.fromkeys(self.accounts, START_UEUR)
        self.left_out = [0] * 4
        self.rounding = 0
        self.slot = world.slot
        self.meter = [[ANCHOR_WH] * 2 for _ in self.people]  # the meters' indexes (Wh)
        self.chain = [[ANCHOR_WH] * 2 for _ in self.people]  # the indexes last accepted on chain
        c.settle_slot(self.slot, c.sign_readings(self.slot, [ANCHOR_WH] * 4, [ANCHOR_WH] * 4))
        self.prices = (BUY, SELL)

    @rule(who=st.integers(0, 4), amount=st.integers(1, 400_000))
    def deposit(self, who, amount):
        account = self.accounts[who]
        receipt = self.c.market.deposit(account, amount, sender=self.world.operator)
        assert receipt.events_named("Deposited")[0].args["amount"] == amount
        self.balances[account] += amount

    @rule(who=st.integers(0, 4), share=st.sampled_from([0.0, 0.3, 1.0, 1.5]))
    def withdraw(self, who, share):
        """Any account takes any part of its balance, the whole of it included, at any time."""
        account = self.accounts[who]
        amount = int(self.balances[account] * share)
        if amount == 0 or amount > self.balances[account]:
            with self.world.chain.expect_revert("ZeroAmount" if amount == 0
                                                else "InsufficientBalance"):
                self.c.withdraw(self.signers[who], amount)
            return
        before = self.c.credit.balanceOf(account)
        (event,) = self.c.withdraw(self.signers[who], amount).events_named("Withdrawn")
        assert event.args == {"account": account, "amount": amount}
        assert self.c.credit.balanceOf(account) == before + amount
        self.balances[account] -= amount
        if self.balances[account] == 0:
            self.met["whole balance withdrawn"] += 1

    @rule(who=st.integers(0, 4))
    def withdraw_everything(self, who):
        """An account takes its whole balance out (the case the issue found stranded)."""
        self.withdraw(who, 1.0)

    @rule(buy=st.integers(0, 400_000), cut=st.integers(0, 100))
    def set_prices(self, buy, cut):
        self.prices = (buy, buy * cut // 100)
        self.c.market.setGridPrices(*self.prices, sender=self.world.operator)

    @rule(cons=st.lists(st.integers(0, 3_000), min_size=4, max_size=4),
          prod=st.lists(st.one_of(st.just(0), st.integers(0, 3_000)), min_size=4, max_size=4),
          faults=st.dictionaries(st.integers(0, 3), st.sampled_from(list(FAULTS)), max_size=2))
    def settle_slot(self, cons, prod, faults):
        """Settle the next slot; `faults` maps faulty meters to their fault. Each faulty reading,
        in a batch of sound ones, is refused naming its meter; then the sound meters settle
        without the faulty ones."""
        c, world = self.c, self.world
        self.slot += 1
        for index, c_wh, p_wh in zip(self.meter, cons, prod):
            index[0] += c_wh
            index[1] += p_wh
        readings = c.sign_readings(self.slot, [i[0] for i in self.meter],
                                   [i[1] for i in self.meter])
        for faulty, fault in faults.items():
            if FAULTS[fault]:
                self.refuse(readings, faulty, fault)
        present = [i for i in range(4) if i not in faults]
        nets = [(self.meter[i][0] - self.chain[i][0]) - (self.meter[i][1] - self.chain[i][1])
                for i in present]
        balances = [self.balances[self.accounts[i]] for i in present]
        out = [n > 0 and n * self.prices[0] > b * 1000 for n, b in zip(nets, balances)]
        pool = np.array([0 if o else n for n, o in zip(nets, out)], dtype=np.int64)
        ref = settle(np.maximum(pool, 0)[:, None], np.maximum(-pool, 0)[:, None], *self.prices)
        bill = int(ref.grid_bill[0])
        batch = [readings[i] for i in present]
        if -bill > self.balances[self.grid.address]:  # the grid cannot prepay the export
            with world.chain.expect_revert("InsufficientBalance"):
                c.settle_slot(self.slot, batch)
            return
        receipt = c.settle_slot(self.slot, batch)
        self.met.update([f"settled without the {fault} meter" for fault in set(faults.values())]
                        or ["settled"])
        self.met["buyer left out"] += sum(out)
        for i, paid, o, n in zip(present, ref.payments[:, 0].tolist(), out, nets):
            self.balances[self.accounts[i]] -= paid
            self.left_out[i] += n if o else 0
            self.chain[i] = list(self.meter[i])
        self.balances[self.grid.address] += bill
        self.rounding += int(ref.rounding[0])
        assert {e.args["account"] for e in receipt.events_named("LeftOut")} == {
            self.accounts[i] for i, o in zip(present, out) if o}
        (event,) = receipt.events_named("SlotSettled")
        assert (event.args["gridBill"], event.args["rounding"]) == (bill, ref.rounding[0])

    def refuse(self, readings, faulty: int, fault: str) -> None:
        """Replace meter `faulty`'s reading in `readings` by a `fault`y one: the batch reverts
        with the fault's error naming that meter."""
        c, home, (imp, exp) = self.c, self.c.households[faulty], self.meter[faulty]
        key = c.households[(faulty + 1) % 4].meter_key if fault == "forged" else home.meter_key
        imp = self.chain[faulty][0] - 1 if fault == "backwards" else imp
        exp = 10**8 if fault == "implausible" else exp
        bad = sign_reading(key, c.market.address, c.chain_id, home.meter, self.slot, imp, exp)
        with self.world.chain.expect_revert(FAULTS[fault]) as caught:
            c.settle_slot(self.slot, readings[:faulty] + [bad] + readings[faulty + 1:])
        assert caught.revert.args["meter"] == home.meter
        self.met[f"{fault} refused"] += 1

    @invariant()
    def credits_are_conserved_and_every_balance_can_be_withdrawn(self):
        c = self.c
        balances, left_out = c.market.accountsOf(self.accounts)
        assert dict(zip(self.accounts, balances)) == self.balances
        assert left_out == self.left_out + [0]
        assert c.market.roundingBalance() == self.rounding
        held = c.credit.balanceOf(c.market.address)
        assert held == sum(balances) + self.rounding  # each balance is backed by held credits
        holders = [c.market.address, self.world.operator.address] + self.accounts
        assert sum(c.credit.balanceOf(h) for h in holders) == c.credit.totalSupply()


# Derandomized Hypothesis begins with its simplest sequences: the first two have no step at
# all. Whatever the profile's CHAIN_EXAMPLES, the machine runs enough to meet every fault.
MARKET_SEQUENCES = max(CHAIN_EXAMPLES, 10)


def test_random_sequences_conserve_credits_strand_nobody_and_no_meter_blocks_the_others(world):
    MarketMachine.world, MarketMachine.met = world, Counter()
    try:
        run_state_machine_as_test(MarketMachine, settings=settings(
            chain_settings(stateful_step_count=10, phases=[Phase.explicit, Phase.generate]),
            max_examples=MARKET_SEQUENCES))
    finally:
        MarketMachine.world = None
    met = +MarketMachine.met  # the counts above 0
    assert set(met) >= {"settled", "settled without the silent meter", "whole balance withdrawn",
                        "buyer left out",
                        *(f"{fault} refused" for fault, error in FAULTS.items() if error)}, met


# --- the supply-demand ratio on chain ---------------------------------------------------------

@pytest.fixture(scope="module")
def sdr_market(world):
    """An sdr market deployed on the world's chain from its empty state, nobody registered yet;
    tests go back to its snapshot."""
    world.chain.revert_to(world.empty)
    c = deploy_community(world.chain, world.operator, [], BUY, SELL, "sdr",
                         grid=world.grid.address)
    return c, world.chain.snapshot()


def fresh_sdr(world, sdr_market, households):
    c, snapshot = sdr_market
    world.chain.revert_to(snapshot)
    c.households = []
    c.register(world.homes[:households])
    return c


def test_sdr_prices_are_the_reference_fractions(world, sdr_market):
    from fractions import Fraction

    from daisee_lab.settlement.reference import unit_prices

    c = fresh_sdr(world, sdr_market, 3)
    assert c.market.method() == 2
    for buy, sell in ((BUY, SELL), (BUY, 0), (0, 0), (SELL, SELL)):
        c.market.setGridPrices(buy, sell, sender=world.operator)
        for d, g in ((1100, 500), (1000, 0), (1000, 300), (500, 500), (300, 1100), (0, 0),
                     (2**72 - 1, 2**72 - 2)):
            buy_num, buy_den, sell_num, sell_den = c.market.prices(d, g)
            expected = unit_prices("sdr", d, g, buy, sell, 0, 0)
            assert (Fraction(buy_num * 1000, buy_den), Fraction(sell_num * 1000, sell_den)) \
                == expected, (buy, sell, d, g)
    # G < D: sellers get λb·λs·D/Q with Q = (λb-λs)·G + λs·D = 185 000 000 (µ€/kWh)
    c.market.setGridPrices(BUY, SELL, sender=world.operator)
    assert c.market.prices(1100, 500)[2:] == [BUY * SELL * 1100, 1000 * 185_000_000]


@settings(max_examples=CHAIN_EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(day=community_days())
def test_on_chain_sdr_payments_equal_the_settlement_reference_to_the_micro_euro(
        world, sdr_market, day):
    *_, funds = day
    c = fresh_sdr(world, sdr_market, len(funds))
    settles_as_the_reference(world, c, day, "sdr")
