"""A learner's real meter in a classroom: read and signed in a process of its own.

The meter's key signs what the room bills, so it stays with the meter: a learner who brings a
Linky (or :class:`~daisee_lab.simulator.MeterSimulator`'s pty) runs :class:`MeterProcess`, a child
process that makes or loads the meter's key, reads the port (:class:`SerialMeter`) and, once the
seat is known, signs and reports the reading at the end of every slot and shows what the house
delivered on its sales. The trading process only learns the meter's address; its forecasts come
from the readings in the ledger (:class:`LedgerForecast`).

    python -m daisee_lab.classroom.meter_process PORT PROTOCOL KEY_FILE

prints ``{"address": ...}``, then reads the seat's data (one JSON line) on stdin, and prints
one JSON line per slot reported (or refused) until the session ends or stdin closes. A slot
whose reading cannot be signed (no reading fit to sign, an index out of bounds or below the
last one signed) is skipped, ``{"slot": ..., "skipped": why}``, and the process goes on; a
report line carries ``"unsigned"`` (how many readings the meter refused to sign since the last
report, and the last reason) when there were any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from daisee_lab.classroom.meters import SerialMeter
from daisee_lab.classroom.schedule import ClassroomError, Schedule
from daisee_lab.contracts import ContractsError, SignedReading, sign_reading

POLL_SECONDS = 0.25


class MeterProcess:
    """A learner's own meter on serial `port` (``protocol`` ``"tic"`` or ``"dsmr"``), signing in
    a child process with the key kept in `key_file` (made there if missing; None: a new key
    each time, lost with the process). `address` is the meter's; :meth:`attach` gives it its
    seat."""

    def __init__(self, port: str, protocol: str = "tic", key_file: str | Path | None = None):
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daisee_lab.classroom.meter_process", port, protocol,
             str(key_file or "")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes
        self._stdin, self._stdout = stdin, stdout
        first = stdout.readline()
        try:
            self.address = json.loads(first)["address"]
        except (ValueError, KeyError, TypeError):
            self.close()
            raise ClassroomError(f"the meter process for {port} did not start: "
                                 f"{first.strip() or 'no answer'}") from None
        self.reports: list[dict] = []

    def attach(self, seat: dict) -> None:
        """Give the meter process its seat's data: it starts reporting."""
        self._stdin.write(json.dumps(seat) + "\n")
        self._stdin.flush()

    def close(self) -> list[dict]:
        """Stop the meter process; return the lines it printed (one per slot reported)."""
        if self.process.poll() is None:
            self._stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=10)
        self.reports = [json.loads(line) for line in self._stdout if line.strip()]
        return self.reports


class LedgerForecast:
    """Forecasts for a meter whose readings only the ledger holds (a learner's own meter):
    tomorrow is like today, the net energy (Wh, import minus export) of the last slot
    reported, 0 before two readings."""

    def __init__(self, ledger, meter: str):
        self.ledger, self.meter = ledger, meter

    def forecast(self, slot: int) -> int:
        """The net energy (Wh) expected in `slot`."""
        events = self.ledger.web3.events.ReadingAccepted.get_logs(
            argument_filters={"meter": self.meter}, from_block=0)
        if len(events) < 2:
            return 0
        last = events[-1].args
        return int(last.importedWh) - int(last.exportedWh)

    def close(self) -> None:
        """Nothing to release."""


def _key(key_file: str) -> LocalAccount:
    if not key_file:
        return Account.create()
    path = Path(key_file)
    if path.exists():
        return Account.from_key(json.loads(path.read_text())["meter_key"])
    key = Account.create()
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text(json.dumps({"meter_key": key.key.to_0x_hex()}))
    return key


def signed_slot(meter, key: LocalAccount, registry: str, chain_id: int,
                slot: int) -> SignedReading:
    """`meter`'s indexes at the end of `slot`, signed with `key` for `registry`;
    `ClassroomError` saying why when they cannot be (never a reading the registry must refuse).
    """
    imported, exported = meter.indexes(slot)
    try:
        return sign_reading(key, registry, chain_id, key.address, slot, imported, exported)
    except ContractsError as exc:
        raise ClassroomError(f"slot {slot}: the meter's indexes ({imported}, {exported} Wh) "
                             f"cannot be signed: {exc}") from exc


def _serve(port: str, protocol: str, key_file: str) -> None:
    """The meter process: see the module's docstring."""
    from daisee_lab.chain import Chain, TransactionReverted
    from daisee_lab.contracts import Auction

    key = _key(key_file)
    print(json.dumps({"address": key.address}), flush=True)
    line = sys.stdin.readline()
    if not line:
        return
    seat = json.loads(line)
    meter = SerialMeter(port, protocol)
    meter.wait_for_reading()
    chain = Chain(seat["meter"]["rpc"])
    contracts, household = seat["contracts"], seat["address"]
    ledger = chain.at("MeterRegistry", contracts["ledger"])
    auction = Auction(chain, chain.at("EnergyCredit", contracts["credit"]),
                      chain.at("AuctionMarket", contracts["auction"]), None,
                      seat["grid"]["account"])
    market, chain_id = auction.market, int(seat["chain_id"])
    sender = chain.batch(key)  # the contracts above are compiled: their reverts are named
    schedule = Schedule.from_json(seat["schedule"])
    end = schedule.slots and schedule.first_slot + schedule.slots
    reported: set[int] = set()
    refusals = 0
    try:
        while True:
            now = schedule.phase(chain.timestamp)
            ended = now.slot - 1
            if now.name == "commit" and ended >= schedule.first_slot - 1 \
                    and ended not in reported:
                reported.add(ended)
                try:
                    reading = signed_slot(meter, key, ledger.address, chain_id, ended)
                    shown = []
                    if schedule.trades(ended):
                        last = market.lastReading(key.address)[1]
                        shown = [signed_slot(meter, key, market.address, chain_id, s).calldata()
                                 for s in ((ended,) if last == ended - 1 else (ended - 1, ended))]
                except ClassroomError as exc:
                    print(json.dumps({"slot": ended, "skipped": str(exc)}), flush=True)
                else:
                    sender.send(ledger, "submitReading", ended, reading.calldata())
                    if schedule.trades(ended):
                        _, asks = auction.book(ended)
                        mine = asks.index[(asks.trader == household) & (asks.filled > 0)
                                          & (asks.escrow > 0)]
                        for n, ask in enumerate(mine):
                            sender.send(market, "settleDelivery", ended, int(ask),
                                        shown if n == 0 else [])
                    refused = [str(o) for o in sender.wait(strict=False)
                               if isinstance(o, TransactionReverted)]
                    line = {"slot": ended, "import_wh": reading.import_wh,
                            "export_wh": reading.export_wh, "refused": refused}
                    if meter.refusals > refusals:
                        line["unsigned"] = {"readings": meter.refusals - refusals,
                                            "last": meter.refused}
                        refusals = meter.refusals
                    print(json.dumps(line), flush=True)
                if end and ended >= end - 1:
                    return
            time.sleep(POLL_SECONDS)
    finally:
        meter.close()


if __name__ == "__main__":
    _serve(*sys.argv[1:4])
