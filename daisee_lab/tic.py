"""Linky TIC codec: bytes -> groups -> frames -> readings, and back (Enedis-NOI-CPT_54E).

A frame is ``STX group... ETX``; a group is ``LF body CR``. Historic mode (1200 baud) writes
``label SP data SP checksum``; standard mode (9600 baud) writes ``label HT [horodate HT] data HT
checksum``. The mode is detected per group from its separator, and a frame takes the mode of its
first valid group.

The decoder never raises on bad bytes. Noise bytes (control characters other than the framing
ones, DEL, anything above 0x7F) are dropped; each remaining group is validated on its own, so a
group whose LF or CR was lost is still accepted when its checksum holds; a bad group is rejected
with a reason and counted; EOT drops the frame in progress. Pure module: no I/O, no clock.
What the specification says about each label (horodates, the status register, the indexes of
each tariff option, the digits of each field) is in :mod:`daisee_lab.tic_labels`, whose public
names are imported from here.

What a 6-bit checksum cannot catch, a stream decoder (`TicDecoder`) checks against the stream's
history (issue 18):

* Historic groups have two checksum variants (method 1, the specification's, and method 2);
  a stream uses one. The decoder learns it by a vote of the historic groups of the first
  frames (each group checks under exactly one method; ties go to method 1), fixed once
  `LEARN_GROUPS` groups have voted, and from then on rejects a group that checks only under
  the other method (reason "method"). Before it is fixed, each frame is held to the vote so
  far. A new decoder (after a reconnection) learns again.
* An energy index that goes backwards, or forwards by more than twice the subscribed power
  (historic ISOUSC x 200 VA a phase, standard PREF kVA) allows over the time elapsed, is
  flagged (`Frame.flags`, `Reading.flags`) and not used: it is left out of the reading's
  registers and totals. Elapsed time comes from the meter's clock (the DATE horodate of
  standard frames), else from the times the caller passes to `TicDecoder.feed` (`at`); with
  neither (historic frames fed without `at`), only a backward move is caught. The first
  reading of a meter has nothing to compare to and is taken as it is; if
  `tic_index.REANCHOR_READINGS` flagged readings in a row agree with each other, they win: the
  last of them is taken as the new reference, with a warning (the earlier reference was the
  wrong one, or the meter was reset).
* An index above `daisee_lab.units.MAX_INDEX_WH` is an invalid register.

The index check lives in :mod:`daisee_lab.tic_index`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from daisee_lab.reading import Reading
from daisee_lab.tic_index import _IndexCheck
from daisee_lab.tic_labels import (
    _HEX8,
    _INDEX_FAMILIES,
    _PHASE3,
    HORODATE_YEARS,
    TicError,
    _int,
    _phases,
    _registers,
    decode_stge,
    encode_horodate,
    parse_horodate,
    plausibility_warnings,
)
from daisee_lab.units import PARIS

__all__ = [
    "PARIS", "TicError", "Group", "Rejected", "Frame", "DecoderStats", "TicDecoder",
    "checksum", "group_checksum", "parse_horodate", "encode_horodate", "encode_group",
    "encode_frame", "decode_frames", "decode_groups", "decode_stge", "plausibility_warnings",
    "HORODATE_YEARS",
]

STX, ETX, EOT, LF, CR = 0x02, 0x03, 0x04, 0x0A, 0x0D
MAX_GROUP_BYTES = 256  # the longest real group (PJOURF+1) is about 115 bytes
LEARN_GROUPS = 8  # historic groups whose vote fixes a stream's checksum method (a frame has 10+)
_NOISE = bytes(b for b in range(256) if b != 0x09 and not 0x20 <= b <= 0x7E)
_LABEL = re.compile(r"[A-Z0-9+\-]{1,9}")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")



@dataclass(frozen=True)
class Group:
    """One valid group: `data` exactly as sent; `time` is the decoded `horodate`, if any;
    `method` the historic checksum method it checks under (1 or 2; None in standard mode)."""

    label: str
    data: str
    checksum: str
    mode: str
    horodate: str | None = None
    time: datetime | None = None
    method: int | None = None

    @property
    def degraded_clock(self) -> bool:
        """True when the horodate's season letter is lowercase: the meter's clock is degraded."""
        return self.horodate is not None and self.horodate[0] in "eh"


@dataclass(frozen=True)
class Rejected:
    """A group the decoder refused: the bytes as received, a `reason` code and a readable detail.

    Reasons: "malformed", "checksum", "label", "horodate", "too long", "mode", and "method"
    (a historic group that checks only under the checksum method the stream does not use).
    """

    raw: bytes
    reason: str
    detail: str


# -------------------------------------------------------------------------------------- checksums

def checksum(payload: bytes | str) -> str:
    """The TIC checksum character of `payload`: ``(sum of its bytes & 0x3F) + 0x20``."""
    data = payload.encode("ascii") if isinstance(payload, str) else payload
    return chr((sum(data) & 0x3F) + 0x20)


def _payload(label: str, data: str, mode: str, horodate: str | None) -> str:
    """The checksummed text of a group, including the separator before the checksum."""
    if mode == "standard":
        return "\t".join([label, data] if horodate is None else [label, horodate, data]) + "\t"
    return f"{label} {data} "


def group_checksum(label: str, data: str, mode: str, horodate: str | None = None,
                   method: int = 1) -> str:
    """The checksum of one group. Standard: from the label through the HT after the data.

    Historic `method` 1 sums ``label SP data``; method 2 (some meters) also sums the SP after it.
    """
    _check_mode(mode)
    if method not in (1, 2):
        raise TicError(f"checksum method {method!r}: expected 1 or 2 (historic mode only)")
    payload = _payload(label, data, mode, horodate)
    return checksum(payload[:-1] if mode == "historic" and method == 1 else payload)


# --------------------------------------------------------------------------------------- encoding

def _check_bytes(data: object) -> None:
    """Refuse what is not bytes: a str would decode to nothing, silently."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TicError(f"the decoder reads bytes as they come off the line, not "
                       f"{type(data).__name__}: pass port.read(...) or a file opened in 'rb' mode")


