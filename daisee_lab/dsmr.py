r"""DSMR P1 codec: the telegrams of Dutch, Belgian and Luxembourg smart meters.

A telegram is ASCII text, one a second on DSMR 5 (115200 baud 8N1; DSMR 4: 115200 7E1)::

    /ISk5\2MT382-1000              identification line (the header)
                                   an empty line
    1-3:0.2.8(50)                  an OBIS code, then one or more values in parentheses
    1-0:1.8.1(000004.426*kWh)
    0-1:24.2.1(170102161005W)(00000.107*m3)
    !6EEE                          end mark, then the CRC-16/ARC of every byte from '/' to '!'

DSMR 2.2 and 3 send no CRC and no version line, and put the gas value on a line of its own.
This module is pure, no I/O and no clock: :func:`parse_telegram` checks and decodes one telegram,
:class:`DsmrDecoder` finds telegrams in a noisy byte stream without ever raising,
:meth:`Telegram.reading` converts one to the project's units, :func:`encode_telegram` builds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading

LOCAL_TIME = ZoneInfo("Europe/Amsterdam")
"""The meters' clock zone. Brussels and Luxembourg keep the same CET/CEST rules."""

_SEASON_OFFSET = {"S": timedelta(hours=2), "W": timedelta(hours=1)}
_OBIS = r"[0-9]{1,3}-[0-9]{1,3}:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
_GROUP = r"\([ \"-'*-~]*\)"  # printable ASCII but '!', '(' and ')'
_LINE = re.compile(rf"({_OBIS})((?:{_GROUP})+)")
_CONTINUATION = re.compile(rf"(?:{_GROUP})+")
_HEADER = re.compile(r"/[A-Za-z]{3}[ \"-.0-~]*")  # printable ASCII but '!' and a second '/'
_CRC_FIELD = re.compile(rb"[0-9A-Fa-f]{0,4}")
_TAIL = re.compile(rb"[0-9A-Fa-f]{0,4}(\r?\n)?")  # what follows '!' in a stream
_TIMESTAMP = re.compile(r"([0-9]{2})" * 6 + r"([SW]?)")  # YYMMDDhhmmss, season letter
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_MBUS_KEY = re.compile(r"0-([1-9][0-9]?):(?:24\.[0-9]+\.[0-9]+|96\.1\.[01])")
_ENERGY_SCALE = {"kWh": 1000, "Wh": 1}
_POWER_SCALE = {"kW": 1000, "W": 1}
_VOLTAGES = ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")
_CURRENTS = ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0")


class DsmrError(DaiseeError):
    """Base class of the DSMR codec's errors."""


class TelegramError(DsmrError):
    """The bytes are not a well-formed telegram (no '/' header, no '!' end, a bad CRC field...)."""


class ChecksumError(DsmrError):
    """The CRC a telegram carries does not match its bytes: it was corrupted on the way."""

    def __init__(self, expected: int, computed: int):
        super().__init__(
            f"telegram CRC mismatch: the telegram says {expected:04X} but its bytes from '/' to '!' "
            f"give {computed:04X}; it was corrupted on the line, drop it and take the next one"
        )
        self.expected = expected
        self.computed = computed


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
    timestamp: datetime | None  # when the device took the value; None when there is no value
    value: Decimal | None      # exact, in `unit`
    unit: str                  # "m3", "GJ"...; "" when none was sent


