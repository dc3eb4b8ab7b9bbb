"""The fleet of simulated meters and their readers: each household's Linky in its own process
on a pseudo-terminal, read in compressed time, every frame recorded; then the records turned
into each meter's energy per slot (see :mod:`daisee_lab.run`)."""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import queue
import signal
import termios
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from daisee_lab import community, tic
from daisee_lab.meter import MeterError, open_meter
from daisee_lab.reading import Reading
from daisee_lab.recorder import Recorder
from daisee_lab.run.common import (FRAME_SECONDS, LEAD, MAX_HOUSEHOLDS, STALL_SECONDS, MeterPlan,
                                   RunError)
from daisee_lab.simulator import MeterSimulator
from daisee_lab.units import PARIS, SLOT_SECONDS

__all__ = ["anchors_of", "energy_of", "plan_meters", "record_meters"]

log = logging.getLogger(__name__)


def plan_meters(homes: list[community.Household], meter_ids: list[str]) -> list[MeterPlan]:
    """Producers in standard mode, consumers in historic mode, the largest consumer three-phase."""
    consumers = [h for h in homes if not h.prosumer]
    largest = max(consumers, key=lambda h: h.annual_kwh).name if consumers else None
    return [MeterPlan(h.name, meter_id, "standard" if h.prosumer else "historic",
                      3 if h.name == largest else 1, h.prosumer)
            for h, meter_id in zip(homes, meter_ids, strict=True)]



class _Lockstep:
    """A simulated meter and its reader in step, across their two processes: the simulator makes
    a frame only once the reader has decoded the one before. So the reader knows the meter's
    time of each frame it decodes (the time of the frame made last: historic frames carry no
    clock), how many frames were made, and nothing is in flight when it reopens the port (as
    mode detection may)."""

    def __init__(self, context):
        self._made = context.Array("d", [-math.inf, 0], lock=False)  # last frame's time, count
        self._turn = context.Semaphore(1)  # the first frame goes without waiting

    def make(self, meter_time: float) -> None:
        """In the simulator, before making the frame of `meter_time` (unix seconds): wait until
        the reader has decoded the frame before."""
        if not self._turn.acquire(timeout=STALL_SECONDS):
            raise RunError(f"no reader decoded the frame before {meter_time:.0f} within "
                           f"{STALL_SECONDS:g} s")
        self._made[0], self._made[1] = meter_time, self._made[1] + 1

    def decoded(self) -> None:
        """In the reader: the frame made last is decoded; let the simulator make the next."""
        self._turn.release()

    @property
    def meter_time(self) -> float:
        """The time of the frame made last (unix seconds)."""
        return self._made[0]

    @property
    def made(self) -> int:
        """How many frames the simulator has made."""
        return int(self._made[1])


class _SlotProfile:
    """A simulated meter's ``profile(t) -> (load_w, pv_w)``: the household's import and export
    of each slot as constant powers, so its indexes grow by exactly those energies over a slot
    (before and after the day, the first and last slot's). It is called once per frame, and
    keeps the simulator in step with its reader."""

    def __init__(self, import_wh: np.ndarray, export_wh: np.ndarray, first_slot: int,
                 lockstep: _Lockstep):
        self.load_w = [wh * 3600 / SLOT_SECONDS for wh in import_wh.tolist()]  # W
        self.pv_w = [wh * 3600 / SLOT_SECONDS for wh in export_wh.tolist()]
        self.first_slot, self.lockstep = first_slot, lockstep

    def __call__(self, t: datetime) -> tuple[float, float]:
        seconds = t.timestamp()
        self.lockstep.make(seconds)
        i = min(max(int(seconds) // SLOT_SECONDS - self.first_slot, 0),
                len(self.load_w) - 1)
        return self.load_w[i], self.pv_w[i]


def _serve_meter(simulator: MeterSimulator, conn) -> None:
    """In a child process: stream `simulator` until the parent says stop or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent = os.getppid()
    try:
        simulator.start()
    except MeterError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("port", simulator.port))
    while not conn.poll(0.2):
        if os.getppid() != parent:
            os._exit(0)  # orphaned: nobody reads, the pty goes with the process
    simulator.stop()


class _MeterProcess:
    """One simulated meter in its own process, in step with its reader (in this one)."""

    def __init__(self, context, plan: MeterPlan, import_wh, export_wh, first_slot: int,
                 start: datetime, seed: int):
        self.plan = plan
        self.lockstep = _Lockstep(context)
        simulator = MeterSimulator(plan.mode, plan.phases, plan.producer, seed, start=start,
                                   meter_id=plan.meter_id, frame_seconds=FRAME_SECONDS,
                                   profile=_SlotProfile(import_wh, export_wh, first_slot,
                                                        self.lockstep))
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_meter, args=(simulator, child),
                                       name=f"meter {plan.meter_id}", daemon=True)

    def start(self) -> str:
        """Start the process; return the meter's pty path."""
        self.process.start()
        if not self.conn.poll(10):
            raise RunError(f"the simulator of meter {self.plan.meter_id} did not start")
        kind, value = self.conn.recv()
        if kind == "error":
            raise RunError(f"the simulator of meter {self.plan.meter_id} failed: {value}")
        return value

    def stop(self) -> None:
        """Tell the process to stop (terminate it if it does not within 2 s)."""
        if self.process.is_alive():
            self.lockstep.decoded()  # a simulator waiting for its reader goes on, and stops
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)


