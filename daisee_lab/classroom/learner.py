"""The learner's side of a classroom: a seat in the room's market.

>>> learner = join("http://192.168.1.10:8545", code="K7Q9-F3XD", keep="seat.json")
>>> learner.start()                              # reveals, at the right time
>>> learner.phase()                              # Phase(slot=..., name='commit')
>>> order = learner.bid(price=180_000, qty=400)  # 400 Wh at 0.18 €/kWh, for the next slot
>>> learner.orders()                             # what became of each order
>>> learner = join("seat.json")                  # later, or after the room restarted

Joining makes the learner's account key here, on the learner's machine: only its address goes
to the room, with the one-time code the instructor handed over; the key stays in `keep`. The
room's meter relay signs the meter's readings and shows deliveries; the learner trades.
Orders are sealed (committed) with a deposit, then opened (revealed) in the reveal window:
:meth:`Learner.start` runs a background loop that reveals them at the right time. With
``auto=True`` it also places one order per slot from the meter's forecast.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import pandas as pd
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from requests.exceptions import RequestException
from web3.logs import DISCARD

from daisee_lab.chain import Chain, ChainError, TransactionReverted
from daisee_lab.classroom.meter_process import LedgerForecast, MeterProcess
from daisee_lab.classroom.meters import ProfileMeter
from daisee_lab.classroom.schedule import ClassroomError, Phase, Schedule
from daisee_lab.contracts import Auction, SealedOrder, commitment_hash
from daisee_lab.units import MAX_ORDER_WH, MAX_ORDERS_PER_TRADER, MAX_PRICE, MIN_ORDER_WH

POLL_SECONDS = 0.25  # a room of 30 polling learners stays a small load on the node
PATIENCE, RETRY_SECONDS = 120.0, 1.0  # a restarting room is called again every second
NODE_ERRORS = (RequestException, ConnectionError, TimeoutError)


class Learner:
    """One learner: an `account` holding credits, the seat's data `info` (from the room), a
    `meter` for forecasts (default: the seat's simulated household) and the room's contracts:
    `auction` (the sealed-bid market, see :class:`~daisee_lab.contracts.Auction`) and `ledger`
    (the registry where the room's meters report each slot's reading). Use :func:`join`.

    `orders_placed` lists the sealed orders, `errors` the transactions the chain refused
    (``(slot, TransactionReverted)``). Set `auto` to let the background loop place an order
    per slot from the meter's forecast (:meth:`auto_order`). `waiting` is set while
    :meth:`wait_for` or :meth:`wait` blocks (a room paced by this learner goes on then).
    """

    def __init__(self, chain: Chain, account: LocalAccount, info: Mapping, meter=None):
        self.chain, self.account, self.info = chain, account, info
        self.name = str(info["learner"])
        self.schedule = Schedule.from_json(info["schedule"])
        self.grid_buy, self.grid_sell = (int(info["grid"][k]) for k in ("buy", "sell"))
        contracts = info["contracts"]
        market = chain.at("AuctionMarket", contracts["auction"])
        if not chain.w3.eth.get_code(cast(ChecksumAddress, market.address)):
            raise ClassroomError(f"no classroom market at {market.address} on {chain.rpc_url}: "
                                 "the session has ended; ask the instructor for a new code")
        self.auction = Auction(chain, chain.at("EnergyCredit", contracts["credit"]), market,
                               None, info["grid"]["account"])
        self.ledger = chain.at("MeterRegistry", contracts["ledger"])
        self.meter_address = str(info["meter"]["address"])
        self.meter = meter or ProfileMeter(int(info["meter"]["seed"]),
                                           bool(info["meter"]["producer"]), self.schedule)
        self.sender = chain.batch(self.account)
        self.orders_placed: list[SealedOrder] = []
        self.errors: list[tuple[int, TransactionReverted]] = []
        self.failure: Exception | None = None  # why the background loop stopped, if it failed
        self.auto = False  # place one order per slot from the meter's forecast
        self.patience = PATIENCE  # seconds the background loop calls a silent room again
        self._book_index: dict[tuple[int, int], int | None] = {}  # (slot, id): place in book
        self._stopping = threading.Event()
        self.waiting = threading.Event()  # set while wait_for or wait blocks: ready to go on
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Learner {self.name} {self.account.address} on {self.chain.rpc_url}>"

    # --- where the room is ----------------------------------------------------------------

    def phase(self) -> Phase:
        """The room's phase, from the chain's clock (the latest block)."""
        return self.schedule.phase(self.chain.timestamp)

    def wait_for(self, name: str = "commit", after: Phase | None = None,
                 timeout: float = 120.0) -> Phase:
        """Block until the room is in phase `name` (``"commit"`` or ``"reveal"``) for a slot the
        session trades, other than `after`; return that phase. Raises :class:`ClassroomError`
        when the session has no such slot left, or after `timeout` seconds."""
        if name not in ("commit", "reveal"):
            raise ClassroomError(f"name={name!r}: a phase is 'commit' or 'reveal'")
        end = self.schedule.slots and self.schedule.first_slot + self.schedule.slots
        deadline = time.monotonic() + timeout
        try:
            while True:
                now = self.phase()
                if now.name == name and now != after and self.schedule.trades(now.trading):
                    return now
                if end and now.trading >= end:
                    raise ClassroomError(f"the session trades no slot after {end - 1}: it is "
                                         "over")
                if time.monotonic() > deadline:
                    raise ClassroomError(f"no {name} phase within {timeout} s: is the "
                                         "instructor's clock running?")
                self.waiting.set()
                time.sleep(POLL_SECONDS)
        finally:
            self.waiting.clear()

    # --- orders ---------------------------------------------------------------------------

    def bid(self, price: int, qty: int, deposit: int | None = None) -> SealedOrder:
        """Offer to buy `qty` Wh (at least ``units.MIN_ORDER_WH``; at most
        ``units.MAX_ORDERS_PER_TRADER`` bids a slot) at up to `price` µ€/kWh in the next slot.
        The deposit (µ€, default: what the bid can cost, ``price·qty/1000`` rounded up) leaves
        your wallet now; what the clearing does not charge comes back to your market balance."""
        return self._commit(True, price, qty, deposit)

    def ask(self, price: int, qty: int, deposit: int | None = None) -> SealedOrder:
        """Offer to sell `qty` Wh of your meter's export (as for :meth:`bid`: at least
        ``MIN_ORDER_WH``, at most ``MAX_ORDERS_PER_TRADER`` a slot) for at least `price` µ€/kWh
        in the next slot. The deposit (default: the bond, ``qty`` at the grid price) pays the
        grid for what you sell and do not deliver; the rest returns after delivery."""
        return self._commit(False, price, qty, deposit)

    def _commit(self, is_bid: bool, price: int, qty: int, deposit: int | None) -> SealedOrder:
        with self.sender.lock:
            sent = [self._send_commit(self.phase().trading, is_bid, price, qty, deposit)]
            self._settle(sent, self.sender.wait(strict=False))
            if isinstance(sent[0][2], TransactionReverted):
                raise sent[0][2]
            return self.orders_placed[-1]

    def _send_commit(self, slot: int, is_bid: bool, price: int, qty: int,
                     deposit: int | None) -> list:
        """Send the commitment of an order for `slot`; what :meth:`_settle` needs."""
        for name, value, low, high in (("price", price, 0, MAX_PRICE),
                                       ("qty", qty, MIN_ORDER_WH, MAX_ORDER_WH)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ClassroomError(f"{name} must be an integer in [{low}, {high}], "
                                     f"got {value!r}")
        placed = sum(o.slot == slot and o.is_bid == is_bid for o in self.orders_placed)
        if placed == MAX_ORDERS_PER_TRADER:  # the market would refuse to open another
            raise ClassroomError(f"you have {placed} {'bids' if is_bid else 'asks'} for slot "
                                 f"{slot} already: a slot takes at most {MAX_ORDERS_PER_TRADER} "
                                 "of a trader's orders on each side")
        if deposit is None:
            deposit = self.auction.required_deposit(is_bid, price, qty)
        salt = secrets.token_bytes(32)
        hashed = commitment_hash(self.auction.market.address, slot, self.account.address, is_bid,
                                 price, qty, salt)
        self.sender.send(self.auction.market, "commit", slot, hashed, deposit)
        return ["commit", slot, (is_bid, price, qty, salt, deposit)]

    def _settle(self, sent: list[list], outcomes: list) -> None:
        """Book what each transaction sent (``[kind, slot, what]``) became: a refusal goes to
        `errors` (and replaces `what`), a success to the learner's records."""
        for action, outcome in zip(sent, outcomes):
            kind, slot, what = action
            if isinstance(outcome, TransactionReverted):
                self.errors.append((slot, outcome))
                action[2] = outcome
                if kind == "reveal":
                    self._book_index[(slot, what.id)] = None
            elif kind == "commit":
                (event,) = self.auction.market.web3.events.Committed().process_receipt(
                    outcome, DISCARD)
                self.orders_placed.append(SealedOrder(slot, event.args["id"], self.account,
                                                      *what))
            elif kind == "reveal":
                (event,) = self.auction.market.web3.events.Revealed().process_receipt(
                    outcome, DISCARD)
                self._book_index[(slot, what.id)] = event.args["index"]

    def reveal(self) -> list[SealedOrder]:
        """Open your sealed orders whose reveal window is open now; return those opened. A
        refused one (say, a deposit too small) is kept in `errors` and the others go on."""
        with self.sender.lock:  # first: an order _commit is recording is in the list after it
            todo = self.unopened(self.phase())
            for order in todo:
                self.sender.send(self.auction.market, "reveal", order.slot, order.id,
                                 order.is_bid, order.price, order.qty, order.salt)
            self._settle([["reveal", o.slot, o] for o in todo], self.sender.wait(strict=False))
        return [o for o in todo if self.opened(o) is not None]

    def unopened(self, now: Phase) -> list[SealedOrder]:
        """The sealed orders that phase `now` should open and that no reveal was tried for."""
        return [o for o in self.orders_placed if now.name == "reveal"
                and o.slot == now.trading and (o.slot, o.id) not in self._book_index]

    def auto_order(self, slot: int) -> tuple[bool, int, int] | None:
        """The order the auto mode places for `slot`: the meter's forecast net energy, bought
        (or sold) at a seeded price between the grid's feed-in and import prices; None if the
        forecast is smaller than the least order, ``units.MIN_ORDER_WH``."""
        net = self.meter.forecast(slot)
        if abs(net) < MIN_ORDER_WH:
            return None
        rng = random.Random(f"{self.account.address}:{slot}")
        price = rng.randint(self.grid_sell, self.grid_buy)
        return net > 0, price, abs(net)

    def step(self, auto: bool | None = None) -> None:
        """Do what the current phase asks once: in the commit phase (`auto`, default the
        attribute) seal an order for the next slot from the meter's forecast; in the reveal
        phase, open the sealed orders. Refusals go to `errors`."""
        auto = self.auto if auto is None else auto
        now = self.phase()
        if now.name == "reveal":
            self.reveal()
            return
        with self.sender.lock:
            wanted = (auto and self.schedule.trades(now.trading)
                      and not any(o.slot == now.trading for o in self.orders_placed)
                      and self.auto_order(now.trading))
            if wanted:
                sent = [self._send_commit(now.trading, *wanted, None)]
                self._settle(sent, self.sender.wait(strict=False))

    # --- the background loop --------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Follow the room until the schedule ends or `stop` is set: :meth:`step` at each new
        phase. A room that stops answering (restarted, a network glitch) is called again
        until it answers; after `patience` seconds of silence, :class:`ClassroomError`."""
        stop = stop or self._stopping
        end = self.schedule.slots and self.schedule.first_slot + self.schedule.slots
        done, lost = None, None
        while not stop.is_set():
            try:
                now = self.phase()
                if now != done or self.unopened(now):  # an order sealed late is opened too
                    self.step()
                    done = now
                    if end and now.slot >= end:
                        return  # the session's last slot is over
                lost = None
            except NODE_ERRORS as exc:
                lost = lost or time.monotonic()
                if time.monotonic() - lost > self.patience:
                    raise ClassroomError(f"{self.name} lost the node at {self.chain.rpc_url} "
                                         f"({exc}): the session has stopped, or the network "
                                         "is down") from exc
                self.sender.reset()
                stop.wait(RETRY_SECONDS)
            stop.wait(POLL_SECONDS)

    def start(self, auto: bool = False) -> Learner:
        """Run :meth:`run` in a background thread (a notebook stays free for orders); `auto`
        sets the attribute."""
        def loop() -> None:
            try:
                self.run()
            except Exception as exc:  # noqa: BLE001 - kept for the learner to read
                self.failure = exc

        self.auto = auto
        self._stopping.clear()
        self._thread = threading.Thread(target=loop, name=f"learner {self.name}", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the background loop runs."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background loop to end by itself (the session is over, or the node is
        lost: see `failure`); True if it has."""
        if self._thread is not None:
            self.waiting.set()
            try:
                self._thread.join(timeout)
            finally:
                self.waiting.clear()
        return not self.running

    def stop(self) -> None:
        """Stop the background loop and the meter."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.meter.close()

    # --- what happened --------------------------------------------------------------------

    def orders(self) -> pd.DataFrame:
        """Your orders: slot, side, price, qty, deposit, and once cleared the Wh filled and the
        slot's price (µ€/kWh)."""
        rows = []
        for order in self.orders_placed:
            _, _, cleared, price, _ = self.auction.market.rounds(order.slot)
            index = self.opened(order)
            filled = 0
            if cleared and index is not None:
                filled = int(self.auction.book(order.slot)[0 if order.is_bid else 1]
                             .filled.iloc[index])
            rows.append({"slot": order.slot, "side": "bid" if order.is_bid else "ask",
                         "price": order.price, "qty": order.qty, "deposit": order.deposit,
                         "revealed": index is not None, "cleared": cleared, "filled": filled,
                         "clearing_price": price if cleared else None})
        return pd.DataFrame(rows, columns=["slot", "side", "price", "qty", "deposit", "revealed",
                                           "cleared", "filled", "clearing_price"])

    def opened(self, order: SealedOrder) -> int | None:
        """Where `order` sits in its slot's bids (or asks) once revealed; None until then, or
        if its reveal was refused."""
        return self._book_index.get((order.slot, order.id))

    def balances(self) -> dict[str, int]:
        """Your credits (µ€): in your wallet, and in the market (refunds and sales, which
        :meth:`withdraw` moves to the wallet)."""
        return {"wallet": self.auction.credit.balanceOf(self.account.address),
                "market": self.auction.market.balanceOf(self.account.address)}

    def withdraw(self) -> int:
        """Move your whole market balance to your wallet; return the amount (µ€)."""
        amount = self.balances()["market"]
        if amount:
            with self.sender.lock:
                self.sender.send(self.auction.market, "withdraw", amount)
                self.sender.wait()
        return amount