@dataclass(frozen=True)
class Telegram:
    """One checked telegram.

    `values` maps each OBIS code to its value as sent. A one-value line gives the text inside the
    parentheses (``"000004.426*kWh"``); a line of several values gives them all with their
    parentheses (``"(170102161005W)(00000.107*m3)"``), a DSMR 2.2/3 continuation line appended to
    its OBIS line. :meth:`groups` splits either form. `version` comes from 1-3:0.2.8 (``"50"`` ->
    ``"5.0"``) or, on Belgian meters, from the first two digits of 0-0:96.1.4; a telegram with
    neither predates DSMR 4 and is called ``"2.2"`` (2.2 and 3.0 look alike on the wire).
    `warnings` lists the lines kept out of `values` and other problems found while parsing.
    """

    header: str
    values: dict[str, str]
    crc: int | None
    version: str
    timestamp: datetime | None
    warnings: tuple[str, ...] = ()

    def groups(self, obis: str) -> tuple[str, ...]:
        """The values of one OBIS line, each without its parentheses."""
        value = self.values[obis]
        if value.startswith("("):
            return tuple(value[1:-1].split(")("))
        return (value,)

    def mbus(self) -> dict[int, MbusReading]:
        """The M-Bus devices the meter relays (channels 0-1: to 0-4:), by channel number."""
        channels = sorted({int(m[1]) for key in self.values if (m := _MBUS_KEY.fullmatch(key))})
        return {channel: self._mbus_reading(channel) for channel in channels}

    def _mbus_reading(self, channel: int) -> MbusReading:
        prefix = f"0-{channel}:"
        ident = self.values.get(prefix + "96.1.0", self.values.get(prefix + "96.1.1", ""))
        stamp = value = None
        unit = ""
        key = next((k for k in self.values if re.fullmatch(rf"0-{channel}:24\.(?:2\.[0-9]+|3\.0)", k)), None)
        parts = self.groups(key) if key is not None else ()
        if len(parts) >= 2:
            # DSMR 4/5: (stamp)(value*unit); DSMR 2.2/3 24.3.0: (stamp)(..)(..)(..)(obis)(unit)(value)
            quantity = f"{parts[-1]}*{parts[-2]}" if key.endswith("24.3.0") else parts[-1]
            try:
                stamp = parse_timestamp(parts[0])
                value, unit = _quantity(quantity)
            except (TelegramError, ValueError):
                stamp, value, unit = None, None, ""
            if stamp is not None and stamp.timestamp() == 0:  # the empty channel's placeholder
                stamp, value, unit = None, None, ""
        return MbusReading(channel, self.values.get(prefix + "24.1.0"), decode_id(ident), stamp, value, unit)

    def reading(self) -> Reading:
        """This telegram in the project's units (Wh, W, V, A) as a :class:`Reading`.

        `import_wh` sums the delivered tariff registers 1-0:1.8.1, 1-0:1.8.2... (or takes the total
        1-0:1.8.0 when no tariff is sent); `export_wh` does the same with 1-0:2.8.x. `registers`
        holds every value sent in kWh or Wh, by OBIS code. kWh become Wh exactly, without floats (a
        value finer than 1 Wh is rounded half to even).
        """
        warnings = list(self.warnings)
        registers = {}
        for obis, text in self.values.items():
            if text.endswith(("*kWh", "*Wh")):
                wh = _scaled(obis, text, _ENERGY_SCALE, warnings)
                if wh is not None:
                    registers[obis] = wh
        voltages = self._per_phase(_VOLTAGES, "V", warnings)
        currents = self._per_phase(_CURRENTS, "A", warnings)
        meter_id = self.values.get("0-0:96.1.1")
        if meter_id is None:
            warnings.append("no equipment identifier (0-0:96.1.1): meter_id is empty")
        return Reading(
            protocol="dsmr",
            mode=self.version,
            meter_id=decode_id(meter_id or ""),
            import_wh=_total(registers, "1", warnings),
            export_wh=_total(registers, "2", warnings),
            registers=registers,
            phases=max(len(voltages), len(currents), 1),
            power_w=self._power("1-0:1.7.0", warnings),
            export_power_w=self._power("1-0:2.7.0", warnings),
            currents_a=currents,
            voltages_v=voltages,
            tariff_period=self.values.get("0-0:96.14.0"),
            meter_time=self.timestamp,
            warnings=tuple(warnings),
        )

    def _power(self, obis: str, warnings: list[str]) -> int | None:
        return _scaled(obis, self.values[obis], _POWER_SCALE, warnings) if obis in self.values else None

    def _per_phase(self, codes: tuple[str, ...], unit: str, warnings: list[str]) -> tuple[int | float, ...]:
        found = []
        for obis in codes:
            if obis in self.values:
                try:
                    number, sent_unit = _quantity(self.values[obis])
                    if sent_unit != unit:
                        raise ValueError
                except ValueError:
                    warnings.append(f"{obis}: cannot read {self.values[obis]!r} as {unit}; left out")
                    continue
                found.append(int(number) if number.as_tuple().exponent == 0 else float(number))
        return tuple(found)


def _quantity(text: str) -> tuple[Decimal, str]:
    """``"001581.123*kWh"`` -> (Decimal("1581.123"), "kWh"); ValueError when it is not a number."""
    number, _, unit = text.partition("*")
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"not a DSMR number: {text!r}")
    return Decimal(number), unit


def _scaled(obis: str, text: str, scale: dict[str, int], warnings: list[str]) -> int | None:
    """A quantity in the base unit of `scale` (Wh or W), rounded half to even; None if unreadable."""
    try:
        number, unit = _quantity(text)
        factor = scale[unit]
    except (ValueError, KeyError):
        warnings.append(f"{obis}: cannot read {text!r} as one of {', '.join(scale)}; left out")
        return None
    return int((number * factor).to_integral_value(ROUND_HALF_EVEN))


def _total(registers: dict[str, int], direction: str, warnings: list[str]) -> int | None:
    """Sum of the tariff registers 1-0:<direction>.8.N (N >= 1), else the total 1-0:<direction>.8.0."""
    tariff = re.compile(rf"1-0:{direction}\.8\.[1-9][0-9]?")
    tariffs = [wh for obis, wh in registers.items() if tariff.fullmatch(obis)]
    total = registers.get(f"1-0:{direction}.8.0")
    if not tariffs:
        return total
    if total is not None and total != sum(tariffs):
        warnings.append(
            f"1-0:{direction}.8.0 says {total} Wh but its tariff registers add up to {sum(tariffs)} Wh")
    return sum(tariffs)


def _version(values: Mapping[str, str]) -> str:
    """1-3:0.2.8 ("42" -> "4.2"), else the first two digits of Belgian 0-0:96.1.4, else "2.2"."""
    if "1-3:0.2.8" in values:
        raw = values["1-3:0.2.8"]
    elif "0-0:96.1.4" in values:
        raw = values["0-0:96.1.4"][:2]
    else:
        return "2.2"
    return f"{raw[0]}.{raw[1]}" if re.fullmatch(r"[0-9]{2}", raw) else raw


