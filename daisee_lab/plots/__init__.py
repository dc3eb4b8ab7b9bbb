"""matplotlib figures for the book and the reports: each function returns a :class:`Figure`.

A figure shows itself as an image wherever IPython displays it (JupyterLab, nbconvert, the
documentation site), with no pyplot backend to switch on first, carries a text description for
screen readers (`Figure.alt`), and saves from a plain script with ``figure.savefig(path)``.
Every axis is labelled with its unit; times are shown in local French time (Europe/Paris).

Modules: :mod:`.figure` (the figure and the time axis), :mod:`.energy` (energy against
time: energy per slot, power through a day), :mod:`.markets` (order books, prices per rule
and per slot, bills per method), :mod:`.chain` (gas, capacity, a day's payments on chain, what a
digest or public calldata shows), :mod:`.privacy` (switches and occupancy read from a curve,
what survives a coarser curve or a sum of homes), :mod:`.acc` (who gets what under a collective
self-consumption allocation key).
"""

from daisee_lab.plots.figure import Figure, local_hours
from daisee_lab.plots.energy import energy_day, power_day
from daisee_lab.plots.markets import bills_by_method, merit_order, rule_prices, slot_prices
from daisee_lab.plots.chain import (cost_against_gas_price, curves_read_from_chain, digest_bits,
                                   gas_per_transaction, paid_over_day, settlement_capacity,
                                   sorting_wall)
from daisee_lab.plots.privacy import occupancy_day, resolutions, survival, switches
from daisee_lab.plots.acc import allocation_day

__all__ = ["Figure", "allocation_day", "bills_by_method", "cost_against_gas_price",
           "curves_read_from_chain", "digest_bits", "energy_day", "gas_per_transaction",
           "local_hours", "merit_order", "occupancy_day", "paid_over_day", "power_day",
           "resolutions", "rule_prices", "settlement_capacity", "slot_prices", "sorting_wall",
           "survival", "switches"]
