"""The instructor's side of a classroom: a node, the contracts, the seats, and the slot clock.

>>> with Classroom(20, "session", slots=10) as room:   # anvil, contracts, join files
...     print(room.summary())                           # join codes and addresses
...     results = room.run()                            # ten slots, bills per learner and slot

:meth:`Classroom.open` starts anvil (on loopback unless `host` says otherwise), deploys the
credit token, the sealed-bid :class:`~daisee_lab.contracts.Auction` and a
:class:`MeterRegistry` where every meter reports its readings (the ledger), gives each learner
fresh keys, gas money and credits, registers their meters, and writes one join file per learner
(``joins/<learner>.json``, also served at ``http://<host>:<port+1>/<code>``, and an
``index.html`` of QR codes to project). :meth:`Classroom.run` then runs the clock of
:mod:`daisee_lab.classroom.schedule`: it clears each slot with
:func:`~daisee_lab.settlement.clear_double_auction`, settles the sales nobody showed delivered,
and bills each slot (:mod:`daisee_lab.classroom.bills`) into ``results.csv``, rewritten after
every slot so that a crash keeps what was billed.

A phase lasts its share of `slot_seconds`, or less: it ends as soon as every learner expected
has done its part (commit: its meter reported the slot that ended, and as a trader it showed
its deliveries and sealed an order; reveal: it opened its orders). A meter or a trader that lets
a phase run out is not waited for again until it acts; the room goes on without it, and a
learner without orders pays grid prices.
"""

from __future__ import annotations

import io
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import segno
from eth_account import Account
from eth_account.signers.local import LocalAccount

from daisee_lab.chain import Chain
from daisee_lab.chain.anvil import Anvil
from daisee_lab.classroom.bills import COLUMNS, auction_flows, leaderboard, slot_bills
from daisee_lab.classroom.learner import CONTRACTS
from daisee_lab.classroom.schedule import (CHAIN_SLOT, DELIVERY_SECONDS, REVEAL_SECONDS,
                                           ClassroomError, Phase, Schedule)
from daisee_lab.classroom.sender import Sender, revert_decoder
from daisee_lab.contracts import Household, deploy_auction, public_id_bytes
from daisee_lab.meter import DEFAULT_START
from daisee_lab.settlement import clear_double_auction

GAS_MONEY = 100 * 10**18  # wei for each learner and the operator
CREDITS = 20_000_000  # µ€ per learner: 20 €
GRID_BUY, GRID_SELL = 250_000, 100_000  # µ€/kWh
MAX_ORDERS = 1000  # per side and slot: the contract's most, a clearing still fits a block
PRODUCERS = 2  # learners 0, 1 of every 5 have PV: 40 %, as community.make_households
POLL_SECONDS = 0.1
WAIT_SLOTS = 96  # the first slot traded is a chain day ahead: learners may join for that long
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L


@dataclass(frozen=True)
class Seat:
    """A learner's seat: name, join code, account, household (meter key and public id), the
    simulated meter's seed and PV, the join file and the address that serves it."""

    name: str
    code: str
    account: LocalAccount
    household: Household
    seed: int
    producer: bool
    path: Path
    url: str

    def qr(self) -> segno.QRCode:
        """The QR code of the join address."""
        return segno.make(self.url, error="m")

    def qr_text(self) -> str:
        """The QR code drawn in a terminal."""
        out = io.StringIO()
        self.qr().terminal(out=out, compact=True)
        return out.getvalue()


def lan_address() -> str:
    """This machine's address on its local network (no packet is sent to find it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:  # no route at all: the hostname's address, if it has one
            try:
                return socket.gethostbyname(socket.gethostname())
            except OSError:
                return "127.0.0.1"


def join_code() -> str:
    """A fresh join code, ``XXXX-XXXX`` (about 40 bits: guessing one is not an option)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


