"""Chapter 1, bytes from the meter: checksums by hand and in code, energy from a real frame."""

from __future__ import annotations

import random

from daisee_lab import samples, tic
from daisee_lab.exercises import checker

GROUP_1_1 = ("PAPP", "02840")  # label and data of a historic group (from the Tempo sample)


@checker("1.1")
def checksum_by_hand(answer: object) -> tuple[bool, str]:
    """The checksum character of the historic group ``PAPP 02840``."""
    label, data = GROUP_1_1
    right = tic.group_checksum(label, data, "historic")
    if answer == right:
        return True, f"{label} {data} ends with {right!r}: you can check a meter by hand."
    if not isinstance(answer, str) or len(answer) != 1:
        return False, "answer with one character, e.g. '/' (a str of length 1)"
    if answer == tic.group_checksum(label, data, "historic", method=2):
        return False, ("you also summed the space before the checksum: that is the variant "
                       "some meters use ('method 2'); the specification stops at the data")
    return False, (f"sum the ASCII codes of {label + ' ' + data!r}, keep the 6 low bits "
                   "(& 0x3F), add 0x20, and take the character with that code (chr)")


@checker("1.2")
def total_energy_kwh(answer: object) -> tuple[bool, str]:
    """The total energy drawn by the Tempo household of ``linky_historic_tempo``, in kWh."""
    (frame,) = tic.decode_frames(samples.load("linky_historic_tempo"))
    reading = frame.reading()
    assert reading.import_wh is not None  # the sample's frame has all its indexes
    right_kwh = reading.import_wh / 1000
    if not isinstance(answer, (int, float)):
        return False, "answer with a number of kWh"
    if abs(answer - right_kwh) < 0.0005:
        return True, f"{right_kwh:,.3f} kWh over the meter's life, across six Tempo indexes."
    if abs(answer - reading.import_wh) < 0.5:
        return False, "that is in Wh: the meter counts watt-hours, the question asks kWh"
    if any(abs(answer * 1000 - wh) < 0.5 for wh in reading.registers.values()):
        return False, ("that is one index only: Tempo counts blue, white and red days, each "
                       "off-peak (HC) and peak (HP): add the six BBR... indexes")
    return False, "add the six BBRH... indexes of the frame (they are Wh) and divide by 1000"


@checker("1.3")
def standard_checksum_function(answer: object) -> tuple[bool, str]:
    """A function ``f(label, horodate, data)`` giving the standard-mode checksum character
    (`horodate` None for groups without one)."""
    if not callable(answer):
        return False, "pass your function itself (its name, without calling it)"
    rng = random.Random(1)
    cases = [("DATE", "E250621120000", ""), ("EAST", None, "012345678"),
             ("SMAXSN-1", "H250102070000", "06512"), ("MSG1", None, "PAS DE  MESSAGE ")]
    for _ in range(50):
        label = rng.choice(["EAST", "SINSTS", "IRMS1", "LTARF", "UMOY1"])
        data = "".join(rng.choice("0123456789 ABCDEF") for _ in range(rng.randint(0, 12)))
        cases.append((label, rng.choice([None, "E240815093000"]), data))
    for label, horodate, data in cases:
        right = tic.group_checksum(label, data, "standard", horodate)
        try:
            got = answer(label, horodate, data)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            return False, f"f({label!r}, {horodate!r}, {data!r}) raised {exc!r}"
        if got != right:
            return False, (f"f({label!r}, {horodate!r}, {data!r}) gave {got!r}. Standard mode sums "
                           "from the label through the HT (\\t) after the data, the horodate "
                           "and its HT included; an empty data field still has its HT")
    return True, f"your function agrees with the decoder on {len(cases)} groups."
