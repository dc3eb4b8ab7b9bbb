"""The instructor's side of a classroom: a node, the contracts, the seats, and the slot clock.

>>> with Classroom(20, "session", slots=10) as room:   # anvil, contracts, seats and codes
...     print(room.summary())                           # the room's address, the join codes
...     results = room.run()                            # ten slots, bills per learner and slot

:meth:`Classroom.open` starts anvil on loopback (the instructor's alone), deploys the credit
token, the sealed-bid :class:`~daisee_lab.contracts.Auction` and a :class:`MeterRegistry`
where every meter reports its readings (the ledger), makes the seats, each with a one-time
join code and a simulated meter whose key stays here, and opens the learners' door: the
:class:`~daisee_lab.classroom.guard.Guard` (reads and signed transactions only, per-learner
limits, the join desk). A learner joins with its code and the address of a key it made itself
(:meth:`Classroom.seat_learner`); the seat is funded and its meter registered to that address.
``joins/index.html``, to project, holds only the room's address; ``joins/codes.html`` holds
the codes, to hand out one by one.

:meth:`Classroom.run` then runs the clock of :mod:`daisee_lab.classroom.schedule`: as each
slot ends, the meter relay signs every seated meter's reading for the ledger and shows what it
delivered on its sales; the clock clears each slot with
:func:`~daisee_lab.settlement.clear_double_auction`, settles the sales nobody showed delivered,
and bills each slot (:mod:`daisee_lab.classroom.bills`) into ``results.csv``, rewritten after
every slot so that a crash keeps what was billed.

A phase lasts its share of `slot_seconds`, or less: it ends as soon as every learner expected
has done its part (commit: sealed an order; reveal: opened its orders). A trader that lets a
phase run out is not waited for again until it acts; the room goes on without it, and a learner
without orders pays grid prices. No learner's input stops the clock: a slot that cannot clear
is reported, its deposits refunded, and the room goes on (:meth:`Classroom.report` logs every
failure with its seat in ``room.log`` and on the dashboard).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import segno
from eth_account import Account
from web3.types import RPCEndpoint

from daisee_lab.chain import Chain, TransactionReverted
from daisee_lab.chain.anvil import Anvil, AnvilError, _port_taken, free_port
from daisee_lab.classroom import state
from daisee_lab.classroom.bills import COLUMNS, auction_flows, leaderboard, slot_bills
from daisee_lab.classroom.guard import Guard
from daisee_lab.classroom.joins import (CODE_ALPHABET, MAX_CODE_HOURS, Seat, claim, lan_address,
                                        make_seats, qr, qr_text, write_pages)
from daisee_lab.classroom.meters import ProfileMeter
from daisee_lab.classroom.relay import relay_readings
from daisee_lab.classroom.schedule import (DELIVERY_SECONDS, REVEAL_SECONDS, ClassroomError,
                                           Phase, Schedule)
from daisee_lab.contracts import DEPOSIT_UEUR, deploy_auction, public_id_bytes
from daisee_lab.errors import DaiseeError
from daisee_lab.simulator import DEFAULT_START
from daisee_lab.settlement import Clearing, clear_double_auction
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, dated and sourced there
from daisee_lab.units import MAX_DEPOSIT, MAX_MEMBERS, MAX_ORDERS, MAX_PRICE, SLOT_SECONDS

GAS_MONEY = 100 * 10**18  # wei for each learner and the operator
CREDITS = DEPOSIT_UEUR  # µ€ per learner: what a member deposits by default (20 €)
MAX_CREDITS = MAX_DEPOSIT  # µ€ per learner, at most: a whole wallet fits one deposit
POLL_SECONDS = 0.1
WAIT_SLOTS = 96  # the first slot traded is a chain day ahead: learners may join for that long

__all__ = ["CODE_ALPHABET", "CREDITS", "MAX_CREDITS", "Classroom", "Seat", "stop"]


class Classroom:
    """A live market for `learners` seats, its files in `out_dir`. `host`/`port`: where the
    learners' guarded endpoint and join desk listen (``0.0.0.0`` for the room's network; `port`
    None: any free port); the node itself, anvil, listens on loopback only. `advertise`: the
    address learners use (default: `host`, or this machine's LAN address for ``0.0.0.0``).
    `slots`: how many slots to trade (None: until stopped); `slot_seconds`: real seconds per
    slot; `credits`: µ€ per learner; `grid_buy`/`grid_sell`: the grid's prices (µ€/kWh);
    `seed`: the simulated meters'; `code_hours`: how long a join code stays valid; `resume`:
    resume the session `out_dir` holds if it was stopped before its end (False: a new one).
    """

    def __init__(self, learners: int, out_dir: str | Path = "classroom", *,
                 host: str = "127.0.0.1", port: int | None = 8545, slot_seconds: float = 60,
                 slots: int | None = None, credits: int = CREDITS, grid_buy: int = GRID_BUY,
                 grid_sell: int = GRID_SELL, seed: int = 0, advertise: str | None = None,
                 start: datetime = DEFAULT_START, code_hours: float = 12.0,
                 resume: bool = True):
        if isinstance(learners, bool) or not isinstance(learners, int) \
                or not 1 <= learners <= MAX_MEMBERS:  # the auction registers that many
            raise ClassroomError(f"learners={learners!r}: give 1 to {MAX_MEMBERS} seats")
        if not 0 <= grid_sell <= grid_buy <= MAX_PRICE:
            raise ClassroomError(f"grid prices must satisfy 0 <= grid_sell <= grid_buy <= "
                                 f"{MAX_PRICE} µ€/kWh, got {grid_sell} and {grid_buy}")
        if not 0 < credits <= MAX_CREDITS:
            raise ClassroomError(f"credits={credits!r}: give a positive number of µ€, at most "
                                 f"{MAX_CREDITS}")
        if not 0 < code_hours <= MAX_CODE_HOURS:
            raise ClassroomError(f"code_hours={code_hours!r}: give 0 to {MAX_CODE_HOURS} hours")
        self.learners, self.out_dir = learners, Path(out_dir)
        self.host, self.port, self.slot_seconds, self.slots = host, port, slot_seconds, slots
        self.credits, self.grid_buy, self.grid_sell, self.seed = credits, grid_buy, grid_sell, seed
        self.advertise = advertise or (lan_address() if host == "0.0.0.0" else host)
        self.start_time, self.code_hours, self.resume = start, code_hours, resume
        Schedule(1, slots, slot_seconds, start)  # check the settings before starting anything
        self.anvil: Anvil | None = None
        self.chain: Chain | None = None
        self.guard: Guard | None = None
        self.seats: list[Seat] = []
        self.results = pd.DataFrame(columns=COLUMNS)
        self.clearings: dict[int, Clearing] = {}  # slot: the kernel's Clearing submitted
        self.failures: list[tuple[str, str]] = []  # (seat, what went wrong), also in room.log
        self.absent: set[int] = set()  # traders not waited for, until they act again
        self.silent: set[int] = set()  # learners' own meters not waited for, until they report
        self.phase: Phase | None = None
        self.on_slot: list = []  # callables(table of the slot billed)
        self.on_phase: list = []  # callables(Phase), at each phase's start
        self.on_failure: list = []  # callables(seat, reason)
        self.reader = None  # the Learner who sets the pace, see pace()
        self._reader_seat = -1
        self.resumed = False  # True if open() resumed a session stopped earlier
        self._current: int | None = None  # the chain slot under way
        self._finished = False  # the last slot is billed: the folder holds a session over
        self._billed: set[int] = set()
        self._scanned = 0  # the last block looked at for learners' refused transactions
        self._meters: dict[int, ProfileMeter] = {}  # seat: the simulated meter the relay reads
        self._indexes: dict[int, tuple[int, int]] = {}  # seat: ledger indexes at the last bill
        self._stop, self._advance = threading.Event(), threading.Event()
        self._joining = threading.Lock()
        self._log_lock = threading.Lock()

    # --- setting up -----------------------------------------------------------------------

    @property
    def results_path(self) -> Path:
        """The results CSV: one row per learner and billed slot."""
        return self.out_dir / "results.csv"

    @property
    def url(self) -> str:
        """The room's address, as learners reach it (the join desk and guarded endpoint)."""
        return f"http://{self.advertise}:{self._opened()[1].port}"

    def open(self) -> Classroom:
        """Start anvil on loopback, deploy, make the seats and their join codes, and open the
        learners' guarded endpoint; or, if `out_dir` holds a session stopped before its end
        (``state.json``), resume it: its chain, seats, codes and learners' doors, on the same
        port, from the slot it was in (a session played to its end is replaced by a new one).
        A missing anvil or a port in use raises an error with what to do."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "stop").unlink(missing_ok=True)
        saved = state.load(self.out_dir) if self.resume else None
        port = saved["guard_port"] if saved else self.port
        if port and _port_taken(self.host, port):
            raise AnvilError(f"port {port} on {self.host} is already taken: choose "
                             "another with --port or stop what listens there")
        self.anvil = anvil = Anvil(None, "127.0.0.1", accounts=1,
                                   log=self.out_dir / "anvil.log")
        anvil.start()
        try:
            if saved:
                state.resume(self, saved, anvil.url)
            else:
                self._deploy(anvil.url)
            self.guard = guard = Guard(
                anvil.url, self.host, port or free_port(self.host),
                [self.auction.credit.address, self.auction.market.address, self.ledger.address],
                on_join=self.seat_learner, on_refusal=self.report).start()
            for seat in self.seats:
                if seat.token and seat.address:
                    guard.admit(seat.token, seat.name, seat.address)
                if seat.meter_token and seat.own_meter:
                    guard.admit(seat.meter_token, f"{seat.name}'s meter", seat.own_meter)
            write_pages(self.out_dir, self.url, self.seats)
            state.save(self)
        except BaseException:
            self.close()
            raise
        (self.out_dir / "running").write_text(f"{self.url}\n")
        return self

    def _deploy(self, url: str) -> None:
        self.chain = chain = Chain(url)
        self.first_block = chain.w3.eth.block_number
        self.operator, self.registrar, self.relay = (Account.create() for _ in range(3))
        self.grid = Account.create().address
        bank = chain.batch(chain.accounts[0])
        for account, wei in ((self.operator, GAS_MONEY), (self.relay, GAS_MONEY),
                             (self.registrar, GAS_MONEY * (2 * self.learners + 1))):
            bank.transfer(account.address, wei)
        bank.wait()
        self.auction = deploy_auction(chain, self.operator, [], self.grid_buy,
                                      reveal_seconds=REVEAL_SECONDS,
                                      delivery_seconds=DELIVERY_SECONDS, max_orders=MAX_ORDERS,
                                      grid=self.grid)
        self.ledger = chain.deploy("MeterRegistry", self.operator.address, sender=self.operator)
        self.operations = chain.batch(self.operator)
        credit, market = self.auction.credit, self.auction.market
        for contract, role in ((credit, "MINTER_ROLE"), (market, "OPERATOR_ROLE"),
                               (self.ledger, "OPERATOR_ROLE")):
            self.operations.send(contract, "grantRole", getattr(contract, role)(),
                                 self.registrar.address)
        self.operations.wait()
        self.registrations = chain.batch(self.registrar)
        self.meter_relay = chain.batch(self.relay)
        self.schedule = Schedule(chain.timestamp // SLOT_SECONDS + WAIT_SLOTS, self.slots,
                                 self.slot_seconds, self.start_time)
        self.seats = make_seats(self.learners, self.seed, self.code_hours)

    def seat_learner(self, code: str, address: str, meter: str | None = None) -> dict:
        """Seat the learner holding join `code` at `address` (its own key's): fund it with gas
        money and credits, register its seat's meter as its household's (`meter`: the address
        of the learner's own meter process instead of the room's simulated meter; it is funded
        and gets a door too), open its door in the guarded endpoint, and return what the
        learner needs (:meth:`seat_data`). A code is good once, until it expires; anything else
        raises :class:`ClassroomError` saying why."""
        with self._joining:
            seat, address, meter = claim(self.seats, code, address, meter)
            public_id, metered = public_id_bytes(seat.name), meter or seat.meter.address
            send = self.registrations.send
            send(self.auction.credit, "mint", address, self.credits)
            send(self.auction.market, "register", [(metered, public_id, address)])
            send(self.ledger, "register", [(metered, public_id, address)])
            self.registrations.transfer(address, GAS_MONEY)
            if meter:
                self.registrations.transfer(meter, GAS_MONEY)
            outcomes = self.registrations.wait(strict=False)
            refused = [o for o in outcomes if isinstance(o, TransactionReverted)]
            if refused:
                raise ClassroomError(f"cannot register that meter: {refused[0]}")
            seat.code, seat.address, seat.token = None, address, secrets.token_urlsafe(18)
            if meter:
                seat.own_meter, seat.meter_token = meter, secrets.token_urlsafe(18)
                self._opened()[1].admit(seat.meter_token, f"{seat.name}'s meter", meter)
            else:
                self._meters[self.seats.index(seat)] = ProfileMeter(seat.seed, seat.producer,
                                                                    self.schedule)
            self._opened()[1].admit(seat.token, seat.name, address)
        self.report(seat.name, f"joined as {address}", failure=False)
        return self.seat_data(seat)

    def seat_data(self, seat: Seat) -> dict:
        """What a seated learner keeps (no secret but its door's token): its name, the room's
        endpoint for it, the contracts, the grid's prices, its meter and the schedule."""
        return {
            "format": "daisee-lab classroom 2", "learner": seat.name, "address": seat.address,
            "rpc": f"{self.url}/rpc/{seat.token}", "chain_id": self._opened()[0].w3.eth.chain_id,
            "contracts": {"credit": self.auction.credit.address,
                          "auction": self.auction.market.address,
                          "ledger": self.ledger.address},
            "grid": {"buy": self.grid_buy, "sell": self.grid_sell, "account": self.grid},
            "meter": {"address": seat.meter_address, "seed": seat.seed,
                      "producer": seat.producer, "own": seat.own_meter is not None,
                      **({"rpc": f"{self.url}/rpc/{seat.meter_token}"} if seat.own_meter
                         else {})},
            "schedule": self.schedule.to_json(),
        }

    def report(self, seat: str, what: str, failure: bool = True) -> None:
        """Log `what` about `seat` in ``room.log`` (and, for a failure, in `failures` and to
        the `on_failure` listeners: the dashboard)."""
        line = f"{datetime.now().isoformat(timespec='seconds')} {seat}: {what}\n"
        with self._log_lock:
            with open(self.out_dir / "room.log", "a", encoding="utf-8") as log:
                log.write(line)
            if failure:
                self.failures.append((seat, what))
        for listener in self.on_failure if failure else []:
            listener(seat, what)

    def qr(self) -> segno.QRCode:
        """The QR code of the room's address (no secret in it)."""
        return qr(self.url)

    def qr_text(self) -> str:
        """The room's QR code drawn in a terminal."""
        return qr_text(self.url)

    def summary(self) -> str:
        """The room at a glance, for the instructor's terminal: the address to project, the
        schedule, and each seat's join code (hand each to its learner alone)."""
        slots = "until stopped" if self.slots is None else f"{self.slots} slots"
        lines = [f"room {self.url} (chain id {self._opened()[0].w3.eth.chain_id}); {slots} of "
                 f"{self.slot_seconds:g} s, first chain slot {self.schedule.first_slot}",
                 f"project {self.out_dir / 'joins' / 'index.html'}; hand out the codes "
                 f"({self.out_dir / 'joins' / 'codes.html'}), one to each learner:"]
        lines += [f"  {s.name}  {s.code or 'joined'}{'  (PV)' if s.producer else ''}"
                  for s in self.seats]
        return "\n".join(lines)

    # --- the clock ------------------------------------------------------------------------

    def pace(self, learner) -> None:
        """Let `learner` (a :class:`~daisee_lab.classroom.Learner` of this room, in this
        process: a book's reader) set the pace. The clock then never leaves a phase before the
        learner is done with it: in a commit phase, until it has sealed an order for the next
        slot or waits for a later phase (:meth:`Learner.wait_for`, :meth:`Learner.wait`); in a
        reveal phase, until its orders are opened. The
        chain's time moves one second per block instead of with the wall clock, so a learner
        who pauses between two cells pauses the room, and loses nothing to it."""
        seats = [s.address for s in self.seats]
        if learner.account.address not in seats:
            raise ClassroomError(f"{learner.name} ({learner.account.address}) has no seat in "
                                 "this room: pace it with one of its own learners")
        answer = self._opened()[0].w3.provider.make_request(
            RPCEndpoint("anvil_setBlockTimestampInterval"), [1])
        if "error" in answer:
            raise ClassroomError(f"the node cannot pace its clock by blocks: {answer['error']}")
        self.reader, self._reader_seat = learner, seats.index(learner.account.address)

    def run(self) -> pd.DataFrame:
        """Run the slots (all of them, or until :meth:`stop`, a ``stop`` file in `out_dir`, or
        Ctrl-C); return the results. If anvil dies, raise :class:`ClassroomError`; the results
        billed so far are in :attr:`results_path` in every case."""
        self._opened()
        schedule = self.schedule
        slot = self._current if self._current is not None else schedule.first_slot - 1
        try:
            while not self._stopping() and (schedule.slots is None or slot <= schedule.first_slot
                                            + schedule.slots):
                self._slot(slot)
                slot += 1
            self._finished = not self._stopping()
        except ClassroomError:
            raise
        except Exception as exc:
            self._check_node(exc)
            raise
        finally:
            self._write()
        return self.results

    def _slot(self, c: int) -> None:
        """Chain slot `c`: clear it, commit phase, settle and bill `c - 1`, reveal phase. Each
        step is skipped if done already (a resumed session starts again in the slot it was
        in)."""
        self._current = c
        state.save(self)
        chain = self._opened()[0]
        chain.advance_time(max(0, c * SLOT_SECONDS - chain.timestamp))
        if self.schedule.trades(c) and not self.auction.market.rounds(c)[2]:
            self._clear(c)
        try:
            for refused in relay_readings(self.meter_relay, self._meters, self.seats,
                                          self.ledger, self.auction, self.schedule, c - 1):
                self.report("meter relay", str(refused))
        except DaiseeError as exc:
            self.report("meter relay", f"slot {c - 1}: {exc}")
        self._phase(Phase(c, "commit"), self.schedule.commit_seconds)
        if self._stopping():
            return
        chain.advance_time(max(0, (c + 1) * SLOT_SECONDS - REVEAL_SECONDS - chain.timestamp))
        try:
            if c - 1 not in self._billed:
                self._bill(c - 1)
                self._billed.add(c - 1)
        except DaiseeError as exc:
            self.report("clock", f"slot {c - 1} could not be billed: {exc}")
        self._log_refused()
        self._phase(Phase(c, "reveal"), self.schedule.reveal_seconds)

    def _clear(self, slot: int) -> None:
        """Clear `slot` as the kernel does; a round that cannot clear (whatever a learner
        revealed) is reported with the seats in its book, voided (revealed deposits refunded),
        and the room goes on."""
        bids, asks = self.auction.book(slot)
        try:
            clearing = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                            asks.price.to_numpy(), asks.qty.to_numpy())
            self.auction.clear(slot, clearing)
            self.clearings[slot] = clearing
        except (ValueError, DaiseeError) as exc:
            names = {s.address: s.name for s in self.seats}
            traders = sorted({names.get(t, t) for t in (*bids.trader, *asks.trader)})
            self.report(", ".join(traders) or "nobody",
                        f"slot {slot} cannot clear ({exc}): voided, revealed deposits refunded")
            self.auction.market.voidRound(slot, sender=self.operator)

    def _phase(self, phase: Phase, seconds: float) -> None:
        """Wait until every seat expected has done its part in `phase`, or `seconds` pass; a
        seat that let the time run out is flagged (`absent` trader, `silent` own meter) and not
        waited for again until it does that part."""
        self.phase = phase
        for listener in self.on_phase:
            listener(phase)
        deadline = time.monotonic() + seconds
        self._advance.clear()
        reader: set[int] = set() if self.reader is None else {self._reader_seat}
        while True:
            duties = self._duties(phase)  # (flagged set, seats concerned, seats done)
            ready = self._reader_ready(phase, duties)
            # A commit phase while seats are still empty runs its whole time: learners who have
            # not joined yet (the first minutes of a class) find the session still there.
            waiting_for_seats = phase.name == "commit" and not all(s.joined for s in self.seats)
            if not any(concerned for _, concerned, _ in duties) and ready \
                    and not waiting_for_seats:
                return
            for flagged, _, done in duties:
                flagged -= done
            expected = [(flagged, concerned - flagged - reader, done)
                        for flagged, concerned, done in duties]
            if (ready and not waiting_for_seats
                    and (reader or any(waited for _, waited, _ in expected))
                    and all(waited <= done for _, waited, done in expected)):
                return
            if self._advance.is_set() or self._stopping():
                return
            if time.monotonic() >= deadline:
                for flagged, waited, done in expected:
                    flagged |= waited - done
                if ready:
                    return
            self._check_node()
            time.sleep(POLL_SECONDS)

    def _reader_ready(self, phase: Phase, duties: list) -> bool:
        """True if the reader (:meth:`pace`), if any, is done with `phase`: it sealed an order
        for the next slot or waits for a later phase (commit); it tried to open all its orders
        (reveal)."""
        if self.reader is None:
            return True
        me = self._reader_seat
        if phase.name == "reveal":
            _, concerned, done = duties[0]
            return (me not in concerned or me in done
                    or not self.reader.unopened(phase))
        _, _, traded = duties[0]
        sealed = any(o.slot == phase.trading for o in self.reader.orders_placed)
        return me in traded or sealed or self.reader.waiting.is_set()

    def _duties(self, phase: Phase) -> list[tuple[set[int], set[int], set[int]]]:
        """What `phase` asks of the seated learners, as (flag set, seats concerned, seats done).
        Commit: every trader seals an order for the next slot (if the room trades it), and a
        learner's own meter reports the slot that ended. Reveal: the traders who sealed orders
        for the next slot open them all."""
        trading = phase.trading
        seats = {i: s.address for i, s in enumerate(self.seats) if s.joined}
        commitments = self.auction.commitments(trading) if self.schedule.trades(trading) else []
        if phase.name == "reveal":
            sealed = {c[0] for c in commitments if any(c[2])}
            concerned = {i for i, a in seats.items() if any(c[0] == a for c in commitments)}
            return [(self.absent, concerned, {i for i in concerned if seats[i] not in sealed})]
        committed = {c[0] for c in commitments}
        traders = {i for i, a in seats.items()
                   if not self.schedule.trades(trading) or a in committed}
        duties = [(self.absent, set(seats), traders)]
        own = {i for i in seats if self.seats[i].own_meter}
        if own and phase.slot - 1 >= self.schedule.first_slot - 1:
            reported = {i for i in own if self.ledger.lastReading(
                self.seats[i].own_meter)[1] >= phase.slot - 1}
            duties.append((self.silent, own, reported))
        return duties

    def _log_refused(self) -> None:
        """Log every transaction of a learner (or of its own meter) that the chain refused since
        the last look, with its seat and the decoded reason."""
        chain = self._opened()[0]
        w3, latest = chain.w3, chain.w3.eth.block_number
        senders = {s.address: s.name for s in self.seats if s.joined}
        senders.update({s.own_meter: f"{s.name}'s meter" for s in self.seats if s.own_meter})
        names = {self.auction.credit.address: "EnergyCredit",
                 self.auction.market.address: "AuctionMarket", self.ledger.address: "ledger"}
        for number in range(max(self._scanned, self.first_block) + 1, latest + 1):
            block = w3.eth.get_block(number, full_transactions=True)
            for tx in cast("list[dict]", block["transactions"]):  # full: dicts, not hashes
                seat = senders.get(tx["from"])
                if seat and w3.eth.get_transaction_receipt(tx["hash"])["status"] == 0:
                    why = chain.why_reverted(tx, number)
                    self.report(seat, f"a call to {names.get(tx['to'], tx['to'])} refused on "
                                      f"chain: {why.message}")
        self._scanned = latest

    def _bill(self, slot: int) -> None:
        """Settle the sales of `slot` nobody showed delivered, then bill it from the ledger's
        readings and the auction (the ledger's indexes are kept for the next bill)."""
        latest = {e.args.meter: (e.args.importWh, e.args.exportWh) for e in
                  self.ledger.web3.events.ReadingAccepted.get_logs(from_block=self.first_block)}
        energy = np.zeros((len(self.seats), 2), np.int64)
        for i, seat in enumerate(self.seats):
            now = latest.get(seat.meter_address)
            if now and i in self._indexes:
                energy[i] = (now[0] - self._indexes[i][0], now[1] - self._indexes[i][1])
            if now:
                self._indexes[i] = now
        if not self.schedule.trades(slot):
            return
        market = self.auction.market
        bids, asks = self.auction.book(slot)  # fills are final; escrows are settled next
        with self.operations.lock:
            for ask in asks.index[(asks.filled > 0) & (asks.escrow > 0)]:
                self.operations.send(market, "settleUndelivered", slot, int(ask))
            self.operations.wait()
        cleared = market.web3.events.Cleared.get_logs(argument_filters={"slot": slot},
                                                      from_block=self.first_block)
        # the event's values are the contract's own, full width (none: the round never closed)
        price, volume = (cleared[0].args.price, cleared[0].args.volume) if cleared else (0, 0)
        events = market.web3.events.Delivered.get_logs(argument_filters={"slot": slot},
                                                       from_block=self.first_block)
        deliveries = pd.DataFrame([(e.args.seller, e.args.deliveredWh, e.args.charge)
                                   for e in events],
                                  columns=["seller", "delivered_wh", "charge"])
        commitments = self.auction.commitments(slot)
        flows = [auction_flows(s.address, bids, asks, price, deliveries, commitments)
                 for s in self.seats]
        table = slot_bills(slot, [s.name for s in self.seats], energy, flows, price, volume,
                           self.grid_buy, self.grid_sell)
        self.results = table if self.results.empty else pd.concat([self.results, table],
                                                                  ignore_index=True)
        self._write()
        for listener in self.on_slot:
            listener(table)

    # --- stopping -------------------------------------------------------------------------

    def leaderboard(self) -> pd.DataFrame:
        """Totals per learner so far, best savings first (see :func:`bills.leaderboard`)."""
        return leaderboard(self.results)

    def advance(self) -> None:
        """End the current phase now (the room is ready)."""
        self._advance.set()

    def stop(self) -> None:
        """Ask the clock to stop after the current step (from another thread)."""
        self._stop.set()

    def _stopping(self) -> bool:
        return self._stop.is_set() or (self.out_dir / "stop").exists()

    def _check_node(self, cause: Exception | None = None) -> None:
        """Raise :class:`ClassroomError` if anvil has died (waiting a moment for it to exit
        when a call to it failed)."""
        process = self.anvil.process if self.anvil else None
        if cause is not None and process is not None:
            try:
                process.wait(timeout=3)
            except Exception:  # noqa: BLE001 - still running: the failure was something else
                return
        if process is None or process.poll() is not None:
            self._write()
            code = process.returncode if process is not None else "stopped"
            raise ClassroomError(
                f"anvil stopped (exit code {code}) during chain slot "
                f"{self.phase.slot if self.phase else '-'}: the "
                f"{self.results.slot.nunique()} slots billed are kept in {self.results_path}; "
                f"see {self.out_dir / 'anvil.log'}") from cause

    def _opened(self) -> tuple[Chain, Guard]:
        """The room's chain and learners' endpoint; :class:`ClassroomError` if not open."""
        if self.chain is None or self.guard is None:
            raise ClassroomError("the classroom is not open: use `with Classroom(...) as room:`")
        return self.chain, self.guard

    def _write(self) -> None:
        if self.chain is not None:
            self.results.to_csv(self.results_path, index=False)

    def close(self) -> None:
        """Write the results and the session's state, close the learners' endpoint, and stop
        anvil (``serve`` on the same folder resumes the session)."""
        self._write()
        if self.anvil is not None and self.anvil.alive():
            state.save(self)
        if self.guard is not None:
            self.guard.stop()
        if self.anvil is not None:
            self.anvil.stop()
        (self.out_dir / "running").unlink(missing_ok=True)

    def __enter__(self) -> Classroom:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop(out_dir: str | Path = "classroom") -> None:
    """Ask the classroom running in `out_dir` (another process) to stop: it writes its results
    and stops anvil within a moment."""
    out_dir = Path(out_dir)
    if not (out_dir / "running").exists():
        raise ClassroomError(f"no classroom is running in {out_dir}: give the folder its "
                             "serve command wrote to (--out)")
    (out_dir / "stop").write_text("stop\n")