def record_meters(plans: list[MeterPlan], profile: community.Profiles, slots: np.ndarray,
                  seed: int, database: Path, bar: Callable[[str, int, str], tqdm]) -> int:
    """Simulate and read every meter from `LEAD` before `slots` to their end, recording every
    frame's reading; return how many frames were read. A meter that stops, or a frame made but
    not decoded and recorded, fails the run (what was recorded stays). The simulators are
    seeded from `seed` and their household's place; `bar` makes the progress bar."""
    first, day_first = int(slots[0]), int(profile.slots[0])
    start = datetime.fromtimestamp(first * SLOT_SECONDS, PARIS) - LEAD
    end = (first + len(slots)) * SLOT_SECONDS
    context = multiprocessing.get_context("fork")  # the simulators inherit their profiles
    meters = [_MeterProcess(context, plan, profile.import_wh[i], profile.export_wh[i],
                            day_first, start, seed * MAX_HOUSEHOLDS + i)
              for i, plan in enumerate(plans)]
    inbox: queue.Queue = queue.Queue()
    stopping = threading.Event()
    threads: list[threading.Thread] = []
    try:
        ports = [meter.start() for meter in meters]
        with Recorder(database) as recorder, bar("meters", len(slots), "slot") as progress:
            for i, (meter, port) in enumerate(zip(meters, ports)):
                thread = threading.Thread(target=_reader, name=f"reader {meter.plan.meter_id}",
                                          args=(i, port, meter.lockstep, end, inbox, stopping),
                                          daemon=True)
                thread.start()
                threads.append(thread)
            return _collect(meters, inbox, recorder, first, progress)
    finally:
        stopping.set()
        for meter in meters:
            meter.stop()  # a reader still waiting on its port sees it vanish
        for thread in threads:
            thread.join(5)


def _reader(i: int, port: str, lockstep: _Lockstep, end: int, inbox: queue.Queue,
            stopping: threading.Event) -> None:
    """A reader thread: read one meter, passing its readings (and the end, or an error) on."""
    try:
        counts = _read_meter(port, lockstep, end,
                             lambda *reading: inbox.put(("reading", i, reading)))
        inbox.put(("done", i, counts))
    except (MeterError, OSError, termios.error) as exc:
        if not stopping.is_set():  # else: the run is over and the port went with its meter
            inbox.put(("error", i, str(exc) or type(exc).__name__))


def _read_meter(port: str, lockstep: _Lockstep, end: int,
                emit: Callable[[Reading, bytes, datetime], None]) -> tuple[int, int]:
    """Read the meter on `port` as a real one, through open_meter (mode auto-detected),
    decoding every frame up to the one of `end` (unix seconds) and passing each frame's
    reading, raw bytes and meter time to `emit`. Return how many frames its simulator made
    and how many were decoded."""
    with open_meter(port, reconnect_timeout=0, line_clock=False) as meter:
        while True:
            frame = next(meter)
            made = lockstep.meter_time
            try:
                emit(frame.reading(), meter.raw, datetime.fromtimestamp(made, UTC))
            except tic.TicError as exc:  # counted: the run fails on frames not recorded
                log.warning("a frame from %s gave no reading: %s", port, exc)
            if made >= end:
                stats = meter.stats
                if not isinstance(stats, tic.DecoderStats):
                    raise MeterError(f"the meter on {port} does not speak TIC")
                return lockstep.made, stats.frames
            lockstep.decoded()


