r"""One DSMR P1 telegram: check, parse, convert to a :class:`~daisee_lab.reading.Reading`, build.

The part of :mod:`daisee_lab.dsmr` that knows a single telegram; import its names from
:mod:`daisee_lab.dsmr`. Pure: no I/O, no clock. The OBIS codes it reads are named in
:mod:`daisee_lab.dsmr_obis`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from daisee_lab.dsmr_obis import (
    CURRENTS,
    EMUCS_VERSION,
    EQUIPMENT_ID,
    EQUIPMENT_ID_EASYMETER,
    MBUS_DEVICE_TYPE,
    MBUS_EQUIPMENT_ID,
    MBUS_EQUIPMENT_ID_ALT,
    MBUS_VALUE_OLD,
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
from daisee_lab.dsmr_values import (
    _ENERGY_SCALE,
    _OBIS,
    _OBIS_START,
    _POWER_SCALE,
    CapacityTariff,
    ChecksumError,
    MissingCrcError,
    TelegramError,
    _capacity,
    _check_bytes,
    _groups,
    _quantity,
    _to_base,
    _unit,
    crc16_arc,
    decode_id,
    parse_timestamp,
)
from daisee_lab.reading import Reading
from daisee_lab.units import MAX_INDEX_WH

__all__ = ["MbusReading", "Telegram", "encode_telegram", "parse_telegram"]

_GROUP = r"\([ \"-'*-~]*\)"  # printable ASCII but '!', '(' and ')'
_LINE = re.compile(rf"({_OBIS})(?:\*255)?((?:{_GROUP})+)")  # EasyMeter writes F = 255 ("*255")
_CONTINUATION = re.compile(rf"(?:{_GROUP})+")
_HEADER_TEXT = r"/[A-Za-z]{3}[ \"-.0-~]{0,124}"  # printable ASCII but '!' and '/', 128 at most
_HEADER = re.compile(_HEADER_TEXT)
_CRC_FIELD = re.compile(rb"[0-9A-Fa-f]{0,4}")
_MBUS_KEY = re.compile(r"0-([1-9][0-9]?):(?:24\.[0-9]+\.[0-9]+|96\.1\.[01])")
# channel 1 (1-1:) for some Sagemcom and Swiss meters
_ENERGY_REGISTER = re.compile(r"1-([01]):([12])\.8\.([0-9]|[1-9][0-9])")
_EMUCS_VERSION = re.compile(r"50[0-9]{3}")  # 0-0:96.1.4: "50217" = DSMR 5.0.2, e-MUCS 1.7
_OLD_VERSION = re.compile(r"[23][0-9]")  # a version line that does not promise a CRC
_DIRECTIONS = {"1": "import_wh", "2": "export_wh"}


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
    text = _check_bytes(data, "a telegram").strip()
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
        if not isinstance(obis, str) or not isinstance(value, str):
            raise TelegramError(f"cannot encode {obis!r}: {value!r}: OBIS codes and values are "
                                "text as the meter sends them, e.g. '1-0:1.8.1': '000004.426*kWh'")
        line = obis + (value if value.startswith("(") else f"({value})")
        match = _LINE.fullmatch(line)
        if not match or match[1] != obis:
            raise TelegramError(
                f"cannot encode {obis!r}: {value!r}: "
                "expected an OBIS code A-B:C.D.E and printable values without '!'")
        lines.append(line)
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + (f"{crc16_arc(body):04X}".encode("ascii") if crc else b"") + b"\r\n"


