"""A session on disk, so that ``serve`` on the same folder resumes it after a stop or a crash.

:func:`save` writes, after every step of the clock, the session's ``state.json`` (settings,
the room's keys, the contracts, the seats with their codes and doors, where the clock is) and
the chain's own state, both readable by the instructor only; :func:`load` reads a session
stopped before its end (a session played to its end is over: a new one replaces it), and
:func:`resume` puts a :class:`~daisee_lab.classroom.Classroom` back where it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from eth_account import Account
from web3.types import RPCEndpoint

from daisee_lab.chain import Chain
from daisee_lab.classroom.joins import Seat
from daisee_lab.classroom.meters import ProfileMeter
from daisee_lab.classroom.schedule import ClassroomError, Schedule
from daisee_lab.contracts import Auction
from daisee_lab.settlement import Clearing, clear_double_auction

if TYPE_CHECKING:
    from daisee_lab.classroom.instructor import Classroom

STATE_FILE, STATE_FORMAT = "state.json", "daisee-lab classroom state 1"
CHAIN_FILE = "chain-state.json"  # anvil's own dump of the chain
KEYS = ("operator", "registrar", "relay")  # the room's accounts, saved by their keys
SEAT_FIELDS = ("name", "code", "expires", "meter_key", "seed", "producer", "address", "token",
               "own_meter", "meter_token")


def load(out_dir: Path) -> dict | None:
    """The session saved in `out_dir`, if one was stopped before its end; None if there is
    none or it was played to its end; :class:`ClassroomError` if this version cannot read it."""
    path = out_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("format") != STATE_FORMAT:
            raise ValueError(f"format {saved.get('format')!r}")
        return None if saved.get("finished") else saved  # over: a new one starts here
    except ValueError as exc:
        raise ClassroomError(f"{path} is not a session this version can resume ({exc}): "
                             "start the new session in another folder (--out)") from None


def save(room: Classroom) -> None:
    """Write `room`'s session to its `out_dir` (``state.json`` and the chain's state, each
    replaced whole, readable by the instructor only): what :func:`resume` starts from."""
    if room.chain is None or room.guard is None:
        return
    state = {
        "format": STATE_FORMAT, "guard_port": room.guard.port,
        "settings": {"slots": room.slots, "slot_seconds": room.slot_seconds,
                     "credits": room.credits, "grid_buy": room.grid_buy,
                     "grid_sell": room.grid_sell},
        "keys": {name: _hex(getattr(room, name).key) for name in KEYS},
        "grid": room.grid, "first_block": room.first_block,
        "contracts": {"credit": room.auction.credit.address,
                      "auction": room.auction.market.address,
                      "ledger": room.ledger.address},
        "schedule": room.schedule.to_json(), "slot": room._current,
        "finished": room._finished, "scanned": room._scanned,
        "billed": sorted(room._billed), "absent": sorted(room.absent),
        "silent": sorted(room.silent),
        "indexes": {str(i): list(v) for i, v in room._indexes.items()},
        "seats": [_seat_json(s) for s in room.seats],
    }
    chain_state = room.chain.w3.provider.make_request(RPCEndpoint("anvil_dumpState"),
                                                      [])["result"]
    for name, text in ((CHAIN_FILE, json.dumps(chain_state)),
                       (STATE_FILE, json.dumps(state, indent=1))):
        part = room.out_dir / f".{name}.part"
        part.touch(mode=0o600)
        part.write_text(text, encoding="utf-8")
        part.replace(room.out_dir / name)


def _seat_json(seat: Seat) -> dict:
    return {name: _hex(seat.meter.key) if name == "meter_key" else getattr(seat, name)
            for name in SEAT_FIELDS}


def _hex(key: bytes) -> str:
    return "0x" + bytes(key).hex()


def resume(room: Classroom, saved: dict, url: str) -> None:
    """Put `room`, whose anvil has just started at `url`, back where the `saved` session was:
    its chain, settings, accounts, contracts, seats and the clock's progress."""
    room.chain = chain = Chain(url)
    chain_state = json.loads((room.out_dir / CHAIN_FILE).read_text())
    loaded = chain.w3.provider.make_request(RPCEndpoint("anvil_loadState"), [chain_state])
    if "error" in loaded:
        raise ClassroomError(f"anvil cannot load the saved chain: {loaded['error']}")
    chain.advance_time(1)  # blocks go on from the saved time, not the wall clock's
    settings = saved["settings"]
    room.slots, room.slot_seconds = settings["slots"], settings["slot_seconds"]
    room.credits, room.grid_buy, room.grid_sell = (
        settings["credits"], settings["grid_buy"], settings["grid_sell"])
    room.operator, room.registrar, room.relay = (Account.from_key(saved["keys"][n])
                                                 for n in KEYS)
    room.grid, room.first_block = saved["grid"], saved["first_block"]
    contracts = saved["contracts"]
    room.auction = Auction(chain, chain.at("EnergyCredit", contracts["credit"]),
                           chain.at("AuctionMarket", contracts["auction"]), room.operator,
                           room.grid)
    room.ledger = chain.at("MeterRegistry", contracts["ledger"])
    room.operations = chain.batch(room.operator)
    room.registrations = chain.batch(room.registrar)
    room.meter_relay = chain.batch(room.relay)
    room.schedule = Schedule.from_json(saved["schedule"])
    room.seats = [Seat(*(Account.from_key(s[n]) if n == "meter_key" else s[n]
                         for n in SEAT_FIELDS)) for s in saved["seats"]]
    room.learners = len(room.seats)
    room._meters = {i: ProfileMeter(s.seed, s.producer, room.schedule)
                    for i, s in enumerate(room.seats) if s.joined and not s.own_meter}
    room._current, room._billed = saved["slot"], set(saved["billed"])
    room._scanned = saved["scanned"]
    room.absent, room.silent = set(saved["absent"]), set(saved["silent"])
    room._indexes = {int(i): tuple(v) for i, v in saved["indexes"].items()}
    if room.results_path.exists():
        room.results = pd.read_csv(room.results_path)
    room.clearings = cleared_rounds(room.auction, room.schedule.first_slot, room._current or 0)
    room.resumed = True


def cleared_rounds(auction: Auction, first: int, last: int) -> dict[int, Clearing]:
    """The kernel's clearing of each round from `first` to `last` that the market cleared with
    it (a voided round is left out)."""
    clearings = {}
    for slot in range(first, last + 1):
        _, _, cleared, price, volume = auction.market.rounds(slot)
        if not cleared:
            continue
        bids, asks = auction.book(slot)
        try:
            clearing = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                            asks.price.to_numpy(), asks.qty.to_numpy())
        except ValueError:  # voided
            continue
        if (clearing.volume, max(clearing.price, 0)) == (volume, price):  # not voided
            clearings[slot] = clearing
    return clearings
