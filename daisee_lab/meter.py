"""The serial edge: read a meter's TIC or P1 output from a port, and simulate a Linky on a pty.

`open_meter` opens a device path or any pyserial URL exactly as for a real meter (TIC: 7E1 at
1200 baud in historic mode, 9600 in standard mode; DSMR 4/5: 115200 8N1), finds the mode by
decoding, and reopens a vanished port with exponential backoff. `MeterSimulator` is the other
end: a Linky that integrates a household's load (and PV) into its energy indexes and streams
TIC frames on a pseudo-terminal any serial program can open, paced at the real baud rate or,
in compressed time, as fast as the reader takes them.
This module only moves bytes; :mod:`daisee_lab.tic` and :mod:`daisee_lab.dsmr` decode them.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import random
import re
import select
import struct
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import serial

from daisee_lab import dlms, dsmr, tic
from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading
from daisee_lab.units import PARIS

__all__ = ["DEFAULT_START", "DSMR_LINES", "Faults", "Line", "MAX_SIMULATOR_SPEED", "Meter",
           "MeterError", "MeterSimulator", "ResidentialProfile", "SILENCE_SECONDS",
           "SIMULATOR_PHASES", "SIMULATOR_TARIFFS", "TIC_LINES", "UNFLUSHED_START", "open_meter",
           "summarize"]

log = logging.getLogger(__name__)



class MeterError(DaiseeError):
    """A port that cannot be opened or vanished for good, a wrong mode, a bad simulator setting."""


@dataclass(frozen=True)
class Line:
    """Serial line settings: baud rate and character format (7E1, 8N1)."""

    baudrate: int
    bytesize: int
    parity: str
    stopbits: int = 1

    @property
    def bits_per_char(self) -> int:
        """Start bit + data bits + parity bit + stop bits: the line time of one byte."""
        return 1 + self.bytesize + (self.parity != serial.PARITY_NONE) + self.stopbits

    def __str__(self) -> str:
        return f"{self.baudrate} baud {self.bytesize}{self.parity}{self.stopbits}"


TIC_LINES = {
    "standard": Line(9600, serial.SEVENBITS, serial.PARITY_EVEN),
    "historic": Line(1200, serial.SEVENBITS, serial.PARITY_EVEN),
}
DSMR_LINES = {
    "5": Line(115200, serial.EIGHTBITS, serial.PARITY_NONE),   # DSMR 4.x and 5.x
    "2.2": Line(9600, serial.SEVENBITS, serial.PARITY_EVEN),   # DSMR 2.2 and 3.0
}
_LINES = {"tic": TIC_LINES, "dsmr": DSMR_LINES}
_READ_TIMEOUT = 0.1  # seconds a read may block: keeps detection deadlines and close() prompt
SILENCE_SECONDS = 15.0
"""Seconds without a byte after which an open meter line reports itself silent (`on_status`)."""
SIMULATOR_PHASES = (1, 3)  # a Linky is single-phase or three-phase
SIMULATOR_TARIFFS = ("base", "hchp")  # the simulator's tariff options: base, off-peak 22:00-06:00
MAX_SIMULATOR_SPEED = 1000  # a simulated day in 86 s; beyond it a reader cannot keep up


# ---------------------------------------------------------------------------------------------
# Reading a meter


class Meter:
    """An open meter line: iterate it for frames (TIC) or telegrams (DSMR).

    `mode` is the mode found (TIC ``"historic"``/``"standard"``, DSMR ``"5"``/``"2.2"``),
    `line` the settings in use, `status` a one-line account of the connection, also passed to
    `on_status` and logged; `raw` holds the bytes of the frame last returned, as received (an
    encrypted telegram's frame), and `stats` the decoder's counters since the last (re)connection.
    `key` (16 bytes) decrypts the telegrams of Luxembourg (Smarty) and Austrian meters. A line that
    sends no byte for `silence_timeout` seconds is reported through `on_status`, once, until bytes
    come back. `line_clock` times each chunk as it arrives, so that a historic-mode index (its
    frames carry no clock) that jumps further than the subscribed power allows is flagged; pass
    False for a simulator in compressed time, whose frames stand for more time than they take.
    Use it through `open_meter`.
    """

    def __init__(self, port: str, protocol: str = "tic", mode: str = "auto", *,
                 key: bytes | None = None, detect_timeout: float = 5.0,
                 reconnect_timeout: float | None = 60.0, reconnect_delay: float = 0.5,
                 max_reconnect_delay: float = 8.0, silence_timeout: float = SILENCE_SECONDS,
                 line_clock: bool = True, on_status: Callable[[str], None] | None = None) -> None:
        if protocol not in _LINES:
            raise MeterError(f"unknown protocol {protocol!r}: use 'tic' or 'dsmr'")
        if mode != "auto" and mode not in _LINES[protocol]:
            choices = ", ".join(repr(name) for name in ("auto", *_LINES[protocol]))
            raise MeterError(f"unknown {protocol} mode {mode!r}: use {choices}")
        if key is not None:
            if protocol != "dsmr":
                raise MeterError(f"a decryption key is for encrypted DSMR telegrams (Luxembourg, "
                                 f"Austria); {protocol} frames are not encrypted: drop the key")
            try:
                dsmr.DsmrDecoder(key=key)
            except dsmr.DecryptionError as exc:
                raise MeterError(str(exc)) from None
        self.key = key
        self.line_clock = line_clock
        self.silence_timeout = silence_timeout
        self._last_byte = 0.0  # monotonic time of the last byte read
        self._silent = False
        self._ciphered = False  # DLMS frames seen while detecting without a key
        self.port, self.protocol, self.requested_mode = str(port), protocol, mode
        self.detect_timeout = detect_timeout
        self.reconnect_timeout = reconnect_timeout
        self.reconnect_delay, self.max_reconnect_delay = reconnect_delay, max_reconnect_delay
        self.on_status = on_status
        self.mode: str | None = None
        self.line: Line | None = None
        self.status = "closed"
        self._serial: serial.SerialBase | None = None
        self.raw = b""
        self._framer: _Framer | None = None
        self._pending: deque[tuple[tic.Frame | dsmr.Telegram, bytes]] = deque()

    @property
    def stats(self) -> tic.DecoderStats | dsmr.DecoderStats | None:
        """The decoder's counters (frames, rejected groups...) since the last connection."""
        return None if self._framer is None else self._framer.decoder.stats

    def open(self) -> None:
        """Open the port and detect the mode; raise `MeterError` with the reason if it fails."""
        self._connect()

    def close(self) -> None:
        """Close the port."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        self._set_status("closed")

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> tic.Frame | dsmr.Telegram:
        while not self._pending:
            if self._serial is None:
                raise MeterError(f"the meter on {self.port} is closed: open it again")
            try:
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as exc:
                self._reconnect(exc)
                continue
            self._watch_silence(bool(chunk))
            self._pending.extend(self._framer.feed(chunk))
        frame, self.raw = self._pending.popleft()
        return frame

    def readings(self) -> Iterator[tuple[Reading, bytes]]:
        """Each frame's `Reading` with its raw bytes; a frame that cannot give one (its meter id
        was lost to noise) is logged and skipped."""
        for frame in self:
            try:
                reading = frame.reading()
            except (tic.TicError, dsmr.DsmrError) as exc:
                log.warning("skipped a frame from %s: %s", self.port, exc)
                continue
            yield reading, self.raw

    def _watch_silence(self, received: bool) -> None:
        """Report a line silent for `silence_timeout` seconds, once; and when bytes come back."""
        now = time.monotonic()
        if received:
            if self._silent:
                self._set_status(f"data again from {self.port}")
            self._last_byte, self._silent = now, False
        elif not self._silent and now - self._last_byte >= self.silence_timeout:
            self._silent = True
            self._set_status(
                f"no data from {self.port} for {self.silence_timeout:g} s: check the wiring, that "
                "the meter's output is enabled (P1: ask the grid operator to open the port) and "
                "the meter is powered")

    def _set_status(self, text: str) -> None:
        self.status = text
        log.info("%s", text)
        if self.on_status is not None:
            self.on_status(text)

    def _connect(self) -> None:
        """Open the port at each candidate line until one yields a frame; keep that one."""
        lines = _LINES[self.protocol]
        candidates = lines if self.requested_mode == "auto" else [self.requested_mode]
        for name in candidates:
            port = self._open_line(lines[name])
            framer = _Framer(self.protocol, self.key, self.line_clock)
            try:
                frames = self._listen(port, framer)
            except BaseException:
                port.close()
                raise
            if not frames:
                port.close()
                continue
            found = frames[0][0].mode if self.protocol == "tic" else name
            if self.requested_mode not in ("auto", found):
                port.close()
                raise MeterError(
                    f"{self.port} sends {found}-mode frames, not {self.requested_mode}: "
                    f"use mode {found!r} or 'auto'")
            if lines[found] != lines[name]:  # a pty decodes at any baud rate: use the right one
                port.close()
                port = self._open_line(lines[found])
            self._serial, self._framer, self.mode, self.line = port, framer, found, lines[found]
            self._last_byte, self._silent = time.monotonic(), False
            self._pending.extend(frames)
            self._set_status(
                f"connected: {self.protocol} {found} mode, {self.line}, on {self.port}")
            return
        tried = " or ".join(str(lines[name]) for name in candidates)
        hint = ("check the wiring and that the meter's output is enabled" if not self._ciphered else
                "it sends encrypted frames (Luxembourg, Austria): give the meter's 16-byte key "
                "(key=bytes.fromhex(...), or --key HEX)")
        raise MeterError(
            f"no valid {self.protocol.upper()} frame on {self.port} at {tried} within "
            f"{self.detect_timeout:g} s: {hint}")

    def _open_line(self, line: Line) -> serial.SerialBase:
        try:
            return serial.serial_for_url(self.port, baudrate=line.baudrate, bytesize=line.bytesize,
                                         parity=line.parity, stopbits=line.stopbits,
                                         timeout=_READ_TIMEOUT)
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise MeterError(_explain_open_error(self.port, exc)) from exc

    def _listen(self, port: serial.SerialBase, framer: _Framer) -> list:
        """Feed `framer` until it yields frames or `detect_timeout` passes."""
        deadline = time.monotonic() + self.detect_timeout
        try:
            last = b""
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                self._ciphered |= self.key is None and dlms.START in last + chunk
                last = chunk[-1:]
                frames = framer.feed(chunk)
                if frames:
                    return frames
        except (serial.SerialException, OSError) as exc:
            raise MeterError(f"lost {self.port} while detecting its mode: {exc}") from exc
        return []

    def _reconnect(self, cause: Exception) -> None:
        """Reopen a vanished port with exponential backoff; `MeterError` when time is up."""
        self._serial.close()
        self._pending.clear()
        delay = self.reconnect_delay
        give_up_at = math.inf if self.reconnect_timeout is None else (
            time.monotonic() + self.reconnect_timeout)
        while True:
            if time.monotonic() + delay > give_up_at:
                self._serial = None
                self._set_status(f"gave up on {self.port}")
                raise MeterError(
                    f"{self.port} vanished and did not come back within "
                    f"{self.reconnect_timeout:g} s (last error: {cause})")
            self._set_status(f"disconnected from {self.port} ({cause}); "
                             f"reconnecting in {delay:.1f} s")
            time.sleep(delay)
            try:
                self._connect()
                return
            except MeterError as exc:
                cause, delay = exc, min(2 * delay, self.max_reconnect_delay)


_SEVEN_BITS = bytes(byte & 0x7F for byte in range(256))  # clears a 7E1 character's parity bit


class _Framer:
    """A decoder that also keeps each frame's raw bytes, from its start byte to its end byte.

    DSMR: the decoder gives each telegram's bytes itself (an encrypted one's frame). Text
    telegrams are 7-bit ASCII: without a key, the eighth bit is cleared, so that a DSMR 4 meter
    that sends 7E1 (some Kaifa) reads on the 8N1 line, its parity bit dropped. TIC: chunks are fed
    to the decoder cut just after each ETX, so a frame comes out exactly when its last byte has
    gone in; its raw bytes are those since the latest STX. With `line_clock`, each chunk is timed
    on arrival (``time.monotonic()``) for the decoder's index check.
    """

    _MAX_FRAME = 16384  # bytes kept at most while waiting for an end byte

    def __init__(self, protocol: str, key: bytes | None = None, line_clock: bool = False) -> None:
        self.decoder = tic.TicDecoder() if protocol == "tic" else dsmr.DsmrDecoder(key=key)
        self.seven_bits = protocol == "dsmr" and key is None
        self.line_clock = line_clock
        self.start, self.end = b"\x02", b"\x03"
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[tic.Frame | dsmr.Telegram, bytes]]:
        """Decode `chunk`; return (frame, raw bytes) for each frame it completes."""
        if isinstance(self.decoder, dsmr.DsmrDecoder):
            return self.decoder.feed_raw(chunk.translate(_SEVEN_BITS) if self.seven_bits else chunk)
        at = time.monotonic() if self.line_clock else None
        out = []
        for piece in re.split(b"(?<=" + re.escape(self.end) + b")", chunk):
            self._buffer += piece
            start = self._buffer.rfind(self.start)
            if start < 0 or len(self._buffer) - start > self._MAX_FRAME:
                self._buffer.clear()
            else:
                del self._buffer[:start]
            out += [(frame, bytes(self._buffer)) for frame in self.decoder.feed(piece, at=at)]
        return out


def _explain_open_error(port: str, exc: Exception) -> str:
    """One line saying why `port` would not open and what to do about it."""
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        return (f"permission denied on {port}: add your user to the 'dialout' group "
                "(then log in again) or run with access to the device")
    if code == errno.ENOENT:
        return f"no such port {port}: check the path and that the adapter is plugged in"
    if code == errno.EBUSY:
        return f"{port} is busy: another program has it open"
    return f"cannot open {port} as a serial port: {exc}"


@contextmanager
def open_meter(port: str, protocol: str = "tic", mode: str = "auto", *,
               key: bytes | None = None, **options) -> Iterator[Meter]:
    """Open a meter on `port` (device path or pyserial URL) and yield the open `Meter`.

    `mode="auto"` tries each line setting and keeps the one whose decoder accepts a frame.
    `key`: the 16-byte key of an encrypted DSMR meter (Luxembourg Smarty, Austria), e.g.
    ``bytes.fromhex("...32 hex digits...")``. `options` are `Meter`'s: `detect_timeout`,
    `reconnect_timeout` (None: retry forever), `reconnect_delay`, `max_reconnect_delay`,
    `silence_timeout`, `line_clock`, `on_status`.
    """
    meter = Meter(port, protocol, mode, key=key, **options)
    meter.open()
    try:
        yield meter
    finally:
        meter.close()


def summarize(reading: Reading) -> str:
    """One line for a terminal: mode, meter time, meter id, energy indexes and power."""
    when = reading.meter_time.isoformat() if reading.meter_time else "-"
    power = (f"{reading.apparent_power_va} VA" if reading.apparent_power_va is not None
             else f"{reading.power_w} W" if reading.power_w is not None else "-")
    export = "-" if reading.export_wh is None else f"{reading.export_wh} Wh"
    return (f"{reading.protocol} {reading.mode} {when} meter {reading.meter_id} "
            f"import {reading.import_wh} Wh export {export} power {power}")


# ---------------------------------------------------------------------------------------------
# Simulating a Linky

DEFAULT_START = datetime(2025, 6, 21, 12, 0, tzinfo=PARIS)
UNFLUSHED_START = 5.0  # seconds a compressed-time simulator waits for a new reader's flush
_LATITUDE, _LONGITUDE = math.radians(46.0), 2.35  # the middle of France


@dataclass(frozen=True)
class ResidentialProfile:
    """A seeded household: `profile(t) -> (load_w, pv_w)`.

    Load: a 200 W base, a morning and a larger evening peak, and seeded appliance bursts that
    change every five minutes. PV: a clear-sky bell following the sun's elevation over France
    (season and hour), scaled to `pv_peak_w` (0: no panels). A pure function of `t`.
    """

    seed: int = 0
    pv_peak_w: int = 0

    def __call__(self, t: datetime) -> tuple[float, float]:
        local = t.astimezone(PARIS)
        hour = local.hour + local.minute / 60 + local.second / 3600
        peaks = 900 * _bell(hour, 7.5, 1.0) + 1600 * _bell(hour, 19.5, 1.5)
        slot = int(t.timestamp()) // 300
        burst = random.Random(f"{self.seed}:{slot}")
        appliance = burst.uniform(400, 2000) if burst.random() < 0.2 else 0.0
        return 200 + peaks + appliance, self.pv_peak_w * _clear_sky(t)


def _bell(x: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((x - centre) / width) ** 2)


def _clear_sky(t: datetime) -> float:
    """Fraction of peak PV output under a clear sky: the sine of the sun's elevation, 0 at night."""
    utc = t.astimezone(UTC)
    day_of_year = utc.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    solar_hour = utc.hour + utc.minute / 60 + utc.second / 3600 + _LONGITUDE / 15
    hour_angle = math.radians(15 * (solar_hour - 12))
    elevation = (math.sin(_LATITUDE) * math.sin(declination)
                 + math.cos(_LATITUDE) * math.cos(declination) * math.cos(hour_angle))
    return max(0.0, elevation) ** 1.2