class Classroom:
    """A live market for `learners` seats, its files in `out_dir`. `host`/`port`: where anvil
    listens (``0.0.0.0`` for the room's network; `port` None: any free port); `advertise`: the
    address learners use (default: `host`, or this machine's LAN address for ``0.0.0.0``);
    `join_port`: the join files' HTTP port (default ``port + 1``). `slots`: how many slots to
    trade (None: until stopped); `slot_seconds`: real seconds per slot; `credits`: µ€ per
    learner; `grid_buy`/`grid_sell`: the grid's prices (µ€/kWh); `seed`: the simulated meters'.
    """

    def __init__(self, learners: int, out_dir: str | Path = "classroom", *,
                 host: str = "127.0.0.1", port: int | None = 8545, slot_seconds: float = 60,
                 slots: int | None = None, credits: int = CREDITS, grid_buy: int = GRID_BUY,
                 grid_sell: int = GRID_SELL, seed: int = 0, advertise: str | None = None,
                 join_port: int | None = None, start: datetime = DEFAULT_START):
        if isinstance(learners, bool) or not isinstance(learners, int) or not 1 <= learners <= 500:
            raise ClassroomError(f"learners={learners!r}: give 1 to 500 seats")
        if not 0 <= grid_sell <= grid_buy <= 10_000_000:
            raise ClassroomError(f"grid prices must satisfy 0 <= grid_sell <= grid_buy <= "
                                 f"10000000 µ€/kWh, got {grid_sell} and {grid_buy}")
        if not 0 < credits < 2**64:
            raise ClassroomError(f"credits={credits!r}: give a positive number of µ€")
        self.learners, self.out_dir = learners, Path(out_dir)
        self.host, self.port, self.slot_seconds, self.slots = host, port, slot_seconds, slots
        self.credits, self.grid_buy, self.grid_sell, self.seed = credits, grid_buy, grid_sell, seed
        self.advertise = advertise or (lan_address() if host == "0.0.0.0" else host)
        self.join_port = join_port
        self.start_time = start
        Schedule(1, slots, slot_seconds, start)  # check the settings before starting anything
        self.anvil: Anvil | None = None
        self.chain: Chain | None = None
        self.seats: list[Seat] = []
        self.results = pd.DataFrame(columns=COLUMNS)
        self.clearings: dict[int, object] = {}  # slot: the kernel's Clearing submitted
        self.absent: set[int] = set()  # traders not waited for, until they act again
        self.silent: set[int] = set()  # meters not waited for, until they report again
        self.phase: Phase | None = None
        self.on_slot: list = []  # callables(table of the slot billed)
        self.on_phase: list = []  # callables(Phase), at each phase's start
        self.reader = None  # the Learner who sets the pace, see pace()
        self._reader_seat = -1
        self._owing: set[int] = set()  # seats whose sales of the slot that ended are unsettled
        self._indexes: dict[int, tuple[int, int]] = {}  # seat: ledger indexes at the last bill
        self._stop, self._advance = threading.Event(), threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- setting up -----------------------------------------------------------------------

    @property
    def results_path(self) -> Path:
        """The results CSV: one row per learner and billed slot."""
        return self.out_dir / "results.csv"

    @property
    def url(self) -> str:
        """The node's address, as learners reach it."""
        return f"http://{self.advertise}:{self.anvil.port}"

    def open(self) -> Classroom:
        """Start anvil, deploy, seat and fund the learners, write and serve the join files.
        A missing anvil or a port in use raises :class:`AnvilError` with what to do."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "stop").unlink(missing_ok=True)
        self.anvil = Anvil(self.port, self.host, accounts=1, log=self.out_dir / "anvil.log")
        self.anvil.start()
        try:
            self._deploy()
            self._write_joins()
            self._serve_joins()
        except BaseException:
            self.close()
            raise
        (self.out_dir / "running").write_text(f"{self.url}\n")
        return self

    def _deploy(self) -> None:
        local = "127.0.0.1" if self.host == "0.0.0.0" else self.host
        self.chain = chain = Chain(f"http://{local}:{self.anvil.port}")
        self.first_block = chain.w3.eth.block_number
        errors = revert_decoder(chain, CONTRACTS)
        self.operator, self.grid = Account.create(), Account.create().address
        accounts = [Account.create() for _ in range(self.learners)]
        bank = Sender(chain, chain.accounts[0], errors)
        for account in [self.operator, *accounts]:
            bank.transfer(account.address, GAS_MONEY)
        bank.wait()
        homes = [Household(a.address, Account.create(), f"learner-{i + 1:03d}")
                 for i, a in enumerate(accounts)]
        self.auction = deploy_auction(chain, self.operator, homes, self.grid_buy,
                                      reveal_seconds=REVEAL_SECONDS,
                                      delivery_seconds=DELIVERY_SECONDS, max_orders=MAX_ORDERS,
                                      grid=self.grid)
        self.ledger = chain.deploy("MeterRegistry", self.operator.address, sender=self.operator)
        self.ledger.register([(h.meter, public_id_bytes(h.public_id), h.account) for h in homes],
                             sender=self.operator)
        self.operations = Sender(chain, self.operator, errors)
        for account in accounts:
            self.operations.send(self.auction.credit, "mint", account.address, self.credits)
        self.operations.wait()
        approvals = [Sender(chain, a, errors) for a in accounts]
        for sender in approvals:
            sender.send(self.auction.credit, "approve", self.auction.market.address, 2**256 - 1)
        for sender in approvals:
            sender.wait()
        self.schedule = Schedule(chain.timestamp // CHAIN_SLOT + WAIT_SLOTS, self.slots,
                                 self.slot_seconds, self.start_time)
        self.join_port = self.join_port or self.anvil.port + 1
        codes = [join_code() for _ in accounts]
        self.seats = [Seat(h.public_id, code, a, h, self.seed * 1000 + i, i % 5 < PRODUCERS,
                           self.out_dir / "joins" / f"{h.public_id}.json",
                           f"http://{self.advertise}:{self.join_port}/{code}")
                      for i, (a, h, code) in enumerate(zip(accounts, homes, codes))]

    def join_data(self, seat: Seat) -> dict:
        """What a learner's join file holds (private keys included: give it to them only)."""
        return {
            "format": "daisee-lab classroom 1", "learner": seat.name, "code": seat.code,
            "url": self.url, "chain_id": self.chain.w3.eth.chain_id,
            "account_key": seat.account.key.to_0x_hex(),
            "meter_key": seat.household.meter_key.key.to_0x_hex(),
            "contracts": {"credit": self.auction.credit.address,
                          "auction": self.auction.market.address,
                          "ledger": self.ledger.address},
            "grid": {"buy": self.grid_buy, "sell": self.grid_sell, "account": self.grid},
            "meter": {"seed": seat.seed, "producer": seat.producer},
            "schedule": self.schedule.to_json(),
        }

    def _write_joins(self) -> None:
        folder = self.out_dir / "joins"
        folder.mkdir(exist_ok=True)
        cards = []
        for seat in self.seats:
            seat.path.write_text(json.dumps(self.join_data(seat), indent=1), encoding="utf-8")
            seat.path.chmod(0o600)
            cards.append(f"<figure>{seat.qr().svg_inline(scale=4)}<figcaption><b>{seat.name}"
                         f"</b><br><code>{seat.code}</code><br>{seat.url}</figcaption></figure>")
        (folder / "index.html").write_text(
            "<!doctype html><meta charset=utf-8><title>daisee-lab classroom: join codes</title>"
            "<style>body{font-family:sans-serif;display:flex;flex-wrap:wrap}"
            "figure{margin:1em;text-align:center}</style>" + "".join(cards), encoding="utf-8")

    def _serve_joins(self) -> None:
        files = {seat.code: seat.path.read_bytes() for seat in self.seats}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = files.get(self.path.strip("/").upper())
                if body is None:
                    self.send_error(404, "no such join code")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                """Quiet: the terminal shows the market."""

        try:
            self._server = ThreadingHTTPServer((self.host, self.join_port), Handler)
        except OSError as exc:
            raise ClassroomError(f"cannot serve the join files on {self.host}:{self.join_port}"
                                 f" ({exc.strerror}): choose another port with join_port, or "
                                 "give learners the files in joins/") from None
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="join files",
                         daemon=True).start()

    def summary(self) -> str:
        """The room at a glance: node address, schedule, and each learner's join code."""
        slots = "until stopped" if self.slots is None else f"{self.slots} slots"
        lines = [f"node {self.url} (chain id {self.chain.w3.eth.chain_id}); {slots} of "
                 f"{self.slot_seconds:g} s, first chain slot {self.schedule.first_slot}",
                 f"join files in {self.out_dir / 'joins'}, QR codes in "
                 f"{self.out_dir / 'joins' / 'index.html'}"]
        lines += [f"  {s.name}  {s.code}  {s.url}{'  (PV)' if s.producer else ''}"
                  for s in self.seats]
        return "\n".join(lines)

    # --- the clock ------------------------------------------------------------------------

    def pace(self, learner) -> None:
        """Let `learner` (a :class:`~daisee_lab.classroom.Learner` of this room, in this
        process: a book's reader) set the pace. The clock then never leaves a phase before the
        learner is done with it: in a commit phase, until it has sealed an order for the next
        slot or waits for a later phase (:meth:`Learner.wait_for`, :meth:`Learner.wait`), and
        its meter and deliveries are shown; in a reveal phase, until its orders are opened. The
        chain's time moves one second per block instead of with the wall clock, so a learner
        who pauses between two cells pauses the room, and loses nothing to it."""
        seats = [s.account.address for s in self.seats]
        if learner.account.address not in seats:
            raise ClassroomError(f"{learner.name} ({learner.account.address}) has no seat in "
                                 "this room: pace it with one of its own learners")
        answer = self.chain.w3.provider.make_request("anvil_setBlockTimestampInterval", [1])
        if "error" in answer:
            raise ClassroomError(f"the node cannot pace its clock by blocks: {answer['error']}")
        self.reader, self._reader_seat = learner, seats.index(learner.account.address)

    def run(self) -> pd.DataFrame:
        """Run the slots (all of them, or until :meth:`stop`, a ``stop`` file in `out_dir`, or
        Ctrl-C); return the results. If anvil dies, raise :class:`ClassroomError`; the results
        billed so far are in :attr:`results_path` in every case."""
        if self.chain is None:
            raise ClassroomError("the classroom is not open: use `with Classroom(...) as room:`")
        schedule, slot = self.schedule, self.schedule.first_slot - 1
        try:
            while not self._stopping() and (schedule.slots is None or slot <= schedule.first_slot
                                            + schedule.slots):
                self._slot(slot)
                slot += 1
        except ClassroomError:
            raise
        except Exception as exc:
            self._check_node(exc)
            raise
        finally:
            self._write()
        return self.results

    def _slot(self, c: int) -> None:
        """Chain slot `c`: clear it, commit phase, settle and bill `c - 1`, reveal phase."""
        self.chain.advance_time(max(0, c * CHAIN_SLOT - self.chain.timestamp))
        if self.schedule.trades(c):
            self._clear(c)
        self._phase(Phase(c, "commit"), self.schedule.commit_seconds)
        if self._stopping():
            return
        self.chain.advance_time(max(0, (c + 1) * CHAIN_SLOT - REVEAL_SECONDS
                                    - self.chain.timestamp))
        self._bill(c - 1)
        self._phase(Phase(c, "reveal"), self.schedule.reveal_seconds)

    def _clear(self, slot: int) -> None:
        bids, asks = self.auction.book(slot)
        clearing = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                        asks.price.to_numpy(), asks.qty.to_numpy())
        self.auction.clear(slot, clearing)
        self.clearings[slot] = clearing

    def _phase(self, phase: Phase, seconds: float) -> None:
        """Wait until every seat expected has done its part in `phase`, or `seconds` pass; a
        seat that let the time run out is flagged (`silent` meter, `absent` trader) and not
        waited for again until it does that part."""
        self.phase = phase
        for listener in self.on_phase:
            listener(phase)
        deadline = time.monotonic() + seconds
        self._advance.clear()
        reader = set() if self.reader is None else {self._reader_seat}
        while True:
            duties = self._duties(phase)  # (flagged set, seats concerned, seats done)
            ready = self._reader_ready(phase, duties)
            if not any(concerned for _, concerned, _ in duties) and ready:
                return
            for flagged, _, done in duties:
                flagged -= done
            expected = [(flagged, concerned - flagged - reader, done)
                        for flagged, concerned, done in duties]
            if (ready and (reader or any(waited for _, waited, _ in expected))
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
        """True if the reader (:meth:`pace`), if any, is done with `phase`: its meter reported
        and its sales of the slot that ended are shown delivered, and it sealed an order for
        the next slot or waits for a later phase (commit); it tried to open all its orders
        (reveal)."""
        if self.reader is None:
            return True
        me = self._reader_seat
        if phase.name == "reveal":
            _, concerned, done = duties[0]
            return (me not in concerned or me in done
                    or not self.reader.unopened(phase))
        (_, _, reported), (_, _, traded) = duties
        sealed = any(o.slot == phase.trading for o in self.reader.orders_placed)
        owing = me in self._owing
        return me in reported and not owing and (
            me in traded or sealed or self.reader.waiting.is_set())

    def _duties(self, phase: Phase) -> list[tuple[set[int], set[int], set[int]]]:
        """What `phase` asks, as (flag set, seats concerned, seats done). Commit: every meter
        reports the slot that ended; every trader shows its deliveries of that slot and seals
        an order for the next (if the room trades it). Reveal: the traders who sealed orders
        for the next slot open them all."""
        market, trading, ended = self.auction.market, phase.trading, phase.slot - 1
        seats = {i: s.account.address for i, s in enumerate(self.seats)}
        commitments = market.commitments(trading) if self.schedule.trades(trading) else []
        if phase.name == "reveal":
            sealed = {c[0] for c in commitments if any(c[2])}
            concerned = {i for i, a in seats.items() if any(c[0] == a for c in commitments)}
            return [(self.absent, concerned, {i for i in concerned if seats[i] not in sealed})]
        owing = set()
        if self.schedule.trades(ended):
            owing = {o[0] for o in market.book(ended, False) if o[3] > 0 and o[4] > 0}
        self._owing = {i for i, a in seats.items() if a in owing}
        committed = {c[0] for c in commitments}
        traders = {i for i, a in seats.items() if a not in owing
                   and (not self.schedule.trades(trading) or a in committed)}
        meters = set(seats)
        if ended >= self.schedule.first_slot - 1:
            reported = {e.args.meter for e in self.ledger.web3.events.ReadingAccepted.get_logs(
                argument_filters={"slot": ended}, from_block=self.first_block)}
            meters = {i for i in seats if self.seats[i].household.meter in reported}
        return [(self.silent, set(seats), meters), (self.absent, set(seats), traders)]

    def _bill(self, slot: int) -> None:
        """Settle the sales of `slot` nobody showed delivered, then bill it from the ledger's
        readings and the auction (the ledger's indexes are kept for the next bill)."""
        latest = {e.args.meter: (e.args.importWh, e.args.exportWh) for e in
                  self.ledger.web3.events.ReadingAccepted.get_logs(from_block=self.first_block)}
        energy = np.zeros((len(self.seats), 2), np.int64)
        for i, seat in enumerate(self.seats):
            now = latest.get(seat.household.meter)
            if now and i in self._indexes:
                energy[i] = (now[0] - self._indexes[i][0], now[1] - self._indexes[i][1])
            if now:
                self._indexes[i] = now
        if not self.schedule.trades(slot):
            return
        market = self.auction.market
        bids, asks = self.auction.book(slot)  # fills are final; escrows are settled next
        for ask in asks.index[(asks.filled > 0) & (asks.escrow > 0)]:
            self.operations.send(market, "settleUndelivered", slot, int(ask))
        self.operations.wait()
        _, _, _, price, volume = market.rounds(slot)
        events = market.web3.events.Delivered.get_logs(argument_filters={"slot": slot},
                                                       from_block=self.first_block)
        deliveries = pd.DataFrame([(e.args.seller, e.args.deliveredWh, e.args.charge)
                                   for e in events],
                                  columns=["seller", "delivered_wh", "charge"])
        commitments = market.commitments(slot)
        flows = [auction_flows(s.account.address, bids, asks, price, deliveries, commitments)
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

    def _write(self) -> None:
        if self.chain is not None:
            self.results.to_csv(self.results_path, index=False)

    def close(self) -> None:
        """Write the results, stop serving the join files, and stop anvil."""
        self._write()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
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
