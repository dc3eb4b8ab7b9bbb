"""CommunityMarket and MeterRegistry as an attacker or a broken meter sees them (issue 14): one
meter cannot halt the others, a replaced meter is re-anchored, an honest household can always
withdraw its own balance, a meter cannot sign more energy than its power allows, and a reading
from the future cannot brick a meter."""

import pytest

from daisee_lab.chain import Chain
from daisee_lab.contracts import (SLOT_SECONDS, Community, deploy_community, make_members,
                                  public_id_bytes, sign_reading)
from daisee_lab.units import DEFAULT_POWER_VA

pytestmark = pytest.mark.slow  # its tests send transactions to a chain: seconds each

BUY, SELL = 250_000, 100_000  # µ€/kWh


class World:
    """One chain: a market of four households (each funded with 1,000,000 µ€) and a registry,
    built once; every test starts from that snapshot."""

    def __init__(self):
        self.chain = Chain()
        self.operator, *self.people = self.chain.accounts[:6]
        self.grid, self.stranger = self.chain.accounts[9], self.chain.accounts[8]
        self.homes = make_members([p.address for p in self.people], seed=14)
        self.c = deploy_community(self.chain, self.operator, self.homes[:4], BUY, SELL,
                                  grid=self.grid.address)
        self.c.fund({h.account: 1_000_000 for h in self.homes[:4]})
        self.registry = self.chain.deploy("MeterRegistry", self.operator.address,
                                          sender=self.operator)
        self.registry.register([(h.meter, public_id_bytes(h.public_id), h.account)
                                for h in self.homes[:2]], sender=self.operator)
        self.now = self.chain.timestamp // SLOT_SECONDS  # the current slot
        self.snapshot = self.chain.snapshot()

    def fresh(self) -> Community:
        self.chain.revert_to(self.snapshot)
        self.c.households = list(self.homes[:4])
        return self.c


@pytest.fixture(scope="module")
def world():
    return World()


def anchor(c: Community, slot: int, indexes=(0, 0, 0, 0)) -> None:
    c.settle_slot(slot, c.sign_readings(slot, list(indexes), [0] * len(indexes)))


def test_a_silent_meter_does_not_halt_the_others(world):
    c = world.fresh()
    s = world.now - 3
    anchor(c, s)
    present = c.sign_readings(s + 1, [100, 200, 300, 0], [0, 0, 0, 0])[:3]
    # The fourth meter stopped signing. A stranger must wait for the delay after the slot ends.
    opens = (s + 2) * SLOT_SECONDS + c.market.INCOMPLETE_BATCH_DELAY()
    with world.chain.expect_revert("IncompleteBatch") as caught:
        c.settle_slot(s + 1, present, sender=world.stranger)
    assert caught.revert.args == {"readings": 3, "meters": 4, "opensAt": opens}
    c.settle_slot(s + 1, present)  # the operator may settle at once
    assert c.market.lastSettledSlot() == s + 1
    # The silent meter comes back: its reading brings all its energy since its last one.
    back = c.sign_readings(s + 2, [100, 200, 300, 250], [0, 0, 0, 0])[3]
    world.chain.advance_time(opens - world.chain.timestamp + SLOT_SECONDS)
    receipt = c.settle_slot(s + 2, [back], sender=world.stranger)  # anyone, after the delay
    (event,) = receipt.events_named("SlotSettled")
    assert event.args["demandWh"] == 250
    assert c.market.lastReading(c.households[3].meter) == [True, s + 2, 250, 0]


