r"""One DSMR P1 telegram: check, parse, convert to a :class:`~daisee_lab.reading.Reading`, build.

The part of :mod:`daisee_lab.dsmr` that knows a single telegram; import its names from
:mod:`daisee_lab.dsmr`. Pure: no I/O, no clock. The OBIS codes it reads are named in
:mod:`daisee_lab.dsmr_obis`.
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
    CURRENTS,
    EMUCS_VERSION,
    EQUIPMENT_ID,
    EQUIPMENT_ID_EASYMETER,
    MBUS_DEVICE_TYPE,
    MBUS_EQUIPMENT_ID,
    MBUS_EQUIPMENT_ID_ALT,
    MBUS_VALUE_OLD,
    MONTH_PEAK_DEMAND,
    PEAK_DEMAND_HISTORY,
    POWER_CHANNELS,
    POWER_DELIVERED,
    POWER_RETURNED,
    TARIFF_INDICATOR,
    TIMESTAMP,
    VERSION,
    VOLTAGES,
    energy_register,
    mbus,
)
from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.units import MAX_INDEX_WH

__all__ = ["CapacityTariff", "ChecksumError", "DecryptionError", "DemandPeak", "DsmrError",
           "LOCAL_TIME", "MbusReading", "MissingCrcError", "Telegram", "TelegramError",
           "crc16_arc", "decode_id", "encode_telegram", "parse_telegram", "parse_timestamp"]

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
"""The meters' clock zone. Brussels and Luxembourg keep the same CET/CEST rules."""

_SEASON_OFFSET = {"S": timedelta(hours=2), "W": timedelta(hours=1)}
_OBIS = r"[0-9]{1,3}-[0-9]{1,3}:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
_GROUP = r"\([ \"-'*-~]*\)"  # printable ASCII but '!', '(' and ')'
_LINE = re.compile(rf"({_OBIS})(?:\*255)?((?:{_GROUP})+)")  # EasyMeter writes F = 255 ("*255")
_CONTINUATION = re.compile(rf"(?:{_GROUP})+")
_OBIS_START = re.compile(rf"({_OBIS})")  # the code of a line that is not OBIS(value)
_HEADER_TEXT = r"/[A-Za-z]{3}[ \"-.0-~]{0,124}"  # printable ASCII but '!' and '/', 128 at most
_HEADER = re.compile(_HEADER_TEXT)
_CRC_FIELD = re.compile(rb"[0-9A-Fa-f]{0,4}")
_TIMESTAMP = re.compile(r"([0-9]{2})" * 6 + r"([SW]?)")  # YYMMDDhhmmss, season letter
_NUMBER = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_MBUS_KEY = re.compile(r"0-([1-9][0-9]?):(?:24\.[0-9]+\.[0-9]+|96\.1\.[01])")
# channel 1 (1-1:) for some Sagemcom and Swiss meters
_ENERGY_REGISTER = re.compile(r"1-([01]):([12])\.8\.([0-9]|[1-9][0-9])")
_ENERGY_SCALE = {"kWh": 1000, "Wh": 1}
_POWER_SCALE = {"kW": 1000, "W": 1}
_EMUCS_VERSION = re.compile(r"50[0-9]{3}")  # 0-0:96.1.4: "50217" = DSMR 5.0.2, e-MUCS 1.7
_OLD_VERSION = re.compile(r"[23][0-9]")  # a version line that does not promise a CRC
_DIRECTIONS = {"1": "import_wh", "2": "export_wh"}


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
    match = _TIMESTAMP.fullmatch(text)
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


@dataclass(frozen=True)
class MbusReading:
    """The last value an M-Bus device (gas, water, heat) sent to the meter, on channel 1 to 4."""

    channel: int
    device_type: str | None    # 0-n:24.1.0 as sent: 003 gas, 004 heat, 007 water
    equipment_id: str          # 0-n:96.1.0 (or 96.1.1), hex-decoded like the meter's; "" if absent
    timestamp: datetime | None  # when the device took the value; None when absent or unreadable
    value: Decimal | None      # exact, in `unit`
    unit: str                  # "m3", "GJ"...; "" when none was sent
    warnings: tuple[str, ...] = ()  # e.g. a placeholder time stamp (632525252525S): value kept


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


