"""The main job: one community day, from the bytes of its meters to on-chain settlement.

:func:`run_day` (``daisee-lab run``) chains the library's real components, stage by stage:

1. **community**: :func:`daisee_lab.community.make_households` and
   :func:`~daisee_lab.community.profiles` give seeded households (some with PV) and their day.
2. **meters**: each household gets a :class:`~daisee_lab.meter.MeterSimulator` on its own
   pseudo-terminal, in its own process (simulators are CPU-bound). Producers speak TIC standard
   mode (import EAST and export EAIT), consumers historic mode (no export), the largest consumer
   on three phases. A meter's power is constant over each slot, so its indexes grow by exactly
   the household's import and export of the profile (after its battery). Each meter is read in
   its own thread through :func:`~daisee_lab.meter.open_meter`, the mode auto-detected, in
   accelerated time (`speed` times real time; the meters start a quarter of an hour before the
   first slot).
3. **records**: every reading goes into a :class:`~daisee_lab.recorder.Recorder`
   (``readings.sqlite``), and :func:`~daisee_lab.community.energy_per_slot` turns the records
   into each meter's import and export per slot: what gets settled is the meters' data.
4. **kernel**: :func:`daisee_lab.settlement.settle` (numba) settles the day with `method`, and
   ``"none"`` gives the baseline; for ``"auction"`` each slot's buyers bid their net import and
   sellers ask their net export at seeded prices between the grid's, cleared by
   :func:`~daisee_lab.settlement.clear_double_auction_slots`.
5. **chain**: the meters sign their indexes at each slot's end (EIP-712) and a CommunityMarket
   (:func:`~daisee_lab.contracts.deploy_community`) settles every slot, one transaction each; or
   an AuctionMarket takes every order sealed, then per slot reveals, clears and settles the
   deliveries. In process on eth-tester by default, or on any JSON-RPC node (`rpc`).
6. **check**: every household's payment in every slot on chain must equal the kernel's (for the
   auction: each slot's volume, price and fills, and each household's payments), else
   :class:`SettlementMismatch`.
7. **report**: ``bills.csv``, ``slots.csv``, ``gas.csv``, PNG plots and an ``index.html`` in
   `out` (see :mod:`daisee_lab.report`), next to ``readings.sqlite`` and ``run.json``.

Reading accelerated meters. A simulator writes its bytes every 10 ms of real time, at the baud
rate times `speed`, and a pty drops what nobody reads, as an unread serial line does. Decoding
every frame of eight meters at high speed would take minutes of CPU, so each reader takes one
reading a minute (of meter time) before and one at each slot boundary, where
:func:`~daisee_lab.community.energy_per_slot` interpolates: between two writes of the
simulator, it flushes the line's input, skips the frames already decoded and the one the flush
cut, and keeps the next if the simulator made it after the flush (else it tries again). The
recorder stamps a reading with the simulated time it arrived: the meter's clock at the flush
(the simulator shares it through memory) plus the frame's line time. A standard-mode frame also
carries the meter's own clock (DATE): energy is timed by it where it exists, by the arrival
stamp elsewhere, and ``run.json`` gives how far the arrival stamps are from DATE (under a second
on a quiet machine; a busy one delays the simulators and widens it).

The output folder must be new, empty, or a previous run's (it holds ``run.json``); a previous
run's files are replaced. A failure in any stage leaves ``readings.sqlite`` and a ``run.json``
saying what failed. Bad arguments raise :class:`RunArgumentError` before anything starts.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import queue
import resource
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from daisee_lab import community, contracts, settlement, tic
from daisee_lab import report as report_files
from daisee_lab.chain import Chain, ChainError, TransactionReverted
from daisee_lab.errors import DaiseeError
from daisee_lab.meter import PARIS, MeterError, MeterSimulator, open_meter
from daisee_lab.recorder import Recorder

METHODS = ("mmr", "bill_sharing", "sdr", "auction")
DEFAULT_DATE = date(2026, 6, 21)  # a long, sunny day: the producers have plenty to share
DEFAULT_SPEED = 1200.0  # a day of meter time in 72 s
MAX_HOUSEHOLDS = 50
MAX_SPEED = 5000.0
GRID_BUY, GRID_SELL = 250_000, 100_000  # µ€/kWh: the grid's import and feed-in prices
FUNDS_UEUR = 20_000_000  # what each household deposits in the community market (20 €)
LEAD = timedelta(minutes=15)  # the meters start this long before the first slot...
TRAIL = 300  # ... and the last reading is taken this long (s) after the last one
SAMPLE_OFFSETS = (-60, 0)  # meter seconds around each slot boundary where a reading is taken
STALL_SECONDS = 30.0  # real seconds a meter may stay silent (beyond its pace) before failing
SLOT_FUNCTIONS = ("settle", "commit", "reveal", "clear", "settleDelivery")  # a slot's transactions
REPORT_FILES = ("run.json", "readings.sqlite", "readings.sqlite-wal", "readings.sqlite-shm",
                "bills.csv", "slots.csv", "gas.csv", "index.html", "households.png",
                "community.png", "prices.png", "bills.png")


class RunError(DaiseeError):
    """The run failed in one of its stages; the message says which and what to do."""


class RunArgumentError(RunError, ValueError):
    """A bad argument to :func:`run_day`, found before anything started."""


class SettlementMismatch(RunError):
    """The chain's settlement differs from the kernel's; `mismatches` lists them all."""

    def __init__(self, mismatches: list[str]):
        shown = "; ".join(mismatches[:5])
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        super().__init__(f"the chain and the kernel disagree: {shown}{more}")
        self.mismatches = mismatches


@dataclass(frozen=True)
class MeterPlan:
    """How one household's meter is simulated: its id (ADSC/ADCO, also its public id in the
    registry), TIC mode, phases, and whether it reports export."""

    household: str
    meter_id: str
    mode: str
    phases: int
    producer: bool


@dataclass(frozen=True, eq=False)
class Report:
    """What a run produced. `meters` has one row per household; `bills`, `slots` and `gas` are
    the tables written as CSV; `energy` is what the recorder's readings gave per slot; `kernel`
    the kernel's result (a :class:`~daisee_lab.settlement.Settlement`, or a
    :class:`~daisee_lab.settlement.Clearing` for the auction) and `baseline` the settlement
    without a community. `contracts` gives the deployed contracts' addresses by name, `files`
    each written file's path by name, `timings` each stage's seconds and `figures` what was
    measured."""

    out: Path
    method: str
    day: date
    meters: pd.DataFrame
    energy: community.SlotEnergy
    kernel: settlement.Settlement | settlement.Clearing
    baseline: settlement.Settlement
    bills: pd.DataFrame
    slots: pd.DataFrame
    gas: pd.DataFrame
    contracts: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def index(self) -> Path:
        """The report's page, ``index.html``."""
        return self.files["index.html"]

    def summary(self) -> str:
        """The bills as a text table (€), the totals, and where the report is."""
        bills = self.bills.set_index("household")
        table = pd.DataFrame({
            "meter": bills.meter_id, "mode": bills["mode"],
            "import kWh": bills.import_wh / 1000, "export kWh": bills.export_wh / 1000,
            "baseline €": bills.baseline_ueur / 1e6, f"{self.method} €": bills.chain_ueur / 1e6,
            "savings €": bills.savings_ueur / 1e6})
        total = pd.DataFrame([{"meter": "", "mode": "", **table.sum(numeric_only=True)}],
                             index=["total"])
        table = pd.concat([table, total])
        slots = len(self.slots)
        lines = [f"{self.day} · {len(self.bills)} households · {slots} slots · {self.method} "
                 f"· kernel and chain agree on every household and slot",
                 table.to_string(float_format=lambda v: f"{v:,.2f}"),
                 "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items()),
                 f"report: {self.index}"]
        return "\n\n".join(lines)


