"""Chapter 11, do we need a blockchain? Gas per household, a neighbour's energy read from the
chain, and what a public chain would cost each household per month."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from numbers import Real

from daisee_lab.exercises import checker
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, the book's grid prices

DAY = date(2025, 6, 21)                  # the chapter's day, and the street of chapters 3 and 4
STREET = {"n": 8, "seed": 1}             # make_households(**STREET); meters of seed 1 too
COMMUNITY = {"n": 20, "seed": 7}         # exercise 11.1: make_households(**COMMUNITY)
NOON = slice(48, 50)                     # the two slots from 12:00 local time
FUNDS = 10_000_000                       # µ€ deposited for each household before settling
NEIGHBOUR = "000001000005"               # exercise 11.2: the meter's public id ...
AT = "20:15"                             # ... and the start of the slot, Paris time
GAS_PRICE_GWEI, ETH_EUR = 2, 3_000       # exercise 11.3: assumptions, not quotes
SLOTS_PER_MONTH = 30 * 96
TOLERANCE = 0.03                         # gas varies a little with the signatures' bytes


def _close(answer: object, right: float, tolerance: float = TOLERANCE) -> bool:
    return (isinstance(answer, Real) and not isinstance(answer, bool)
            and abs(float(answer) - right) <= tolerance * abs(right))


@lru_cache(maxsize=2)
def settle_gas_per_household(funded: bool = True) -> float:
    """Mean gas per household of settling the NOON slots of the exercise-11.1 community on a
    fresh in-process chain (the meters' anchoring settlement not counted)."""
    from eth_utils import to_checksum_address

    from daisee_lab.chain import Chain
    from daisee_lab.community import make_households, profiles
    from daisee_lab.contracts import deploy_community
    from daisee_lab.contracts import make_members

    n, seed = COMMUNITY["n"], COMMUNITY["seed"]
    day = profiles(make_households(n, seed), DAY, days=1, seed=seed)
    chain = Chain(accounts=2)
    operator, grid = chain.accounts
    members = make_members([to_checksum_address(f"0x{i + 1:040x}") for i in range(n)], seed=seed)
    community = deploy_community(chain, operator, members, GRID_BUY, GRID_SELL,
                                 grid=grid.address)
    # The grid prepays the community's net export; the households their imports, if funded.
    community.fund({grid.address: FUNDS * n} | ({m.account: FUNDS for m in members} if funded
                                               else {}))
    community.settle_energy(day.import_wh[:, NOON], day.export_wh[:, NOON],
                            int(day.slots[NOON][0]))
    settles = chain.gas.to_dataframe().query("function == 'settle'").gas_used
    return float(settles.iloc[1:].mean()) / n


@checker("11.1")
def gas_per_household(answer: object) -> tuple[bool, str]:
    """Gas per household per slot of settling the NOON slots of the COMMUNITY on chain. The
    checker measures it on its own chain."""
    if not isinstance(answer, Real) or isinstance(answer, bool):
        return False, "answer with a number of gas"
    right, n = settle_gas_per_household(), COMMUNITY["n"]
    if _close(answer, right):
        return True, (f"about {right:,.0f} gas per household per slot: mostly checking one "
                      "signature and writing one storage word for each meter.")
    if _close(answer, right * n):
        return False, f"that is a whole slot's gas; the question is per household: divide by {n}"
    if _close(answer, right - 21_000 / n):
        return False, ("count the whole transaction: its 21,000 gas base is paid too, and "
                       "shared by the households")
    if _close(answer, settle_gas_per_household(funded=False)):
        return False, (f"did you fund the households ({FUNDS:,} µ€ each)? A household that "
                       "cannot prepay its import is left out of the pool with a LeftOut event, "
                       "which costs gas")
    return False, (f"settle the two slots from noon (indexes 48 and 49) of the {n} households, "
                   "funded; average the settle transactions' gas_used (the first one only "
                   f"anchors the meters) and divide by {n}")


@lru_cache(maxsize=1)
def _street_day():
    from daisee_lab.community import make_households, profiles

    homes = make_households(**STREET)
    return profiles(homes, DAY, days=1, seed=STREET["seed"])


@checker("11.2")
def neighbour_energy(answer: object) -> tuple[bool, str]:
    """Wh that the street's meter NEIGHBOUR imported in the slot starting AT (Paris time) on
    DAY, as anyone can read it in the settlement transactions."""
    from daisee_lab.contracts import make_members

    day = _street_day()
    ids = [m.public_id for m in make_members([f"home {i}" for i in range(STREET["n"])],
                                           seed=STREET["seed"])]
    home = ids.index(NEIGHBOUR)
    t = list(day.times.tz_convert("Europe/Paris").strftime("%H:%M")).index(AT)
    imported = day.import_wh[home]
    right = int(imported[t])
    if not isinstance(answer, Real) or isinstance(answer, bool):
        return False, "answer with a number of Wh"
    if answer == right:
        return True, (f"{right} Wh drawn between {AT} and the next quarter-hour, read from "
                      "public calldata: no key, no permission needed.")
    if answer == int(imported[:t + 1].sum()):
        return False, ("that is the meter's index, a running total; the energy of a slot is the "
                       "index at its end minus the index of the slot before")
    if answer in (int(imported[t - 1]), int(imported[t + 1])):
        return False, ("one slot off: a reading for slot s gives the index at the end of s, so "
                       "the slot's energy is index(s) - index(s - 1)")
    if abs(answer * 1000 - right) < 0.5:  # type: ignore[operator]  # numbers.Real: untyped ops
        return False, "answer in Wh, not kWh"
    if answer in {int(day.import_wh[i, t]) for i in range(STREET["n"]) if i != home}:
        return False, (f"that is another meter's energy; find the meter registered with public "
                       f"id {NEIGHBOUR} (the MeterRegistered events, or meterByPublicId)")
    return False, (f"take the settle transactions' calldata, unpack each reading's word, keep "
                   f"the meter of public id {NEIGHBOUR}, and difference its import index")


@checker("11.3")
def monthly_cost(answer: object) -> tuple[bool, str]:
    """€ per household per 30-day month of settling every slot of the exercise-11.1 community
    on a public chain at GAS_PRICE_GWEI and ETH_EUR."""
    if not isinstance(answer, Real) or isinstance(answer, bool):
        return False, "answer with a number of euros"
    gas = settle_gas_per_household()
    right = gas * SLOTS_PER_MONTH * GAS_PRICE_GWEI * 1e-9 * ETH_EUR
    if _close(answer, right):
        return True, (f"about {right:,.0f} € per household per month, to settle "
                      f"{SLOTS_PER_MONTH:,} slots of about {gas:,.0f} gas each.")
    hints = [
        (COMMUNITY["n"], f"that is the whole community's cost; divide by its "
                         f"{COMMUNITY['n']} households"),
        (1 / SLOTS_PER_MONTH, f"that is one slot; a month of 30 days has {SLOTS_PER_MONTH:,}"),
        (1 / 30, "that is one day; the question asks for a 30-day month"),
        (1 / 96, "a day has 96 slots: multiply by them as well as by the 30 days"),
        (1e9, "a gwei is 10⁻⁹ ether: gas × gwei × 10⁻⁹ gives ether"),
        (1e-9, "a gwei is 10⁻⁹ ether: multiply by 10⁻⁹, do not divide"),
        (1 / ETH_EUR, f"that is in ether; convert to euros at {ETH_EUR:,} €/ETH"),
        (1e6, "answer in euros, not micro-euros"),
    ]
    for factor, hint in hints:
        if _close(answer, right * factor):
            return False, hint
    return False, ("start from your gas per household per slot (check it with exercise 11.1); "
                   "a month here is 30 days of 96 slots, gas is priced in gwei (10⁻⁹ ether) "
                   "and ether in euros")