@dataclass(frozen=True)
class Telegram:
    """One checked telegram.

    `values` maps each OBIS code to its value as sent (an EasyMeter's ``*255`` suffix dropped). A
    one-value line gives the text inside the parentheses (``"000004.426*kWh"``); a line of several
    values gives them all with their parentheses (``"(170102161005W)(00000.107*m3)"``), a DSMR 2.2/3
    continuation line appended to its OBIS line. :meth:`groups` splits either form.

    `version` is only what the telegram proves: 1-3:0.2.8 as sent (``"50"`` -> ``"5.0"``), else a
    Belgian/Swiss 0-0:96.1.4 of the e-MUCS form ``50xxx`` (``"5.0"``), else ``"4+"`` when it
    carries a CRC (DSMR 4 introduced it) and ``"2.2"`` when it does not (2.2 and 3.0 look alike on
    the wire).
    `warnings` lists the lines kept out of `values` and other problems found while parsing;
    `garbled` the OBIS codes of lines kept out (unreadable or sent twice), whose values are lost.
    `capacity` holds the Belgian capacity tariff's registers when the telegram sends any.
    """

    header: str
    values: dict[str, str]
    crc: int | None
    version: str
    timestamp: datetime | None
    warnings: tuple[str, ...] = ()
    capacity: CapacityTariff | None = None
    garbled: tuple[str, ...] = ()

    def groups(self, obis: str) -> tuple[str, ...]:
        """The values of one OBIS line, each without its parentheses."""
        return _groups(self.values[obis])

    def mbus(self) -> dict[int, MbusReading]:
        """The M-Bus devices the meter relays (channels 0-1: to 0-4:), by channel number."""
        channels = sorted({int(m[1]) for key in self.values if (m := _MBUS_KEY.fullmatch(key))})
        return {channel: self._mbus_reading(channel) for channel in channels}

    def _mbus_reading(self, channel: int) -> MbusReading:
        ident = self.values.get(mbus(channel, MBUS_EQUIPMENT_ID),
                                self.values.get(mbus(channel, MBUS_EQUIPMENT_ID_ALT), ""))
        stamp = value = None
        unit, warnings = "", []
        value_code = re.compile(rf"0-{channel}:(?:24\.2\.[0-9]+|{re.escape(MBUS_VALUE_OLD)})")
        key = next((k for k in self.values if value_code.fullmatch(k)), None)
        parts = self.groups(key) if key is not None else ()
        if key is not None and len(parts) >= 2:
            # DSMR 4/5: (stamp)(value*unit);
            # DSMR 2.2/3 24.3.0: (stamp)(..)(..)(..)(obis)(unit)(value)
            quantity = f"{parts[-1]}*{parts[-2]}" if key.endswith(MBUS_VALUE_OLD) else parts[-1]
            try:
                value, unit = _quantity(quantity)
            except ValueError:
                warnings.append(f"{key}: cannot read {quantity!r} as a number and unit")
            try:
                stamp = parse_timestamp(parts[0])
            except TelegramError as exc:
                warnings.append(f"{key}: {exc}; the value is kept without its time")
            if stamp is not None and stamp.timestamp() == 0:  # the empty channel's placeholder
                stamp, value, unit, warnings = None, None, "", []
        return MbusReading(channel, self.values.get(mbus(channel, MBUS_DEVICE_TYPE)),
                           decode_id(ident), stamp, value, unit, tuple(warnings))

    def reading(self) -> Reading:
        """This telegram in the project's units (Wh, W, V, A) as a :class:`Reading`.

        `import_wh` sums the delivered tariff registers 1-0:1.8.1, 1-0:1.8.2... (or takes the total
        1-0:1.8.0 when no tariff is sent); `export_wh` does the same with 1-0:2.8.x. Meters that
        send them on channel 1 (1-1:1.8.x) are read the same way. A total is never a partial sum:
        when any of its registers is missing, unreadable, sent twice, above
        :data:`~daisee_lab.units.MAX_INDEX_WH`, or disagrees with the 8.0 total, it is None and a
        warning names the register. `registers` holds every value sent in kWh or Wh (any case), by
        OBIS code. kWh become Wh exactly, without floats (finer than 1 Wh: rounded half to even).
        """
        warnings = list(self.warnings)
        registers: dict[str, int] = {}
        rounded: set[str] = set()
        for obis, text in self.values.items():
            if _ENERGY_REGISTER.fullmatch(obis) or _unit(text).lower() in ("kwh", "wh"):
                converted = _to_base(obis, text, _ENERGY_SCALE, warnings)
                if converted is None:
                    continue
                wh, exact = converted
                if wh > MAX_INDEX_WH:
                    warnings.append(f"{obis}: {wh} Wh is above the largest meter index "
                                    f"({MAX_INDEX_WH} Wh): corrupted, left out")
                    continue
                registers[obis] = wh
                if not exact:
                    rounded.add(obis)
        voltages = self._per_phase(VOLTAGES, "V", warnings)
        currents = self._per_phase(CURRENTS, "A", warnings)
        meter_id = self.values.get(EQUIPMENT_ID, self.values.get(EQUIPMENT_ID_EASYMETER))
        if meter_id is None:
            warnings.append(f"no equipment identifier ({EQUIPMENT_ID}): meter_id is empty")
        return Reading(
            protocol="dsmr",
            mode=self.version,
            meter_id=decode_id(meter_id or ""),
            import_wh=self._total("1", registers, rounded, warnings),
            export_wh=self._total("2", registers, rounded, warnings),
            registers=registers,
            phases=max(len(voltages), len(currents), 1),
            power_w=self._power(POWER_DELIVERED, warnings),
            export_power_w=self._power(POWER_RETURNED, warnings),
            currents_a=currents,
            voltages_v=voltages,
            tariff_period=self.values.get(TARIFF_INDICATOR),
            meter_time=self.timestamp,
            warnings=tuple(warnings),
        )

    def _total(self, direction: str, registers: dict[str, int], rounded: set[str],
               warnings: list[str]) -> int | None:
        """The tariff registers of one direction, all of them valid, summed; else the 8.0 total."""
        sent: dict[tuple[int, str, int], str] = {}
        for obis in (*self.values, *self.garbled):
            if m := _ENERGY_REGISTER.fullmatch(obis):
                sent[(int(m[1]), m[2], int(m[3]))] = obis
        channel = min((ch for ch, way, _ in sent if way == direction), default=None)
        if channel is None:
            return None
        # both directions have the same tariffs
        numbers = [n for ch, _, n in sent if ch == channel and n >= 1]
        mine = {n: obis for (ch, way, n), obis in sent.items()
                if ch == channel and way == direction}
        total = mine.get(0)
        tariffs = ([mine.get(n, energy_register(channel, direction, n))
                    for n in range(1, max(numbers) + 1)] if any(n >= 1 for n in mine) else [])
        checked = tariffs + ([total] if total is not None else [])
        bad = [obis for obis in checked if obis not in registers or obis in self.garbled]
        name = _DIRECTIONS[direction]
        if bad:
            warnings.append(f"register {', '.join(bad)} missing or invalid: {name} not computed")
            return None
        if not tariffs:
            return None if total is None else registers[total]
        added = sum(registers[obis] for obis in tariffs)
        slack = sum(obis in rounded for obis in checked)
        if total is not None and abs(registers[total] - added) > slack:
            warnings.append(f"{total} says {registers[total]} Wh but its tariff registers add up "
                            f"to {added} Wh: one was corrupted, {name} not computed")
            return None
        return added

    def _power(self, code: str, warnings: list[str]) -> int | None:
        for obis in (f"{channel}:{code}" for channel in POWER_CHANNELS):
            if obis in self.values:
                converted = _to_base(obis, self.values[obis], _POWER_SCALE, warnings)
                return None if converted is None else converted[0]
        return None

    def _per_phase(self, codes: tuple[str, ...], unit: str,
                   warnings: list[str]) -> tuple[int | float, ...]:
        found = []
        for obis in codes:
            if obis in self.values:
                try:
                    number, sent_unit = _quantity(self.values[obis])
                    if sent_unit.lower() != unit.lower():
                        raise ValueError
                except ValueError:
                    warnings.append(f"{obis}: cannot read {self.values[obis]!r} as {unit}; "
                                    "left out")
                    continue
                found.append(int(number) if number.as_tuple().exponent == 0 else float(number))
        return tuple(found)


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