def _check_mode(mode: str) -> None:
    if mode not in ("historic", "standard"):
        raise TicError(f"mode {mode!r}: expected 'historic' or 'standard'")


def encode_group(label: str, data: str, mode: str, horodate: str | datetime | None = None,
                 *, method: int = 1) -> bytes:
    """One group ``LF ... CR`` with its checksum; `horodate` may be an aware datetime.

    `method` chooses the historic checksum variant (1, the specification's, or 2).
    """
    _check_mode(mode)
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise TicError(f"label {label!r}: expected 1 to 9 characters among A-Z, 0-9, + and -")
    if not isinstance(data, str) or not _PRINTABLE.fullmatch(data):
        raise TicError(f"{label}: data {data!r} must be a str of printable ASCII, exactly as "
                       "the meter sends it (e.g. f'{wh:09d}')")
    if mode == "historic" and (not data or horodate is not None):
        raise TicError(f"{label}: a historic group needs non-empty data and has no horodate")
    if isinstance(horodate, datetime):
        horodate = encode_horodate(horodate)
    elif horodate is not None:
        parse_horodate(horodate)
    cs = group_checksum(label, data, mode, horodate, method)
    return b"\n" + (_payload(label, data, mode, horodate) + cs).encode("ascii") + b"\r"


def encode_frame(groups: Mapping[str, str | tuple] | Iterable[tuple], mode: str) -> bytes:
    """A whole frame ``STX ... ETX`` with correct checksums, for the meter simulator.

    `groups` is a sequence of ``(label, data)`` or ``(label, horodate, data)`` tuples, or a
    mapping ``label -> data`` or ``label -> (horodate, data)``; a horodate is a 13-character
    string or an aware datetime.
    """
    _check_mode(mode)
    if isinstance(groups, Mapping):
        groups = [(k, *v) if isinstance(v, tuple) else (k, v) for k, v in groups.items()]
    out = bytearray([STX])
    for entry in groups:
        if not isinstance(entry, tuple) or len(entry) not in (2, 3):
            raise TicError(f"group {entry!r}: expected (label, data) or (label, horodate, data)")
        label, *horodate, data = entry
        out += encode_group(label, data, mode, *horodate)
    out.append(ETX)
    return bytes(out)


# --------------------------------------------------------------------------------------- decoding