def _collect(meters: list[_MeterProcess], inbox: queue.Queue, recorder: Recorder, first: int,
             bar: tqdm) -> int:
    """Record what the readers pass on, in batches, until every one is done, counting on `bar`
    the slots from `first` that every meter has passed; fail on a reader's error, when a meter
    stays silent, or unless every frame made was decoded and recorded. Return how many frames
    were recorded."""
    recorded, reached = [0] * len(meters), [first * SLOT_SECONDS] * len(meters)
    heard = [time.monotonic()] * len(meters)
    done: dict[int, tuple[int, int]] = {}
    while len(done) < len(meters):
        batch = []
        try:
            batch.append(inbox.get(timeout=0.5))
            while True:
                batch.append(inbox.get_nowait())
        except queue.Empty:
            pass
        rows, errors = [], []
        for kind, i, payload in batch:
            heard[i] = time.monotonic()
            if kind == "reading":
                rows.append(payload)
                recorded[i] += 1
                reached[i] = payload[2].timestamp()
            elif kind == "done":
                done[i] = payload
            else:
                plan = meters[i].plan
                errors.append(f"meter {plan.meter_id} ({plan.household}) stopped: {payload}")
        recorder.record_many(rows)
        if errors:
            raise RunError(errors[0])
        slots_read = (min(reached) - first * SLOT_SECONDS) // SLOT_SECONDS
        bar.update(int(min(max(slots_read, 0), bar.total)) - bar.n)  # every meter past them
        silent = [i for i in range(len(meters))
                  if i not in done and time.monotonic() - heard[i] > STALL_SECONDS]
        if silent:
            plan = meters[silent[0]].plan
            raise RunError(f"meter {plan.meter_id} ({plan.household}) sent nothing readable for "
                           f"{STALL_SECONDS:g} s: its simulator or its reader stopped")
    lost = [f"meter {meters[i].plan.meter_id} ({meters[i].plan.household}): its simulator made "
            f"{made} frames, its reader decoded {decoded} and recorded {recorded[i]}"
            for i, (made, decoded) in sorted(done.items()) if not made == decoded == recorded[i]]
    if lost:
        raise RunError(f"frames were lost: {'; '.join(lost)}")
    return sum(recorded)


# --- records to energy -------------------------------------------------------------------------

def energy_of(readings: pd.DataFrame, plans: list[MeterPlan],
            slots: np.ndarray) -> community.SlotEnergy:
    """Each meter's import and export per slot from its recorded readings, timed by the meter's
    own clock where its frames carry one (standard mode's DATE), else by their stamp."""
    start, end = _window_times(slots)
    energy = community.energy_per_slot(_timed(readings), start, end,
                                       meters=[p.meter_id for p in plans], time_column="time")
    if energy.missing.any():
        meter, slot = np.argwhere(energy.missing)[0]
        raise RunError(f"meter {plans[meter].meter_id} ({plans[meter].household}) has no "
                       f"readings around slot {int(slots[slot])}: it cannot be settled")
    return energy


def _window_times(slots: np.ndarray) -> tuple[datetime, datetime]:
    """The start of the first slot and the end of the last (UTC)."""
    return (datetime.fromtimestamp(int(slots[0]) * SLOT_SECONDS, UTC),
            datetime.fromtimestamp((int(slots[-1]) + 1) * SLOT_SECONDS, UTC))


def _timed(readings: pd.DataFrame) -> pd.DataFrame:
    """`readings` with a ``time`` column: the meter's clock (DATE) where the frame carries it,
    else the reader's stamp."""
    return readings.assign(time=readings.meter_time.fillna(readings.received_at))


def anchors_of(readings: pd.DataFrame, plans: list[MeterPlan],
             slots: np.ndarray) -> tuple[list[int], list[int]]:
    """Each meter's import and export indexes at the start of the first slot: its indexes at
    the end of each slot are those plus the energies counted since."""
    timed = _timed(readings)
    first = timed[timed.time == _window_times(slots)[0]].groupby("meter_id").first()
    missing = sorted(set(p.meter_id for p in plans) - set(first.index))
    if missing:
        raise RunError(f"meters {', '.join(missing)} sent no frame at the start of the first "
                       "slot: their indexes there are unknown")
    rows = first.loc[[p.meter_id for p in plans]]
    return rows.import_wh.astype(int).tolist(), rows.export_wh.fillna(0).astype(int).tolist()

