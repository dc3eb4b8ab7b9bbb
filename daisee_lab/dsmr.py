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

The module is in parts, all reached from here: :mod:`daisee_lab.dsmr_values` (errors, CRC, time
stamps, numbers and units, the capacity tariff), :mod:`daisee_lab.dsmr_telegram` (one
telegram), :mod:`daisee_lab.dsmr_crypto` (encrypted frames) and this stream decoder; the OBIS
codes read are named in :mod:`daisee_lab.dsmr_obis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from daisee_lab import dlms
from daisee_lab.dsmr_crypto import _check_key, _decrypted, _telegram_start, decrypt_telegram
from daisee_lab.dsmr_telegram import (
    _HEADER_TEXT,
    MbusReading,
    Telegram,
    _value_line,
    encode_telegram,
    parse_telegram,
)
from daisee_lab.dsmr_values import (
    LOCAL_TIME,
    CapacityTariff,
    ChecksumError,
    DecryptionError,
    DemandPeak,
    DsmrError,
    MissingCrcError,
    TelegramError,
    _check_bytes,
    crc16_arc,
    decode_id,
    parse_timestamp,
)

__all__ = ["CapacityTariff", "ChecksumError", "DecoderStats", "DecryptionError", "DemandPeak",
           "DsmrDecoder", "DsmrError", "LOCAL_TIME", "MbusReading", "MissingCrcError", "Telegram",
           "TelegramError", "crc16_arc", "decode_id", "decrypt_telegram", "encode_telegram",
           "parse_telegram", "parse_timestamp"]

_HEADER_LINE = re.compile(_HEADER_TEXT.encode("ascii") + rb"\r?\n")
_HEADER_ARRIVING = re.compile(rb"/(?:[A-Za-z]{0,2}|[A-Za-z]{3}[ \"-.0-~]{0,124}\r?)")
_CRC_LINE_BYTES = 8  # the '!' line ends within this many bytes: 4 hex digits, CR LF and slack
_CRC_LINE = re.compile(rb"![^\n/]{0,%d}(\n)?" % _CRC_LINE_BYTES)  # stops at LF, '/' or the limit
_MIN_TELEGRAM_BYTES = 64  # a header, a register line and the CRC line fit in less
_WRONG_KEY_FRAMES = 3  # frames in a row that no key opens before a decoder says the key is wrong



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
    first frames do not open under it, :meth:`feed` raises :class:`DecryptionError`: the key is
    wrong.
    """

    def __init__(self, max_telegram_bytes: int = 8192, *, key: bytes | None = None):
        if (isinstance(max_telegram_bytes, bool) or not isinstance(max_telegram_bytes, int)
                or max_telegram_bytes < _MIN_TELEGRAM_BYTES):
            raise DsmrError(f"max_telegram_bytes must be an integer of at least "
                            f"{_MIN_TELEGRAM_BYTES}, not {max_telegram_bytes!r}")
        self.max_telegram_bytes = max_telegram_bytes
        self.key = None if key is None else _check_key(key)
        self._first_block = None if self.key is None else dlms.FirstBlock(self.key)
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
        """Like :meth:`feed`, with each telegram's bytes as received (for an encrypted one, its
        frame). A `chunk` that is not bytes is a :class:`TelegramError`."""
        self._buffer += _check_bytes(chunk, "a chunk")
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
        assert line is not None  # the pattern matches at any '!'
        if line[1] or line.end() < len(self._buffer) or line.end() - bang > _CRC_LINE_BYTES:
            return line.end()
        return None

    # --- encrypted frames

    def _next_frame(self):
        assert self.key is not None and self._first_block is not None  # a decoder with a key
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
        if head is not None and not _telegram_start(head):
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
                    "the key does not open the frames of this meter "
                    f"({_WRONG_KEY_FRAMES} in a row): check the key, the 32 hex digits the grid "
                    "operator gives for the P1 port "
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
