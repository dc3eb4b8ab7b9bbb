"""Chapter 3, a neighbourhood: self-sufficiency, shareable energy, slot numbers."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

import numpy as np

from daisee_lab.exercises import checker
from daisee_lab.units import slot_of

STREET = {"n": 8, "seed": 1}          # make_households(**STREET)
DAY = date(2025, 6, 21)               # profiles(homes, DAY, days=1, seed=1)


@lru_cache(maxsize=1)
def _street():
    from daisee_lab.community import make_households, profiles

    homes = make_households(**STREET)
    return homes, profiles(homes, DAY, days=1, seed=STREET["seed"])


@checker("3.1")
def self_sufficiency(answer: object) -> tuple[bool, str]:
    """Self-sufficiency (1 - drawn / used) on DAY of the street's first prosumer."""
    homes, day = _street()
    i = next(k for k, h in enumerate(homes) if h.pv_kwp)
    right = 1 - day.import_wh[i].sum() / day.consumption_wh[i].sum()
    if not isinstance(answer, (int, float)):
        return False, "answer with a number between 0 and 1"
    if abs(answer - right) < 1e-3:
        return True, f"{right:.0%} of its use came from its own roof, without touching the meter."
    self_consumption = 1 - day.export_wh[i].sum() / day.production_wh[i].sum()
    if abs(answer - self_consumption) < 1e-3:
        return False, ("that is its self-consumption (the share of its PV it used); "
                       "self-sufficiency is the share of its use it covered: "
                       "1 - import / consumption")
    return False, ("1 - (Wh drawn from the grid, import_wh) / (Wh used, consumption_wh), "
                   "over the day")


@checker("3.2")
def shareable_energy(answer: object) -> tuple[bool, str]:
    """Wh the street could share on DAY: the sum over slots of min(D, G)."""
    _homes, day = _street()
    drawn, injected = day.import_wh.sum(axis=0), day.export_wh.sum(axis=0)
    right = int(np.minimum(drawn, injected).sum())
    if answer == right:
        return True, (f"{right} Wh could stay in the street, out of {int(injected.sum())} Wh "
                      "injected: the rest goes to the grid at the feed-in price.")
    if answer == min(int(drawn.sum()), int(injected.sum())):
        return False, ("that is min of the day's totals; sharing happens slot by slot: "
                       "take min(D, G) in each slot, then sum")
    return False, "D and G are sums over households per slot (axis=0); sum np.minimum(D, G)"


@checker("3.3")
def slot_number(answer: object) -> tuple[bool, str]:
    """A function ``slot_of(moment)`` giving the settlement slot of an aware datetime."""
    if not callable(answer):
        return False, "pass your function itself (its name, without calling it)"
    rng = random.Random(3)
    zones = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=2)),
             timezone(timedelta(hours=-5))]
    for _ in range(40):
        moment = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**8))
        moment = moment.astimezone(rng.choice(zones))
        right = slot_of(moment)
        try:
            got = answer(moment)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            return False, f"slot_of({moment.isoformat()}) raised {exc!r}"
        if got != right:
            hint = ("the slot counts from the unix epoch in UTC: use moment.timestamp(), which "
                    "accounts for the time zone" if got is not None else "return the slot")
            return False, f"slot_of({moment.isoformat()}) gave {got!r}, expected {right}: {hint}"
    return True, "slot = unix seconds // 900, whatever the time zone the meter speaks."
