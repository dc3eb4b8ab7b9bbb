"""The serial edge for issue 18: a DSMR decryption key passed through open_meter, and a silent
line reported through on_status (with a short threshold: no test waits 15 s)."""

from __future__ import annotations

import os
import termios
import threading
import time
import tty
from contextlib import contextmanager
from itertools import islice

import pytest

from daisee_lab import dsmr, tic
from daisee_lab.meter import SILENCE_SECONDS, Meter, MeterError, open_meter

SMARTY_KEY = bytes.fromhex("D491470F47126332B07D1923B3504188")
SETTLE_SECONDS = 0.05  # from a port's set-up to its flush, pyserial runs a few system calls


def smarty_frame(testdata) -> bytes:
    text = (testdata / "dsmr" / "smarty_lux_encrypted_key_D491470F.hex").read_text()
    return bytes.fromhex(text.replace("\n", ""))


@contextmanager
def pty_meter(data: bytes, repeat: bool = True):
    """A pty whose other end sends `data` (over and over if `repeat`) once the reader has opened
    it; yields (port, master fd)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)  # bytes nobody reads are lost, as on a real line
    stop = threading.Event()
    raw = termios.tcgetattr(slave)

    def play():
        # pyserial sets the line up, then flushes its input, as it opens a port: bytes sent
        # before that are lost, and a test that sends its frames once would wait for ever
        while termios.tcgetattr(slave) == raw and not stop.wait(0.002):
            pass
        stop.wait(SETTLE_SECONDS)
        position = 0
        while not stop.wait(0.002) and (repeat or position < len(data)):
            piece = data[position % len(data):position % len(data) + 64]
            try:
                os.write(master, piece)
            except BlockingIOError:
                continue
            position += len(piece)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    try:
        yield os.ttyname(slave), master
    finally:
        stop.set()
        player.join()
        os.close(master)
        os.close(slave)


def test_an_encrypted_meter_is_read_with_its_key(testdata):
    frame = smarty_frame(testdata)
    with pty_meter(frame) as (port, _), open_meter(port, "dsmr", key=SMARTY_KEY) as meter:
        for telegram in islice(meter, 2):
            assert telegram.header == "/Lux5\\253663629_D"
            assert telegram.reading().import_wh == 6695
            assert meter.raw == frame


def test_an_encrypted_meter_without_key_says_it_needs_one(testdata):
    with pty_meter(smarty_frame(testdata)) as (port, _):
        with pytest.raises(MeterError, match="encrypted frames.*key"):
            with open_meter(port, "dsmr", "5", detect_timeout=0.5):
                pass


def test_a_wrong_key_is_a_clear_error(testdata):
    with pty_meter(smarty_frame(testdata)) as (port, _):
        with pytest.raises(dsmr.DecryptionError, match="key does not open"):
            with open_meter(port, "dsmr", "5", key=bytes(16), detect_timeout=3):
                pass


@pytest.mark.parametrize("protocol, key, message", [
    ("tic", SMARTY_KEY, "tic frames are not encrypted"),
    ("dsmr", b"123", "16 bytes"),
    ("dsmr", "D491470F47126332B07D1923B3504188", "as bytes"),
])
def test_a_key_that_cannot_apply_is_refused_before_opening(protocol, key, message):
    with pytest.raises(MeterError, match=message):
        Meter("/dev/null", protocol, key=key)


def test_a_silent_line_gets_a_status_message_and_one_when_data_comes_back(testdata):
    assert SILENCE_SECONDS == 15
    telegram = (testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    statuses = []
    with pty_meter(telegram, repeat=False) as (port, master):
        def on_status(text):
            statuses.append(text)
            if text.startswith("no data"):
                os.write(master, telegram)  # the meter speaks again

        with open_meter(port, "dsmr", "5", silence_timeout=0.3, on_status=on_status) as meter:
            next(meter)  # the telegram seen while detecting
            began = time.monotonic()
            assert next(meter).reading().import_wh == 6825
            assert time.monotonic() - began >= 0.3
    assert [s for s in statuses if "data" in s] == [
        f"no data from {port} for 0.3 s: check the wiring, that the meter's output is enabled "
        "(P1: ask the grid operator to open the port) and the meter is powered",
        f"data again from {port}"]


def seven_e_one(data: bytes) -> bytes:
    """`data` as an 8N1 reader receives a 7E1 sender: the even-parity bit lands in bit 7."""
    return bytes(byte | (bin(byte).count("1") % 2) << 7 for byte in data)


def test_a_dsmr4_meter_that_sends_7e1_reads_on_the_8n1_line(testdata):
    telegram = (testdata / "dsmr" / "dsmr50_iskra_crc6EEE.txt").read_bytes()
    received = seven_e_one(telegram)
    assert received != telegram  # some characters arrive with their parity bit set
    with pty_meter(received) as (port, _), open_meter(port, "dsmr", detect_timeout=3) as meter:
        reading, raw = next(meter.readings())
    assert reading == dsmr.parse_telegram(telegram).reading()
    assert raw == telegram


def test_a_historic_index_that_jumps_is_flagged_by_the_line_clock():
    """Historic frames carry no clock: the reader times them as they arrive. A jump of 100 kWh
    within a second is flagged; a simulator in compressed time opts out (line_clock=False) and
    only a backward index is flagged then."""
    from test_tic_index import historic

    frames = historic(4_000_000) + historic(4_100_000) + historic(4_100_001)
    for line_clock, second in ((True, None), (False, 4_100_000)):
        with (pty_meter(frames, repeat=False) as (port, _),
              open_meter(port, "tic", "historic", line_clock=line_clock) as meter):
            imports = [reading.import_wh for reading, _ in islice(meter.readings(), 3)]
        assert imports[:2] == [4_000_000, second]


def test_a_frame_cut_by_the_reopening_of_the_port_is_not_completed_after_the_gap(testdata):
    """Auto-detection listens at 9600 baud first; a pty carries a historic frame at any speed,
    so the meter reopens the port at 1200 baud, and pyserial flushes what the line held. The
    frame in progress must not be completed with the bytes that come after that gap."""
    capture = (testdata / "tic" / "pyteleinfo_captured_frames.bin").read_bytes()
    frames = [b"\x02" + frame for frame in capture.split(b"\x02")[1:]]
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)

    def after_set_up(data: bytes) -> None:
        """Send `data` once the reader has set the line up again (opened or reopened it)."""
        nonlocal attrs
        while termios.tcgetattr(slave) == attrs:
            time.sleep(0.002)
        time.sleep(SETTLE_SECONDS)
        attrs = termios.tcgetattr(slave)
        os.write(master, data)

    def play():
        after_set_up(frames[0] + frames[1][:60])  # at 9600 baud: a frame, and half the next
        # at 1200 baud: what the flush left, the end of a later frame, then whole frames
        after_set_up(frames[4][60:] + b"".join(frames[5:]))

    player = threading.Thread(target=play, daemon=True)
    player.start()
    try:
        with open_meter(os.ttyname(slave), "tic", detect_timeout=10) as meter:
            assert (meter.mode, next(meter).values) == ("historic", tic_values(frames[0]))
            assert meter.raw == frames[0]
            assert next(meter).values == tic_values(frames[5])
            assert meter.raw == frames[5]
            # the decoder went on across the reopening: the frame before it counts with those
            # after (all read by now), the cut one as interrupted; the stream's history is kept
            assert (meter.stats.frames, meter.stats.interrupted) == (1 + len(frames[5:]), 1)
    finally:
        player.join()
        os.close(master)
        os.close(slave)


def tic_values(frame: bytes) -> dict[str, str]:
    [decoded] = tic.decode_frames(frame)
    return decoded.values
