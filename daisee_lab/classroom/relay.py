"""The room's meter relay: as each slot ends, the simulated meters of the seats sign their
readings for the ledger, and show what their households delivered on their sales.

A learner who brings a real meter signs in its own process
(:mod:`~daisee_lab.classroom.meter_process`); every other seat's household is a
:class:`~daisee_lab.classroom.meters.ProfileMeter` whose key stays with the instructor, and
:func:`relay_readings` does for it what the meter process does for a real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from daisee_lab.chain import Contract, TransactionReverted
from daisee_lab.chain.batch import Batch
from daisee_lab.classroom.joins import Seat
from daisee_lab.classroom.meters import ProfileMeter
from daisee_lab.classroom.schedule import Schedule
from daisee_lab.contracts import Auction, sign_reading


def relay_readings(relay: Batch, meters: Mapping[int, ProfileMeter], seats: Sequence[Seat],
                   ledger: Contract, auction: Auction, schedule: Schedule,
                   ended: int) -> list[TransactionReverted]:
    """Send, from the `relay` account, each simulated meter's (`meters`, by seat index)
    reading of its indexes at the end of slot `ended` to the `ledger`, and the readings that
    show what it exported for each of its household's sales of `ended` to the market (the
    first sale measures, the next ones draw on it); return the transactions refused. A meter
    that reported `ended` already (before a restart) is skipped."""
    if ended < schedule.first_slot - 1:
        return []
    chain_id, market = relay.chain_id, auction.market
    selling: dict[str, list[int]] = {}
    if schedule.trades(ended):
        _, asks = auction.book(ended)
        for ask in asks.index[(asks.filled > 0) & (asks.escrow > 0)]:
            selling.setdefault(asks.trader[ask], []).append(int(ask))
    with relay.lock:
        for i, meter in meters.items():
            seat = seats[i]
            if ledger.lastReading(seat.meter.address)[1] >= ended:
                continue  # reported before the session was stopped and resumed
            imported, exported = meter.indexes(ended)
            reading = sign_reading(seat.meter, ledger.address, chain_id, seat.meter.address,
                                   ended, imported, exported)
            relay.send(ledger, "submitReading", ended, reading.calldata())
            sales = selling.get(seat.address or "", [])
            if not sales:
                continue
            _, last, _, _ = market.lastReading(seat.meter.address)
            readings = [sign_reading(seat.meter, market.address, chain_id, seat.meter.address,
                                     s, *meter.indexes(s)).calldata()
                        for s in ((ended,) if last == ended - 1 else (ended - 1, ended))]
            for n, ask in enumerate(sales):
                relay.send(market, "settleDelivery", ended, ask, readings if n == 0 else [])
        return [o for o in relay.wait(strict=False) if isinstance(o, TransactionReverted)]