def test_a_replaced_meter_restarts_near_zero_and_the_old_one_is_refused(world):
    c = world.fresh()
    s = world.now - 20
    anchor(c, s, (5_000_000, 10, 20, 30))
    old = c.households[0]
    (key,) = make_members([old.account], seed=15)
    receipt = c.market.replaceMeter(old.meter, key.meter, public_id_bytes("NEW-0"), 12, 0,
                                    sender=world.operator)
    (event,) = receipt.events_named("MeterReplaced")
    assert event.args == {"oldMeter": old.meter, "newMeter": key.meter,
                          "publicId": public_id_bytes("NEW-0"), "household": old.account,
                          "importWh": 12, "exportWh": 0}
    new = c.households[0] = type(old)(old.account, key.meter_key, "NEW-0")
    assert c.market.meterCount() == 4 and c.market.meterOf(old.account) == new.meter
    assert c.market.lastReading(new.meter) == [True, s, 12, 0]
    stale = sign_reading(old.meter_key, c.market.address, c.chain_id, old.meter, s + 1,
                         5_000_100, 0)
    with world.chain.expect_revert("UnknownMeter") as caught:
        c.settle_slot(s + 1, [stale] + c.sign_readings(s + 1, [40, 10, 20, 30], [0] * 4)[1:])
    assert caught.revert.args == {"meter": old.meter}
    # The new meter's index near zero is accepted, eight slots later as at once: energy 40 - 12.
    receipt = c.settle_slot(s + 8, c.sign_readings(s + 8, [40, 10, 20, 30], [0] * 4),
                            sender=world.stranger)
    assert receipt.events_named("SlotSettled")[0].args["demandWh"] == 28
    spare = make_members([old.account], seed=16)[0].meter
    for who, meter, target, error in (
            (world.stranger, new.meter, spare, "AccessControlUnauthorizedAccount"),
            (world.operator, old.meter, spare, "UnknownMeter"),  # no household's meter now
            (world.operator, new.meter, c.households[1].meter, "MeterAlreadyRegistered")):
        with world.chain.expect_revert(error):
            c.market.replaceMeter(meter, target, public_id_bytes("NEW-1"), 0, 0, sender=who)


def test_a_removed_meter_leaves_the_batch_and_its_household_keeps_its_balance(world):
    c = world.fresh()
    s = world.now - 3
    anchor(c, s)
    gone = c.households[2]
    receipt = c.remove_meter(gone)
    assert receipt.events_named("MeterRemoved")[0].args == {"meter": gone.meter,
                                                            "household": gone.account}
    assert c.market.meterCount() == 3 and c.market.lastReading(gone.meter)[0] is False
    # Three readings are now the whole batch: anyone may submit it at once.
    c.settle_slot(s + 1, c.sign_readings(s + 1, [100, 0, 0], [0, 50, 0]), sender=world.stranger)
    late = sign_reading(gone.meter_key, c.market.address, c.chain_id, gone.meter, s + 2, 9, 0)
    with world.chain.expect_revert("UnknownMeter"):
        c.settle_slot(s + 2, [late])
    c.withdraw(world.people[2], 1_000_000)
    assert c.credit.balanceOf(world.people[2].address) == 1_000_000
    with world.chain.expect_revert("MeterAlreadyRegistered"):  # a meter address serves once
        c.market.register([(gone.meter, public_id_bytes("AGAIN"), world.people[4].address)],
                          sender=world.operator)
    with world.chain.expect_revert("UnknownMeter"):
        c.market.removeMeter(gone.meter, sender=world.operator)
    c.replace_meter(gone, make_members([gone.account], seed=16)[0].meter_key, "BACK")
    assert c.market.meterCount() == 4


def test_an_honest_household_withdraws_its_deposit_whatever_its_neighbours_cannot_pay(world):
    c = world.fresh()
    honest, debtor, seller = c.households[:3]
    # Only the honest household and the grid hold credits; the debtor and the seller start empty.
    for home in (debtor, seller, c.households[3]):
        c.withdraw(next(p for p in world.people if p.address == home.account), 1_000_000)
    c.fund({world.grid.address: 200_000})
    s = world.now - 10
    anchor(c, s)
    receipt = c.settle_slot(s + 1, c.sign_readings(s + 1, [0, 2_000, 0, 0], [0, 0, 2_000, 0]))
    (left,) = receipt.events_named("LeftOut")  # the debtor cannot prepay 2 kWh at λb
    assert left.args == {"account": debtor.account, "slot": s + 1, "importedWh": 2_000,
                         "balance": 0}
    earned = c.market.accountsOf([seller.account])[0][0]
    assert earned == 200_000  # the grid bought the seller's 2 kWh at λs: the debtor paid nothing
    c.withdraw(world.people[2], earned)  # the seller takes its earnings out first
    c.withdraw(world.people[0], 1_000_000)  # and the honest household still gets all of its own
    assert c.credit.balanceOf(world.people[0].address) == 1_000_000
    assert c.accounts().loc[debtor.account, "left_out_wh"] == 2_000
    books = c.books()
    assert books["held"] == books["balances"] + books["rounding"]


