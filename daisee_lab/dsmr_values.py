"""The pieces a DSMR telegram is made of: the codec's errors, the CRC, time stamps, equipment
identifiers, numbers with their units, and the Belgian capacity tariff's registers.

The lowest part of :mod:`daisee_lab.dsmr`; import its public names from :mod:`daisee_lab.dsmr`.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import cast
from zoneinfo import ZoneInfo

from daisee_lab.dsmr_obis import (
    AVERAGE_DEMAND,
    CAPACITY_TARIFF,
    MONTH_PEAK_DEMAND,
    PEAK_DEMAND_HISTORY,
)
from daisee_lab.errors import DaiseeError

__all__ = ["CapacityTariff", "ChecksumError", "DecryptionError", "DemandPeak", "DsmrError",
           "LOCAL_TIME", "MissingCrcError", "TelegramError", "crc16_arc", "decode_id",
           "parse_timestamp"]

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
"""The meters' clock zone. Brussels and Luxembourg keep the same CET/CEST rules."""

_SEASON_OFFSET = {"S": timedelta(hours=2), "W": timedelta(hours=1)}
_OBIS = r"[0-9]{1,3}-[0-9]{1,3}:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
_OBIS_START = re.compile(rf"({_OBIS})")  # the code of a line that is not OBIS(value)
_TIMESTAMP = re.compile(r"([0-9]{2})" * 6 + r"([SW]?)")  # YYMMDDhhmmss, season letter
_NUMBER = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_ENERGY_SCALE = {"kWh": 1000, "Wh": 1}
_POWER_SCALE = {"kW": 1000, "W": 1}


class DsmrError(DaiseeError):
    """Base class of the DSMR codec's errors."""


class TelegramError(DsmrError):
    """The bytes are not a well-formed telegram (no '/' header, no '!' end, a bad CRC field...)."""


class MissingCrcError(TelegramError):
    """A telegram that must carry a CRC (DSMR 4 or later) has none: it was lost on the line."""


class ChecksumError(DsmrError):
    """The CRC a telegram carries does not match its bytes: it was corrupted on the way."""

    def __init__(self, expected: int, computed: int):
        super().__init__(
            f"telegram CRC mismatch: the telegram says {expected:04X} but its bytes from '/' "
            f"to '!' give {computed:04X}; it was corrupted on the line, drop it and take the next "
            "one"
        )
        self.expected = expected
        self.computed = computed


class DecryptionError(DsmrError):
    """An encrypted frame does not open with the key given: the key is wrong (or not 16 bytes)."""


