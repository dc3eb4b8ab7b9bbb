r"""DSMR P1 codec: the telegrams of Dutch, Belgian and Luxembourg smart meters (and look-alikes).

A telegram is ASCII text, one a second on DSMR 5 (115200 baud 8N1; DSMR 4: 115200 7E1)::

    /ISk5\2MT382-1000              identification line (the header)
                                   an empty line
    1-3:0.2.8(50)                  an OBIS code, then one or more values in parentheses
    1-0:1.8.1(000004.426*kWh)
    0-1:24.2.1(170102161005W)(00000.107*m3)
    !6EEE                          end mark, then the CRC-16/ARC of every byte from '/' to '!'

DSMR 2.2 and 3 send no CRC and no version line, and put the gas value on a line of its own.
EasyMeter Q3D meters write OBIS codes as ``1-0:1.8.0*255`` and their gateways add lines after the
'!' line. Luxembourg (Smarty) and some Austrian meters encrypt each telegram into a binary DLMS
frame (:mod:`daisee_lab.dlms`): give the decoder the customer's key. Belgian meters add the
capacity tariff's demand registers (:class:`CapacityTariff`).

This module is pure, no I/O and no clock: :func:`parse_telegram` checks and decodes one telegram,
:func:`decrypt_telegram` one encrypted frame, :class:`DsmrDecoder` finds telegrams in a noisy
byte stream without ever raising on what it is fed, :meth:`Telegram.reading` converts one to the
project's units, :func:`encode_telegram` builds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Context, Decimal
from zoneinfo import ZoneInfo

from daisee_lab import dlms
from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.units import MAX_INDEX_WH

__all__ = ["CapacityTariff", "ChecksumError", "DecoderStats", "DecryptionError", "DemandPeak",
           "DsmrDecoder", "DsmrError", "LOCAL_TIME", "MbusReading", "MissingCrcError", "Telegram",
           "TelegramError", "crc16_arc", "decode_id", "decrypt_telegram", "encode_telegram",
           "parse_telegram", "parse_timestamp"]

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
_HEADER_LINE = re.compile(_HEADER_TEXT.encode("ascii") + rb"\r?\n")
_HEADER_ARRIVING = re.compile(rb"/(?:[A-Za-z]{0,2}|[A-Za-z]{3}[ \"-.0-~]{0,124}\r?)")
_CRC_FIELD = re.compile(rb"[0-9A-Fa-f]{0,4}")
_CRC_LINE_BYTES = 8  # the '!' line ends within this many bytes: 4 hex digits, CR LF and slack
_CRC_LINE = re.compile(rb"![^\n/]{0,%d}(\n)?" % _CRC_LINE_BYTES)  # stops at LF, '/' or the limit
_TIMESTAMP = re.compile(r"([0-9]{2})" * 6 + r"([SW]?)")  # YYMMDDhhmmss, season letter
_NUMBER = re.compile(r"[0-9]{1,40}(?:\.[0-9]{1,40})?")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_MBUS_KEY = re.compile(r"0-([1-9][0-9]?):(?:24\.[0-9]+\.[0-9]+|96\.1\.[01])")
_ENERGY_REGISTER = re.compile(r"1-([01]):([12])\.8\.([0-9]|[1-9][0-9])")  # channel 1: some Sagemcom, Swiss
_ENERGY_SCALE = {"kWh": 1000, "Wh": 1}
_POWER_SCALE = {"kW": 1000, "W": 1}
_VOLTAGES = ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")
_CURRENTS = ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0")
_EMUCS_VERSION = re.compile(r"50[0-9]{3}")  # Belgian/Swiss 0-0:96.1.4: "50217" = DSMR 5.0.2, e-MUCS 1.7
_OLD_VERSION = re.compile(r"[23][0-9]")  # a version line that does not promise a CRC
_DIRECTIONS = {"1": "import_wh", "2": "export_wh"}
_WRONG_KEY_FRAMES = 3  # frames in a row that no key opens before a decoder says the key is wrong
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\r\n"


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
            f"telegram CRC mismatch: the telegram says {expected:04X} but its bytes from '/' to '!' "
            f"give {computed:04X}; it was corrupted on the line, drop it and take the next one"
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
    """CRC-16/ARC of `data`: polynomial 0x8005 bit-reversed (0xA001), initial value 0, no final xor."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def parse_timestamp(text: str) -> datetime:
    """Read a DSMR time stamp ``YYMMDDhhmmssX`` as an aware datetime at the offset the meter meant.

    X is S (summer, UTC+02:00) or W (winter, UTC+01:00): it settles the hour repeated in October.
    The result has that fixed offset, not a ZoneInfo: Python compares and subtracts datetimes of one
    ZoneInfo by wall clock, ignoring `fold`, which would merge the two passes of the repeated hour.
    ``.astimezone(LOCAL_TIME)`` gives the Dutch/Belgian wall clock back. DSMR 2.2/3 M-Bus stamps have
    no letter: their offset is :data:`LOCAL_TIME`'s, the repeated hour taken as its first pass.
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
    return naive.replace(tzinfo=timezone(offset))


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
    Belgian/Swiss 0-0:96.1.4 of the e-MUCS form ``50xxx`` (``"5.0"``), else ``"4+"`` when it carries
    a CRC (DSMR 4 introduced it) and ``"2.2"`` when it does not (2.2 and 3.0 look alike on the wire).
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
        prefix = f"0-{channel}:"
        ident = self.values.get(prefix + "96.1.0", self.values.get(prefix + "96.1.1", ""))
        stamp = value = None
        unit, warnings = "", []
        key = next((k for k in self.values if re.fullmatch(rf"0-{channel}:24\.(?:2\.[0-9]+|3\.0)", k)), None)
        parts = self.groups(key) if key is not None else ()
        if len(parts) >= 2:
            # DSMR 4/5: (stamp)(value*unit); DSMR 2.2/3 24.3.0: (stamp)(..)(..)(..)(obis)(unit)(value)
            quantity = f"{parts[-1]}*{parts[-2]}" if key.endswith("24.3.0") else parts[-1]
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
        return MbusReading(channel, self.values.get(prefix + "24.1.0"), decode_id(ident), stamp, value,
                           unit, tuple(warnings))

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
        voltages = self._per_phase(_VOLTAGES, "V", warnings)
        currents = self._per_phase(_CURRENTS, "A", warnings)
        meter_id = self.values.get("0-0:96.1.1", self.values.get("0-0:96.1.255"))  # 255: EasyMeter
        if meter_id is None:
            warnings.append("no equipment identifier (0-0:96.1.1): meter_id is empty")
        return Reading(
            protocol="dsmr",
            mode=self.version,
            meter_id=decode_id(meter_id or ""),
            import_wh=self._total("1", registers, rounded, warnings),
            export_wh=self._total("2", registers, rounded, warnings),
            registers=registers,
            phases=max(len(voltages), len(currents), 1),
            power_w=self._power("1.7.0", warnings),
            export_power_w=self._power("2.7.0", warnings),
            currents_a=currents,
            voltages_v=voltages,
            tariff_period=self.values.get("0-0:96.14.0"),
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
        numbers = [n for ch, _, n in sent if ch == channel and n >= 1]  # both directions: same tariffs
        mine = {n: obis for (ch, way, n), obis in sent.items() if ch == channel and way == direction}
        total = mine.get(0)
        tariffs = [mine.get(n, f"1-{channel}:{direction}.8.{n}") for n in range(1, max(numbers) + 1)] \
            if any(n >= 1 for n in mine) else []
        checked = tariffs + ([total] if total is not None else [])
        bad = [obis for obis in checked if obis not in registers or obis in self.garbled]
        name = _DIRECTIONS[direction]
        if bad:
            warnings.append(f"register {', '.join(bad)} missing or invalid: {name} not computed")
            return None
        if not tariffs:
            return registers[total]
        added = sum(registers[obis] for obis in tariffs)
        if total is not None and abs(registers[total] - added) > sum(obis in rounded for obis in checked):
            warnings.append(f"{total} says {registers[total]} Wh but its tariff registers add up to "
                            f"{added} Wh: one was corrupted, {name} not computed")
            return None
        return added

    def _power(self, code: str, warnings: list[str]) -> int | None:
        for obis in (f"1-0:{code}", f"1-1:{code}"):
            if obis in self.values:
                converted = _to_base(obis, self.values[obis], _POWER_SCALE, warnings)
                return None if converted is None else converted[0]
        return None

    def _per_phase(self, codes: tuple[str, ...], unit: str, warnings: list[str]) -> tuple[int | float, ...]:
        found = []
        for obis in codes:
            if obis in self.values:
                try:
                    number, sent_unit = _quantity(self.values[obis])
                    if sent_unit.lower() != unit.lower():
                        raise ValueError
                except ValueError:
                    warnings.append(f"{obis}: cannot read {self.values[obis]!r} as {unit}; left out")
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


def _to_base(obis: str, text: str, scale: dict[str, int], warnings: list[str]) -> tuple[int, bool] | None:
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
    """What the telegram proves: 1-3:0.2.8, an e-MUCS 0-0:96.1.4, a CRC ("4+"), or nothing ("2.2")."""
    if "1-3:0.2.8" in values:
        raw = values["1-3:0.2.8"]
        return f"{raw[0]}.{raw[1]}" if re.fullmatch(r"[0-9]{2}", raw) else raw
    emucs = values.get("0-0:96.1.4", "")
    if _EMUCS_VERSION.fullmatch(emucs):
        return f"{emucs[0]}.{emucs[1]}"
    return "4+" if crc is not None else "2.2"


def _promises_crc(values: Mapping[str, str]) -> bool:
    """A version line that is not DSMR 2/3, or an e-MUCS version: the telegram must carry a CRC."""
    line = values.get("1-3:0.2.8")
    return (line is not None and not _OLD_VERSION.fullmatch(line)) or bool(
        _EMUCS_VERSION.fullmatch(values.get("0-0:96.1.4", "")))


def _capacity(values: Mapping[str, str], warnings: list[str]) -> CapacityTariff | None:
    """The capacity tariff's registers (1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0), if any is sent."""
    if not any(code in values for code in ("1-0:1.4.0", "1-0:1.6.0", "0-0:98.1.0")):
        return None
    current = None
    if "1-0:1.4.0" in values:
        converted = _to_base("1-0:1.4.0", values["1-0:1.4.0"], _POWER_SCALE, warnings)
        current = None if converted is None else converted[0]
    peak = None
    if "1-0:1.6.0" in values:
        parts = _groups(values["1-0:1.6.0"])
        peak = _peak("1-0:1.6.0", parts, warnings) if len(parts) == 2 else None
        if len(parts) != 2:
            warnings.append(f"1-0:1.6.0: expected (time)(power), not {values['1-0:1.6.0']!r}")
    return CapacityTariff(current, peak, _history(values.get("0-0:98.1.0"), warnings))


