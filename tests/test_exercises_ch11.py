"""Chapter 11's checkers accept right answers, measured here by another path than theirs, and
give the hint meant for each typical wrong answer."""

import numpy as np
import pytest
from eth_utils import to_checksum_address

from daisee_lab.chain import Chain
from daisee_lab.community import make_households, profiles
from daisee_lab.contracts import deploy_community
from daisee_lab.contracts import make_members
from daisee_lab.exercises import ch11, check

pytestmark = pytest.mark.slow  # the checkers deploy contracts: seconds each


def settled_slots(n, seed, slots, funded=True):
    """A community of `n` households (profiles of ch11.DAY) settled slot by slot with
    `settle_slot` over `slots` (a slice), after an anchoring slot; return the community, its
    profiles and the settle receipts of `slots`."""
    day = profiles(make_households(n, seed), ch11.DAY, days=1, seed=seed)
    chain = Chain(accounts=2)
    operator, grid = chain.accounts
    accounts = [to_checksum_address(f"0x{i + 1:040x}") for i in range(n)]
    community = deploy_community(chain, operator, make_members(accounts, seed=seed), ch11.GRID_BUY,
                                 ch11.GRID_SELL, grid=grid.address)
    community.fund({grid.address: ch11.FUNDS * n}  # the grid prepays the net export
                   | ({account: ch11.FUNDS for account in accounts} if funded else {}))
    imports, exports = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    anchor = int(day.slots[slots.start]) - 1
    community.settle_slot(anchor, community.sign_readings(anchor, imports.tolist(),
                                                          exports.tolist()))
    receipts = []
    for t in range(slots.start, slots.stop):
        imports, exports = imports + day.import_wh[:, t], exports + day.export_wh[:, t]
        slot = int(day.slots[t])
        receipts.append(community.settle_slot(slot, community.sign_readings(
            slot, imports.tolist(), exports.tolist())))
    return community, day, receipts


@pytest.fixture(scope="module")
def gas_per_household():
    """funded -> mean gas per household per slot of exercise 11.1's community."""
    n, seed = ch11.COMMUNITY["n"], ch11.COMMUNITY["seed"]
    measured = {}
    for funded in (True, False):
        _, _, receipts = settled_slots(n, seed, ch11.NOON, funded)
        measured[funded] = np.mean([r.gas_used for r in receipts]) / n
    return measured


def test_10_1_right_measurement_passes(gas_per_household):
    right = gas_per_household[True]
    assert 10_000 < right < 15_000  # under the project's target
    assert gas_per_household[False] > right * 1.1  # left-out buyers cost gas
    assert check("11.1", right) and check("11.1", round(right))
    assert repr(check("11.1", right)).startswith("✔")


@pytest.mark.parametrize("wrong, hint", [
    (lambda g: g[True] * ch11.COMMUNITY["n"], "divide by 20"),
    (lambda g: g[True] - 21_000 / ch11.COMMUNITY["n"], "21,000 gas base"),
    (lambda g: g[False], "did you fund"),
    (lambda g: g[True] / 2, "the two slots from noon"),
    (lambda g: "lots", "number of gas"),
    (lambda g: True, "number of gas"),
])
def test_10_1_wrong_answers_get_their_hint(gas_per_household, wrong, hint):
    feedback = check("11.1", wrong(gas_per_household))
    assert not feedback and hint in feedback.message
    assert repr(feedback).startswith("✘")


@pytest.fixture(scope="module")
def street_reading():
    """The import energy of meter ch11.NEIGHBOUR in the slot at ch11.AT, decoded from the
    calldata of settle transactions of the chapter's street (settled around that slot only)."""
    n, seed = ch11.STREET["n"], ch11.STREET["seed"]
    day = profiles(make_households(n, seed), ch11.DAY, days=1, seed=seed)
    t = list(day.times.tz_convert("Europe/Paris").strftime("%H:%M")).index(ch11.AT)
    community, day, receipts = settled_slots(n, seed, slice(t - 1, t + 1))
    meter = community.market.meterByPublicId(ch11.NEIGHBOUR.encode().ljust(32, b"\0"))
    index = []
    for receipt in receipts:
        tx = community.chain.w3.eth.get_transaction(receipt.tx_hash)
        _, args = community.market.web3.decode_function_input(tx["input"])
        (word,) = [r["word"] for r in args["readings"]
                   if to_checksum_address(f"{r['word'] >> 80:040x}") == meter]
        index.append((word >> 40) & (2**40 - 1))
    home = [h.public_id for h in community.households].index(ch11.NEIGHBOUR)
    return index[1] - index[0], day, t, home


def test_10_2_energy_read_from_the_chain_passes(street_reading):
    energy, day, t, home = street_reading
    assert energy == day.import_wh[home, t]
    assert energy > 0
    assert check("11.2", energy)


@pytest.mark.parametrize("wrong, hint", [
    (lambda home, t, day: int(day.import_wh[home, :t + 1].sum()), "running total"),
    (lambda home, t, day: int(day.import_wh[home, t - 1]), "one slot off"),
    (lambda home, t, day: int(day.import_wh[home, t + 1]), "one slot off"),
    (lambda home, t, day: day.import_wh[home, t] / 1000, "not kWh"),
    (lambda home, t, day: int(day.import_wh[1, t]), "another meter"),
    (lambda home, t, day: "230 Wh", "number of Wh"),
    (lambda home, t, day: 10**6, "difference its import index"),
])
def test_10_2_wrong_answers_get_their_hint(street_reading, wrong, hint):
    _, day, t, home = street_reading
    feedback = check("11.2", wrong(home, t, day))
    assert not feedback and hint in feedback.message


def month_cost(gas):
    return gas * 30 * 96 * ch11.GAS_PRICE_GWEI * 1e-9 * ch11.ETH_EUR


def test_10_3_right_cost_passes(gas_per_household):
    right = month_cost(gas_per_household[True])
    assert 100 < right < 500  # € per household per month at 2 gwei and 3,000 €/ETH
    assert check("11.3", right)


@pytest.mark.parametrize("factor, hint", [
    (20, "whole community"),
    (1 / 2880, "that is one slot"),
    (1 / 30, "that is one day"),
    (1 / 96, "a day has 96 slots"),
    (1e9, "10⁻⁹ ether"),
    (1e-9, "do not divide"),
    (1 / 3000, "in ether"),
    (1e6, "not micro-euros"),
    (2, "check it with exercise 11.1"),
])
def test_10_3_wrong_answers_get_their_hint(gas_per_household, factor, hint):
    feedback = check("11.3", month_cost(gas_per_household[True]) * factor)
    assert not feedback and hint in feedback.message


def test_10_3_needs_a_number():
    assert "number of euros" in check("11.3", "cheap").message