def test_a_meter_cannot_sign_more_energy_than_its_power_allows(world):
    c = world.fresh()
    c.fund({world.grid.address: 10**9})
    s = world.now - 40
    anchor(c, s, (1_000, 2_000, 3_000, 4_000))
    cheat = c.sign_readings(s + 1, [1_000, 2_000, 3_000, 4_000], [200_000_000, 0, 0, 0])
    with world.chain.expect_revert("ImplausibleEnergy") as caught:  # 200 MWh in 15 minutes
        c.settle_slot(s + 1, cheat)
    most = DEFAULT_POWER_VA // 4  # 36 kVA for a quarter of an hour: 9,000 Wh
    assert caught.revert.args == {"meter": c.households[0].meter, "importedWh": 0,
                                  "exportedWh": 200_000_000, "maxWh": most}
    c.settle_slot(s + 1, cheat[1:])  # the operator leaves the meter out: the others settle
    assert c.market.powerOf(c.households[1].meter) == DEFAULT_POWER_VA
    # After three slots without a reading, the meter may bring three slots' worth, no more.
    with world.chain.expect_revert("ImplausibleEnergy"):
        c.settle_slot(s + 3, c.sign_readings(s + 3, [1_000, 2_000, 3_000, 4_000],
                                             [3 * most + 1, 0, 0, 0])[:1])
    c.settle_slot(s + 3, c.sign_readings(s + 3, [1_000, 2_000, 3_000, 4_000],
                                         [3 * most, 0, 0, 0])[:1])
    small = make_members([world.people[4].address], seed=17, power_va=6_000)
    receipt = c.register(small)
    assert receipt.events_named("MeterRegistered")[0].args["powerVa"] == 6_000
    spare = make_members([world.stranger.address], seed=18)[0]
    for power in (0, 2**31):
        with world.chain.expect_revert("BadPower"):
            c.market.registerWithPower([(spare.meter, public_id_bytes("P"),
                                         world.stranger.address)], [power],
                                       sender=world.operator)
    with world.chain.expect_revert("PowersMismatch"):
        c.market.registerWithPower([], [1], sender=world.operator)


def test_a_reading_from_the_future_cannot_brick_a_meter(world):
    world.fresh()
    chain, registry, home = world.chain, world.registry, world.homes[0]

    def reading(slot, import_wh):
        return sign_reading(home.meter_key, registry.address, chain.w3.eth.chain_id,
                            home.meter, slot, import_wh, 0).calldata()

    now = chain.timestamp // SLOT_SECONDS
    for slot in (2**32 - 1, now + 1):
        with chain.expect_revert("FutureReading") as caught:
            registry.submitReading(slot, reading(slot, 5), sender=world.stranger)
        assert caught.revert.args == {"meter": home.meter, "slot": slot, "currentSlot": now}
    registry.submitReading(now - 1, reading(now - 1, 5), sender=world.stranger)
    registry.submitReading(now, reading(now, 6), sender=world.stranger)  # tolerance: one slot
    assert registry.lastReading(home.meter) == [True, now, 6, 0]


def test_settling_stays_under_15000_gas_per_household_at_ten_households():
    """Gas is deterministic: the receipts of a seeded 10-household community (benchmarks/gas.py
    measures 10, 50 and 200) show the defences kept a household's share under the target."""
    chain = Chain(accounts=11)
    operator, *accounts = chain.accounts
    homes = make_members([a.address for a in accounts], seed=19)
    c = deploy_community(chain, operator, homes, BUY, SELL)
    c.fund({h.account: 50_000_000 for h in homes} | {operator.address: 10**9})
    imports = [1_000_000 + 7_919 * i for i in range(10)]
    exports = [300_000 * (i % 3 == 0) for i in range(10)]
    s = chain.timestamp // SLOT_SECONDS - 5
    c.settle_slot(s, c.sign_readings(s, imports, exports))  # anchors
    gas = []
    for t in (1, 2, 3):
        imports = [i + 300 + 37 * t * k for k, i in enumerate(imports)]
        exports = [e + (450 if e else 0) for e in exports]
        gas.append(c.settle_slot(s + t, c.sign_readings(s + t, imports, exports)).gas_used)
    assert max(gas) / 10 <= 15_000