def _version(values: Mapping[str, str], crc: int | None) -> str:
    """What the telegram proves: 1-3:0.2.8, an e-MUCS 0-0:96.1.4, a CRC ("4+"), or nothing
    ("2.2")."""
    if VERSION in values:
        raw = values[VERSION]
        return f"{raw[0]}.{raw[1]}" if re.fullmatch(r"[0-9]{2}", raw) else raw
    emucs = values.get(EMUCS_VERSION, "")
    if _EMUCS_VERSION.fullmatch(emucs):
        return f"{emucs[0]}.{emucs[1]}"
    return "4+" if crc is not None else "2.2"


def _promises_crc(values: Mapping[str, str]) -> bool:
    """A version line that is not DSMR 2/3, or an e-MUCS version: the telegram must carry a CRC."""
    line = values.get(VERSION)
    return (line is not None and not _OLD_VERSION.fullmatch(line)) or bool(
        _EMUCS_VERSION.fullmatch(values.get(EMUCS_VERSION, "")))


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


def parse_telegram(data: bytes | str, *, require_crc: bool = False) -> Telegram:
    """Check and decode one telegram, from its '/' to the end of its '!' line (blanks around
    allowed).

    Raises :class:`ChecksumError` when the CRC does not match (a CRC of 1 to 4 hex digits is
    accepted: some meters drop a leading zero), :class:`MissingCrcError` when a telegram that must
    carry one (its version line says DSMR 4 or later, or `require_crc`) has none, and
    :class:`TelegramError` when the bytes are not a telegram: among them a '/' outside a value,
    which means two telegrams ran together. A line that is not ``OBIS(value)...`` is kept out of
    `values` and noted in `warnings`. Lines after the '!' line are not the telegram's (an EasyMeter
    gateway adds two): they are ignored, unless a '/' there starts another telegram.
    """
    if isinstance(data, str):
        try:
            data = data.encode("latin-1")
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start]
            raise TelegramError(f"a telegram is ASCII text; this one holds {bad!r}") from None
    text = bytes(data).strip()
    if not text.startswith(b"/"):
        raise TelegramError(f"a DSMR telegram starts with '/', this one starts with {text[:24]!r}")
    bang = text.find(b"!")
    if bang < 0:
        raise TelegramError(f"telegram {text[:24]!r}... has no '!' end mark: it was cut short")
    line_end = text.find(b"\n", bang)
    line_end = len(text) if line_end < 0 else line_end
    crc_field = text[bang + 1:line_end].strip()
    if not _CRC_FIELD.fullmatch(crc_field):
        raise TelegramError(
            f"after '!' a telegram carries at most 4 hex digits of CRC, not {crc_field[:24]!r}")
    crc = int(crc_field, 16) if crc_field else None
    if crc is not None and (computed := crc16_arc(text[:bang + 1])) != crc:
        raise ChecksumError(crc, computed)
    header, newline, body = text[:bang].decode("latin-1").partition("\n")
    header = header.rstrip("\r")
    if not newline or not _HEADER.fullmatch(header):
        raise TelegramError(
            f"bad identification line {header[:40]!r}: "
            "expected '/', a 3-letter maker code, at most 124 printable characters, a line end")
    raw_values, garbled, warnings = _parse_lines(header, body)
    values = {obis: raw[1:-1] if raw.count("(") == 1 else raw for obis, raw in raw_values.items()}
    if crc is None and (require_crc or _promises_crc(values)):
        why = "its line has sent CRCs" if require_crc else "its version line says DSMR 4 or later"
        raise MissingCrcError(
            f"telegram {header!r} has no CRC after '!' although {why}: "
            "the CRC was lost or garbled on the line, so its bytes cannot be trusted; drop it")
    if b"/" in text[line_end:]:
        raise TelegramError(f"a second '/' after the end of telegram {header!r}: two telegrams "
                            "run together")
    timestamp = None
    if TIMESTAMP in values:
        try:
            timestamp = parse_timestamp(values[TIMESTAMP])
        except TelegramError as exc:
            warnings.append(f"{TIMESTAMP}: {exc}")
    capacity = _capacity(values, warnings)
    return Telegram(header, values, crc, _version(values, crc), timestamp, tuple(warnings),
                    capacity, tuple(garbled))


