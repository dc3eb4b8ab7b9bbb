"""The grid's prices the book and the main job use: facts about France, each with its date and
source (full references in the documentation's bibliography). Integer µ€ per kWh, taxes included.

`GRID_BUY` (λb) is what a household pays its supplier for a kWh from the grid: the regulated
residential tariff (TRVE, "tarif Bleu"), option Base, 6 kVA, energy price, from 1 February 2026
(arrêté of 28 January 2026, JORF of 30 January 2026, on the CRE's proposal, délibération
n° 2026-06 of 14 January 2026). No later change was published as of `CHECKED`.

`GRID_SELL` (λs) is what a household is paid for the surplus of its rooftop panels (≤ 9 kWc,
"vente du surplus" under EDF OA's purchase obligation) for a connection requested from
28 March 2025 (arrêté of 26 March 2025 amending the S21 arrêté of 6 October 2021); it was
0.1269 €/kWh for requests from November 2024 to January 2025. Contracts keep the price of their
request date for 20 years.

`HISTORY` lists the Base price's earlier values, for the chapters that compare years.
"""

from __future__ import annotations

from datetime import date

__all__ = ["BUY_FROM", "CHECKED", "GRID_BUY", "GRID_SELL", "HISTORY", "SELL_FROM"]

GRID_BUY = 194_000   # µ€/kWh: TRVE Base 6 kVA, TTC, from 2026-02-01
GRID_SELL = 40_000   # µ€/kWh: surplus feed-in (≤ 9 kWc), requests from 2025-03-28
BUY_FROM = date(2026, 2, 1)
SELL_FROM = date(2025, 3, 28)
CHECKED = date(2026, 12, 6)  # when these were last checked against their sources

# TRVE Base 6 kVA energy price (µ€/kWh, TTC) by the day it took effect, with its source.
HISTORY = {
    date(2024, 2, 1): (251_600, "TRVE of 1 February 2024, in force until 31 January 2025"),
    date(2025, 2, 1): (201_600, "CRE délibération n° 2025-25 of 16 January 2025"),
    date(2025, 8, 1): (195_200, "CRE délibération n° 2025-155 of 19 June 2025"),
    date(2026, 2, 1): (194_000, "CRE délibération n° 2026-06 of 14 January 2026; arrêté of "
                                "28 January 2026"),
}

# Network tariff on collectively self-consumed energy (TURPE, option "autoconsommation
# collective"): created by CRE délibération n° 2018-115 of 7 June 2018, in force from
# 1 August 2018 (a lower energy component on the allocated, "autoproduite" kWh and a higher one,
# about +15 % then, on the complement, "alloproduite"; the consumer may keep the classic TURPE);
# kept in TURPE 7 HTA-BT, in force from 1 August 2025. Its current values were NOT found in the
# sources searched on 2026-12-06, so no constant is given here: daisee_lab.acc.Network takes
# them as arguments. Add them here, dated and sourced, when found.
