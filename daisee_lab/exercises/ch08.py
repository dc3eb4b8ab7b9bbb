"""Chapter 8, meters on-chain: signed readings, and the checks that stop forged ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from daisee_lab.exercises import checker
from daisee_lab.units import PARIS

READING_8_1 = (4_200_000, 0)  # the import and export indexes (Wh) exercise 8.1 signs
LAST_8_2 = (10, 5_000, 0)  # exercise 8.2: the registry's last reading (slot, import, export)
CASES_8_2 = ("relayed", "an hour late", "older slot", "other chain")
ACCEPTED = "accepted"
SIMULATOR_8_3: dict[str, Any] = {"seed": 5, "producer": True}  # the meter of exercise 8.3
SLOT_8_3 = datetime(2025, 6, 21, 12, 15, tzinfo=PARIS)  # the slot of exercise 8.3 starts then


def _dry_run(registry, signed, sender: str | None = None):
    """The revert the registry would answer to `signed` sent by `sender` (a call: nothing
    changes), or None."""
    from daisee_lab.chain.reverts import REVERT_EXCEPTIONS, decode_revert, error_selectors

    try:
        registry.web3.functions.submitReading(signed.slot, signed.calldata()).call(
            {"from": sender} if sender else {})
    except REVERT_EXCEPTIONS as exc:
        return decode_revert(exc, error_selectors([registry.abi]))
    return None


@checker("8.1")
def accepted_reading(answer: object) -> tuple[bool, str]:
    """``(registry, signed)``: a reading of indexes READING_8_1 that `registry` would accept."""
    from daisee_lab.chain import Contract
    from daisee_lab.contracts import SignedReading

    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], Contract)
            and isinstance(answer[1], SignedReading)):
        return False, "pass a pair: (registry, the SignedReading that sign_reading returned)"
    registry, signed = answer
    if (signed.import_wh, signed.export_wh) != READING_8_1:
        return False, (f"the reading says import {signed.import_wh} Wh, export "
                       f"{signed.export_wh} Wh; sign import {READING_8_1[0]}, export "
                       f"{READING_8_1[1]}")
    revert = _dry_run(registry, signed)
    if revert is None:
        return True, ("the registry would accept it: the signature recovers the meter's own "
                      "address, and the slot is after its last one.")
    hints = {
        "InvalidSignature": "the signature does not recover this meter: sign with the meter's "
                            "own key (meter_key), for this registry's address and this chain",
        "UnknownMeter": "that meter is not registered in this registry: use Bob's meter",
        "StaleReading": "the registry already has a reading of this meter for that slot or a "
                        "later one: look at lastReading(meter)",
        "IndexWentBackwards": "an index is below the meter's last one: look at "
                              "lastReading(meter)",
    }
    return False, f"{revert.message}: {hints.get(revert.name, 'read the revert')}"


def _outcomes() -> dict[str, str]:
    """Run exercise 8.2's four readings on a fresh chain, each against a registry whose last
    reading of the meter is LAST_8_2; return "accepted" or the custom error of each."""
    from daisee_lab.chain import Chain
    from daisee_lab.contracts import make_members, public_id_bytes, sign_reading

    chain = Chain(accounts=3)
    operator, household, stranger = chain.accounts
    (home,) = make_members([household.address], seed=72)
    registry = chain.deploy("MeterRegistry", operator.address, sender=operator)
    registry.register([(home.meter, public_id_bytes(home.public_id), home.account)],
                      sender=operator)
    chain_id = chain.w3.eth.chain_id
    slot, import_wh, export_wh = LAST_8_2
    last = sign_reading(home.meter_key, registry.address, chain_id, home.meter, slot, import_wh,
                        export_wh)
    registry.submitReading(last.slot, last.calldata(), sender=operator)
    readings = {
        "relayed": sign_reading(home.meter_key, registry.address, chain_id, home.meter,
                                slot + 1, import_wh + 300, export_wh),
        "an hour late": sign_reading(home.meter_key, registry.address, chain_id, home.meter,
                                     slot + 4, import_wh + 1_100, export_wh),
        "older slot": sign_reading(home.meter_key, registry.address, chain_id, home.meter,
                                   slot - 1, import_wh + 400, export_wh),
        "other chain": sign_reading(home.meter_key, registry.address, chain_id + 1, home.meter,
                                    slot + 1, import_wh + 300, export_wh),
    }
    found = {}
    for name, reading in readings.items():
        revert = _dry_run(registry, reading, sender=stranger.address)
        found[name] = ACCEPTED if revert is None else revert.name
    return found


@checker("8.2")
def accepted_or_refused(answer: object) -> tuple[bool, str]:
    """A dict saying, for each reading of CASES_8_2, "accepted" or the custom error that stops
    it. The checker sends them (as calls) to a registry of its own."""
    if not isinstance(answer, dict) or set(answer) != set(CASES_8_2):
        return False, (f"answer with a dict with the keys {list(CASES_8_2)}, each value "
                       f"{ACCEPTED!r} or an error name")
    right = _outcomes()
    wrong = [k for k in CASES_8_2 if answer[k] != right[k]]
    if not wrong:
        return True, ("two pass and two fail. The registry checks who *signed*, never who "
                      "sends; and that slots move forward, not that they are consecutive: a "
                      "meter silent for an hour reports the hour's energy against one slot, and "
                      "whatever settles the slots must decide what to make of it. A replay or "
                      "an older slot fails the slot check; another chain fails the signature, "
                      "because the chain id is in the EIP-712 domain.")
    case = wrong[0]
    hint = {
        "relayed": "does submitReading look at msg.sender, or only at the signature?",
        "an hour late": "the registry compares the new slot with the last one: which "
                        "comparison, > or == last + 1?",
        "older slot": "the indexes went up, but which slot does the registry remember?",
        "other chain": "the chain id is part of the EIP-712 domain the meter signs: which "
                       "address does ecrecover give for a digest the meter did not sign?",
    }[case]
    return False, f"not {answer[case]!r} for {case!r}: {hint}"


def _exported_in_slot() -> tuple[int, int, int]:
    """Exercise 8.3's meter: (export index at the slot's start, at its end, import difference),
    each from the first frame at or after the boundary, as chapter 8 does."""
    from daisee_lab.simulator import MeterSimulator

    start, end = MeterSimulator(**SIMULATOR_8_3).readings_at(
        [SLOT_8_3, SLOT_8_3 + timedelta(minutes=15)])
    indexes = (start.export_wh, end.export_wh, start.import_wh, end.import_wh)
    export_start, export_end, import_start, import_end = (
        wh for wh in indexes if wh is not None)  # a producer's standard frames carry all four
    return export_start, export_end, import_end - import_start


@checker("8.3")
def exported_wh(answer: object) -> tuple[bool, str]:
    """The energy (Wh) the registry credits as exported for exercise 8.3's slot."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        return False, "answer with a whole number of Wh (the event's exportedWh)"
    first, last, imported = _exported_in_slot()
    if answer == last - first:
        return True, (f"{answer} Wh: the difference of two signed indexes, so the meter never "
                      "states an energy, only what its registers show.")
    if answer in (first, last):
        return False, "that is an index; the registry credits the difference of two indexes"
    if answer == 0:
        return False, ("a meter's first reading only anchors its indexes; sign and submit the "
                       "reading at the start of the slot, then the one at its end")
    if answer == imported:
        return False, "that is what the meter imported; the question asks what it exported"
    return False, ("take the first frame at or after 12:15 and the first at or after 12:30 "
                   "(meter_time), sign both, submit them in order")