def _parse_group(raw: bytes) -> Group | Rejected | None:
    """Validate one group body (between LF and CR); None when it holds nothing but noise."""
    body = raw.translate(None, _NOISE).decode("ascii")
    if not body:
        return None
    if len(raw) > MAX_GROUP_BYTES:
        return Rejected(raw, "too long", f"group longer than {MAX_GROUP_BYTES} bytes")
    horodate = None
    valid: tuple[str, ...]  # the checksums that would be right (historic: method 1, 2)
    if "\t" in body:
        mode, fields = "standard", body.split("\t")
        if len(fields) not in (3, 4) or len(fields[-1]) != 1:
            return Rejected(raw, "malformed", f"standard group with {len(fields)} HT-separated "
                            "fields: expected label, [horodate,] data, checksum")
        label, *middle, cs = fields
        if len(middle) == 2:
            horodate = middle[0]
        data, valid, method = middle[-1], (checksum(body[:-1]),), None
    else:
        mode = "historic"
        label, _, rest = body.partition(" ")
        if len(rest) < 3 or rest[-2] != " ":
            return Rejected(raw, "malformed", "historic group: expected 'label SP data SP "
                            "checksum'")
        data, cs = rest[:-2], rest[-1]
        valid = (checksum(body[:-2]), checksum(body[:-1]))  # method 1, method 2
    if cs not in valid:
        return Rejected(raw, "checksum", f"{label}: checksum {cs!r}, computed {valid[0]!r}")
    if mode == "historic":
        method = valid.index(cs) + 1  # the two never agree: they differ by 0x20 mod 0x40
    if not _LABEL.fullmatch(label):
        return Rejected(raw, "label", f"label {label!r} is not 1 to 9 of A-Z, 0-9, + and -")
    try:
        time = None if horodate is None else parse_horodate(horodate)
    except TicError as exc:
        return Rejected(raw, "horodate", f"{label}: {exc}")
    return Group(label, data, cs, mode, horodate, time, method)


def _majority(votes: Counter) -> int:
    """The checksum method most historic groups used; a tie goes to method 1."""
    return 1 if votes[1] >= votes[2] else 2


def _wrong_method(raw: bytes, group: Group, method: int) -> Rejected:
    return Rejected(raw, "method", f"{group.label}: checksum {group.checksum!r} holds only "
                    f"under method {group.method}, and this stream uses method {method}")


class _Splitter:
    """Cuts bytes into group candidates at LF and CR and validates each one."""

    def __init__(self, stats: DecoderStats) -> None:
        self.stats = stats
        self.reset()

    def reset(self) -> None:
        """Forget the candidate in progress."""
        self._buf = bytearray()
        self._opened_by_lf = False

    def push(self, byte: int) -> tuple[bytes, Group | Rejected | None]:
        """Take one byte other than STX/ETX/EOT; a LF or CR completes a candidate."""
        if byte in (LF, CR):
            done = self.close(ended_by_cr=byte == CR)
            self._opened_by_lf = byte == LF
            return done
        if len(self._buf) <= MAX_GROUP_BYTES:
            self._buf.append(byte)
        return b"", None

    def close(self, ended_by_cr: bool = False) -> tuple[bytes, Group | Rejected | None]:
        """Validate the candidate in progress, however it ended: (raw bytes, item)."""
        raw, framed = bytes(self._buf), self._opened_by_lf and ended_by_cr
        self.reset()
        item = _parse_group(raw)
        self.stats.noise_bytes += len(raw) - len(raw.translate(None, _NOISE))
        if isinstance(item, Group) and not framed:
            self.stats.reframed += 1
        return raw, item


@dataclass
class DecoderStats:
    """Counters of what a decoder has seen since it was created."""

    frames: int = 0            # frames returned
    groups: int = 0            # valid groups (in or out of returned frames)
    rejected: Counter = field(default_factory=Counter)  # rejected groups by reason
    interrupted: int = 0       # frames dropped by EOT, or by a STX before their ETX
    empty_frames: int = 0      # frames with no valid group, not returned
    skipped_bytes: int = 0     # bytes outside any frame
    noise_bytes: int = 0       # noise bytes dropped from inside groups
    reframed: int = 0          # valid groups whose LF or CR was missing
    flagged: int = 0           # frames returned with an implausible index (`Frame.flags`)


