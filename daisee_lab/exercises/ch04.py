"""Chapter 4, sharing fairly: a seller's MMR payment with its rounding, who gets the street's
savings under each method, and a check that money is conserved."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from datetime import date
from functools import lru_cache

import numpy as np

from daisee_lab.exercises import checker
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # the book's grid prices, as in the chapter

WEEK = date(2025, 4, 14)                # profiles(make_households(8, seed=1), WEEK, 7, seed=1)
# Alice, Bob, Carol
SLOT_4_1 = {"consumption": [[600], [0], [0]], "production": [[0], [500], [400]]}
SHARING = ("mmr", "bill_sharing", "sdr")


@lru_cache(maxsize=1)
def _week():
    from daisee_lab.community import make_households, profiles

    homes = make_households(8, seed=1)
    return homes, profiles(homes, WEEK, days=7, seed=1)


@checker("4.1")
def seller_payment(answer: object) -> tuple[bool, str]:
    """µ€ that Bob (500 Wh surplus) receives when Carol (400 Wh surplus) also sells to Alice
    (600 Wh need), under MMR."""
    from daisee_lab.settlement import settle

    result = settle(np.array(SLOT_4_1["consumption"]), np.array(SLOT_4_1["production"]),
                    GRID_BUY, GRID_SELL, "mmr")
    right = -int(result.payments[1, 0])
    paid_out = -int(result.payments[1:, 0].sum())
    if answer == right:
        p_mid = Fraction(GRID_BUY + GRID_SELL, 2)
        exact = 500 * (p_mid * 600 + GRID_SELL * 300) / 900 / 1000
        rounding = int(result.rounding[0])
        return True, (f"{right} µ€, rounded down from {float(exact):.2f}: Bob and Carol get "
                      f"{paid_out} µ€ together, the account took {paid_out + rounding} µ€ "
                      f"(Alice's payment and the grid's), and the {rounding} µ€ "
                      "left over goes to the rounding account.")
    if not isinstance(answer, (int, float, np.integer, np.floating)):
        return False, "answer with a number of µ€"
    if abs(answer + right) <= 1:
        return False, "payments received are negative in the library; answer with the amount"
    if answer == right + 1 or (abs(answer - right) < 1 and answer != right):
        return False, ("close: the amount is not a whole number of µ€; a seller's amount leaves "
                       "the community's account, so it is rounded down (integer division //)")
    if abs(answer - paid_out) <= 1:
        return False, "that is what both sellers get together; Bob gets his share, 500 of 900 Wh"
    return False, ("sellers get (Pmid·D + λs·(G−D)) / G per kWh when G > D, with G = 900 Wh; "
                   "Bob's 500 Wh at that price, over 1000, rounded down")


def _producers_share():
    from daisee_lab.settlement import settle

    homes, week = _week()
    producers = np.array([h.pv_kwp > 0 for h in homes])
    baseline = settle(week.import_wh, week.export_wh, GRID_BUY, GRID_SELL, "none").payments.sum(1)
    shares = {}
    for method in SHARING:
        paid = settle(week.import_wh, week.export_wh, GRID_BUY, GRID_SELL, method).payments.sum(1)
        savings = baseline - paid
        shares[method] = float(savings[producers].sum() / savings.sum())
    return shares


@checker("4.2")
def producers_share(answer: object) -> tuple[bool, str]:
    """{method: the producers' share of the street's weekly savings} for mmr, bill_sharing and
    sdr (savings = bill without sharing - bill with it; producers: pv_kwp > 0)."""
    if not isinstance(answer, dict):
        return False, "answer with a dict: {'mmr': share, 'bill_sharing': share, 'sdr': share}"
    if set(answer) != set(SHARING):
        return False, f"give one share for each of {', '.join(SHARING)} (the keys of your dict)"
    shares = _producers_share()
    wrong = [m for m in SHARING if not isinstance(answer[m], (int, float, np.integer, np.floating))
             or abs(answer[m] - shares[m]) > 0.005]
    if not wrong:
        return True, ("the street saves the same whatever the method; MMR gives the producers "
                      f"{shares['mmr']:.0%} of it, SDR {shares['sdr']:.0%}, and bill sharing "
                      f"{shares['bill_sharing']:.0%}: producers pay for the buyers' savings.")
    method = wrong[0]
    got = answer[method]
    if isinstance(got, (int, float)) and abs(got - (1 - shares[method])) <= 0.005:
        return False, f"{method}: that is the consumers' share; the question asks the producers'"
    if isinstance(got, (int, float)) and abs(got) > 1.5 and method != "bill_sharing":
        return False, f"{method}: a share is a ratio (producers' savings / everyone's savings)"
    return False, (f"{method}: {got!r} is off. Savings = the bill under 'none' minus the bill "
                   "under the method, per household over the week; sum them over the producers "
                   "(pv_kwp > 0) and divide by the sum over everyone. A share can be negative")


def _settlements():
    from daisee_lab.settlement import settle

    _homes, week = _week()
    days = slice(0, 2 * 96)
    energy = (week.import_wh[:, days], week.export_wh[:, days], GRID_BUY, GRID_SELL)
    return [settle(*energy, "mmr"), settle(*energy, "sdr"),
            settle(*energy, "bill_sharing", window=96)]


def _tampered(result):
    """Copies of `result` that break conservation in one slot, each in its own way."""
    busy = int(np.flatnonzero(result.grid_bill)[-1])
    payments = result.payments.copy()
    payments[0, busy] += 1                       # a household pays 1 µ€ too much
    rounding = result.rounding.copy()
    rounding[busy] -= 1                          # the account loses 1 µ€
    moved = result.payments.copy()
    moved[0, busy] += 1                          # 1 µ€ moved between two slots: totals agree
    moved[0, busy - 1] -= 1
    short = result.rounding.copy()
    short[busy] = -1                             # the account is short (never allowed)
    short_payments = result.payments.copy()
    short_payments[0, busy] -= result.rounding[busy] + 1
    return [dataclasses.replace(result, payments=payments),
            dataclasses.replace(result, rounding=rounding),
            dataclasses.replace(result, payments=moved),
            dataclasses.replace(result, rounding=short, payments=short_payments)]


@checker("4.3")
def conservation(answer: object) -> tuple[bool, str]:
    """A function ``conserved(result)`` for a Settlement: True when in every slot the
    households' payments equal the grid bill plus the rounding account, and that account is
    never negative; False otherwise."""
    if not callable(answer):
        return False, "pass your function itself (its name, without calling it)"
    for result in _settlements():
        try:
            verdict = answer(result)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            return False, f"your function raised {exc!r} on a real settlement"
        if verdict is not True and not (isinstance(verdict, np.bool_) and verdict):
            return False, ("a real settlement is conserved, your function said "
                           f"{verdict!r}: compare per slot, payments.sum(axis=0) (households "
                           "summed) with grid_bill + rounding, and return one bool (all slots)")
        for broken, what in zip(_tampered(result), ("a household paid 1 µ€ too much",
                                                    "the rounding account lost 1 µ€",
                                                    "1 µ€ of a household moved between slots",
                                                    "the rounding account went negative")):
            try:
                verdict = answer(broken)
            except Exception as exc:  # noqa: BLE001
                return False, f"your function raised {exc!r} on a broken settlement"
            if verdict is not False and not (isinstance(verdict, np.bool_) and not verdict):
                hint = ("also check that the rounding account is never negative"
                        if what.endswith("negative") else
                        "sum the payments over households (axis=0), one total per slot")
                return False, (f"in a settlement where {what}, your function said "
                               f"{verdict!r}: {hint}")
    return True, ("conserved to the µ€ in every slot, daily bill sharing included: the contract "
                  "of chapter 9 must keep the same books.")