def join(source: str | Path | Mapping, code: str | None = None, meter=None,
         keep: str | Path | None = None) -> Learner:
    """Take your seat. With the one-time `code` your instructor handed you, `source` is the
    room's address (``http://host:port``): a fresh account key is made here, only its address is
    sent, and the seat (key included) is written to `keep` if given (a file only you can read).
    Without `code`, `source` is such a kept seat (its path or its data): you reconnect, after a
    break or a restart of the room. `meter`: the learner's own real meter, a
    :class:`~daisee_lab.classroom.meter_process.MeterProcess` (it signs and reports in its own
    process; the room registers it for the seat and the learner forecasts from its readings in
    the ledger), or a :class:`SerialMeter` only for forecasts (default: the simulated household
    the room gives the seat, and meters)."""
    own = meter if isinstance(meter, MeterProcess) else None
    if code is not None:
        account = Account.create()
        info = _ask_for_seat(str(source), code, account.address, own.address if own else None)
        kept = {"account_key": account.key.to_0x_hex(), "seat": info}
        if keep is not None:
            path = Path(keep)
            path.touch(mode=0o600)
            os.chmod(path, 0o600)
            path.write_text(json.dumps(kept, indent=1), encoding="utf-8")
        learner = _connect(kept, meter)
        with learner.sender.lock:  # let the market take the deposits: the learner's own act
            learner.sender.send(learner.auction.credit, "approve",
                                learner.auction.market.address, 2**256 - 1)
            learner.sender.wait()
        return learner
    if isinstance(source, Mapping):
        return _connect(source, meter)
    try:
        kept = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClassroomError(f"cannot read seat file {source}: {exc.strerror}; to join, give "
                             "the room's address and your code") from None
    except ValueError as exc:
        raise ClassroomError(f"seat file {source} is not JSON ({exc})") from None
    return _connect(kept, meter)


