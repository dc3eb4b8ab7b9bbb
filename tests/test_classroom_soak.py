"""A room as it meets its learners: 30 learners, each its own process (`daisee-lab classroom
join`), 10 slots; two of them hostile (admin methods, malformed and foreign transactions,
oversized requests and orders, commitment spam). The room never fails, the hostile seats are
the only ones in its failure log, and every honest learner's bill is right to the µ€ against
the clearing kernel and the grid's prices."""

import os
import subprocess
import sys
import time

import pytest
from bill_checks import check_bill
from polling import wait_until

from daisee_lab.classroom import Classroom
from daisee_lab.settlement import clear_double_auction

LEARNERS, SLOTS, HOSTILE = 30, 10, (7, 19)

# A hostile learner: joins with its code, then until the session ends, each new phase, tries
# everything it can from its seat, until stopped; it prints what it tried, and any attempt the
# room allowed as a JSON line.
HOSTILE_SCRIPT = r"""
import json, secrets, sys, time
import requests
from web3.logs import DISCARD
from daisee_lab.classroom import join
from daisee_lab.contracts import commitment_hash
from daisee_lab import units

me = join(sys.argv[1], sys.argv[2], keep=sys.argv[3])
door, market = me.chain.rpc_url, me.auction.market
def rpc(method, params):
    return requests.post(door, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                     "params": params}, timeout=30).json()
done = None
while True:
    now = me.phase()
    if now == done:
        time.sleep(0.2)
        continue
    done = now
    for method, params in (("anvil_setBalance", [me.account.address, "0xffffffff"]),
                           ("anvil_impersonateAccount", [me.auction.grid]),
                           ("evm_increaseTime", [3600]), ("anvil_mine", []),
                           ("eth_sendTransaction", [{"from": me.auction.grid,
                                                     "to": me.account.address}]),
                           ("eth_sendRawTransaction", ["0x02" + "ab" * 40])):
        answer = rpc(method, params)
        if "error" not in answer:
            print(json.dumps({"allowed": method}), flush=True)
    status = requests.post(door, data=b"[" + b"0," * 50_000 + b"0]", timeout=30).status_code
    if status != 413:
        print(json.dumps({"allowed": "oversized request", "status": status}), flush=True)
    if now.name == "commit" and me.schedule.trades(now.trading):
        salts = []
        for _ in range(2):  # orders the kernel could not clear together
            salt = secrets.token_bytes(32)
            sealed = commitment_hash(market.address, now.trading, me.account.address, True, 0,
                                     400_000_000_000, salt)
            me.sender.send(market, "commit", now.trading, sealed, 1)
            salts.append(salt)
        for _ in range(units.MAX_COMMITS):  # spam: the cap refuses the rest
            me.sender.send(market, "commit", now.trading, secrets.token_bytes(32), 1)
        outcomes = me.sender.wait(strict=False)
        sealed = [o for o in outcomes if not hasattr(o, "revert")]
        if len(sealed) > units.MAX_COMMITS:
            print(json.dumps({"allowed": f"{len(sealed)} commitments"}), flush=True)
        ids = [market.web3.events.Committed().process_receipt(r, DISCARD)[0].args["id"]
               for r in outcomes[:2] if not hasattr(r, "revert")]
        me.oversized = list(zip(ids, salts))
    print("tried", now.slot, now.name, flush=True)
    if now.name == "reveal" and getattr(me, "oversized", None):
        for sealed_id, salt in me.oversized:
            me.sender.send(market, "reveal", now.trading, sealed_id, True, 0, 400_000_000_000,
                           salt)
        if any(not hasattr(o, "revert") for o in me.sender.wait(strict=False)):
            print(json.dumps({"allowed": "an order above the bounds"}), flush=True)
        me.oversized = []
"""


@pytest.mark.slow(minutes=True)
def test_thirty_learner_processes_two_hostile_ten_slots(tmp_path):
    room = Classroom(LEARNERS, tmp_path / "room", port=None, slots=SLOTS, slot_seconds=6,
                     seed=30)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with room:
        processes = []
        for i, seat in enumerate(room.seats):
            keep = tmp_path / f"seat-{i}.json"
            command = ([sys.executable, "-c", HOSTILE_SCRIPT, room.url, seat.code, str(keep)]
                       if i in HOSTILE else
                       [sys.executable, "-m", "daisee_lab.cli", "classroom", "join", room.url,
                        "--code", seat.code, "--keep", str(keep)])
            processes.append(subprocess.Popen(command, stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE, text=True, env=env))
        wait_until(lambda: all(seat.joined for seat in room.seats)  # 30 start in 1 to 2 min
                   or any(p.poll() is not None for p in processes), timeout=300,
                   what="every learner seated, or a learner's process ended")
        assert all(seat.joined for seat in room.seats), [
            p.communicate(timeout=30) for p in processes if p.poll() is not None]
        seated = time.monotonic()
        results = room.run()
        print(f"seated in {seated - started:.0f} s, ran in {time.monotonic() - seated:.0f} s")
        for i in HOSTILE:  # they had every phase of the session to try
            processes[i].terminate()
        outputs = [p.communicate(timeout=120) for p in processes]
        first = room.schedule.first_slot
        honest = [i for i in range(LEARNERS) if i not in HOSTILE]
        for i in honest:
            out, err = outputs[i]
            assert processes[i].returncode == 0, err
            assert "refused" not in out, out
        for i in HOSTILE:
            out, err = outputs[i]
            assert out.count("tried") >= SLOTS and "allowed" not in out, (out, err)
        # the failure log: only the hostile seats, never the clock, the relay or an honest seat
        culprits = {seat for seat, _ in room.failures}
        assert culprits == {room.seats[i].name for i in HOSTILE}, culprits
        assert sorted(results.slot.unique()) == list(range(first, first + SLOTS))
        market, ledger = room.auction.market, room.ledger
        readings = {(e.args.meter, e.args.slot): (e.args.importWh, e.args.exportWh)
                    for e in ledger.web3.events.ReadingAccepted.get_logs(from_block=0)}
        for slot in range(first, first + SLOTS):
            bids, asks = room.auction.book(slot)
            kernel = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                          asks.price.to_numpy(), asks.qty.to_numpy())
            _, _, cleared, price, volume = market.rounds(slot)
            assert cleared and (volume, price) == (kernel.volume, max(kernel.price, 0))
            assert bids.filled.tolist() == kernel.bid_fills.tolist()
            assert asks.filled.tolist() == kernel.ask_fills.tolist()
            shown = market.web3.events.Delivered.get_logs(argument_filters={"slot": slot},
                                                          from_block=0)
            sealed = room.auction.commitments(slot)
            billed = results[results.slot == slot].set_index("learner")
            for i in honest:
                seat = room.seats[i]
                before, after = (readings[(seat.meter.address, s)] for s in (slot - 1, slot))
                check_bill(billed.loc[seat.name], (after[0] - before[0], after[1] - before[1]),
                           seat.address, bids, asks, shown, sealed, price)
        assert results[results.learner.isin([room.seats[i].name for i in honest])
                       ].traded_wh.sum() > 0