def _check_bytes(data: object, what: str) -> bytes:
    """`data` as bytes; a TelegramError naming `what` when it is not bytes-like."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TelegramError(f"{what} must be bytes as read from the P1 port, not "
                            f"{type(data).__name__} (a file: open it in 'rb' mode; hex text: "
                            "bytes.fromhex(...))")
    return bytes(data)


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC of `data`: polynomial 0x8005 bit-reversed (0xA001), initial value 0, no final
    xor."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def parse_timestamp(text: str) -> datetime:
    """Read a DSMR time stamp ``YYMMDDhhmmssX`` as an aware datetime at the offset the meter meant.

    X is S (summer, UTC+02:00) or W (winter, UTC+01:00): it settles the hour repeated in October.
    The result has that fixed offset, not a ZoneInfo: Python compares and subtracts datetimes of one
    ZoneInfo by wall clock, ignoring `fold`, which would merge the two passes of the repeated hour.
    ``.astimezone(LOCAL_TIME)`` gives the Dutch/Belgian wall clock back. DSMR 2.2/3 M-Bus stamps
    have no letter: their offset is :data:`LOCAL_TIME`'s, the repeated hour taken as its first
    pass.
    Years 70-99 are 1970-1999: an empty M-Bus channel reports ``700101010000W``, the Unix epoch.
    """
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise TelegramError(f"bad DSMR time stamp {text!r}: expected YYMMDDhhmmss then S or W")
    yy, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        naive = datetime(yy + (1900 if yy >= 70 else 2000), month, day, hour, minute, second)
    except ValueError as exc:
        raise TelegramError(f"bad DSMR time stamp {text!r}: {exc}") from None
    offset = _SEASON_OFFSET.get(match[7]) or naive.replace(tzinfo=LOCAL_TIME).utcoffset()
    return naive.replace(tzinfo=timezone(cast(timedelta, offset)))  # a ZoneInfo always has one


def decode_id(text: str) -> str:
    """An equipment identifier as text: hex-encoded printable ASCII is decoded, anything else kept.

    ``"4B384547303034303436333935353037"`` gives ``"K8EG004046395507"``.
    """
    if _HEX.fullmatch(text):
        decoded = bytes.fromhex(text).decode("latin-1")
        if decoded.isascii() and decoded.isprintable():
            return decoded
    return text


def _groups(value: str) -> tuple[str, ...]:
    return tuple(value[1:-1].split(")(")) if value.startswith("(") else (value,)


def _unit(text: str) -> str:
    """The unit of a one-value text (``"001.5*kWh"`` -> ``"kWh"``), "" if none."""
    return "" if text.startswith("(") else text.rpartition("*")[2] if "*" in text else ""


def _quantity(text: str) -> tuple[Decimal, str]:
    """``"001581.123*kWh"`` -> (Decimal("1581.123"), "kWh"); ValueError when it is not a number."""
    number, _, unit = text.partition("*")
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"not a DSMR number: {text!r}")
    return Decimal(number), unit


def _to_base(obis: str, text: str, scale: dict[str, int],
             warnings: list[str]) -> tuple[int, bool] | None:
    """A quantity in the base unit of `scale` (Wh or W; units in any case), rounded half to even,
    and whether that was exact; None, with a warning, if unreadable."""
    factors = {unit.lower(): factor for unit, factor in scale.items()}
    try:
        number, unit = _quantity(text)
        factor = factors[unit.lower()]
    except (ValueError, KeyError):
        warnings.append(f"{obis}: cannot read {text!r} as one of {', '.join(scale)}; left out")
        return None
    exact = Context(prec=100).multiply(number, factor)  # 40 + 40 digits at most: never rounded
    whole = int(exact.to_integral_value(ROUND_HALF_EVEN))
    return whole, whole == exact


@dataclass(frozen=True)
class DemandPeak:
    """A peak of the quarter-hour average power drawn: what a capacity tariff bills.

    `time` is when the peak quarter hour was measured (None if its stamp was unreadable);
    `period_end`, in the monthly history only, when the month it belongs to was closed (midnight
    starting the next month).
    """

    power_w: int
    time: datetime | None
    period_end: datetime | None = None


@dataclass(frozen=True)
class CapacityTariff:
    """The Belgian capacity tariff's registers (Fluvius e-MUCS; Flanders since 2023-01-01).

    `current_average_w` is 1-0:1.4.0, the average power of the quarter hour running now;
    `month_peak` 1-0:1.6.0, this month's highest quarter-hour average with its time; `history`
    0-0:98.1.0, the peak of each of the last (up to 13) months, newest first. A field the
    telegram does not send, or sends unreadably (see the telegram's warnings), is None or empty.
    """

    current_average_w: int | None
    month_peak: DemandPeak | None
    history: tuple[DemandPeak, ...] = ()


def _capacity(values: Mapping[str, str], warnings: list[str]) -> CapacityTariff | None:
    """The capacity tariff's registers (1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0), if any is sent."""
    if not any(code in values for code in CAPACITY_TARIFF):
        return None
    current = None
    if AVERAGE_DEMAND in values:
        converted = _to_base(AVERAGE_DEMAND, values[AVERAGE_DEMAND], _POWER_SCALE, warnings)
        current = None if converted is None else converted[0]
    peak = None
    if MONTH_PEAK_DEMAND in values:
        parts = _groups(values[MONTH_PEAK_DEMAND])
        peak = _peak(MONTH_PEAK_DEMAND, parts, warnings) if len(parts) == 2 else None
        if len(parts) != 2:
            warnings.append(f"{MONTH_PEAK_DEMAND}: expected (time)(power), "
                            f"not {values[MONTH_PEAK_DEMAND]!r}")
    return CapacityTariff(current, peak, _history(values.get(PEAK_DEMAND_HISTORY), warnings))


def _peak(obis: str, parts: tuple[str, ...], warnings: list[str],
          end: str | None = None) -> DemandPeak | None:
    """(time, power) -> a DemandPeak; None, with a warning, when the power is unreadable."""
    converted = _to_base(obis, parts[-1], _POWER_SCALE, warnings)
    if converted is None:
        return None
    stamps = []
    for text in (parts[0], end):
        try:
            stamps.append(None if text is None else parse_timestamp(text))
        except TelegramError as exc:
            warnings.append(f"{obis}: {exc}; the peak is kept without it")
            stamps.append(None)
    return DemandPeak(converted[0], stamps[0], stamps[1])


def _history(value: str | None, warnings: list[str]) -> tuple[DemandPeak, ...]:
    """0-0:98.1.0: (count)(1-0:1.6.0)(1-0:1.6.0) then (month end)(peak time)(peak) per month."""
    if value is None:
        return ()
    parts = list(_groups(value))
    count = parts.pop(0)
    while parts and _OBIS_START.fullmatch(parts[0]):  # the captured objects' codes
        parts.pop(0)
    if not count.isdigit() or len(parts) != 3 * int(count):
        warnings.append(f"{PEAK_DEMAND_HISTORY}: {count!r} months announced, {len(parts)} "
                        "values sent; the history is read as far as it goes")
    peaks = (_peak(PEAK_DEMAND_HISTORY, (parts[i + 1], parts[i + 2]), warnings, end=parts[i])
             for i in range(0, len(parts) - 2, 3))
    return tuple(peak for peak in peaks if peak is not None)