def run_day(households: int = 8, date: date | str | None = None, method: str = "mmr",
            rpc: str | None = None, out: str | Path | None = None, seed: int = 0,
            speed: float = DEFAULT_SPEED, slots: int | range | None = None,
            progress: bool = True) -> Report:
    """Run a community day through the whole pipeline (see the module's docstring).

    `households` (1 to 50) are seeded by `seed`; `date` is the local day (default 2026-06-21;
    for the auction, which trades before delivery, tomorrow); `method` is one of
    :data:`METHODS`; `rpc` a JSON-RPC node's URL (default: eth-tester in process); `out` the
    report folder (default ``reports/DATE-METHOD``); `speed` how much faster than real time the
    meters run; `slots` settles only the day's first `slots` slots, or, given a range, those
    slots of the day (``range(44, 52)``: 11:00 to 13:00 on most days). `progress` shows a bar
    per stage on stderr. Raises :class:`RunArgumentError` for a bad argument, before anything
    starts, and :class:`RunError` (such as :class:`SettlementMismatch`) if a stage fails.
    """
    chain, day, window, out = _check_arguments(households, date, method, rpc, out, seed, speed,
                                               slots)
    run = _Run(out, progress, {"households": households, "date": day.isoformat(),
                               "method": method, "rpc": rpc, "seed": seed, "speed": speed,
                               "slots": [window.start, window.stop]})
    try:
        return run.execute(chain, households, day, method, seed, speed, window)
    except BaseException as exc:
        run.failed(exc)
        raise


# --- arguments ---------------------------------------------------------------------------------

def _check_arguments(households, day, method, rpc, out, seed, speed, slots
                     ) -> tuple[Chain, date, range, Path]:
    """Validate everything before any stage starts; return the chain, the day, the slots to
    settle and the report folder (created)."""
    bad = RunArgumentError
    if isinstance(households, bool) or not isinstance(households, int) \
            or not 1 <= households <= MAX_HOUSEHOLDS:
        raise bad(f"households={households!r}: give a whole number from 1 to {MAX_HOUSEHOLDS}")
    if method not in METHODS:
        raise bad(f"method={method!r}: use one of {', '.join(METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 999_999:
        raise bad(f"seed={seed!r}: give a whole number from 0 to 999999")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) \
            or not 1 <= speed <= MAX_SPEED:
        raise bad(f"speed={speed!r}: give a number from 1 to {MAX_SPEED:g} (times real time)")
    day = _parse_day(day, method)
    day_slots = len(_day_slots(day))
    if slots is None:
        slots = range(day_slots)
    elif isinstance(slots, int) and not isinstance(slots, bool) and 1 <= slots <= day_slots:
        slots = range(slots)
    elif not (isinstance(slots, range) and slots.step == 1 and 0 <= slots.start < slots.stop
              <= day_slots):
        raise bad(f"slots={slots!r}: give a whole number from 1 to {day_slots}, or a range of "
                  f"the day's slots within range(0, {day_slots}) (the slots of {day})")
    try:
        chain = Chain(rpc, accounts=max(10, households + 1))
    except ChainError as exc:
        raise bad(f"rpc={rpc!r}: {exc}") from None
    if len(chain.accounts) < households + 1:
        raise bad(f"the node at {rpc} has {len(chain.accounts)} accounts: {households} "
                  f"households and the operator need {households + 1} (start anvil with "
                  f"--accounts {households + 1}) or use fewer households")
    if method == "auction":
        commits_close = int(_day_slots(day)[slots.start]) * community.SLOT_SECONDS - 600
        if chain.timestamp > commits_close - 600:  # ten minutes to commit every order
            now = datetime.fromtimestamp(chain.timestamp, UTC).isoformat(timespec="minutes")
            raise bad(f"date={day}: the auction takes orders before each slot, but the chain's "
                      f"clock ({now}) is past the first slot's deadline: choose a later date")
    out = Path(f"reports/{day}-{method}" if out is None else out)
    _check_out(out)
    return chain, day, slots, out