@dataclass(frozen=True)
class Frame:
    """A complete frame: its `mode`, its valid groups in order and the groups it rejected.

    `flags` holds ``(label, reason)`` for each index the decoder found implausible against the
    stream's history, and `notes` what else it concluded (a re-anchored index); both go into
    the `Reading`.
    """

    mode: str
    groups: tuple[Group, ...]
    rejected: tuple[Rejected, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def values(self) -> dict[str, str]:
        """label -> data field exactly as sent."""
        return {g.label: g.data for g in self.groups}

    @property
    def horodates(self) -> dict[str, datetime]:
        """label -> horodate as an aware datetime (groups whose horodate applies)."""
        return {g.label: g.time for g in self.groups if g.time is not None}

    def reading(self) -> Reading:
        """This frame in the project's units; raises TicError when it has no meter id."""
        return _reading(self)


class TicDecoder:
    """Incremental decoder of one stream: `feed` it chunks of any size, it returns the frames
    they complete. It holds the stream to one historic checksum method (`method`, None until
    learned) and checks each meter's indexes against its previous ones (see the module's
    docstring)."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self.method: int | None = None
        self._votes: Counter = Counter()
        self._indexes = _IndexCheck()
        self._splitter = _Splitter(self.stats)
        self._in_frame = False
        self._groups: list[tuple[bytes, Group]] = []
        self._rejected: list[Rejected] = []
        self._at: float | None = None

    def feed(self, chunk: bytes, at: float | None = None) -> list[Frame]:
        """Decode `chunk`; return every frame it completes. Never raises on bad bytes (a
        `chunk` that is not bytes at all is a TicError).

        `at` is when `chunk` was received, in seconds on any steady clock (``time.monotonic()``):
        it times the frames it completes, for the index check of frames that carry no clock
        (historic mode). Leave it out for a capture or a simulator in compressed time.
        """
        _check_bytes(chunk)
        self._at = at
        frames = []
        for byte in chunk:
            if byte == STX:
                if self._in_frame:
                    self.stats.interrupted += 1
                self._start_frame()
            elif not self._in_frame:
                self.stats.skipped_bytes += 1
            elif byte == EOT:
                self.interrupt()
            elif byte == ETX:
                self._add(*self._splitter.close())
                frame = self._end_frame()
                if frame is not None:
                    frames.append(frame)
            else:
                self._add(*self._splitter.push(byte))
        return frames

    def interrupt(self) -> None:
        """Drop the frame in progress, if any, as an EOT does: for a line that broke or was
        flushed, whose next bytes must not complete it. The stream's history and counters stay."""
        if self._in_frame:
            self.stats.interrupted += 1
            self._in_frame = False

    def _start_frame(self) -> None:
        self._in_frame = True
        self._splitter.reset()
        self._groups, self._rejected = [], []

    def _add(self, raw: bytes, item: Group | Rejected | None) -> None:
        if isinstance(item, Group) and self._groups and item.mode != self._groups[0][1].mode:
            item = Rejected(raw, "mode", f"{item.mode} group {item.label} in a "
                            f"{self._groups[0][1].mode} frame")
        elif isinstance(item, Group) and self.method and item.method not in (None, self.method):
            item = _wrong_method(raw, item, self.method)
        if isinstance(item, Group):
            self.stats.groups += 1
            self._groups.append((raw, item))
        elif isinstance(item, Rejected):
            self.stats.rejected[item.reason] += 1
            self._rejected.append(item)

    def _hold_to_method(self) -> None:
        """While the method is not fixed: count this frame's votes, reject its groups that
        lose the vote so far, and fix the method once `LEARN_GROUPS` groups have voted."""
        if self.method is not None or self._groups[0][1].mode != "historic":
            return
        self._votes.update(group.method for _, group in self._groups)
        method = _majority(self._votes)
        if self._votes.total() >= LEARN_GROUPS:
            self.method = method
        losers = [(raw, group) for raw, group in self._groups if group.method != method]
        self._groups = [(raw, group) for raw, group in self._groups if group.method == method]
        for raw, group in losers:
            self.stats.groups -= 1
            self._add(raw, _wrong_method(raw, group, method))

    def _end_frame(self) -> Frame | None:
        self._in_frame = False
        if self._groups:
            self._hold_to_method()
        if not self._groups:
            self.stats.empty_frames += 1
            return None
        self.stats.frames += 1
        groups = tuple(group for _, group in self._groups)
        frame = Frame(groups[0].mode, groups, tuple(self._rejected))
        flags, notes = self._indexes.check(frame, self._at)
        self.stats.flagged += bool(flags)
        return replace(frame, flags=flags, notes=notes) if flags or notes else frame


def decode_frames(data: bytes) -> list[Frame]:
    """Every complete frame in `data`, mode detected per frame. Never raises on bad bytes."""
    return TicDecoder().feed(data)


def decode_groups(data: bytes) -> tuple[list[Group], list[Rejected]]:
    """Every group in `data`, ignoring frames (for captures that only kept ``LF ... CR``).

    STX, ETX and EOT only end a group here; the last group is validated even without its CR.
    Historic groups are held to the checksum method most of them use (a tie: method 1).
    """
    _check_bytes(data)
    splitter = _Splitter(DecoderStats())
    items = [splitter.close() if b in (STX, ETX, EOT) else splitter.push(b) for b in data]
    items.append(splitter.close())
    method = _majority(Counter(i.method for _, i in items if isinstance(i, Group)))
    items = [(raw, _wrong_method(raw, i, method) if isinstance(i, Group)
              and i.method not in (None, method) else i) for raw, i in items]
    return ([i for _, i in items if isinstance(i, Group)],
            [i for _, i in items if isinstance(i, Rejected)])


def _import_wh(registers: dict[str, int], mode: str, warnings: list[str]) -> int | None:
    """The total drawn: the sum of one tariff option's indexes, all of them valid."""
    totals, missing = [], []
    for family in _INDEX_FAMILIES[mode]:
        absent = [label for label in family if label not in registers]
        if not absent:
            totals.append(sum(registers[label] for label in family))
        elif len(absent) < len(family):
            missing += absent
    if len(totals) == 1 and not missing:
        return totals[0]
    if missing:
        reason = f"index {', '.join(missing)} missing or invalid"
    else:
        reason = "indexes of several tariff options" if totals else "no total energy index"
    warnings.append(f"{reason}: import_wh not computed")
    return None


def _season_warnings(groups: Iterable[Group]) -> list[str]:
    warnings, degraded = [], [g.label for g in groups if g.degraded_clock]
    if degraded:
        warnings.append(f"meter clock degraded (lowercase season letter in {', '.join(degraded)})")
    for g in groups:
        if g.time is not None and g.horodate is not None:
            expected = timedelta(hours=2 if g.horodate[0] in "Ee" else 1)
            if g.time.utcoffset() != expected:
                warnings.append(f"{g.label}: season letter {g.horodate[0]!r} disagrees with "
                                f"Paris time on {g.time:%Y-%m-%d %H:%M}")
    return warnings


def _reading(frame: Frame) -> Reading:
    values, mode = frame.values, frame.mode
    id_label = "ADCO" if mode == "historic" else "ADSC"
    if not values.get(id_label):
        lost = [r.detail for r in frame.rejected]
        raise TicError(f"{mode} frame without {id_label}: no meter id (rejected groups: "
                       f"{lost or 'none'}); skip this frame or use Frame.values")
    phases = _phases(values)
    warnings = plausibility_warnings(values, mode)
    flagged = dict(frame.flags)
    registers = {label: wh for label, wh in _registers(values, mode, warnings).items()
                 if label not in flagged}
    short = [label for label in values if label.startswith("ADIR")]
    if short:
        warnings.append(f"over-current short frame ({', '.join(short)}): no energy index")
        import_wh = None
    else:
        import_wh = _import_wh(registers, mode, warnings)
    if "ADPS" in values:
        warnings.append(f"ADPS = {values['ADPS']!r}: current over the subscribed ISOUSC")
    warnings += _season_warnings(frame.groups)
    warnings += frame.notes

    def per_phase(prefix: str, single: str) -> tuple[int, ...]:
        labels = [prefix + n for n in _PHASE3] if phases == 3 else [single]
        found = [number for label in labels if (number := _int(values, label)) is not None]
        return tuple(found) if len(found) == len(labels) else ()

    historic = mode == "historic"
    power_label = "PAPP" if historic else ("SINSTS" if "SINSTS" in values else "SINST1")
    tariff = values.get("PTEC" if historic else "LTARF")
    stge = values.get("STGE", "")
    return Reading(
        protocol="tic", mode=mode, meter_id=values[id_label], import_wh=import_wh,
        export_wh=registers.get("EAIT"), registers=registers, phases=phases,
        apparent_power_va=_int(values, power_label),
        injected_power_va=_int(values, "SINSTI"),
        currents_a=per_phase("IINST", "IINST") if historic else per_phase("IRMS", "IRMS1"),
        voltages_v=() if historic else per_phase("URMS", "URMS1"),
        tariff_period=tariff.strip() if tariff is not None else None,
        meter_time=frame.horodates.get("DATE"),
        status=decode_stge(stge) if _HEX8.fullmatch(stge) else None,
        warnings=tuple(warnings), flags=tuple(flagged.values()),
    )
