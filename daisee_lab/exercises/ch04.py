"""Chapter 4, sharing fairly: a seller's MMR payment, the best method for a producer, rounding."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np

from daisee_lab.exercises import checker

GRID_BUY, GRID_SELL = 251_600, 40_000   # µ€/kWh, as in the chapter
WEEK = date(2025, 4, 14)                # profiles(make_households(8, seed=1), WEEK, 7, seed=1)


@lru_cache(maxsize=1)
def _week():
    from daisee_lab.community import make_households, profiles

    homes = make_households(8, seed=1)
    return homes, profiles(homes, WEEK, days=7, seed=1)


@checker("4.1")
def seller_payment(answer: object) -> tuple[bool, str]:
    """µ€ that Bob (900 Wh surplus) receives from Alice (600 Wh need) under MMR."""
    from daisee_lab.settlement import settle

    result = settle(np.array([[600], [0]]), np.array([[0], [900]]), GRID_BUY, GRID_SELL, "mmr")
    right = -int(result.payments[1, 0])
    if answer == right:
        return True, (f"{right} µ€: 600 Wh to Alice at Pmid, 300 Wh to the grid at λs, "
                      "rounded down because it leaves the community's account.")
    if isinstance(answer, (int, float)) and abs(answer + right) < 1:
        return False, "payments received are negative in the library; answer with the amount"
    if isinstance(answer, (int, float)) and abs(answer - right) <= 1:
        return False, "close: round the seller's amount down (integer division //)"
    return False, ("sellers get (Pmid·D + λs·(G−D)) / G per kWh when G > D; Bob's 900 Wh at that "
                   "price, over 1000, rounded down")


@checker("4.2")
def best_method_for_producer(answer: object) -> tuple[bool, str]:
    """The method with the lowest weekly bill for the street's biggest producer."""
    from daisee_lab.settlement import METHODS, settle

    homes, week = _week()
    biggest = max(range(len(homes)), key=lambda i: homes[i].pv_kwp)
    bills = {m: int(settle(week.import_wh, week.export_wh, GRID_BUY, GRID_SELL,
                           m).payments[biggest].sum()) for m in METHODS}
    if answer not in bills:
        return False, f"answer with one of {', '.join(METHODS)}"
    if bills[answer] == min(bills.values()):
        return True, f"{answer}: its bills were {bills} µ€; the method decides who gains."
    return False, (f"{answer} gives {homes[biggest].name} {bills[answer]} µ€; compare its row "
                   "across the methods and take the smallest")


@checker("4.3")
def rounding_account(answer: object) -> tuple[bool, str]:
    """µ€ collected by the rounding account over the week, bill sharing per slot."""
    from daisee_lab.settlement import settle

    _homes, week = _week()
    result = settle(week.import_wh, week.export_wh, GRID_BUY, GRID_SELL, "bill_sharing")
    right = int(result.rounding.sum())
    if answer == right:
        return True, (f"{right} µ€ over {result.rounding.size} slots: at most a few µ€ a slot, "
                      "and never negative.")
    if answer == int(result.grid_bill.sum()):
        return False, "that is the grid bill; the rounding account is Settlement.rounding"
    return False, "sum Settlement.rounding of the per-slot bill-sharing settlement"
