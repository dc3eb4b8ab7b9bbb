"""What the Linky specification (Enedis-NOI-CPT_54E) says about a TIC label's data: the
horodate, the status register (STGE), the indexes of each tariff option, the digits of each
numeric field, and the checks a checksum cannot make.

The part of :mod:`daisee_lab.tic` that knows the labels; import its names from
:mod:`daisee_lab.tic`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from daisee_lab.errors import DaiseeError
from daisee_lab.units import MAX_INDEX_WH, PARIS

__all__ = ["HORODATE_YEARS", "TicError", "decode_stge", "encode_horodate", "parse_horodate",
           "plausibility_warnings"]

HORODATE_YEARS = range(2000, 2100)  # a horodate writes the year in two digits (YYMMDD...)
_HEX8 = re.compile(r"[0-9A-Fa-f]{8}")


class TicError(DaiseeError, ValueError):
    """Bad input to an encoder or to `decode_stge`, or a frame that cannot give a `Reading`."""


# ---------------------------------------------------------------------------------------- horodates

def parse_horodate(text: str) -> datetime | None:
    """``SYYMMDDhhmmss`` -> aware datetime in Europe/Paris; None when the season is a space.

    Season E (summer, UTC+2) or H (winter, UTC+1) picks the repeated autumn hour; lowercase
    means the meter's clock is degraded (see `Group.degraded_clock`).
    """
    if len(text) != 13:
        raise TicError(f"horodate {text!r}: expected 13 characters SYYMMDDhhmmss")
    season, digits = text[0], text[1:]
    if season == " ":
        return None
    if season not in "EeHh" or not (digits.isascii() and digits.isdigit()):
        raise TicError(f"horodate {text!r}: expected a season letter E, H, e, h or space "
                       "followed by 12 digits")
    yy, mo, dd, hh, mi, ss = (int(digits[i:i + 2]) for i in range(0, 12, 2))
    try:
        return datetime(HORODATE_YEARS.start + yy, mo, dd, hh, mi, ss, tzinfo=PARIS,
                        fold=int(season in "Hh"))
    except ValueError as exc:
        raise TicError(f"horodate {text!r}: {exc}") from None


def encode_horodate(when: datetime, degraded: bool = False) -> str:
    """An aware datetime as the meter writes it: Paris local time with its season letter."""
    if when.utcoffset() is None:
        raise TicError(f"cannot encode naive datetime {when!r}: give it a tzinfo")
    local = when.astimezone(PARIS)
    if local.year not in HORODATE_YEARS:
        raise TicError(f"cannot encode {when!r}: a horodate holds years {HORODATE_YEARS.start} "
                       f"to {HORODATE_YEARS.stop - 1} only")
    season = "E" if local.dst() else "H"
    return (season.lower() if degraded else season) + local.strftime("%y%m%d%H%M%S")


# ----------------------------------------------------------------------------- status register

_PM = ("none", "PM1", "PM2", "PM3")
_TEMPO = ("no announcement", "blue", "white", "red")
_STGE_FIELDS = (  # name, first bit, width, readable values (None: a tariff index, 1-based)
    ("dry_contact", 0, 1, ("closed", "open")),                           # contact sec
    ("cut_off_device", 1, 3, ("closed", "open: over power", "open: over voltage",  # organe
                              "open: load shedding", "open: PLC or Euridis order",  # de coupure
                              "open: overheating above the maximum switching current",
                              "open: overheating below the maximum switching current")),
    ("terminal_cover", 4, 1, ("closed", "open")),                        # cache-borne
    ("overvoltage", 6, 1, (False, True)),                                # surtension
    ("over_reference_power", 7, 1, (False, True)),                       # dépassement PREF
    ("operation", 8, 1, ("consumer", "producer")),                       # producteur/consommateur
    ("active_energy_direction", 9, 1, ("positive", "negative")),         # sens énergie active
    ("supplier_index", 10, 4, None),                                     # tarif fourniture
    ("distributor_index", 14, 2, None),                                  # tarif distributeur
    ("clock", 16, 1, ("correct", "degraded")),                           # horloge dégradée
    ("tic_mode", 17, 1, ("historic", "standard")),                       # mode TIC
    ("euridis", 19, 2, ("disabled", "enabled without security", None,    # sortie Euridis
                        "enabled with security")),
    ("plc_status", 21, 2, ("New/Unlock", "New/Lock", "Registered")),     # statut CPL
    ("plc_synchronised", 23, 1, (False, True)),                          # synchro CPL
    ("tempo_today", 24, 2, _TEMPO),                                      # couleur du jour
    ("tempo_tomorrow", 26, 2, _TEMPO),                                   # couleur de demain
    ("mobile_peak_notice", 28, 2, _PM),                                  # préavis pointes mobiles
    ("mobile_peak", 30, 2, _PM),                                         # pointe mobile
)


def decode_stge(hex_str: str) -> dict[str, object]:
    """Every field of the standard-mode status register STGE (8 hex digits), by name."""
    if not isinstance(hex_str, str) or not _HEX8.fullmatch(hex_str):
        raise TicError(f"STGE {hex_str!r}: expected 8 hexadecimal digits")
    word, status = int(hex_str, 16), dict[str, object]()
    for name, bit, width, labels in _STGE_FIELDS:
        code = (word >> bit) & ((1 << width) - 1)
        if labels is None:
            status[name] = code + 1
        elif code < len(labels) and labels[code] is not None:
            status[name] = labels[code]
        else:
            status[name] = f"unknown ({code})"
    return status


# ------------------------------------------------------------------------------ labels and values

_BBR = tuple(f"BBRH{h}J{c}" for c in "BWR" for h in ("C", "P"))
_INDEX_FAMILIES = {  # every index of one tariff option; their sum is the total drawn
    "historic": (("BASE",), ("HCHC", "HCHP"), ("EJPHN", "EJPHPM"), _BBR),
    "standard": (("EAST",),),
}
_ENERGY_LABELS = {  # the indexes in Wh (ERQ1-4 are reactive, in varh: not registers)
    "historic": tuple(label for family in _INDEX_FAMILIES["historic"] for label in family),
    "standard": ("EAST", *(f"EASF{i:02d}" for i in range(1, 11)),
                 *(f"EASD{i:02d}" for i in range(1, 5)), "EAIT"),
}
_PHASE3 = ("1", "2", "3")
_THREE_PHASE = {"PMAX", "PPOT", *(p + n for p in ("IINST", "IMAX", "ADIR", "SINSTS", "SMAXSN")
                                  for n in _PHASE3), "IRMS2", "IRMS3", "URMS2", "URMS3"}
_DIGITS = {  # number of digits the specification gives each numeric field
    12: ("ADCO", "ADSC"),
    14: ("PRM",),
    9: (*_ENERGY_LABELS["historic"], *_ENERGY_LABELS["standard"], "ERQ1", "ERQ2", "ERQ3", "ERQ4"),
    5: ("PAPP", "PMAX", "SINSTS", "SINSTI", "SINST1", "SMAXN", "SMAXN-1", "SMAXSN", "SMAXSN-1",
        "SMAXIN", "SMAXIN-1", "CCASN", "CCASN-1", "CCAIN", "CCAIN-1",
        *(p + n for p in ("SINSTS", "SMAXSN") for n in _PHASE3),
        *(f"SMAXSN{n}-1" for n in _PHASE3)),
    3: ("IINST", "IMAX", "ADPS", "RELAIS",
        *(p + n for p in ("IINST", "IMAX", "ADIR", "IRMS", "URMS", "UMOY") for n in _PHASE3)),
    2: ("ISOUSC", "PEJP", "PREF", "PCOUP", "VTIC", "NTARF", "NJOURF", "NJOURF+1"),
}
_DIGIT_COUNT = {label: n for n, labels in _DIGITS.items() for label in labels}
_PLAUSIBLE_FACTOR = 2  # an instantaneous power above twice the reference is implausible


def _int(values: Mapping[str, str], label: str) -> int | None:
    """The field as an int, or None when absent or not all digits."""
    text = values.get(label)
    return int(text) if text and text.isascii() and text.isdigit() else None


def _phases(values: Mapping[str, str]) -> int:
    return 3 if any(label in _THREE_PHASE for label in values) else 1


def _subscribed(values: Mapping[str, str], mode: str) -> tuple[int, str] | None:
    """The subscribed power in VA and where it comes from (historic: ISOUSC * 200 VA per
    phase; standard: PREF kVA), or None when the frame does not say."""
    if mode == "historic":
        isousc, phases = _int(values, "ISOUSC"), _phases(values)
        return None if not isousc else (isousc * 200 * phases, f"ISOUSC {isousc} A"
                                        + (" x 3 phases" if phases == 3 else ""))
    pref = _int(values, "PREF")
    return None if not pref else (pref * 1000, f"PREF {pref} kVA")


def plausibility_warnings(values: Mapping[str, str], mode: str) -> list[str]:
    """What a checksum cannot catch: numeric fields of the wrong length or not digits, and
    instantaneous powers above twice the reference (historic: ISOUSC * 200 VA per phase;
    standard: PREF kVA, a third of it per phase in three-phase)."""
    warnings = [f"{label} = {text!r}: expected {_DIGIT_COUNT[label]} digits"
                for label, text in values.items()
                if label in _DIGIT_COUNT and not (text.isascii() and text.isdigit()
                                                  and len(text) == _DIGIT_COUNT[label])]
    phases = _phases(values)
    subscribed = _subscribed(values, mode)
    if subscribed is None:
        return warnings
    reference = subscribed[0]
    checks = [(label, reference) for label in ("PAPP", "SINSTS", "SINST1")]
    if phases == 3:
        checks += [(f"SINSTS{n}", reference // 3) for n in _PHASE3]
    for label, limit in checks:
        power = _int(values, label)
        if power is not None and power > _PLAUSIBLE_FACTOR * limit:
            warnings.append(f"{label} = {power} VA is over twice the reference {limit} VA "
                            f"({'per phase, ' if limit < reference else ''}contract "
                            f"{reference} VA): implausible, the line may be corrupting data")
    return warnings


def _registers(values: Mapping[str, str], mode: str, warnings: list[str]) -> dict[str, int]:
    """The energy indexes (Wh) of a frame that are numbers within `MAX_INDEX_WH`; an index
    above it is an invalid register, named in `warnings`."""
    registers = {}
    for label in _ENERGY_LABELS[mode]:
        wh = _int(values, label)
        if wh is not None and wh > MAX_INDEX_WH:
            warnings.append(f"{label} = {wh} Wh: above the largest index {MAX_INDEX_WH} Wh "
                            "(units.MAX_INDEX_WH): invalid register")
        elif wh is not None:
            registers[label] = wh
    return registers