def _peak(obis: str, parts: tuple[str, ...], warnings: list[str], end: str | None = None) -> DemandPeak | None:
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
        warnings.append(f"0-0:98.1.0: {count!r} months announced, {len(parts)} values sent; "
                        "the history is read as far as it goes")
    peaks = (_peak("0-0:98.1.0", (parts[i + 1], parts[i + 2]), warnings, end=parts[i])
             for i in range(0, len(parts) - 2, 3))
    return tuple(peak for peak in peaks if peak is not None)


def parse_telegram(data: bytes | str, *, require_crc: bool = False) -> Telegram:
    """Check and decode one telegram, from its '/' to the end of its '!' line (blanks around allowed).

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
        raise MissingCrcError(
            f"telegram {header!r} has no CRC after '!' although "
            f"{'its line has sent CRCs' if require_crc else 'its version line says DSMR 4 or later'}: "
            "the CRC was lost or garbled on the line, so its bytes cannot be trusted; drop it")
    if b"/" in text[line_end:]:
        raise TelegramError(f"a second '/' after the end of telegram {header!r}: two telegrams run together")
    timestamp = None
    if "0-0:1.0.0" in values:
        try:
            timestamp = parse_timestamp(values["0-0:1.0.0"])
        except TelegramError as exc:
            warnings.append(f"0-0:1.0.0: {exc}")
    capacity = _capacity(values, warnings)
    return Telegram(header, values, crc, _version(values, crc), timestamp, tuple(warnings), capacity,
                    tuple(garbled))


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
            raise TelegramError(f"a second '/' inside telegram {header!r} (line {number}, {line[:40]!r}): "
                                "two telegrams run together")
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
            warnings.append(f"line {number} kept out: {match[1]} sent twice, the first value is kept")
            garbled.append(match[1])
        else:
            last = match[1]
            values[last] = match[2]
    return values, garbled, warnings


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise DecryptionError(f"give the key as bytes, e.g. bytes.fromhex('..."
                              f"{dlms.KEY_HEX_DIGITS} hex digits...'), not {type(key).__name__}")
    if len(key) != dlms.KEY_BYTES:
        raise DecryptionError(f"a DSMR decryption key is {dlms.KEY_BYTES} bytes "
                              f"({dlms.KEY_HEX_DIGITS} hex digits), this one is {len(key)}")
    return bytes(key)


def _readable(plaintext: bytes) -> bool:
    """Does a decryption look like a telegram (noise in it allowed), not like a wrong key's bytes?"""
    printable = len(plaintext) - len(plaintext.translate(None, _PRINTABLE))
    return plaintext[:1] == b"/" and printable >= 0.9 * len(plaintext)


