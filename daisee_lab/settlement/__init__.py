"""Settling a neighbourhood: community pricing and double auctions.

The public API runs the numba kernels (:mod:`.kernels`, :mod:`.auction_kernels`); the plain
references (:mod:`.reference`, :mod:`.auction_reference`) give the same integers, slowly, and say
exactly what is computed (read their module docstrings: methods, rules and the rounding rule).
"""

from daisee_lab.settlement.auction_kernels import clear_double_auction, clear_double_auction_slots
from daisee_lab.settlement.auction_reference import NO_PRICE, RULES, AuctionError, Clearing
from daisee_lab.settlement.kernels import kpis, settle
from daisee_lab.settlement.reference import METHODS, Settlement
from daisee_lab.settlement.scale import settle_dask, settle_many

__all__ = ["METHODS", "NO_PRICE", "RULES", "AuctionError", "Clearing", "Settlement",
           "clear_double_auction", "clear_double_auction_slots", "kpis", "settle", "settle_dask",
           "settle_many"]