def parse_telegram(data: bytes | str) -> Telegram:
    """Check and decode one telegram, from its '/' to the CRC after '!' (surrounding blanks allowed).

    Raises :class:`ChecksumError` when the CRC does not match (a CRC of 1 to 4 hex digits is
    accepted: some meters drop a leading zero) and :class:`TelegramError` when the bytes are not a
    telegram. A line that is not ``OBIS(value)...`` is kept out of `values` and noted in `warnings`.
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
    crc_field = text[bang + 1:]
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
            "expected '/', a 3-letter maker code, printable text, a line end")
    if "/" in body:
        raise TelegramError(f"a second '/' inside telegram {header!r}: two telegrams run together")
    raw_values, warnings = _parse_lines(body)
    values = {obis: raw[1:-1] if raw.count("(") == 1 else raw for obis, raw in raw_values.items()}
    version = _version(values)
    if crc is None and version[:1].isdigit() and int(version[0]) >= 4:
        warnings.append(f"no CRC on a DSMR {version} telegram: its bytes could not be checked")
    timestamp = None
    if "0-0:1.0.0" in values:
        try:
            timestamp = parse_timestamp(values["0-0:1.0.0"])
        except TelegramError as exc:
            warnings.append(f"0-0:1.0.0: {exc}")
    return Telegram(header, values, crc, version, timestamp, tuple(warnings))


def _parse_lines(body: str) -> tuple[dict[str, str], list[str]]:
    """OBIS code -> its groups as sent, parentheses included; and a warning per line kept out."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    last = None
    for number, line in enumerate(body.split("\n"), start=2):
        line = line.strip()
        if not line:
            continue
        if last is not None and _CONTINUATION.fullmatch(line):
            values[last] += line
            continue
        last = None
        match = _LINE.fullmatch(line)
        if match is None:
            warnings.append(f"line {number} kept out: {line[:60]!r} is not OBIS(value)")
        elif match[1] in values:
            warnings.append(f"line {number} kept out: {match[1]} sent twice, the first value is kept")
        else:
            last = match[1]
            values[last] = match[2]
    return values, warnings


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
        if not _LINE.fullmatch(line):
            raise TelegramError(
                f"cannot encode {obis!r}: {value!r}: "
                "expected an OBIS code A-B:C.D.E and printable values without '!'")
        lines.append(line)
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + (f"{crc16_arc(body):04X}".encode("ascii") if crc else b"") + b"\r\n"


@dataclass
class DecoderStats:
    """What a :class:`DsmrDecoder` has seen: telegrams accepted, rejected by reason, bytes skipped.

    Reasons are ``"checksum"`` (bad CRC), ``"malformed"`` (not a telegram) and ``"too_long"`` (no
    '!' within `max_telegram_bytes` of a '/'). `bytes_skipped` counts every byte that was not part
    of an accepted telegram: noise between telegrams and the bytes of rejected ones.
    """

    telegrams: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    bytes_skipped: int = 0


class DsmrDecoder:
    """Incremental decoder: feed it bytes as they come off the P1 port, get whole telegrams back.

    It never raises on what it is fed. A telegram starts at a '/' and ends after the CRC that
    follows its '!'; when one is rejected the search starts again at the next '/' after its start,
    so a stray '/' in the noise cannot hide the telegram behind it. Chunk boundaries do not matter.
    """

    def __init__(self, max_telegram_bytes: int = 8192):
        self.max_telegram_bytes = max_telegram_bytes
        self.stats = DecoderStats()
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[Telegram]:
        """Add bytes; return the telegrams they completed, oldest first."""
        self._buffer += chunk
        telegrams = []
        while (start := self._buffer.find(b"/")) >= 0:
            self._skip(start)
            bang = self._buffer.find(b"!", 0, self.max_telegram_bytes)
            if bang < 0:
                if len(self._buffer) < self.max_telegram_bytes:
                    return telegrams
                self._reject("too_long")
                continue
            end = self._telegram_end(bang)
            if end is None:
                return telegrams
            try:
                telegrams.append(parse_telegram(bytes(self._buffer[:end])))
            except ChecksumError:
                self._reject("checksum")
                continue
            except TelegramError:
                self._reject("malformed")
                continue
            del self._buffer[:end]
            self.stats.telegrams += 1
        self._skip(len(self._buffer))
        return telegrams

    def _telegram_end(self, bang: int) -> int | None:
        """Where the telegram whose '!' is at `bang` ends, or None while its CRC line may go on."""
        tail = _TAIL.match(self._buffer, bang + 1)
        rest = self._buffer[tail.end():tail.end() + 2]
        if tail[1] is None and rest in (b"", b"\r"):
            return None
        return tail.end()

    def _skip(self, count: int) -> None:
        del self._buffer[:count]
        self.stats.bytes_skipped += count

    def _reject(self, reason: str) -> None:
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self._skip(1)