def decrypt_telegram(frame: bytes, key: bytes) -> Telegram:
    """Decrypt and check one DLMS general-glo-ciphering frame (Luxembourg Smarty, Austria).

    `key` is the 16-byte AES key the grid operator gives the customer. A frame whose GCM tag does
    not check under the Smarty authentication key is still read when the plaintext is a telegram
    with a valid CRC (another operator's authentication key), with a warning. Raises
    :class:`DecryptionError` when the key does not open the frame, :class:`TelegramError` when the
    bytes are not a frame or not a telegram, :class:`ChecksumError` when the telegram is corrupted.
    """
    key = _check_key(key)
    try:
        parsed = dlms.parse_frame(bytes(frame))
    except dlms.DlmsError as exc:
        raise TelegramError(f"not an encrypted DSMR frame: {exc}") from None
    return _decrypted(parsed, key)


def _decrypted(frame: dlms.CipheredFrame, key: bytes) -> Telegram:
    plaintext, proven = dlms.decrypt(frame, key)
    if proven:
        return parse_telegram(plaintext)
    if not _readable(plaintext):
        raise DecryptionError(
            f"the key does not open the frame of meter {frame.system_title.hex().upper()}: check the "
            "key, the 32 hex digits the grid operator gives for the P1 port (Luxembourg: the "
            "'decryption key', GUEK, that Creos sends on request)")
    telegram = parse_telegram(plaintext, require_crc=True)
    note = "GCM tag not proven (an authentication key other than Smarty's?): the telegram's CRC checked"
    return replace(telegram, warnings=(*telegram.warnings, note))