@dataclass(frozen=True)
class Faults:
    """Line faults the simulator injects: per-byte rates of a flipped bit (one of the seven data
    bits) and of a lost byte, and the per-frame rate of an interruption (EOT, 0x04, mid-frame)."""

    bit_flip: float = 0.0
    drop: float = 0.0
    eot: float = 0.0

    def __post_init__(self) -> None:
        for name in ("bit_flip", "drop", "eot"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise MeterError(f"fault rate {name}={rate!r} must be between 0 and 1")

    def apply(self, frame: bytes, rng: random.Random) -> bytes:
        """`frame` as it arrives over a line with these faults, drawn from `rng`."""
        if self.eot and rng.random() < self.eot:
            frame = frame[:rng.randrange(1, len(frame))] + b"\x04"
        if not (self.bit_flip or self.drop):
            return frame
        out = bytearray()
        for byte in frame:
            if rng.random() < self.drop:
                continue
            out.append(byte ^ (1 << rng.randrange(7)) if rng.random() < self.bit_flip else byte)
        return bytes(out)


def _faults(faults: Faults | dict | None) -> Faults:
    if isinstance(faults, dict):
        unknown = set(faults) - {"bit_flip", "drop", "eot"}
        if unknown:
            raise MeterError(f"unknown fault(s) {sorted(unknown)}: use bit_flip, drop, eot")
        return Faults(**faults)
    return faults or Faults()


class MeterSimulator:
    """A Linky on a pseudo-terminal: `port` is a path any serial program can open.

    Frames follow each other as on a real meter; each shows the state at the simulated time it
    starts, and that clock advances by the frame's line time (10 bits a character, 7E1). Bytes
    are written at the real baud rate times `speed` (at most :data:`MAX_SIMULATOR_SPEED`), so
    simulated time runs at `speed` x real time, and bytes nobody reads are lost, as on a real
    line. Registers integrate `profile(t) -> (load_w, pv_w)` (default: `ResidentialProfile`,
    with 3 kWp of PV for a producer). Same seed and settings, same bytes: `frames()` and
    `render(n)` give them without a pty. `link` names a symlink kept pointing at the pty, a
    stable path across restarts.
    `tariff` is ``"base"`` or ``"hchp"`` (off-peak 22:00-06:00).

    `frame_seconds` compresses time, to read long stretches of a meter's life through the real
    byte path without waiting for them (``daisee-lab run`` reads a day in seconds): each frame
    then stands for `frame_seconds` of the meter's clock (its horodate and indexes move on by
    that much), and the frames are written whole, none dropped, as fast as the reader takes the
    bytes (`speed` does not apply). Writing starts once a reader has the port open and has
    flushed its input, as pyserial (so `open_meter`) does on opening, or has had it open for
    :data:`UNFLUSHED_START` seconds without flushing; it pauses while nobody has the port open.
    Bytes still unread when a reader flushes its input are lost, as on a real line.
    """

    def __init__(self, mode: str = "standard", phases: int = 1, producer: bool = False,
                 seed: int = 0, speed: float = 1.0, faults: Faults | dict | None = None,
                 start: datetime | None = None, meter_id: str | None = None,
                 profile: Callable[[datetime], tuple[float, float]] | None = None,
                 tariff: str = "base", link: str | Path | None = None,
                 frame_seconds: float | None = None) -> None:
        if mode not in TIC_LINES:
            raise MeterError(f"unknown simulator mode {mode!r}: use 'standard' or 'historic'")
        if phases not in SIMULATOR_PHASES:
            raise MeterError(f"phases={phases!r}: a Linky has 1 or 3 phases")
        if tariff not in SIMULATOR_TARIFFS:
            raise MeterError(f"unknown tariff {tariff!r}: use "
                             f"{' or '.join(map(repr, SIMULATOR_TARIFFS))}")
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) \
                or not 0 < speed <= MAX_SIMULATOR_SPEED:
            raise MeterError(f"speed={speed!r}: give a number above 0, at most "
                             f"{MAX_SIMULATOR_SPEED} (times real time)")
        if frame_seconds is not None:
            if isinstance(frame_seconds, bool) or not isinstance(frame_seconds, (int, float)) \
                    or not 0 < frame_seconds < math.inf:
                raise MeterError(f"frame_seconds={frame_seconds!r}: give the meter seconds each "
                                 "frame stands for, a number above 0 (or None: real time)")
            if speed != 1:
                raise MeterError(f"speed={speed!r} with frame_seconds={frame_seconds!r}: in "
                                 "compressed time the frames go as fast as the reader takes "
                                 "them; leave speed at 1")
        if start is not None and start.utcoffset() is None:
            raise MeterError(f"start={start!r} is naive: pass a timezone-aware datetime")
        self.mode, self.phases, self.producer, self.tariff = mode, phases, producer, tariff
        self.seed, self.speed, self.frame_seconds = seed, speed, frame_seconds
        self.faults = _faults(faults)
        self.start_time = start or DEFAULT_START
        if meter_id is not None and not (len(meter_id) == 12 and meter_id.isalnum()):
            raise MeterError(
                f"meter_id={meter_id!r}: a Linky's id (ADCO/ADSC) is 12 letters or digits")
        self.meter_id = meter_id or "".join(
            random.Random(f"{seed}:meter-id").choices("0123456789", k=12))
        self.profile = profile or ResidentialProfile(seed, 3000 if producer else 0)
        self.line = TIC_LINES[mode]
        self.link = None if link is None else Path(link)
        self.pty_path: str | None = None
        self._master: int | None = None
        self._idle_attrs: list | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> str:
        """The path to open: the symlink if one was asked for, else the pty itself."""
        if self.pty_path is None:
            raise MeterError("the simulator is not running: call start() first")
        return str(self.link) if self.link else self.pty_path

    def frames(self) -> Iterator[bytes]:
        """The frames as they leave the meter (faults applied), from `start` on, forever."""
        linky = _Linky(self)
        faults = random.Random(f"{self.seed}:faults")
        while True:
            frame = tic.encode_frame(linky.groups(), self.mode)
            linky.advance(self.frame_seconds
                          or len(frame) * self.line.bits_per_char / self.line.baudrate)
            yield self.faults.apply(frame, faults)

    def render(self, n: int) -> bytes:
        """The first `n` frames' bytes, exactly as `start()` would stream them."""
        return b"".join(islice(self.frames(), n))

    def readings_at(self, moments: Sequence[datetime]) -> list[Reading]:
        """For each of `moments`, the reading of the first frame the meter sends at or after
        it, by the meter's own clock (its DATE horodate): what a reader sampling the line then
        would record. Decoded from :meth:`frames`, without a pty; standard mode only (historic
        frames carry no clock)."""
        if self.mode != "standard":
            raise MeterError("readings_at needs the meter's clock: historic frames have none; "
                             "use a standard-mode simulator")
        if any(m.utcoffset() is None for m in moments):
            raise MeterError(f"moments={list(moments)!r}: give timezone-aware datetimes")
        wanted, found = sorted(set(moments)), {}
        for frame in self.frames():
            for decoded in tic.decode_frames(frame):
                reading = decoded.reading()
                while len(found) < len(wanted) and reading.meter_time >= wanted[len(found)]:
                    found[wanted[len(found)]] = reading
            if len(found) == len(wanted):
                return [found[m] for m in moments]

    def start(self) -> MeterSimulator:
        """Open the pty (and the symlink) and start streaming in a background thread."""
        if self._thread is not None:
            raise MeterError(f"the simulator is already running on {self.port}")
        master, slave = os.openpty()
        tty.setraw(slave)           # no echo, no CR/LF translation: bytes pass as they are
        self._idle_attrs, self.pty_path = termios.tcgetattr(slave), os.ttyname(slave)
        os.close(slave)             # readers open it by path; the pty lives while master is open
        os.set_blocking(master, False)
        if self.frame_seconds:  # packet mode: the master is told when the reader flushes
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
        if self.link:
            try:
                self._make_link()
            except OSError as exc:
                os.close(master)
                self.pty_path = None
                raise MeterError(f"cannot make the link {self.link} to the pty: "
                                 f"{exc.strerror or exc}: give a new path or an old link, in a "
                                 "folder you may write to") from None
        self._master = master
        self._stopping.clear()
        stream = self._stream_compressed if self.frame_seconds else self._stream
        self._thread = threading.Thread(target=stream, name="meter-simulator", daemon=True)
        self._thread.start()
        return self

    def _make_link(self) -> None:
        """Point :attr:`link` at the pty, atomically (readers never see it missing); on an
        error, leave nothing behind."""
        staging = self.link.with_name(f".{self.link.name}.{os.getpid()}")
        try:
            staging.unlink(missing_ok=True)
            staging.symlink_to(self.pty_path)
            staging.replace(self.link)
        except OSError:
            if staging.is_symlink():
                staging.unlink()
            raise

    def stop(self) -> None:
        """Stop streaming and close the pty: a reader sees the port vanish, as when unplugged."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        os.close(self._master)
        self._master = None
        if self.link and self.link.is_symlink() and os.readlink(self.link) == self.pty_path:
            self.link.unlink()
        if self._error is not None:
            error, self._error = self._error, None
            raise MeterError(f"the simulator stopped on an error: {error!r}") from error

    def wait(self, timeout: float | None = None) -> None:
        """Block until `stop()` is called from elsewhere, or `timeout` seconds pass."""
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> MeterSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _stream(self) -> None:
        """Write the frames at the line's character rate x speed; bytes nobody reads are lost."""
        master = self._master
        hangup = select.poll()
        hangup.register(master, select.POLLHUP)
        rate = self.line.baudrate / self.line.bits_per_char * self.speed
        frames, pending, sent, began = self.frames(), bytearray(), 0, time.monotonic()
        idle = False
        try:
            while not self._stopping.wait(0.01):
                unread = bool(hangup.poll(0))  # POLLHUP on the master: no reader has the pty open
                if unread and not idle:
                    self._idle()
                idle = unread
                due = int((time.monotonic() - began) * rate) - sent
                while len(pending) < due:  # a bytearray: a long backlog stays linear
                    pending += next(frames)
                chunk = bytes(pending[:due])
                del pending[:due]
                sent += due
                try:
                    os.write(master, chunk)
                except BlockingIOError:
                    pass  # the pty's buffer is full: nobody is reading, as on a real line
        except BaseException as exc:  # reported by stop(), never lost in the thread
            self._error = exc

    def _stream_compressed(self) -> None:
        """Write every frame whole, as fast as the reader takes the bytes (compressed time):
        once a reader has the pty open and has flushed its input (the master, in packet mode,
        reads a FLUSHREAD status) or has had it open for `UNFLUSHED_START` seconds, and only
        while it has it open."""
        master = self._master
        poller = select.poll()
        frames, chunk = self.frames(), memoryview(b"")
        opened: float | None = None  # when the reader's opening was seen (monotonic seconds)
        flushed = False
        try:
            while not self._stopping.is_set():
                ready = opened is not None and (
                    flushed or time.monotonic() - opened >= UNFLUSHED_START)
                poller.register(master, select.POLLPRI | (select.POLLOUT if ready else 0))
                events = sum(event for _, event in poller.poll(10))
                if events & select.POLLHUP:  # nobody has the pty open
                    if opened is not None:
                        self._idle()
                    opened, flushed = None, False
                    self._stopping.wait(0.01)
                    continue
                opened = opened or time.monotonic()
                if events & select.POLLPRI:
                    try:
                        status = os.read(master, 4096)
                    except OSError:  # the reader closed the pty meanwhile: POLLHUP comes next
                        continue
                    flushed |= bool(status[0] & termios.TIOCPKT_FLUSHREAD)
                if not events & select.POLLOUT:
                    continue
                if not chunk:
                    chunk = memoryview(next(frames))
                try:
                    chunk = chunk[os.write(master, chunk):]
                except BlockingIOError:
                    pass  # the reader's buffer is full: wait until it takes some
        except BaseException as exc:  # reported by stop(), never lost in the thread
            self._error = exc

    def _idle(self) -> None:
        """Put the pty's settings back to the idle ones once the last reader has closed it.

        Linux ptys keep 8N1 whatever is asked, and refuse (EINVAL) a tcsetattr whose only
        change is 7E1; with the idle settings (38400 baud) back, the next reader's 7E1 request
        is again a real change.
        """
        termios.tcsetattr(self._master, termios.TCSANOW, self._idle_attrs)


