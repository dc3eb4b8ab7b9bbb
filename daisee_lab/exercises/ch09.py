"""Chapter 9, the community market: a day's payments, its rounding, and a household left out of
the pool when its prepaid balance runs out."""

from __future__ import annotations

from datetime import date
import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from daisee_lab.exercises import checker
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, the book's grid prices
DAY = date(2025, 6, 21)                # profiles(make_households(6, seed=8), DAY, 1, seed=8)
HOMES, SEED = 6, 8
HOUSEHOLD_9_2, AT_9_2 = "h04", "08:00"   # exercise 9.2: its payment in the slot from 08:00
DEBTOR, DEBTOR_DEPOSIT = 0, 100_000     # exercise 9.3: household h00 deposits 0.10 €
DEPOSIT = 5_000_000                     # exercise 9.3: what the others deposit (5 €)


@lru_cache(maxsize=1)
def _day():
    """The chapter's community day: households and their meter-view profiles."""
    from daisee_lab.community import make_households, profiles

    homes = make_households(HOMES, seed=SEED)
    return homes, profiles(homes, DAY, days=1, seed=SEED)


def _payments(method: str) -> np.ndarray:
    from daisee_lab.settlement import settle

    _, day = _day()
    return settle(day.import_wh, day.export_wh, GRID_BUY, GRID_SELL, method).payments


def _number(answer: object) -> bool:
    return isinstance(answer, (int, np.integer)) and not isinstance(answer, bool)


@checker("9.1")
def day_payment(answer: object) -> tuple[bool, str]:
    """What the household with the most PV paid (µ€, positive = paid) over the chapter's day."""
    homes, _ = _day()
    sunniest = max(range(len(homes)), key=lambda i: homes[i].pv_kwp)
    right = int(_payments("mmr")[sunniest].sum())
    if not _number(answer):
        return False, "answer with a whole number of µ€"
    if answer == right:
        return True, (f"{right} µ€ over the day: the sum of its 96 slot payments, the same on "
                      "chain and in the kernel.")
    if answer == -right:
        return False, "payments are positive when the household pays; keep the sign"
    if answer == int(_payments("none")[sunniest].sum()):
        return False, "that is its bill with the grid alone; the market settles with mmr"
    if answer == int(_payments("bill_sharing")[sunniest].sum()):
        return False, "that is bill sharing; this community's market settles with mmr"
    return False, (f"sum the row of {homes[sunniest].name} (the most PV: "
                   f"{homes[sunniest].pv_kwp} kWp) in the payments of the whole day")


def slot_by_hand() -> dict:
    """Exercise 9.2 worked from the kernel: the household's energy, the slot's demand D and
    surplus G, and what it pays (µ€) in the slot starting AT_9_2, Paris time."""
    homes, day = _day()
    h = [home.name for home in homes].index(HOUSEHOLD_9_2)
    t = list(day.times.tz_convert("Europe/Paris").strftime("%H:%M")).index(AT_9_2)
    return {"t": t, "wh": int(day.import_wh[h, t]), "demand": int(day.import_wh[:, t].sum()),
            "surplus": int(day.export_wh[:, t].sum()), "paid": int(_payments("mmr")[h, t])}


@checker("9.2")
def payment_by_hand(answer: object) -> tuple[bool, str]:
    """What HOUSEHOLD_9_2 pays (µ€) in the slot from AT_9_2, computed as the contract does: the
    mid-market rate with exact fractions, a payment rounded up."""
    if not _number(answer):
        return False, "answer with a whole number of µ€ (math.ceil gives an int)"
    worked = slot_by_hand()
    wh, d, g, right = worked["wh"], worked["demand"], worked["surplus"], worked["paid"]
    if answer == right:
        return True, (f"{right} µ€ for {wh} Wh: with G = {g} < D = {d} Wh, buyers pay Pmid for "
                      f"the neighbours' {g} Wh and the grid's price for the other {d - g}, "
                      "shared in proportion, and a payment is rounded up. The contract and the "
                      "kernel compute exactly this.")
    pmid2 = GRID_BUY + GRID_SELL  # 2·Pmid
    exact = Fraction(wh * (pmid2 * g + 2 * GRID_BUY * (d - g)), 2 * d * 1000)
    if answer == right - 1 or answer == math.floor(exact):
        return False, ("off by one µ€: a household that pays is rounded up (math.ceil), one that "
                       "is paid rounded down; the community keeps the difference")
    if answer == -right:
        return False, f"{HOUSEHOLD_9_2} buys in this slot: a payment is positive when it pays"
    if answer in (wh * GRID_BUY // 1000, math.ceil(Fraction(wh * GRID_BUY, 1000))):
        return False, ("that is the grid's price for every Wh; the neighbours' surplus G is "
                       "sold at Pmid = (λb + λs) / 2")
    if answer == math.ceil(Fraction(wh * pmid2, 2000)):
        return False, (f"that is Pmid for every Wh; only G = {g} of the D = {d} Wh bought come "
                       "from neighbours, the rest from the grid at λb")
    return False, (f"take D and G of the slot (sums over the households of import_wh and "
                   f"export_wh), the price (Pmid·G + λb·(D − G)) / D µ€/kWh as a Fraction, "
                   f"times {HOUSEHOLD_9_2}'s Wh / 1000, rounded up")


def left_out_after_day() -> tuple[int | None, int]:
    """Exercise 9.3 worked from the kernel, slot by slot as the market settles with prepaid
    imports: (the first slot number where h00's balance cannot cover its import at the grid
    price, so that it is left out of the pool; the Wh it had left out over the day)."""
    from daisee_lab.units import SLOT_SECONDS
    from daisee_lab.settlement import settle

    homes, day = _day()
    balances = np.full(len(homes), DEPOSIT, dtype=np.int64)
    balances[DEBTOR] = DEBTOR_DEPOSIT
    first, left_out = None, 0
    for t in range(day.import_wh.shape[1]):
        cons, prod = day.import_wh[:, t].copy(), day.export_wh[:, t]
        net = cons.astype(np.int64) - prod
        out = (net > 0) & (net * GRID_BUY > balances * 1000)
        cons[out] = prod[out]  # left out: no net energy in the pool
        balances -= settle(cons[:, None], prod[:, None], GRID_BUY, GRID_SELL, "mmr").payments[:, 0]
        if out[DEBTOR]:
            left_out += int(net[DEBTOR])
            if first is None:
                first = int(day.times[t].timestamp()) // SLOT_SECONDS
    return first, left_out


@checker("9.3")
def left_out(answer: object) -> tuple[bool, str]:
    """``(slot, wh)``: the slot number of h00's first LeftOut event and the import (Wh) it had
    left out of the pool by the end of the day."""
    if not (isinstance(answer, tuple) and len(answer) == 2 and all(map(_number, answer))):
        return False, "answer with a pair of whole numbers: (slot number, Wh left out)"
    slot, wh = answer
    right_slot, right_wh = left_out_after_day()
    if (slot, wh) == (right_slot, right_wh):
        return True, (f"slot {slot}, {wh} Wh left out: from then on h00 bought from its own "
                      "supplier whenever its balance could not prepay a slot, and its neighbours "
                      "were settled as if it were not there, never paying for it.")
    if slot != right_slot:
        if 0 <= slot < 96:
            return False, "slots are numbered unix_seconds // 900, not by their place in the day"
        return False, "find the first LeftOut event of h00 in the receipts, or its slot"
    return False, ("the slot is right; the energy is what h00 imported while left out: read "
                   "left_out_wh in community.accounts()")
