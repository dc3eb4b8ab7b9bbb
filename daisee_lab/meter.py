"""The serial edge: read a meter's TIC or P1 output from a port.

`open_meter` opens a device path or any pyserial URL exactly as for a real meter (TIC: 7E1 at
1200 baud in historic mode, 9600 in standard mode; DSMR 4/5: 115200 8N1), finds the mode by
decoding, and reopens a vanished port with exponential backoff. The other end of a test line is
:class:`daisee_lab.simulator.MeterSimulator`, a Linky on a pseudo-terminal.
This module only moves bytes; :mod:`daisee_lab.tic` and :mod:`daisee_lab.dsmr` decode them.
"""

from __future__ import annotations

import errno
import logging
import math
import re
import termios
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import serial

from daisee_lab import dlms, dsmr, tic
from daisee_lab.errors import DaiseeError
from daisee_lab.reading import Reading

__all__ = ["DSMR_LINES", "Line", "Meter", "MeterError", "SILENCE_SECONDS", "TIC_LINES",
           "open_meter", "summarize"]

log = logging.getLogger(__name__)


class MeterError(DaiseeError):
    """A port that cannot be opened or vanished for good, a wrong mode, a bad simulator setting
    (:mod:`daisee_lab.simulator` raises it too)."""


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
_Framed = tuple[tic.Frame | dsmr.Telegram, bytes]  # a frame or telegram and its raw bytes
_READ_TIMEOUT = 0.1  # seconds a read may block: keeps detection deadlines and close() prompt
SILENCE_SECONDS = 15.0
"""Seconds without a byte after which an open meter line reports itself silent (`on_status`)."""


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
            if self._serial is None or self._framer is None:
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
            first = frames[0][0]
            found = first.mode if isinstance(first, tic.Frame) else name
            if self.requested_mode not in ("auto", found):
                port.close()
                raise MeterError(
                    f"{self.port} sends {found}-mode frames, not {self.requested_mode}: "
                    f"use mode {found!r} or 'auto'")
            if lines[found] != lines[name]:  # a pty decodes at any baud rate: use the right one
                port.close()
                port = self._open_line(lines[found])  # which flushes what the line held:
                framer.interrupt()  # no frame across the gap
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

    def _listen(self, port: serial.SerialBase, framer: _Framer) -> Sequence[_Framed]:
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
        if self._serial is not None:
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

    def interrupt(self) -> None:
        """The line was flushed: drop the frame in progress (TIC; a DSMR telegram's next '/'
        starts afresh anyway). The decoder keeps its counters and the stream's history."""
        self._buffer.clear()
        if isinstance(self.decoder, tic.TicDecoder):
            self.decoder.interrupt()

    def feed(self, chunk: bytes) -> Sequence[_Framed]:
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

