"""Chapter 8, the community market: a day's payments, its rounding, and a household's debt."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np

from daisee_lab.exercises import checker

GRID_BUY, GRID_SELL = 251_600, 40_000  # µ€/kWh, as in the chapter
DAY = date(2025, 6, 21)                # profiles(make_households(6, seed=8), DAY, 1, seed=8)
HOMES, SEED = 6, 8
DEBTOR, DEBTOR_DEPOSIT = 0, 100_000     # exercise 8.3: household h00 deposits 0.10 €


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


@checker("8.1")
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


@checker("8.2")
def rounding_account(answer: object) -> tuple[bool, str]:
    """µ€ in the market's rounding account after the chapter's day (mmr)."""
    from daisee_lab.settlement import settle

    _, day = _day()
    result = settle(day.import_wh, day.export_wh, GRID_BUY, GRID_SELL, "mmr")
    right = int(result.rounding.sum())
    if not _number(answer):
        return False, "answer with a whole number of µ€ (market.roundingBalance())"
    if answer == right:
        return True, (f"{right} µ€: every payment in is rounded up and every payment out down, "
                      "so the community keeps a few µ€ a slot and never owes any.")
    if answer < 0:
        return False, "the rounding account never goes below zero: look at the rounding rule"
    if answer == int(result.grid_bill.sum()):
        return False, "that is what the grid was paid; the rounding is what is left over"
    return False, "read it from the market after the whole day: market.roundingBalance()"


def debt_after_day() -> tuple[int, int]:
    """Exercise 8.3 worked from the kernel's payments: (the first slot number where the debtor's
    deposit cannot cover a payment, its debt at the end of the day)."""
    from daisee_lab.community import SLOT_SECONDS

    _, day = _day()
    paid = np.cumsum(_payments("mmr")[DEBTOR])
    short = np.flatnonzero(paid > DEBTOR_DEPOSIT)
    first_slot = int(day.times[0].timestamp()) // SLOT_SECONDS
    return (first_slot + int(short[0]) if len(short) else None,
            max(0, int(paid[-1]) - DEBTOR_DEPOSIT))


@checker("8.3")
def shortfall(answer: object) -> tuple[bool, str]:
    """``(slot, debt)``: the slot number of h00's first Shortfall and its debt (µ€) at the end."""
    if not (isinstance(answer, tuple) and len(answer) == 2 and all(map(_number, answer))):
        return False, "answer with a pair of whole numbers: (slot number, debt in µ€)"
    slot, debt = answer
    right_slot, right_debt = debt_after_day()
    if (slot, debt) == (right_slot, right_debt):
        return True, (f"slot {slot}, {debt} µ€ of debt: the market took the deposit, recorded "
                      "the rest as debt, and the others were paid in full.")
    if slot != right_slot:
        if 0 <= slot < 96:
            return False, "slots are numbered unix_seconds // 900, not by their place in the day"
        return False, "find the first Shortfall event of h00 in the receipts, or its slot"
    return False, ("the slot is right; the debt is what the day cost beyond the deposit: read "
                   "debt_ueur in community.accounts()")