class _Linky:
    """The simulated meter's state: clock, energy indexes, daily maxima; it writes the groups."""

    def __init__(self, sim: MeterSimulator) -> None:
        self.sim = sim
        self.rng = random.Random(f"{sim.seed}:content")
        self.utc = sim.start_time.astimezone(UTC)
        self.indexes = [float(self.rng.randint(1_000_000, 20_000_000)),
                        float(self.rng.randint(1_000_000, 20_000_000)) if sim.tariff == "hchp"
                        else 0.0]
        self.exported = float(self.rng.randint(100_000, 3_000_000)) if sim.producer else 0.0
        self.prm = "".join(self.rng.choices("0123456789", k=14))
        self.shares = (1.0,) if sim.phases == 1 else (0.5, 0.3, 0.2)
        self.pref_kva = 6 if sim.phases == 1 else 12
        self.day_max: tuple[int, datetime] | None = None
        self.import_w = self.export_w = 0.0

    def advance(self, seconds: float) -> None:
        """Integrate the powers of the last frame over `seconds` and move the clock on."""
        self.indexes[self.tariff_index() - 1] += self.import_w * seconds / 3600
        self.exported += self.export_w * seconds / 3600
        self.utc += timedelta(seconds=seconds)

    def tariff_index(self) -> int:
        """1: base, or off-peak (22:00-06:00 local) with tariff hchp; 2: peak."""
        hour = self.utc.astimezone(PARIS).hour
        return 2 if self.sim.tariff == "hchp" and 6 <= hour < 22 else 1

    def groups(self) -> list[tuple[str, ...]]:
        """The groups of the frame that starts now, for `tic.encode_frame`."""
        load_w, pv_w = self.sim.profile(self.utc.astimezone(PARIS))
        self.import_w, self.export_w = max(load_w - pv_w, 0.0), max(pv_w - load_w, 0.0)
        va = round(self.import_w / 0.95)  # apparent power at a power factor of 0.95
        phase_va = [round(va * share) for share in self.shares]
        volts = [230 + round(self.rng.gauss(0, 2)) for _ in self.shares]
        amps = [round(p / v) for p, v in zip(phase_va, volts, strict=True)]
        now = self.utc.astimezone(PARIS)
        if self.day_max is None or self.day_max[1].date() != now.date() or va > self.day_max[0]:
            self.day_max = (va, now)
        if self.sim.mode == "historic":
            return self._historic(va, amps)
        return self._standard(now, va, phase_va, volts, amps)

    def _historic(self, va: int, amps: list[int]) -> list[tuple[str, ...]]:
        hchp = self.sim.tariff == "hchp"
        off_peak, peak = (int(wh) for wh in self.indexes)
        indexes = ([("HCHC", f"{off_peak:09d}"), ("HCHP", f"{peak:09d}")] if hchp
                   else [("BASE", f"{off_peak:09d}")])
        period = ("HC..", "HP..")[self.tariff_index() - 1] if hchp else "TH.."
        groups = [("ADCO", self.sim.meter_id), ("OPTARIF", "HC.." if hchp else "BASE"),
                  ("ISOUSC", "30" if self.sim.phases == 1 else "20"), *indexes, ("PTEC", period)]
        if self.sim.phases == 1:
            groups += [("IINST", f"{amps[0]:03d}"), ("IMAX", "090")]
        else:
            groups += [(f"IINST{n}", f"{a:03d}") for n, a in enumerate(amps, 1)]
            groups += [(f"IMAX{n}", "060") for n in (1, 2, 3)]
            groups += [("PMAX", f"{self.day_max[0]:05d}")]
        groups += [("PAPP", f"{round(va, -1):05d}"), ("HHPHC", "A"), ("MOTDETAT", "000000")]
        if self.sim.phases == 3:
            groups.append(("PPOT", "00"))
        return groups

    def _standard(self, now: datetime, va: int, phase_va: list[int], volts: list[int],
                  amps: list[int]) -> list[tuple[str, ...]]:
        hchp, tri, producer = self.sim.tariff == "hchp", self.sim.phases == 3, self.sim.producer
        index = self.tariff_index()
        suffixes = ("1", "2", "3") if tri else ("1",)
        supplier = [int(wh) for wh in self.indexes] + [0] * 8
        groups = [
            ("ADSC", self.sim.meter_id), ("VTIC", "02"), ("DATE", now, ""),
            ("NGTF", " H PLEINE/CREUSE" if hchp else "      BASE      "),
            ("LTARF", (" HEURE  CREUSE  ", " HEURE  PLEINE  ")[index - 1] if hchp
             else "      BASE      "),
            ("EAST", f"{sum(supplier):09d}"),
            *((f"EASF{n:02d}", f"{wh:09d}") for n, wh in enumerate(supplier, 1)),
            *((f"EASD{n:02d}", f"{wh:09d}") for n, wh in enumerate(supplier[:4], 1)),
        ]
        if producer:
            groups.append(("EAIT", f"{int(self.exported):09d}"))
        groups += [(f"IRMS{s}", f"{a:03d}") for s, a in zip(suffixes, amps, strict=True)]
        groups += [(f"URMS{s}", f"{v:03d}") for s, v in zip(suffixes, volts, strict=True)]
        groups += [("PREF", f"{self.pref_kva:02d}"), ("PCOUP", f"{self.pref_kva:02d}"),
                   ("SINSTS", f"{va:05d}")]
        if tri:
            groups += [(f"SINSTS{s}", f"{p:05d}") for s, p in zip(suffixes, phase_va, strict=True)]
        groups.append(("SMAXSN", self.day_max[1], f"{self.day_max[0]:05d}"))
        if producer:
            groups.append(("SINSTI", f"{round(self.export_w / 0.95):05d}"))
        ten_minutes = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
        groups += [(f"UMOY{s}", ten_minutes, f"{v:03d}")
                   for s, v in zip(suffixes, volts, strict=True)]
        groups += [("STGE", f"{self._stge(va, index):08X}"),
                   ("MSG1", "PAS DE          MESSAGE         "),
                   ("PRM", self.prm), ("RELAIS", "000"),
                   ("NTARF", f"{index:02d}"), ("NJOURF", "00"), ("NJOURF+1", "00")]
        return groups

    def _stge(self, va: int, index: int) -> int:
        """The status register (Enedis-NOI-CPT_54E, STGE): what this meter would report."""
        over_reference = va > self.pref_kva * 1000
        return (over_reference << 7 | self.sim.producer << 8 | (self.export_w > 0) << 9
                | (index - 1) << 10 | (index - 1) << 14 | 1 << 17 | 3 << 19 | 1 << 21)