def encode_telegram(header: str, values: Mapping[str, str], *, crc: bool = True) -> bytes:
    """Build a telegram: `header`, an empty line, one line per OBIS code, '!', the CRC, CRLF line ends.

    `values` is read like :attr:`Telegram.values`: a value is wrapped in parentheses unless it
    already starts with '(' (several values). ``crc=False`` builds a DSMR 2.2-style telegram.
    ``encode_telegram(t.header, t.values)`` rebuilds a telegram sent in this standard layout.
    """
    if not _HEADER.fullmatch(header):
        raise TelegramError(
            f"bad identification line {header!r}: expected '/', a 3-letter maker code, printable text")
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


@dataclass
class DecoderStats:
    """What a :class:`DsmrDecoder` has seen: telegrams accepted, rejected by reason, bytes skipped.

    Reasons are ``"checksum"`` (bad CRC), ``"no_crc"`` (none, where the version line or the stream
    requires one), ``"malformed"`` (not a telegram), ``"too_long"`` (no '!' within
    `max_telegram_bytes` of a header) and, with a key, ``"decryption"`` (a frame the key does not
    open). `bytes_skipped` counts every byte that was not part of an accepted telegram: noise
    between telegrams and the bytes of rejected ones. `bytes_examined` counts the bytes the decoder
    read in its own (Python) checks: at most a few times the bytes fed, whatever they are.
    """

    telegrams: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    bytes_skipped: int = 0
    bytes_examined: int = 0