def _value_line(line: str) -> bool:
    """A stripped line that is OBIS(value)... or (value)...: the only places a '/' may stand."""
    return bool(_LINE.fullmatch(line) or _CONTINUATION.fullmatch(line))


def _parse_lines(header: str, body: str) -> tuple[dict[str, str], list[str], list[str]]:
    """OBIS code -> its groups as sent, parentheses included; the codes of lines kept out; and a
    warning per line kept out. A '/' outside a value: :class:`TelegramError`."""
    values: dict[str, str] = {}
    garbled: list[str] = []
    warnings: list[str] = []
    last = None
    for number, line in enumerate(body.split("\n"), start=2):
        line = line.strip()
        if not line:
            continue
        if "/" in line and not _value_line(line):
            raise TelegramError(f"a second '/' inside telegram {header!r} (line {number}, "
                                f"{line[:40]!r}): two telegrams run together")
        if last is not None and _CONTINUATION.fullmatch(line):
            values[last] += line
            continue
        last = None
        match = _LINE.fullmatch(line)
        if match is None:
            warnings.append(f"line {number} kept out: {line[:60]!r} is not OBIS(value)")
            if code := _OBIS_START.match(line):
                garbled.append(code[1])
        elif match[1] in values:
            warnings.append(f"line {number} kept out: {match[1]} sent twice, the first value is "
                            "kept")
            garbled.append(match[1])
        else:
            last = match[1]
            values[last] = match[2]
    return values, garbled, warnings


def encode_telegram(header: str, values: Mapping[str, str], *, crc: bool = True) -> bytes:
    """Build a telegram: `header`, an empty line, one line per OBIS code, '!', the CRC, CRLF line
    ends.

    `values` is read like :attr:`Telegram.values`: a value is wrapped in parentheses unless it
    already starts with '(' (several values). ``crc=False`` builds a DSMR 2.2-style telegram.
    ``encode_telegram(t.header, t.values)`` rebuilds a telegram sent in this standard layout.
    """
    if not _HEADER.fullmatch(header):
        raise TelegramError(
            f"bad identification line {header!r}: expected '/', a 3-letter maker code, "
            "printable text")
    lines = [header, ""]
    for obis, value in values.items():
        line = obis + (value if value.startswith("(") else f"({value})")
        match = _LINE.fullmatch(line)
        if not match or match[1] != obis:
            raise TelegramError(
                f"cannot encode {obis!r}: {value!r}: "
                "expected an OBIS code A-B:C.D.E and printable values without '!'")
        lines.append(line)
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + (f"{crc16_arc(body):04X}".encode("ascii") if crc else b"") + b"\r\n"


