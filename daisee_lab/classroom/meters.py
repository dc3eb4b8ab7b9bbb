"""A learner's meter as the classroom sees it: cumulative indexes at the end of each chain slot.

Two kinds, one interface (``indexes(slot)`` and ``forecast(slot)``):

* :class:`ProfileMeter` computes the indexes of a seeded household (the simulator's
  :class:`~daisee_lab.simulator.ResidentialProfile`) slot by slot, fifteen simulated minutes per
  chain slot. Same seed, same numbers, no serial line and no thread: twenty of them run in one
  test process on two cores, where twenty pseudo-terminals streaming TIC at fifteen times real
  time and twenty decoders would take the machine (the serial path is exercised by its own test).
* :class:`SerialMeter` reads a real meter, or :class:`~daisee_lab.simulator.MeterSimulator`'s pty,
  with :func:`~daisee_lab.meter.open_meter` in a background thread, as in chapter 2; a slot's
  indexes are the last reading fit to sign when the slot is first asked for, just after it
  ends. A reading is not fit to sign (:func:`signing_problem`) when the decoder flagged an
  index as implausible, or its import index is missing or out of bounds: one corrupted index
  signed would stay on chain, and the registry would refuse every honest reading after it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import timedelta

from daisee_lab.classroom.schedule import ClassroomError, Schedule
from daisee_lab.meter import MeterError, open_meter
from daisee_lab.reading import Reading
from daisee_lab.simulator import PRODUCER_PV_PEAK_W, ResidentialProfile
from daisee_lab.units import MAX_INDEX_WH, SLOT_SECONDS

log = logging.getLogger(__name__)
STEPS = 15  # integration steps per slot: one simulated minute each


class ProfileMeter:
    """A simulated meter: the household of `seed` (with `PRODUCER_PV_PEAK_W` of PV if
    `producer`) over the simulated day of `schedule`, fifteen simulated minutes per chain slot:
    the same household a :class:`~daisee_lab.simulator.MeterSimulator` of that seed has."""

    def __init__(self, seed: int, producer: bool, schedule: Schedule):
        self.seed, self.producer, self.schedule = seed, producer, schedule
        self.profile = ResidentialProfile(seed, PRODUCER_PV_PEAK_W if producer else 0)
        rng = random.Random(f"{seed}:classroom-indexes")
        base = schedule.first_slot - 2
        start = (float(rng.randint(1_000_000, 20_000_000)),
                 float(rng.randint(100_000, 3_000_000)) if producer else 0.0)
        self._totals = {base: start}  # exact (float) indexes at the end of each slot computed

    def energy(self, slot: int) -> tuple[float, float]:
        """Energy imported and exported during chain slot `slot` (Wh, exact)."""
        begin = self.schedule.start + timedelta(
            seconds=(slot - self.schedule.first_slot) * SLOT_SECONDS)
        imported = exported = 0.0
        for step in range(STEPS):
            load_w, pv_w = self.profile(begin + timedelta(seconds=(step + 0.5) * SLOT_SECONDS
                                                          / STEPS))
            imported += max(load_w - pv_w, 0.0) * SLOT_SECONDS / STEPS / 3600
            exported += max(pv_w - load_w, 0.0) * SLOT_SECONDS / STEPS / 3600
        return imported, exported

    def indexes(self, slot: int) -> tuple[int, int]:
        """The import and export indexes (Wh) at the end of chain slot `slot`."""
        first = min(self._totals)
        if slot < first:
            raise ClassroomError(f"slot {slot} is before this meter was installed ({first})")
        last = max(self._totals)
        while last < slot:
            imported, exported = self.energy(last + 1)
            total_import, total_export = self._totals[last]
            self._totals[last + 1] = (total_import + imported, total_export + exported)
            last += 1
        total_import, total_export = self._totals[slot]
        return int(total_import), int(total_export)

    def forecast(self, slot: int) -> int:
        """The household's net energy in `slot` (Wh, import minus export): known exactly."""
        (before_i, before_e), (after_i, after_e) = self.indexes(slot - 1), self.indexes(slot)
        return (after_i - before_i) - (after_e - before_e)

    def close(self) -> None:
        """Nothing to release."""


