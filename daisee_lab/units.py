"""Units and bounds, one definition each: the slot, and what an order may hold.

Energy in integer Wh, money in integer µ€, prices in µ€/kWh, 15-minute slots
(``slot = unix_seconds // SLOT_SECONDS``). The bounds are those of the clearing kernels and of
the contracts alike (``contracts/AuctionMarket.sol`` declares the same numbers, and a test
checks they agree): whatever a market accepts, the kernel clears.
"""

SLOT_SECONDS = 900  # a settlement slot
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
