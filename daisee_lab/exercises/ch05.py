"""Chapter 5, sharing the French way: a consumer's allocated Wh under the default key, with the
cumulative rounding; the surplus a static key leaves in one slot; and the perimeter rule a
village breaks."""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations
from typing import Any, TypeGuard

import numpy as np

from daisee_lab.exercises import checker

# 5.1: three homes draw these Wh in one slot while the roof injects 900 Wh; the second is Bob
SLOT_5_1: dict[str, Any] = {"consumption": [437, 251, 612], "production": 900}
# 5.2: four flats of a condominium, their static coefficients (a fifth flat has not joined)
SLOT_5_2: dict[str, Any] = {"consumption": [700, 150, 600, 250],
                            "coefficients": ["0.30", "0.25", "0.20", "0.15"], "production": 2000}
# 5.3: a village's sites (made up): the hall's roof and a farm's shed produce, five homes consume
VILLAGE: list[dict[str, Any]] = [
    {"lat": 45.6500, "lon": 4.5600, "role": "producer", "power_kw": 36, "area": "periurban"},
    {"lat": 45.6520, "lon": 4.5650, "role": "consumer", "area": "periurban"},
    {"lat": 45.6470, "lon": 4.5580, "role": "consumer", "area": "periurban"},
    {"lat": 45.6610, "lon": 4.5710, "role": "consumer", "area": "periurban"},
    {"lat": 45.6890, "lon": 4.6400, "role": "consumer", "area": "rural"},
    {"lat": 45.7010, "lon": 4.6820, "role": "producer", "power_kw": 100, "area": "rural"},
    {"lat": 45.6350, "lon": 4.5350, "role": "consumer", "area": "rural"},
]
_NUMBER = (int, float, np.integer, np.floating)


def _number(answer: object) -> TypeGuard[int | float | np.integer | np.floating]:
    return isinstance(answer, _NUMBER) and not isinstance(answer, bool)


def _reference_allocation(consumption, production, key, coefficients=None):
    """The plain oracle's allocation of one slot (the chapter uses the kernel)."""
    from daisee_lab.settlement import allocation_reference

    return allocation_reference.allocate(np.array(consumption)[:, None], np.array([production]),
                                         key, coefficients)


@checker("5.1")
def default_share(answer: object) -> tuple[bool, str]:
    """Wh that Bob (the second home, 251 Wh drawn) is allocated under the default key when three
    homes draw 437, 251 and 612 Wh and the roof injects 900 Wh."""
    c, p = SLOT_5_1["consumption"], SLOT_5_1["production"]
    right = int(_reference_allocation(c, p, "dynamic_default").allocated_wh[1, 0])
    exact = Fraction(c[1] * p, sum(c))
    if not _number(answer):
        return False, "answer with a whole number of Wh"
    if answer == right:
        return True, (f"{right} Wh: his exact share is {float(exact):.2f} Wh, and the cumulative "
                      f"rounding gives him the ceiling, because the first home's "
                      f"{float(Fraction(c[0] * p, sum(c))):.2f} Wh left a fraction that his "
                      "completes. The three shares add up to the 900 Wh exactly.")
    if not float(answer).is_integer():
        return False, "energy is whole Wh in the library: round, by the library's rule"
    if answer == int(exact):
        return False, ("that is his own share rounded down; the library rounds the running "
                       "total, home after home: his Wh are floor(a1 + a2) - floor(a1)")
    if answer == c[1]:
        return False, ("the roof makes less than the three homes draw, so nobody is served in "
                       "full: each gets the same fraction of what it draws")
    if answer in (p // 3, p // 3 + 1):
        return False, ("that is an equal split, a static key with three thirds; the default key "
                       "shares pro rata of each home's consumption")
    return False, ("share = his consumption × production / the total consumption, then the "
                   "cumulative rounding over the homes in their order")


@checker("5.2")
def static_surplus(answer: object) -> tuple[bool, str]:
    """Wh of surplus in one slot under the static key: four flats draw 700, 150, 600 and 250 Wh
    with coefficients 0.30, 0.25, 0.20 and 0.15; the roof injects 2000 Wh."""
    s = SLOT_5_2
    right = int(_reference_allocation(s["consumption"], s["production"], "static",
                                      s["coefficients"]).surplus_wh[0])
    if not _number(answer):
        return False, "answer with a whole number of Wh"
    if answer == right:
        return True, (f"{right} Wh go to the producers' buyer at the feed-in price while three "
                      "flats still buy from their suppliers: the static key passes on neither a "
                      "flat's unused share nor the share nobody was given.")
    default = int(_reference_allocation(s["consumption"], s["production"],
                                        "dynamic_default").surplus_wh[0])
    unused = sum(max(Fraction(k) * s["production"] - c, 0)
                 for c, k in zip(s["consumption"], s["coefficients"]))
    if answer == default:
        return False, ("that is production minus consumption: what a dynamic key leaves. Under "
                       "the static key each flat gets at most its coefficient × production")
    if answer == unused:
        return False, ("those are the shares the flats could not use; the coefficients sum to "
                       "0.9, and the tenth nobody was given is surplus too")
    if answer == s["production"] - right:
        return False, "that is the allocated total; the surplus is what is left of the production"
    return False, ("each flat gets min(its consumption, coefficient × production); the surplus "
                   "is the production minus what the four flats get")


def _village():
    """(limit in km, farthest distance in km) by the rules themselves, pair by pair."""
    from daisee_lab.acc import DISTANCE_KM, haversine_km

    points = np.radians([[site["lat"], site["lon"]] for site in VILLAGE])
    farthest = max(float(haversine_km(a[0], a[1], b[0], b[1]))
                   for a, b in combinations(points, 2))
    areas = {site["area"] for site in VILLAGE}
    limit = DISTANCE_KM["rural"] if areas == {"rural"} else DISTANCE_KM["periurban"]
    return limit, farthest


@checker("5.3")
def village_perimeter(answer: object) -> tuple[bool, str]:
    """The village's perimeter: ``(farthest distance in km, the distance limit in km that
    applies)``; the distance to 0.1 km."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(map(_number, answer)):
        return False, "answer with two numbers: (the farthest distance in km, the limit in km)"
    limit, farthest = _village()
    distance, stated = answer
    if stated == limit and abs(distance - farthest) <= 0.1:
        return True, (f"the farthest two sites are {farthest:.1f} km apart, above the {limit:g} km "
                      "that periurban communes allow: the operation must drop a site, or every "
                      "site must be in a rural commune for 20 km.")
    if abs(distance - limit) <= 0.1 and abs(stated - farthest) <= 0.1:
        return False, "the distance first, then the limit"
    if stated == 20:
        return False, ("20 km needs every participant in a rural commune; the village centre is "
                       "periurban")
    if stated == 2:
        return False, ("2 km is the rule for urban communes; the arrêté of 19 September 2023 "
                       "widens it for periurban and rural ones")
    if stated != limit:
        return False, "the limit is 2, 10 or 20 km, by the density class of the communes"
    return False, ("the limit is right; the distance is the largest between any two sites, "
                   "consumers and producers alike, on the globe (haversine_km takes radians)")
