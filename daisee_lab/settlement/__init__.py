"""Settling a neighbourhood: community pricing, French collective self-consumption and double
auctions.

The public API runs the numba kernels (:mod:`.kernels`, :mod:`.auction_kernels`); the plain
references (:mod:`.reference`, :mod:`.auction_reference`) give the same integers, slowly, and say
exactly what is computed (read their module docstrings: methods, rules and the rounding rule).
"""

from daisee_lab.errors import SettlementError
from daisee_lab.settlement.allocation import KEYS, Allocation, allocate
from daisee_lab.settlement.auction_kernels import clear_double_auction, clear_double_auction_slots
from daisee_lab.settlement.auction_reference import NO_PRICE, RULES, AuctionError, Clearing
from daisee_lab.settlement.kernels import kpis, settle
from daisee_lab.settlement.reference import ACC_METHODS, METHODS, Settlement
from daisee_lab.settlement.scale import compute, settle_dask, settle_many

__all__ = ["ACC_METHODS", "KEYS", "METHODS", "NO_PRICE", "RULES", "Allocation", "AuctionError",
           "Clearing", "Settlement", "SettlementError", "allocate", "clear_double_auction",
           "clear_double_auction_slots", "compute", "kpis", "settle", "settle_dask", "settle_many"]