def _ask_for_seat(room: str, code: str, address: str, meter: str | None) -> dict:
    """The room's join desk: a seat for `address` (and its own `meter`), with `code`."""
    request = urllib.request.Request(
        room.rstrip("/") + "/join",
        json.dumps({"code": code, "address": address, "meter": meter}).encode(),
        {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            reason = f"HTTP {exc.code}"
        raise ClassroomError(f"the room at {room} refused to seat you: {reason}") from None
    except (OSError, ValueError) as exc:
        raise ClassroomError(f"cannot reach the room at {room} ({exc}): check the address and "
                             "that you are on the room's network") from None


def _connect(kept: Mapping, meter) -> Learner:
    """A learner from a kept seat: its key and the room's data."""
    try:
        account = Account.from_key(kept["account_key"])
        info = dict(kept["seat"])
        url, chain_id = str(info["rpc"]), int(info["chain_id"])
    except KeyError as exc:
        raise ClassroomError(f"the seat has no {exc.args[0]!r}: join again with a code") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ClassroomError(f"the seat has a bad value ({exc}): join again with a code") from None
    try:
        chain = Chain(url)
    except ChainError as exc:
        raise ClassroomError(str(exc)) from None
    if chain.w3.eth.chain_id != chain_id:
        raise ClassroomError(f"the room at {url} runs chain {chain.w3.eth.chain_id}, not "
                             f"{chain_id}: the session has ended; ask for a new code")
    if isinstance(meter, MeterProcess):
        if meter.address != info["meter"]["address"]:
            raise ClassroomError(f"this seat's meter is {info['meter']['address']}, not the "
                                 f"meter process's {meter.address}: start it with its key file")
        meter.attach(info)
        meter = LedgerForecast(chain.at("MeterRegistry", info["contracts"]["ledger"]),
                               meter.address)
    return Learner(chain, account, info, meter)
