"""Chapter 7, meters on-chain: signed readings, and the checks that stop forged ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from daisee_lab.exercises import checker
from daisee_lab.meter import PARIS

READING_7_1 = (4_200_000, 0)  # the import and export indexes (Wh) exercise 7.1 signs
ATTACKS_7_2 = ("tampered", "replayed", "other registry")
SIMULATOR_7_3 = {"seed": 5, "producer": True}  # the meter of exercise 7.3
SLOT_7_3 = datetime(2025, 6, 21, 12, 15, tzinfo=PARIS)  # the slot of exercise 7.3 starts then


def _dry_run(registry, signed):
    """The revert the registry would answer to `signed` (a call: nothing changes), or None."""
    from daisee_lab.chain.reverts import REVERT_EXCEPTIONS, decode_revert, error_selectors

    try:
        registry.web3.functions.submitReading(signed.slot, signed.calldata()).call()
    except REVERT_EXCEPTIONS as exc:
        return decode_revert(exc, error_selectors([registry.abi]))
    return None


@checker("7.1")
def accepted_reading(answer: object) -> tuple[bool, str]:
    """``(registry, signed)``: a reading of indexes READING_7_1 that `registry` would accept."""
    from daisee_lab.chain import Contract
    from daisee_lab.contracts import SignedReading

    if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], Contract)
            and isinstance(answer[1], SignedReading)):
        return False, "pass a pair: (registry, the SignedReading that sign_reading returned)"
    registry, signed = answer
    if (signed.import_wh, signed.export_wh) != READING_7_1:
        return False, (f"the reading says import {signed.import_wh} Wh, export "
                       f"{signed.export_wh} Wh; sign import {READING_7_1[0]}, export "
                       f"{READING_7_1[1]}")
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


def _attack_errors() -> dict[str, str]:
    """Run exercise 7.2's three attacks on a fresh chain; return each one's custom error."""
    from daisee_lab.chain import Chain
    from daisee_lab.contracts import make_households, public_id_bytes, sign_reading

    chain = Chain(accounts=2)
    operator, household = chain.accounts
    (home,) = make_households([household.address], seed=72)
    registries = [chain.deploy("MeterRegistry", operator.address, sender=operator)
                  for _ in range(2)]
    for registry in registries:
        registry.register([(home.meter, public_id_bytes(home.public_id), home.account)],
                          sender=operator)
    chain_id, found = chain.w3.eth.chain_id, {}
    first = sign_reading(home.meter_key, registries[0].address, chain_id, home.meter, 10, 5000, 0)
    registries[0].submitReading(first.slot, first.calldata(), sender=operator)
    second = sign_reading(home.meter_key, registries[0].address, chain_id, home.meter, 11, 6000,
                          0)
    elsewhere = sign_reading(home.meter_key, registries[1].address, chain_id, home.meter, 11,
                             6000, 0)
    for name, reading in (("tampered", replace(second, import_wh=5500)), ("replayed", first),
                          ("other registry", elsewhere)):
        found[name] = _dry_run(registries[0], reading).name
    return found


@checker("7.2")
def attack_errors(answer: object) -> tuple[bool, str]:
    """A dict naming the custom error that stops each attack of ATTACKS_7_2."""
    if not isinstance(answer, dict) or set(answer) != set(ATTACKS_7_2):
        return False, f"answer with a dict with the keys {list(ATTACKS_7_2)}"
    right = _attack_errors()
    wrong = [k for k in ATTACKS_7_2 if answer[k] != right[k]]
    if not wrong:
        return True, ("a changed index or another registry changes the signed digest, so the "
                      "signature recovers a stranger; a replay passes the signature but not "
                      "the slot check.")
    attack = wrong[0]
    hint = {
        "tampered": "the signature covers the indexes: what does ecrecover return when the "
                    "message changed?",
        "replayed": "the signature is genuine; what does the registry remember about the "
                    "meter's last reading?",
        "other registry": "the EIP-712 domain holds the registry's address: which digest did "
                          "the meter sign, and which does this registry compute?",
    }[attack]
    return False, f"not {answer[attack]!r} for the {attack} reading: {hint}"


def _exported_in_slot() -> tuple[int, int, int]:
    """Exercise 7.3's meter: (export index at the slot's start, at its end, import difference),
    each from the first frame at or after the boundary, as chapter 7 does."""
    from daisee_lab.meter import MeterSimulator

    start, end = MeterSimulator(**SIMULATOR_7_3).readings_at(
        [SLOT_7_3, SLOT_7_3 + timedelta(minutes=15)])
    return start.export_wh, end.export_wh, end.import_wh - start.import_wh


@checker("7.3")
def exported_wh(answer: object) -> tuple[bool, str]:
    """The energy (Wh) the registry credits as exported for exercise 7.3's slot."""
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
