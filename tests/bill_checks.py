"""Checking a room's bill against the chain without re-deriving bills.py: the energy and the
trades are the chain's own numbers, and the money is held to its exact (fractional) value."""

from fractions import Fraction

from daisee_lab.tariffs import GRID_BUY, GRID_SELL


def check_bill(row, used, me, bids, asks, shown, sealed, price) -> None:
    """`row` of the results for trader `me` in a slot: `used` is its meter's (import, export)
    Wh from the ledger's readings, `bids`/`asks` the slot's book, `shown` its Delivered events,
    `sealed` its commitments, `price` its clearing price. Each rounding is under 1 µ€ and in
    the room's favour (a buyer pays up, a seller gets down), and the bill adds up."""
    bought, sold = (int(side.filled[side.trader == me].sum()) for side in (bids, asks))
    delivered = sum(e.args.deliveredWh for e in shown if e.args.seller == me)
    assert (row.import_wh, row.export_wh, row.bought_wh, row.sold_wh, row.delivered_wh) == (
        *used, bought, sold, delivered)
    fills = int((bids.trader == me).sum() + (asks.trader == me).sum())
    charged = sum(e.args.charge for e in shown if e.args.seller == me)
    forfeited = sum(c[1] for c in sealed if c[0] == me and any(c[2]))
    exact = Fraction((bought - sold) * price, 1000) + charged + forfeited
    assert 0 <= row.auction_ueur - exact < max(fills, 1)  # under 1 µ€ a fill
    for paid, net in ((row.grid_ueur, used[0] - used[1] - bought + delivered),
                      (row.baseline_ueur, used[0] - used[1])):
        assert 0 <= paid - Fraction(net * (GRID_BUY if net > 0 else GRID_SELL), 1000) < 1
    assert row.bill_ueur == row.auction_ueur + row.grid_ueur
    assert row.savings_ueur == row.baseline_ueur - row.bill_ueur