def signing_problem(reading: Reading) -> str | None:
    """Why `reading`'s indexes must not be signed, or None when they may."""
    if reading.flags:
        return f"implausible index, not signed: {'; '.join(reading.flags)}"
    if reading.import_wh is None:
        why = "; ".join(reading.warnings) or "the meter sent none"
        return f"no import index, nothing to sign ({why})"
    outside = [f"{name} = {wh}" for name, wh in (("import_wh", reading.import_wh),
                                                 ("export_wh", reading.export_wh))
               if wh is not None and not 0 <= wh <= MAX_INDEX_WH]
    if outside:
        return f"{', '.join(outside)} Wh is outside 0 to {MAX_INDEX_WH} Wh: not signed"
    return None


class SerialMeter:
    """A meter on a serial port or pyserial URL (``protocol`` ``"tic"`` or ``"dsmr"``), read in
    a background thread with :func:`~daisee_lab.meter.open_meter`.

    `latest` is the last reading, `usable` the last one fit to sign (see
    :func:`signing_problem`); `refused` says why the last unfit one was refused (also logged,
    once per new reason) and `refusals` counts them."""

    def __init__(self, port: str, protocol: str = "tic", mode: str = "auto"):
        self.port, self.protocol, self.mode = port, protocol, mode
        self.latest: Reading | None = None
        self.usable: Reading | None = None
        self.refused: str | None = None
        self.refusals = 0
        self.error: Exception | None = None
        self._snapshots: dict[int, tuple[int, int]] = {}
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"meter {port}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with open_meter(self.port, self.protocol, self.mode, reconnect_timeout=30.0) as meter:
                for reading, _raw in meter.readings():
                    self._take(reading)
                    if self._closing.is_set():
                        return
        except (MeterError, OSError) as exc:  # no meter there, or it vanished for good
            self.error = exc

    def _take(self, reading: Reading) -> None:
        self.latest = reading
        problem = signing_problem(reading)
        if problem is None:
            self.usable = reading
            return
        if problem != self.refused:
            log.warning("meter on %s: %s", self.port, problem)
        self.refused, self.refusals = problem, self.refusals + 1

    def wait_for_reading(self, timeout: float = 30.0) -> Reading:
        """The latest reading fit to sign, waiting up to `timeout` seconds for the first one."""
        deadline = time.monotonic() + timeout
        while self.usable is None:
            if self.error is not None or time.monotonic() > deadline:
                why = (f": {self.error}" if self.error else
                       f": readings arrive, but none can be signed ({self.refused})"
                       if self.refused else "")
                raise ClassroomError(f"no reading to sign from the meter on {self.port}{why}: "
                                     "check the cable and the port, or leave out --meter to "
                                     "simulate one")
            time.sleep(0.05)
        return self.usable

    def indexes(self, slot: int) -> tuple[int, int]:
        """The indexes (Wh) kept for `slot`; the first time a slot is asked for, those of the
        latest reading fit to sign (a meter without an export register exports 0).
        `ClassroomError` if they are below an earlier slot's (the registry would refuse them)."""
        if slot not in self._snapshots:
            if self._snapshots and slot < max(self._snapshots):
                raise ClassroomError(f"no reading kept for slot {slot}: this meter joined later")
            reading = self.wait_for_reading()
            assert reading.import_wh is not None  # signing_problem refuses a reading without one
            now = (reading.import_wh, reading.export_wh or 0)
            if self._snapshots:
                last = max(self._snapshots)
                if any(a < b for a, b in zip(now, self._snapshots[last], strict=True)):
                    raise ClassroomError(
                        f"slot {slot}: the meter's indexes {now} Wh are below slot {last}'s "
                        f"{self._snapshots[last]}: an index never goes backwards, not signed")
            self._snapshots[slot] = now
        return self._snapshots[slot]

    def forecast(self, slot: int) -> int:
        """Tomorrow is like today: the net energy (Wh) of the last two slots kept, else 0."""
        kept = sorted(self._snapshots)
        if len(kept) < 2:
            return 0
        (before_i, before_e), (after_i, after_e) = (self._snapshots[s] for s in kept[-2:])
        return (after_i - before_i) - (after_e - before_e)

    def close(self) -> None:
        """Stop reading (after the next frame) and close the port."""
        self._closing.set()
        self._thread.join(timeout=5)
