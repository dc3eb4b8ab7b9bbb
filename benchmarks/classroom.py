"""Classroom throughput: transactions per second against anvil with 20 learners, in one run.

    python benchmarks/classroom.py            # 20 learners, 10 slots; bursts of 10 each
    python benchmarks/classroom.py --small    # 20 learners, 3 slots; bursts of 4
    python benchmarks/classroom.py --json     # the figures as one JSON object

Two measurements on one anvil node, which learners reach through the room's guarded endpoint,
with the 20 learners as threads of this process (a room would spread their signing over 20
laptops; here one Python interpreter signs for everyone, on 2 cores shared with anvil):

* **room**: a whole session (:class:`~daisee_lab.classroom.Classroom`, every learner in auto
  mode): every transaction mined while the clock runs (the meters' reports and deliveries,
  commits, reveals, clearings) over the clock's wall time. Phases end as soon as everyone is
  done, so this is the rate the room sustains, waits included;
* **burst**: each learner seals 10 orders (``--small``: 4) at once, through the room's guarded
  endpoint (every transaction checked: its signer, its target, its gas; every call counted
  against the learner's rate limit), with the library's two transports side by side:
  ``Chain``'s contract methods (nonce, fee and gas estimate asked each time, one receipt
  awaited per transaction) and :meth:`~daisee_lab.chain.Chain.batch` (nonces numbered locally,
  fixed gas, all sent, then the receipts awaited), as the classroom sends. The ratio is the
  pipelining's gain; the target, 50 tx/s, is for the batch.
"""

import argparse
import json
import os
import platform
import secrets
import threading
import time
from tempfile import TemporaryDirectory

from daisee_lab.classroom import Classroom, join

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
    """tx/s of ``count`` sealed orders per learner through the guarded endpoint, with the
    Chain face and with a batch."""
    rates = {}
    for transport in ("chain", "sender"):
        slot = room.chain.timestamp // 900 + 1000 * (1 + len(rates))  # its commit window is open

        def send(learner, transport=transport, slot=slot):
            market = learner.auction.market
            hashes = [secrets.token_bytes(32) for _ in range(count)]
            if transport == "chain":
                for sealed in hashes:
                    market.commit(slot, sealed, 1, sender=learner.account)
                return
            sender = learner.chain.batch(learner.account)
            for sealed in hashes:
                sender.send(market, "commit", slot, sealed, 1)
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
        learners = [join(room.url, seat.code).start(auto=True) for seat in room.seats]
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
    print(f"burst: Chain face {rates['chain']:.1f} tx/s, batch {rates['sender']:.1f} tx/s: "
          f"x{rates['sender'] / rates['chain']:.2f} (target {TARGET:.0f})")


if __name__ == "__main__":
    main()
