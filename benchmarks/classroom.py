"""Classroom throughput: transactions per second against anvil with 20 learners, in one run.

    python benchmarks/classroom.py            # 20 learners, 10 slots; bursts of 10 each
    python benchmarks/classroom.py --small    # 20 learners, 3 slots; bursts of 4
    python benchmarks/classroom.py --json     # the figures as one JSON object

Two measurements on one anvil node, with the 20 learners as threads of this process (a room
would spread their signing over 20 laptops; here one Python interpreter signs for everyone,
on 2 cores shared with anvil):

* **room**: a whole session (:class:`~daisee_lab.classroom.Classroom`, every learner in auto
  mode): every transaction mined while the clock runs (reports, deliveries, commits, reveals,
  clearings) over the clock's wall time. Phases end as soon as everyone is done, so this is the
  rate the room sustains, waits included;
* **burst**: each learner sends 10 signed meter readings (``--small``: 4) to the ledger at once,
  with the library's two transports side by side: ``Chain``'s contract methods (nonce, fee and gas
  estimate asked each time, one receipt awaited per transaction) and the classroom's
  :class:`~daisee_lab.classroom.sender.Sender` (nonces numbered locally, fixed gas, all sent,
  then the receipts awaited). The ratio is the pipelining's gain; the target, 50 tx/s, is for
  the Sender.
"""

import argparse
import json
import os
import platform
import threading
import time
from tempfile import TemporaryDirectory

from daisee_lab.classroom import Classroom, join
from daisee_lab.classroom.learner import CONTRACTS
from daisee_lab.classroom.sender import Sender, revert_decoder
from daisee_lab.contracts import sign_reading

TARGET = 50.0  # tx/s


def mined(chain, first_block, last_block):
    """Transactions in blocks ``first_block + 1`` to ``last_block``."""
    return sum(chain.w3.eth.get_block_transaction_count(b)
               for b in range(first_block + 1, last_block + 1))


def in_threads(work, items):
    """Run ``work(item)`` for every item at once, one thread each; return the wall time."""
    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def burst(room, learners, count):
    """tx/s of ``count`` signed readings per learner, through the Chain face and the Sender."""
    chain, ledger = room.chain, room.ledger
    errors = revert_decoder(chain, CONTRACTS)
    rates = {}
    for transport in ("chain", "sender"):
        start_slot = chain.timestamp // 900 + 1000 * (1 + len(rates))

        def send(learner, transport=transport, start_slot=start_slot):
            key, meter = learner.meter_key, learner.meter_key.address
            _, _, imported, exported = ledger.lastReading(meter)
            readings = [sign_reading(key, ledger.address, learner.auction.chain_id, meter,
                                     start_slot + k, imported + k + 1, exported)
                        for k in range(count)]
            if transport == "chain":
                for reading in readings:
                    ledger.submitReading(reading.slot, reading.calldata(),
                                         sender=learner.account)
                return
            sender = Sender(chain, learner.account, errors)
            for reading in readings:
                sender.send(ledger, "submitReading", reading.slot, reading.calldata())
            sender.wait()

        seconds = in_threads(send, learners)
        rates[transport] = len(learners) * count / seconds
    return rates


def main(argv=None):
    """Run a session, then the bursts, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="3 slots and bursts of 4")
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    slots, count = (3, 4) if args.small else (10, 10)
    with TemporaryDirectory() as out, Classroom(args.learners, out, port=None, slots=slots,
                                                slot_seconds=30, seed=1) as room:
        learners = [join(seat.path).start(auto=True) for seat in room.seats]
        first_block = room.chain.w3.eth.block_number
        start = time.perf_counter()
        room.run()
        seconds = time.perf_counter() - start
        transactions = mined(room.chain, first_block, room.chain.w3.eth.block_number)
        for learner in learners:
            learner.wait(timeout=30)
            learner.stop()
        refused = sum(len(learner.errors) for learner in learners)
        rates = burst(room, learners, count)
    figures = {
        "learners": args.learners, "slots": slots, "room_transactions": transactions,
        "room_seconds": round(seconds, 2), "room_tx_per_s": round(transactions / seconds, 1),
        "refused": refused, "burst_per_learner": count,
        "burst_chain_tx_per_s": round(rates["chain"], 1),
        "burst_sender_tx_per_s": round(rates["sender"], 1),
        "sender_over_chain": round(rates["sender"] / rates["chain"], 2),
        "target_tx_per_s": TARGET, "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.learners} learners in threads, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}")
    print(f"room : {transactions} transactions in {seconds:.1f} s over {slots} slots: "
          f"{transactions / seconds:.1f} tx/s, waits included; {refused} refused")
    print(f"burst: Chain face {rates['chain']:.1f} tx/s, Sender {rates['sender']:.1f} tx/s: "
          f"x{rates['sender'] / rates['chain']:.2f} (target {TARGET:.0f})")


if __name__ == "__main__":
    main()
