"""Settling a neighbourhood: community pricing and double auctions.

The public API runs the numba kernels (:mod:`.auction_kernels`); the plain references
(:mod:`.auction_reference`) give the same integers, slowly, and say exactly what is computed.
"""

from daisee_lab.settlement.auction_kernels import clear_double_auction, clear_double_auction_slots
from daisee_lab.settlement.auction_reference import NO_PRICE, RULES, AuctionError, Clearing

__all__ = ["NO_PRICE", "RULES", "AuctionError", "Clearing", "clear_double_auction",
           "clear_double_auction_slots"]
