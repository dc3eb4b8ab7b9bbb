"""A Linky on a pseudo-terminal: `MeterSimulator` integrates a household's load (and PV) into
its energy indexes and streams TIC frames that any serial program can open, with line faults
(`Faults`) if asked, paced at the real baud rate or, in compressed time, as fast as the reader
takes them. Same seed and settings, same bytes.

Its household is `ResidentialProfile`, a function of time (the community's households,
:mod:`daisee_lab.community`, are per-slot energies of whole days); :mod:`daisee_lab.meter`
reads what it sends as it would a real meter.
"""

from __future__ import annotations

import fcntl
import math
import os
import random
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from daisee_lab import tic
from daisee_lab.meter import TIC_LINES, MeterError
from daisee_lab.reading import Reading
from daisee_lab.units import PARIS

__all__ = ["DEFAULT_START", "Faults", "MAX_SIMULATOR_SPEED", "MeterSimulator", "PRODUCER_PV_PEAK_W",
           "ResidentialProfile", "SIMULATOR_PHASES", "SIMULATOR_TARIFFS", "UNFLUSHED_START",
           "WRITE_PERIOD_SECONDS"]

SIMULATOR_PHASES = (1, 3)  # a Linky is single-phase or three-phase
SIMULATOR_TARIFFS = ("base", "hchp")  # the simulator's tariff options: base, off-peak 22:00-06:00
MAX_SIMULATOR_SPEED = 1000  # a simulated day in 86 s; beyond it a reader cannot keep up
PRODUCER_PV_PEAK_W = 3000  # a simulated producer's rooftop (ResidentialProfile's pv_peak_w)
WRITE_PERIOD_SECONDS = 0.01
"""How long the streaming thread sleeps between two looks at the line. In real time it wakes
this often and writes the bytes due since it began, so bytes leave in bursts of about rate x
period; in compressed time it is the longest it waits before looking again whether a reader has
opened the port or flushed its input. A reader that (re)opens the port (mode detection does)
may wait about this long for its first byte."""
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
        self.profile = profile or ResidentialProfile(seed, PRODUCER_PV_PEAK_W if producer else 0)
        self.line = TIC_LINES[mode]
        self.link = None if link is None else Path(link)
        self.pty_path: str | None = None
        self._master: int | None = None
        self._idle_attrs: list = []  # the pty's settings while nobody reads it (start() sets them)
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

    @property
    def chars_per_second(self) -> float:
        """The real-time pace: the line's characters per second (baud rate / bits per
        character) times `speed`."""
        return self.line.baudrate / self.line.bits_per_char * self.speed

    def paced(self, moments: Iterable[float]) -> Iterator[bytes]:
        """For each of `moments` (seconds since streaming began, rising), the bytes of
        :meth:`frames` due on the line since the moment before, at :attr:`chars_per_second`:
        what `start()` writes, in real time, each time it wakes."""
        frames, pending, sent = self.frames(), bytearray(), 0
        for elapsed in moments:
            due = int(elapsed * self.chars_per_second) - sent
            while len(pending) < due:  # a bytearray: a long backlog stays linear
                pending += next(frames)
            chunk = bytes(pending[:due])
            del pending[:due]
            sent += due
            yield chunk

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
        wanted, found = sorted(set(moments)), dict[datetime, Reading]()
        frames = self.frames()
        while len(found) < len(wanted):
            for decoded in tic.decode_frames(next(frames)):
                reading = decoded.reading()
                while (len(found) < len(wanted) and reading.meter_time is not None
                       and reading.meter_time >= wanted[len(found)]):
                    found[wanted[len(found)]] = reading
        return [found[m] for m in moments]

    def start(self) -> MeterSimulator:
        """Open the pty (and the symlink) and start streaming in a background thread."""
        if self._thread is not None:
            raise MeterError(f"the simulator is already running on {self.port}")
        master, slave = os.openpty()
        tty.setraw(slave)           # no echo, no CR/LF translation: bytes pass as they are
        pty = os.ttyname(slave)
        self._idle_attrs, self.pty_path = termios.tcgetattr(slave), pty
        os.close(slave)             # readers open it by path; the pty lives while master is open
        os.set_blocking(master, False)
        if self.frame_seconds:  # packet mode: the master is told when the reader flushes
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
        if self.link:
            try:
                self._make_link(self.link, pty)
            except OSError as exc:
                os.close(master)
                self.pty_path = None
                raise MeterError(f"cannot make the link {self.link} to the pty: "
                                 f"{exc.strerror or exc}: give a new path or an old link, in a "
                                 "folder you may write to") from None
        self._master = master
        self._stopping.clear()
        stream = self._stream_compressed if self.frame_seconds else self._stream
        self._thread = threading.Thread(target=stream, args=(master,), name="meter-simulator",
                                        daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _make_link(link: Path, pty: str) -> None:
        """Point `link` at `pty`, atomically (readers never see it missing); on an error, leave
        nothing behind."""
        staging = link.with_name(f".{link.name}.{os.getpid()}")
        try:
            staging.unlink(missing_ok=True)
            staging.symlink_to(pty)
            staging.replace(link)
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
        if self._master is not None:
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

    def _stream(self, master: int) -> None:
        """Write the frames to the pty's `master` at the line's character rate x speed; bytes
        nobody reads are lost."""
        hangup = select.poll()
        hangup.register(master, select.POLLHUP)
        began = time.monotonic()

        def moments() -> Iterator[float]:
            """Seconds since streaming began, each `WRITE_PERIOD_SECONDS`, until stopped."""
            idle = False
            while not self._stopping.wait(WRITE_PERIOD_SECONDS):
                unread = bool(hangup.poll(0))  # POLLHUP: no reader has the pty open
                if unread and not idle:
                    self._idle(master)
                idle = unread
                yield time.monotonic() - began

        try:
            for chunk in self.paced(moments()):
                try:
                    os.write(master, chunk)
                except BlockingIOError:
                    pass  # the pty's buffer is full: nobody is reading, as on a real line
        except BaseException as exc:  # noqa: BLE001 - reported by stop(), never lost in the thread
            self._error = exc

    def _stream_compressed(self, master: int) -> None:
        """Write every frame whole, as fast as the reader takes the bytes (compressed time):
        once a reader has the pty open and has flushed its input (the master, in packet mode,
        reads a FLUSHREAD status) or has had it open for `UNFLUSHED_START` seconds, and only
        while it has it open."""
        poller = select.poll()
        frames, chunk = self.frames(), memoryview(b"")
        opened: float | None = None  # when the reader's opening was seen (monotonic seconds)
        flushed = False
        try:
            while not self._stopping.is_set():
                ready = opened is not None and (
                    flushed or time.monotonic() - opened >= UNFLUSHED_START)
                poller.register(master, select.POLLPRI | (select.POLLOUT if ready else 0))
                events = sum(event for _, event in poller.poll(WRITE_PERIOD_SECONDS * 1000))
                if events & select.POLLHUP:  # nobody has the pty open
                    if opened is not None:
                        self._idle(master)
                    opened, flushed = None, False
                    self._stopping.wait(WRITE_PERIOD_SECONDS)
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
        except BaseException as exc:  # noqa: BLE001 - reported by stop(), never lost in the thread
            self._error = exc

    def _idle(self, master: int) -> None:
        """Put the pty's settings back to the idle ones once the last reader has closed it.

        Linux ptys keep 8N1 whatever is asked, and refuse (EINVAL) a tcsetattr whose only
        change is 7E1; with the idle settings (38400 baud) back, the next reader's 7E1 request
        is again a real change.
        """
        termios.tcsetattr(master, termios.TCSANOW, self._idle_attrs)


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

    def groups(self) -> list[tuple]:
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
            return self._historic(va, amps, self.day_max)
        return self._standard(now, va, phase_va, volts, amps, self.day_max)

    def _historic(self, va: int, amps: list[int],
                  day_max: tuple[int, datetime]) -> list[tuple]:
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
            groups += [("PMAX", f"{day_max[0]:05d}")]
        groups += [("PAPP", f"{round(va, -1):05d}"), ("HHPHC", "A"), ("MOTDETAT", "000000")]
        if self.sim.phases == 3:
            groups.append(("PPOT", "00"))
        return groups

    def _standard(self, now: datetime, va: int, phase_va: list[int], volts: list[int],
                  amps: list[int], day_max: tuple[int, datetime]) -> list[tuple]:
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
        groups.append(("SMAXSN", day_max[1], f"{day_max[0]:05d}"))
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
