"""Units and bounds, one definition each: the slot, local time, trade rounding, and what an
order may hold.

Energy in integer Wh, money in integer µ€, prices in µ€/kWh, 15-minute slots
(``slot = unix_seconds // SLOT_SECONDS``). The bounds are those of the clearing kernels and of
the contracts alike (``contracts/AuctionMarket.sol`` declares the same numbers, and a test
checks they agree): whatever a market accepts, the kernel clears.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from daisee_lab.errors import DaiseeError

__all__ = ["DEFAULT_POWER_VA", "MAX_ACC_WH", "MAX_COMMITS", "MAX_DEPOSIT", "MAX_INDEX_WH",
           "MAX_MEMBERS", "MAX_ORDERS", "MAX_ORDERS_PER_TRADER", "MAX_ORDER_WH", "MAX_POWER_VA",
           "MAX_PRICE", "MAX_WH", "MIN_ORDER_WH", "PARIS", "SLOT_SECONDS", "UnitsError",
           "buyer_pays", "day_slots", "seller_gets", "slot_of"]

SLOT_SECONDS = 900  # a settlement slot
PARIS = ZoneInfo("Europe/Paris")  # the meters' clocks and the book's days are French local time


class UnitsError(DaiseeError, ValueError):
    """A time that names no instant (naive) where a slot is asked for."""


def slot_of(moment: datetime) -> int:
    """The settlement slot holding `moment` (timezone-aware): unix seconds // SLOT_SECONDS."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise UnitsError(f"{moment!r} is naive: give a timezone-aware time (tzinfo=PARIS, say)")
    return int(moment.timestamp()) // SLOT_SECONDS


def day_slots(day: date, tz: ZoneInfo = PARIS) -> range:
    """The slots of local day `day` in `tz`: 96, or 92 and 100 on the days clocks change."""
    begin = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return range(slot_of(begin), slot_of(end))


def buyer_pays(wh, price):
    """µ€ a buyer pays for `wh` Wh at `price` µ€/kWh, rounded up (integers or integer arrays):
    the markets round every trade in the community's favour, so their rounding is never negative."""
    return -(-wh * price // 1000)


def seller_gets(wh, price):
    """µ€ a seller gets for `wh` Wh at `price` µ€/kWh, rounded down (integers or integer arrays)."""
    return wh * price // 1000

MAX_PRICE = 10_000_000  # µ€/kWh (10 €/kWh)
MAX_WH = 400_000_000_000  # Wh: one side of one auction, at most (400 GWh)
MAX_ORDERS = 1000  # revealed orders per side of one auction: its clearing fits in a block
MAX_ORDER_WH = MAX_WH // MAX_ORDERS  # Wh per order: MAX_ORDERS of them make at most MAX_WH
MAX_COMMITS = 16  # sealed orders per trader and auction
MAX_INDEX_WH = 2**40 - 1  # a meter's cumulative index: the registry stores it in 40 bits (1.1 TWh)
MIN_ORDER_WH = 10  # Wh: the smallest order an auction takes (a 40 W load for a quarter hour)
MAX_ORDERS_PER_TRADER = 2  # revealed orders per trader, side and auction
MAX_MEMBERS = MAX_ORDERS // MAX_ORDERS_PER_TRADER  # households an auction registers: all fit
MAX_DEPOSIT = 2**64 - 1  # µ€ sealed with one order (1.8e13 €)
# A meter's power caps the energy of a reading: power x 15 min per slot (the registry stores it in
# 31 bits). The default is the largest subscribed power of a French residential connection: the
# regulated "tarif bleu" and the Linky meter serve connections up to 36 kVA (Code de l'energie,
# art. L337-7; "un compteur d'une puissance inferieure ou egale a 36 kVA", Coussy avocats,
# 2019-07-05, https://coussyavocats.com/2019/07/05/plafonnement-de-la-part-fixe-des-tarifs-bleus-delectricite/).
DEFAULT_POWER_VA = 36_000
MAX_POWER_VA = 2**31 - 1
# Collective self-consumption (daisee_lab.settlement.allocate): every energy value, and each
# slot's production of an operation, so that the allocation's products fit int64. 9 MWh in a
# 15-minute step is 36 MW: seven times the 5 MW cap of an extended operation (arrêté of
# 21 February 2025; see daisee_lab/settlement/allocation_reference.py).
MAX_ACC_WH = 9_000_000