def _parse_day(day, method: str) -> date:
    """`day` as a date; None gives the default (for the auction, tomorrow)."""
    if day is None:
        return (datetime.now(PARIS) + timedelta(days=1)).date() if method == "auction" \
            else DEFAULT_DATE
    if isinstance(day, datetime):
        raise RunArgumentError(f"date={day!r}: give a date (YYYY-MM-DD), not a time")
    if isinstance(day, date):
        return day
    try:
        return date.fromisoformat(str(day))
    except ValueError:
        raise RunArgumentError(f"date={day!r}: give a day as YYYY-MM-DD") from None


def _day_slots(day: date) -> np.ndarray:
    """The slots of a local day (92, 96 or 100 of them)."""
    begin = datetime(day.year, day.month, day.day, tzinfo=PARIS)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=PARIS)
    return np.arange(int(begin.timestamp()) // 900, int(end.timestamp()) // 900)


def _check_out(out: Path) -> None:
    """`out` must be creatable and writable, and empty or a previous run's folder."""
    if out.exists() and not out.is_dir():
        raise RunArgumentError(f"out={str(out)!r} is a file: give a folder for the report")
    if out.is_dir() and any(out.iterdir()) and not (out / "run.json").is_file():
        raise RunArgumentError(f"out={str(out)!r} holds other files: give an empty or new "
                               "folder (or a previous report's)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".daisee-lab-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunArgumentError(f"out={str(out)!r} is not writable: {exc.strerror or exc}") \
            from None


# --- the run -----------------------------------------------------------------------------------

class _Run:
    """One run's state: the output folder, its run.json, the stage timings and progress bars."""

    def __init__(self, out: Path, progress: bool, arguments: dict):
        self.out, self.progress = out, progress
        self.timings: dict[str, float] = {}
        self.figures: dict[str, float] = {}
        self.status = {"arguments": arguments, "status": "running", "timings": self.timings,
                       "figures": self.figures}
        for name in REPORT_FILES:
            (out / name).unlink(missing_ok=True)
        self._save()

    def _save(self) -> None:
        (self.out / "run.json").write_text(json.dumps(self.status, indent=2) + "\n")

    def failed(self, exc: BaseException) -> None:
        """Record in run.json why the run stopped."""
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {exc}"
        self.status["status"] = reason
        self._save()

    def bar(self, description: str, total: int, unit: str) -> tqdm:
        """A progress bar for a stage, on stderr."""
        return tqdm(total=total, desc=f"{description:<9}", unit=unit, disable=not self.progress,
                    file=sys.stderr, leave=True, dynamic_ncols=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time stage `name` into run.json."""
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 2)
        self._save()

    def execute(self, chain: Chain, n: int, day: date, method: str, seed: int, speed: float,
                window: range) -> Report:
        """The seven stages; see the module's docstring."""
        with self.stage("community"), self.bar("community", 2, "step") as bar:
            homes = community.make_households(n, seed)
            bar.update()
            profile = community.profiles(homes, day, 1, seed)
            bar.update()
            members = contracts.make_households([a.address for a in chain.accounts[1:n + 1]],
                                                seed)
            plans = _plan_meters(homes, [m.public_id for m in members])
            slots = profile.slots[window.start:window.stop]

        database = self.out / "readings.sqlite"
        with self.stage("meters"):
            cpu = _cpu_seconds()
            _record_meters(plans, profile, slots, speed, seed, database, self)
            self.figures.update(simulators_cpu_s=round(_cpu_seconds()[1] - cpu[1], 1),
                                readers_cpu_s=round(_cpu_seconds()[0] - cpu[0], 1))

        with self.stage("records"), self.bar("records", 2, "step") as bar:
            with Recorder(database) as recorder:
                readings = recorder.to_dataframe()
            bar.update()
            energy = _energy(readings, plans, slots)
            imports, exports = energy.import_wh, energy.export_wh
            bar.update()
            self.figures.update(_stamp_skew(readings), readings=len(readings))

        with self.stage("kernel"), self.bar("kernel", 2, "step") as bar:
            baseline = settlement.settle(imports, exports, GRID_BUY, GRID_SELL, "none")
            bar.update()
            if method == "auction":
                orders = _auction_orders(imports, exports, seed)
                kernel = settlement.clear_double_auction_slots(*orders)
            else:
                kernel = settlement.settle(imports, exports, GRID_BUY, GRID_SELL, method)
            bar.update()

        with self.stage("chain"):
            anchors = _anchors(readings, plans)
            if method == "auction":
                on_chain = _chain_auction(chain, members, imports, exports, anchors, slots,
                                          orders, kernel, self)
            else:
                on_chain = _chain_community(chain, members, imports, exports, anchors, slots,
                                            method, self)
            self.status["contracts"] = on_chain["contracts"]

        with self.stage("check"), self.bar("check", 1, "step") as bar:
            if method == "auction":
                trades, rest = _auction_payments(kernel, orders)
                _check_auction(kernel, orders, trades, on_chain, plans, slots)
                paid, chain_paid = trades + rest, on_chain["paid"] + rest.sum(axis=1)
                grid_bill, rounding = rest.sum(axis=0), trades.sum(axis=0)
            else:
                _check_community(kernel, on_chain, plans, slots)
                paid, chain_paid = kernel.payments, on_chain["paid"].sum(axis=1)
                grid_bill, rounding = kernel.grid_bill, kernel.rounding
            bar.update()

        with self.stage("report"), self.bar("report", len(report_files.FIGURES) + 4,
                                            "file") as bar:
            gas = _gas_table(chain)
            self.figures["gas_per_slot"] = int(
                gas[gas.function.isin(SLOT_FUNCTIONS)].total.sum() / len(slots))
            meters = pd.DataFrame([vars(p) for p in plans]).assign(
                pv_kwp=[h.pv_kwp for h in homes], battery_kwh=[h.battery_kwh for h in homes])
            result = Report(self.out, method, day, meters, energy, kernel, baseline,
                            _bills(plans, imports, exports, paid, chain_paid, baseline),
                            _slots_table(slots, imports, exports, kernel, grid_bill, rounding,
                                         baseline, method),
                            gas, on_chain["contracts"], timings=self.timings,
                            figures=self.figures)
            result.files.update(report_files.write_report(
                result, profile.consumption_wh[:, window.start:window.stop],
                profile.production_wh[:, window.start:window.stop], bar.update))
        self.status["status"] = "done"
        self._save()
        return result


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by this process (the readers and the recorder) and by its
    finished child processes (the simulators)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def _plan_meters(homes: list[community.Household], meter_ids: list[str]) -> list[MeterPlan]:
    """Producers in standard mode, consumers in historic mode, the largest consumer three-phase."""
    consumers = [h for h in homes if not h.prosumer]
    largest = max(consumers, key=lambda h: h.annual_kwh).name if consumers else None
    return [MeterPlan(h.name, meter_id, "standard" if h.prosumer else "historic",
                      3 if h.name == largest else 1, h.prosumer)
            for h, meter_id in zip(homes, meter_ids, strict=True)]


# --- meters ------------------------------------------------------------------------------------

class _SharedClock:
    """A simulated meter's clock, shared between its process and the reader's: the time of the
    frame it made last (unix seconds), when it made it (monotonic seconds) and how many frames
    it has made."""

    BUSY = 0.004  # frames closer than this (real seconds) belong to one write of the simulator

    def __init__(self, context):
        self._values = context.Array("d", [-math.inf, -math.inf, 0], lock=False)

    def tick(self, meter_time: float) -> None:
        """Called by the simulator for each frame it makes."""
        values = self._values
        values[0], values[1], values[2] = meter_time, time.monotonic(), values[2] + 1

    @property
    def meter_time(self) -> float:
        """The meter's clock: the time of its latest frame (unix seconds)."""
        return self._values[0]

    @property
    def frames(self) -> int:
        """How many frames the simulator has made."""
        return int(self._values[2])

    def busy(self) -> bool:
        """True while the simulator is making the frames of its next write."""
        return time.monotonic() - self._values[1] < self.BUSY


class _SlotProfile:
    """A simulated meter's ``profile(t) -> (load_w, pv_w)``: the household's import and export
    of each slot as constant powers, so its indexes grow by exactly those energies over a slot
    (before and after the day, the first and last slot's). Each call ticks the shared clock."""

    def __init__(self, import_wh: np.ndarray, export_wh: np.ndarray, first_slot: int,
                 clock: _SharedClock):
        self.load_w = [4.0 * wh for wh in import_wh.tolist()]  # Wh per 15 min -> W
        self.pv_w = [4.0 * wh for wh in export_wh.tolist()]
        self.first_slot, self.clock = first_slot, clock

    def __call__(self, t: datetime) -> tuple[float, float]:
        seconds = t.timestamp()
        self.clock.tick(seconds)
        i = min(max(int(seconds) // community.SLOT_SECONDS - self.first_slot, 0),
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
    """One simulated meter in its own process, its clock shared with this one."""

    def __init__(self, context, plan: MeterPlan, import_wh, export_wh, first_slot: int,
                 start: datetime, speed: float, seed: int):
        self.plan = plan
        self.clock = _SharedClock(context)
        simulator = MeterSimulator(plan.mode, plan.phases, plan.producer, seed, speed,
                                   start=start, meter_id=plan.meter_id,
                                   profile=_SlotProfile(import_wh, export_wh, first_slot,
                                                        self.clock))
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
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(2)


def _record_meters(plans: list[MeterPlan], profile: community.Profiles, slots: np.ndarray,
                   speed: float, seed: int, database: Path, run: _Run) -> None:
    """Simulate and read every meter until each has passed the end of `slots`, recording every
    reading; a meter that stops fails the run (what was recorded stays). The simulators are
    seeded from `seed` and their household's place."""
    first, day_first = int(slots[0]), int(profile.slots[0])
    start = datetime.fromtimestamp(first * community.SLOT_SECONDS, PARIS) - LEAD
    end = (first + len(slots)) * community.SLOT_SECONDS
    targets = [int(start.timestamp()) + 60]  # surely before the first boundary
    targets += [b * community.SLOT_SECONDS + offset
                for b in range(first, first + len(slots) + 1) for offset in SAMPLE_OFFSETS]
    targets.append(end + TRAIL)  # surely after the last
    context = multiprocessing.get_context("fork")  # the simulators inherit their profiles
    meters = [_MeterProcess(context, plan, profile.import_wh[i], profile.export_wh[i],
                            day_first, start, speed, seed * MAX_HOUSEHOLDS + i)
              for i, plan in enumerate(plans)]
    inbox: queue.Queue = queue.Queue()
    stopping = threading.Event()
    threads: list[threading.Thread] = []
    try:
        ports = [meter.start() for meter in meters]
        with Recorder(database) as recorder, run.bar("meters", len(slots) + 1, "slot") as bar:
            for i, (meter, port) in enumerate(zip(meters, ports)):
                thread = threading.Thread(target=_reader, name=f"reader {meter.plan.meter_id}",
                                          args=(i, port, meter.clock, targets, speed, inbox,
                                                stopping), daemon=True)
                thread.start()
                threads.append(thread)
            _collect(meters, inbox, recorder, targets, speed, bar)
    finally:
        stopping.set()
        for meter in meters:
            meter.stop()  # a reader still waiting on its port sees it vanish
        for thread in threads:
            thread.join(5)


def _reader(i: int, port: str, clock: _SharedClock, targets: list[int], speed: float,
            inbox: queue.Queue, stopping: threading.Event) -> None:
    """A reader thread: sample one meter, passing readings (and the end, or an error) on."""
    try:
        _sample_meter(port, clock, targets, speed,
                      lambda *reading: inbox.put(("reading", i, reading)), stopping)
        inbox.put(("done", i, None))
    except (MeterError, OSError, StopIteration, termios.error) as exc:
        if not stopping.is_set():  # else: the run is over and the port went with its meter
            inbox.put(("error", i, str(exc) or type(exc).__name__))


def _sample_meter(port: str, clock: _SharedClock, targets: list[int], speed: float,
                  emit: Callable[..., None], stopping: threading.Event) -> None:
    """Read the meter on `port` as a real one, through open_meter (mode auto-detected), taking
    one reading when its clock passes each target (unix seconds)."""
    flusher = os.open(port, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        with open_meter(port, reconnect_timeout=0) as meter:
            line = _Taken(meter)
            for target in targets:
                while True:
                    flushed = _flush_between_writes(flusher, clock, target, speed, stopping)
                    if flushed is None:
                        return
                    flushed_at, made = flushed
                    line.skip_decoded()
                    reading, raw = line.next_reading()
                    if clock.frames > made:  # else it was made before the flush, sent after
                        break
                arrived = flushed_at + len(raw) * meter.line.bits_per_char / meter.line.baudrate
                emit(reading, raw, datetime.fromtimestamp(arrived, UTC))
    finally:
        os.close(flusher)


def _flush_between_writes(flusher: int, clock: _SharedClock, target: float, speed: float,
                          stopping: threading.Event) -> tuple[float, int] | None:
    """Wait until the meter's clock passes `target`, then flush the line's input (what piled
    up while the reader slept) while its simulator is between two writes, so that the next
    bytes follow the frame made last; return that frame's time and the number of frames made
    (None if the run stops)."""
    while not stopping.is_set():
        now, made = clock.meter_time, clock.frames
        if now < target or clock.busy():
            time.sleep(min(max((target - now) / speed, 0.0005), 0.1))
            continue
        termios.tcflush(flusher, termios.TCIFLUSH)
        if clock.frames == made and not clock.busy():  # no frame made around the flush
            return now, made
    return None


class _Taken:
    """A meter's frames, counting those taken, so as to know how many it has decoded ahead."""

    def __init__(self, meter) -> None:
        self.meter, self.frames, self.count = meter, iter(meter), 0

    def skip_decoded(self) -> None:
        """Skip the frames decoded before a flush, and the one the flush cut."""
        for _ in range(self.meter.stats.frames - self.count + 1):
            next(self.frames)
            self.count += 1

    def next_reading(self) -> tuple:
        """The next frame's reading and raw bytes (a frame whose meter id was lost is passed)."""
        while True:
            frame = next(self.frames)
            self.count += 1
            try:
                return frame.reading(), self.meter.raw
            except tic.TicError:
                continue


def _collect(meters: list[_MeterProcess], inbox: queue.Queue, recorder: Recorder,
             targets: list[int], speed: float, bar: tqdm) -> None:
    """Record what the readers pass on until every one is done; fail on a reader's error or
    when a meter stays silent (its simulator stopped, or fell behind on a busy machine)."""
    taken = [0] * len(meters)
    running = set(range(len(meters)))
    patience = STALL_SECONDS + 2 * max(np.diff(targets)) / speed
    heard = [time.monotonic()] * len(meters)
    while running:
        try:
            kind, i, payload = inbox.get(timeout=0.5)
        except queue.Empty:
            kind = None
        if kind == "reading":
            recorder.record(*payload)
            taken[i] += 1
            heard[i] = time.monotonic()
            bar.update(max(min(taken) - 1, 0) // len(SAMPLE_OFFSETS) - bar.n)
        elif kind == "done":
            running.discard(i)
        elif kind == "error":
            raise RunError(f"meter {meters[i].plan.meter_id} ({meters[i].plan.household}) "
                           f"stopped: {payload}")
        silent = [i for i in running if time.monotonic() - heard[i] > patience]
        if silent:
            plan = meters[silent[0]].plan
            raise RunError(f"meter {plan.meter_id} ({plan.household}) sent nothing readable for "
                           f"{patience:.0f} s: its simulator stopped or fell behind (is the "
                           f"machine busy? try a lower --speed than {speed:g})")
    if min(taken) < len(targets):
        raise RunError(f"a meter stopped early: {min(taken)} of {len(targets)} readings")


# --- records to energy -------------------------------------------------------------------------

def _energy(readings: pd.DataFrame, plans: list[MeterPlan],
            slots: np.ndarray) -> community.SlotEnergy:
    """Each meter's import and export per slot from its recorded readings, timed by the meter's
    own clock where its frames carry one (standard mode's DATE), else by their arrival."""
    start = datetime.fromtimestamp(int(slots[0]) * community.SLOT_SECONDS, UTC)
    end = datetime.fromtimestamp((int(slots[-1]) + 1) * community.SLOT_SECONDS, UTC)
    timed = readings.assign(time=readings.meter_time.fillna(readings.received_at))
    energy = community.energy_per_slot(timed, start, end, meters=[p.meter_id for p in plans],
                                       time_column="time")
    if energy.missing.any():
        meter, slot = np.argwhere(energy.missing)[0]
        raise RunError(f"meter {plans[meter].meter_id} ({plans[meter].household}) has no "
                       f"readings around slot {int(slots[slot])}: it cannot be settled")
    return energy


def _stamp_skew(readings: pd.DataFrame) -> dict[str, float]:
    """How far the recorder's stamps are from the meters' own clocks (standard mode's DATE)."""
    timed = readings.dropna(subset=["meter_time"])
    if timed.empty:
        return {}
    skew = (timed.received_at - timed.meter_time).dt.total_seconds().abs()
    return {"stamp_skew_median_s": round(float(skew.median()), 2),
            "stamp_skew_max_s": round(float(skew.max()), 2)}


def _anchors(readings: pd.DataFrame, plans: list[MeterPlan]) -> tuple[list[int], list[int]]:
    """Each meter's import and export indexes in its first reading: its indexes at the end of
    each slot are those plus the energies counted since."""
    first = readings.sort_values("received_at").groupby("meter_id").first()
    rows = first.loc[[p.meter_id for p in plans]]
    return rows.import_wh.astype(int).tolist(), rows.export_wh.fillna(0).astype(int).tolist()


# --- auction orders ----------------------------------------------------------------------------

def _auction_orders(imports: np.ndarray, exports: np.ndarray,
                    seed: int) -> tuple[np.ndarray, ...]:
    """Per slot (rows) and household (columns): buyers bid their net import, sellers ask their
    net export, each at a seeded price between the grid's feed-in and import prices; the other
    side's entries are 0 Wh (no order)."""
    net = (imports.astype(np.int64) - exports).T
    rng = np.random.default_rng(seed)
    bid_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    ask_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    return bid_prices, np.maximum(net, 0), ask_prices, np.maximum(-net, 0)


def _auction_payments(clearing: settlement.Clearing, orders) -> tuple[np.ndarray, ...]:
    """What each household pays per slot (µ€, households x slots) for its trades at the
    clearing price (buyers rounded up, sellers down, as the AuctionMarket does), and for the
    rest of its net energy, bought from or sold to the grid at the baseline's rule."""
    _, bid_qty, _, ask_qty = orders
    price = np.maximum(clearing.price, 0)[:, None]
    trades = -(-clearing.bid_fills * price // 1000) - clearing.ask_fills * price // 1000
    rest = settlement.settle((bid_qty - clearing.bid_fills).T, (ask_qty - clearing.ask_fills).T,
                             GRID_BUY, GRID_SELL, "none")
    return trades.T, rest.payments


# --- on chain ----------------------------------------------------------------------------------

def _catch_up(chain: Chain, moment: int) -> None:
    """Move the chain's clock to `moment` (unix seconds) unless it is there already."""
    if chain.timestamp < moment:
        chain.advance_time(moment - chain.timestamp)


def _indexes(anchors: list[int], energy: np.ndarray) -> np.ndarray:
    """A meter's indexes at the end of each slot (rows; row 0 is the anchor, before the first
    slot) from its first reading's and the energies per slot (households x slots)."""
    return np.asarray(anchors, dtype=np.int64) + np.vstack(
        [np.zeros(len(energy), np.int64), np.cumsum(energy.T, axis=0)])


def _chain_community(chain: Chain, members: list[contracts.Household], imports, exports,
                     anchors, slots: np.ndarray, method: str, run: _Run) -> dict:
    """Settle every slot in a CommunityMarket from the meters' signed indexes; return the
    payments per household and slot (µ€) and each slot's grid bill and rounding, read from
    the chain."""
    market = contracts.deploy_community(chain, chain.accounts[0], members, GRID_BUY, GRID_SELL,
                                        method)
    market.fund({m.account: FUNDS_UEUR for m in members})
    _catch_up(chain, (int(slots[-1]) + 1) * community.SLOT_SECONDS)
    index_in, index_out = _indexes(anchors[0], imports), _indexes(anchors[1], exports)
    net = imports.astype(np.int64) - exports
    demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
    slot_numbers = [int(slots[0]) - 1, *slots.tolist()]  # the anchor's, then the day's
    totals = [(0, 0), *zip(demand.tolist(), surplus.tolist())]  # a first reading brings none
    positions, bills, rounding = [], [], []
    with run.bar("chain", len(slot_numbers), "slot") as bar:
        for t, slot in enumerate(slot_numbers):
            signed = market.sign_readings(slot, index_in[t].tolist(), index_out[t].tolist())
            (event,) = market.settle_slot(slot, signed, totals=totals[t]).events_named(
                "SlotSettled")
            accounts = market.accounts()
            households = accounts[accounts.role == "household"]
            positions.append((households.balance_ueur - households.debt_ueur).to_numpy())
            bills.append(event.args["gridBill"])
            rounding.append(event.args["rounding"])
            bar.update()
    return {"contracts": {"EnergyCredit": market.credit.address,
                          "CommunityMarket": market.market.address},
            "paid": -np.diff(np.array(positions, dtype=np.int64), axis=0).T,
            "grid_bill": np.array(bills[1:]), "rounding": np.array(rounding[1:])}


class _AuctionDay:
    """A day of sealed-bid rounds in an AuctionMarket, one per slot, for the households'
    orders (rows: slots, columns: households; 0 Wh: no order)."""

    def __init__(self, chain: Chain, members: list[contracts.Household], orders,
                 slots: np.ndarray, index_in: np.ndarray, index_out: np.ndarray):
        self.chain, self.members, self.slots = chain, members, slots.tolist()
        self.traders = chain.accounts[1:len(members) + 1]
        self.orders, self.index_in, self.index_out = orders, index_in, index_out
        self.auction = contracts.deploy_auction(chain, chain.accounts[0], members, GRID_BUY)
        self.sealed: list[list[contracts.SealedOrder]] = [[] for _ in self.slots]
        self.last_signed = [0] * len(members)
        self.funded = [0] * len(members)

    def sides(self, t: int):
        """(is_bid, household, price, Wh) of each order of slot `t`, bids first, households
        in order: the order they are revealed in, so the books' order."""
        bid_prices, bid_qty, ask_prices, ask_qty = self.orders
        for is_bid, prices, qty in ((True, bid_prices, bid_qty), (False, ask_prices, ask_qty)):
            for i in np.flatnonzero(qty[t]).tolist():
                yield is_bid, i, int(prices[t, i]), int(qty[t, i])

    def fund(self) -> None:
        """Give each trader exactly the deposits of all its orders."""
        for t in range(len(self.slots)):
            for is_bid, i, price, qty in self.sides(t):
                self.funded[i] += self.auction.required_deposit(is_bid, price, qty)
        self.funded = [max(amount, 1) for amount in self.funded]
        for trader, amount in zip(self.traders, self.funded):
            self.auction.fund(trader, amount)

    def commit(self, t: int) -> None:
        """Seal every order of slot `t` (before its reveals open)."""
        self.sealed[t] = [self.auction.commit(self.traders[i], self.slots[t], is_bid, price, qty)
                          for is_bid, i, price, qty in self.sides(t)]

    def clear(self, t: int, clearing: settlement.Clearing) -> tuple:
        """Reveal slot `t`'s orders in their window, then clear it with the kernel's result
        once it starts; return the round and the books' fills, read from the chain."""
        slot = self.slots[t]
        _catch_up(self.chain, slot * community.SLOT_SECONDS - 600)
        for order in self.sealed[t]:
            self.auction.reveal(order)
        _catch_up(self.chain, slot * community.SLOT_SECONDS)
        kept = clearing.trades[clearing.trades["slot"] == t]
        try:
            self.auction.clear(slot, settlement.Clearing(
                int(clearing.volume[t]), int(clearing.price[t]), clearing.bid_fills[t],
                clearing.ask_fills[t], kept))
        except TransactionReverted as exc:
            raise SettlementMismatch([f"slot {slot}: the contract refused the kernel's "
                                      f"clearing ({exc})"]) from exc
        bids, asks = self.auction.book(slot)
        return self.auction.market.rounds(slot), bids.filled.tolist(), asks.filled.tolist()

    def deliver(self, t: int) -> None:
        """After slot `t`, show each sale's delivery with its seller's signed indexes at the
        end of the slot (and of the one before, unless already on chain)."""
        slot = self.slots[t]
        _, asks = self.auction.book(slot)
        sellers = [i for is_bid, i, _, _ in self.sides(t) if not is_bid]
        for ask, (i, filled) in enumerate(zip(sellers, asks.filled.tolist())):
            if filled == 0:
                continue
            member = self.members[i]
            ends = [t + 1] if self.last_signed[i] == slot - 1 else [t, t + 1]
            readings = [contracts.sign_reading(
                member.meter_key, self.auction.market.address, self.auction.chain_id,
                member.meter, self.slots[0] - 1 + end, int(self.index_in[end, i]),
                int(self.index_out[end, i])) for end in ends]
            self.auction.settle_delivery(slot, ask, readings)
            self.last_signed[i] = slot

    def paid(self) -> np.ndarray:
        """What each household has paid over the day (µ€): its credits in, less what it holds
        and what the market owes it."""
        accounts = [trader.address for trader in self.traders]
        left = self.auction.balances(accounts).to_numpy() + np.array(
            [self.auction.credit.balanceOf(a) for a in accounts])
        return np.array(self.funded) - left


def _chain_auction(chain: Chain, members: list[contracts.Household], imports, exports,
                   anchors, slots: np.ndarray, orders, clearing: settlement.Clearing,
                   run: _Run) -> dict:
    """Run each slot's sealed-bid round in an AuctionMarket: commit every order first, then per
    slot reveal, clear with the kernel's result (the contract checks it), and settle the sales'
    delivery from the sellers' signed indexes. Return each round's volume, price and fills and
    each household's payments (µ€) over the day, read from the chain."""
    day = _AuctionDay(chain, members, orders, slots, _indexes(anchors[0], imports),
                      _indexes(anchors[1], exports))
    day.fund()
    rounds, bid_fills, ask_fills = [], [], []
    with run.bar("chain", 2 * len(slots), "step") as bar:
        for t in range(len(slots)):
            day.commit(t)
            bar.update()
        for t in range(len(slots)):
            round_, bids, asks = day.clear(t, clearing)
            rounds.append(round_)
            bid_fills.append(bids)
            ask_fills.append(asks)
            if t > 0:
                day.deliver(t - 1)  # once slot t has started, slot t - 1 is over
            bar.update()
        _catch_up(chain, (int(slots[-1]) + 1) * community.SLOT_SECONDS)
        day.deliver(len(slots) - 1)
    return {"contracts": {"EnergyCredit": day.auction.credit.address,
                          "AuctionMarket": day.auction.market.address},
            "paid": day.paid(), "rounds": rounds, "bid_fills": bid_fills,
            "ask_fills": ask_fills}


# --- the check ---------------------------------------------------------------------------------

def _check_community(kernel: settlement.Settlement, on_chain: dict, plans: list[MeterPlan],
                     slots: np.ndarray) -> None:
    """Every household's payment in every slot, and each slot's grid bill and rounding, must be
    the kernel's; else :class:`SettlementMismatch`."""
    wrong = [f"{plans[h].household} in slot {int(slots[t])}: chain "
             f"{int(on_chain['paid'][h, t])} µ€, kernel {int(kernel.payments[h, t])} µ€"
             for h, t in np.argwhere(on_chain["paid"] != kernel.payments)]
    for name in ("grid_bill", "rounding"):
        expected = getattr(kernel, name)
        wrong += [f"slot {int(slots[t])}: {name} {int(on_chain[name][t])} µ€ on chain, "
                  f"{int(expected[t])} µ€ in the kernel"
                  for t in np.flatnonzero(on_chain[name] != expected)]
    if wrong:
        raise SettlementMismatch(wrong)


def _check_auction(clearing: settlement.Clearing, orders, trades: np.ndarray, on_chain: dict,
                   plans: list[MeterPlan], slots: np.ndarray) -> None:
    """Each round's volume, price and fills, and each household's payments for its trades over
    the day, must be the kernel's; else :class:`SettlementMismatch`."""
    _, bid_qty, _, ask_qty = orders
    wrong = []
    for t, slot in enumerate(slots.tolist()):
        _, _, _, price, volume = on_chain["rounds"][t]
        expected = (int(clearing.volume[t]), max(int(clearing.price[t]), 0))
        if (volume, price) != expected:
            wrong.append(f"slot {slot}: chain cleared {volume} Wh at {price} µ€/kWh, kernel "
                         f"{expected[0]} Wh at {expected[1]} µ€/kWh")
        for side, fills, qty in (("bid", clearing.bid_fills, bid_qty),
                                 ("ask", clearing.ask_fills, ask_qty)):
            kernel_fills = fills[t][qty[t] > 0].tolist()
            if on_chain[f"{side}_fills"][t] != kernel_fills:
                wrong.append(f"slot {slot}: {side} fills {on_chain[f'{side}_fills'][t]} on "
                             f"chain, {kernel_fills} in the kernel")
    for plan, chain_paid, kernel_paid in zip(plans, on_chain["paid"], trades.sum(axis=1)):
        if int(chain_paid) != int(kernel_paid):
            wrong.append(f"{plan.household}: paid {int(chain_paid)} µ€ for its trades on "
                         f"chain, {int(kernel_paid)} µ€ in the kernel")
    if wrong:
        raise SettlementMismatch(wrong)


# --- tables ------------------------------------------------------------------------------------

def _gas_table(chain: Chain) -> pd.DataFrame:
    """Gas per contract and function over the run: calls, min, mean, max and total."""
    records = chain.gas.to_dataframe()
    table = records.groupby(["contract", "function"], sort=True)["gas_used"].agg(
        calls="count", min="min", mean="mean", max="max", total="sum").reset_index()
    table["mean"] = table["mean"].round().astype("int64")
    return table


def _bills(plans: list[MeterPlan], imports, exports, paid: np.ndarray, chain_paid: np.ndarray,
           baseline: settlement.Settlement) -> pd.DataFrame:
    """One row per household: its meter, energies (Wh) and bills (µ€, positive = paid)."""
    kernel = paid.sum(axis=1)
    without = baseline.payments.sum(axis=1)
    return pd.DataFrame({
        "household": [p.household for p in plans], "meter_id": [p.meter_id for p in plans],
        "mode": [p.mode for p in plans], "phases": [p.phases for p in plans],
        "import_wh": imports.sum(axis=1), "export_wh": exports.sum(axis=1),
        "kernel_ueur": kernel, "chain_ueur": np.asarray(chain_paid, dtype=np.int64),
        "baseline_ueur": without, "savings_ueur": without - kernel})


def _slots_table(slots: np.ndarray, imports, exports, kernel, grid_bill: np.ndarray,
                 rounding: np.ndarray, baseline: settlement.Settlement,
                 method: str) -> pd.DataFrame:
    """One row per slot: the community's demand and surplus, what it traded inside and with
    the grid (Wh), its prices (µ€/kWh), and the grid bill and rounding (µ€)."""
    net = imports.astype(np.int64) - exports
    demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
    times = pd.to_datetime(slots * community.SLOT_SECONDS, unit="s", utc=True)
    if method == "auction":
        price = np.maximum(kernel.price, 0)
        traded, buy_price, sell_price = kernel.volume, price, price
        grid_import, grid_export = demand - traded, surplus - traded
    else:
        traded = np.minimum(demand, surplus)
        buy_price, sell_price = kernel.buy_price, kernel.sell_price
        grid_import, grid_export = kernel.grid_import_wh, kernel.grid_export_wh
    return pd.DataFrame({
        "slot": slots, "time": times.tz_convert(PARIS).strftime("%Y-%m-%dT%H:%M%z"),
        "demand_wh": demand, "surplus_wh": surplus, "traded_wh": traded,
        "grid_import_wh": grid_import, "grid_export_wh": grid_export, "grid_buy": GRID_BUY,
        "grid_sell": GRID_SELL, "buy_price": buy_price, "sell_price": sell_price,
        "grid_bill_ueur": grid_bill, "rounding_ueur": rounding,
        "baseline_grid_bill_ueur": baseline.grid_bill})