_AGAIN = object()  # a step of the decoder rejected something: look again


class DsmrDecoder:
    """Incremental decoder: feed it bytes as they come off the P1 port, get whole telegrams back.

    It never raises on what it is fed. A telegram starts at a '/' whose line is a valid header and
    ends with its '!' line; within it, a '/' may only stand inside a value: a line that holds one
    otherwise is where the next telegram starts, and the one before is rejected. Once the stream
    has shown a CRC, a telegram without one is rejected. Chunk boundaries do not matter, and the
    work is linear in the bytes fed.

    With `key` (16 bytes) it reads encrypted DLMS frames instead (Luxembourg, Austria); if the
    first frames do not open under it, :meth:`feed` raises :class:`DecryptionError`: the key is wrong.
    """

    def __init__(self, max_telegram_bytes: int = 8192, *, key: bytes | None = None):
        self.max_telegram_bytes = max_telegram_bytes
        self.key = None if key is None else _check_key(key)
        self._first_block = None if key is None else dlms.FirstBlock(self.key)
        self.stats = DecoderStats()
        self._buffer = bytearray()
        self._checked = 0  # >0: the buffer starts with a header; its lines up to here are checked
        self._crc_required = False
        self._opened = False  # a frame has opened under the key: the key is right
        self._unopened = 0  # frames in a row the key did not open, before any did

    def feed(self, chunk: bytes) -> list[Telegram]:
        """Add bytes; return the telegrams they completed, oldest first."""
        return [telegram for telegram, _ in self.feed_raw(chunk)]

    def feed_raw(self, chunk: bytes) -> list[tuple[Telegram, bytes]]:
        """Like :meth:`feed`, with each telegram's bytes as received (for an encrypted one, its frame)."""
        self._buffer += chunk
        step = self._next_frame if self.key is not None else self._next_telegram
        found = []
        while (result := step()) is not None:
            if result is not _AGAIN:
                found.append(result)
        return found

    # --- plain telegrams

    def _next_telegram(self):
        buffer = self._buffer
        if not self._checked:
            header = _HEADER_LINE.search(buffer)
            if header is None:
                last = buffer.rfind(b"/")
                arriving = last >= 0 and _HEADER_ARRIVING.fullmatch(buffer, last)
                self._skip(last if arriving else len(buffer))
                return None
            self._skip(header.start())
            self._checked = header.end() - header.start()
            self.stats.bytes_examined += self._checked
        window = self.max_telegram_bytes
        bang = buffer.find(b"!", self._checked, window)
        until = bang if bang >= 0 else buffer.rfind(b"\n", self._checked, window) + 1
        if until > self._checked:
            next_start = self._slash_outside_values(self._checked, until)
            if next_start is not None:
                return self._reject("malformed", next_start)
            self._checked = until
        if bang < 0:
            if len(buffer) >= window:
                return self._reject("too_long", self._checked)
            return None
        end = self._crc_line_end(bang)
        if end is None:
            return None
        data = bytes(buffer[:end])
        self.stats.bytes_examined += end
        try:
            telegram = parse_telegram(data, require_crc=self._crc_required)
        except MissingCrcError:
            return self._reject("no_crc", end)
        except ChecksumError:
            return self._reject("checksum", end)
        except TelegramError:
            return self._reject("malformed", end)
        self._crc_required |= telegram.crc is not None
        return self._accept(telegram, data)

    def _slash_outside_values(self, start: int, stop: int) -> int | None:
        """The start of the first line in [start, stop) with a '/' outside a value, or None."""
        buffer = self._buffer
        while (slash := buffer.find(b"/", start, stop)) >= 0:
            line_start = buffer.rfind(b"\n", 0, slash) + 1
            line_end = buffer.find(b"\n", slash, stop)
            line_end = stop if line_end < 0 else line_end
            self.stats.bytes_examined += line_end - line_start
            if not _value_line(buffer[line_start:line_end].decode("latin-1").strip()):
                return line_start
            start = line_end
        return None

    def _crc_line_end(self, bang: int) -> int | None:
        """Where the '!' line that starts at `bang` ends: after its LF, before a '/' (the next
        telegram), or `_CRC_LINE_BYTES` on; None while it may still go on."""
        line = _CRC_LINE.match(self._buffer, bang)
        if line[1] or line.end() < len(self._buffer) or line.end() - bang > _CRC_LINE_BYTES:
            return line.end()
        return None

    # --- encrypted frames

    def _next_frame(self):
        buffer = self._buffer
        start = buffer.find(dlms.START)
        if start < 0:
            self._skip(len(buffer) - buffer.endswith(dlms.START[:1]))
            return None
        self._skip(start)
        try:
            size = dlms.frame_length(buffer)
        except dlms.DlmsError:
            return self._reject("malformed", 1)
        if size is None:
            return None
        if size > self.max_telegram_bytes:
            return self._reject("too_long", 1)
        head = self._first_block(buffer, size)
        if head is not None and not (head[:1] == b"/" and not head.translate(None, _PRINTABLE)):
            return self._unopened_frame()  # noise, or the wrong key: known from its first block
        if len(buffer) < size:
            return None
        data = bytes(buffer[:size])
        self.stats.bytes_examined += size
        try:
            telegram = _decrypted(dlms.parse_frame(data), self.key)
        except DecryptionError:
            return self._unopened_frame()
        except dlms.DlmsError:
            return self._reject("malformed", 1)
        except ChecksumError:
            self._opened = True
            return self._reject("checksum", 1)
        except TelegramError:
            self._opened = True
            return self._reject("malformed", 1)
        self._opened = True
        return self._accept(telegram, data)

    def _unopened_frame(self) -> object:
        """A frame the key does not open: rejected; the third in a row before any opened means
        the key is wrong."""
        if not self._opened:
            self._unopened += 1
            if self._unopened >= _WRONG_KEY_FRAMES:
                raise DecryptionError(
                    f"the key does not open the frames of this meter ({_WRONG_KEY_FRAMES} in a row): "
                    "check the key, the 32 hex digits the grid operator gives for the P1 port "
                    "(Luxembourg: the 'decryption key', GUEK, that Creos sends on request)")
        return self._reject("decryption", 1)

    # --- bookkeeping

    def _accept(self, telegram: Telegram, data: bytes) -> tuple[Telegram, bytes]:
        del self._buffer[:len(data)]
        self._checked = 0
        self.stats.telegrams += 1
        return telegram, data

    def _skip(self, count: int) -> None:
        del self._buffer[:count]
        self.stats.bytes_skipped += count

    def _reject(self, reason: str, count: int) -> object:
        """Count a rejected telegram and drop its first `count` bytes (at least one)."""
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self._checked = 0
        self._skip(max(count, 1))
        return _AGAIN
