"""The main job: one community day, from the bytes of its meters to on-chain settlement.

:func:`run_day` (``daisee-lab run``) chains the library's real components, stage by stage:

1. **community**: :func:`daisee_lab.community.make_households` and
   :func:`~daisee_lab.community.profiles` give seeded households (some with PV) and their day.
2. **meters**: each household gets a :class:`~daisee_lab.meter.MeterSimulator` on its own
   pseudo-terminal, in its own process (simulators are CPU-bound). Producers speak TIC standard
   mode (import EAST and export EAIT), consumers historic mode (no export), the largest consumer
   on three phases. A meter's power is constant over each slot, so its indexes grow by exactly
   the household's import and export of the profile (after its battery). Each meter is read in
   its own thread through :func:`~daisee_lab.meter.open_meter`, the mode auto-detected, every
   frame decoded, in compressed time (see below; the meters start a quarter of an hour before
   the first slot).
3. **records**: every reading goes into a :class:`~daisee_lab.recorder.Recorder`
   (``readings.sqlite``), and :func:`~daisee_lab.community.energy_per_slot` turns the records
   into each meter's import and export per slot: what gets settled is the meters' data.
4. **kernel**: :func:`daisee_lab.settlement.settle` (numba) settles the day with `method`, and
   ``"none"`` gives the baseline; for ``"auction"`` each slot's buyers bid their net import and
   sellers ask their net export at seeded prices between the grid's, cleared by
   :func:`~daisee_lab.settlement.clear_double_auction_slots`; for the French collective
   self-consumption keys (:data:`OFF_CHAIN_METHODS`), the settlement *is* the kernel's.
5. **chain** (:data:`CHAIN_METHODS` only): the meters sign their indexes at each slot's end (EIP-712) and a CommunityMarket
   (:func:`~daisee_lab.contracts.deploy_community`) settles every slot, one transaction each; or
   an AuctionMarket takes every order sealed, then per slot reveals, clears and settles the
   deliveries. In process on eth-tester by default, or on any JSON-RPC node (`rpc`).
6. **check**: every meter's energy in every slot must be its household's profile, to the Wh
   (else :class:`MeterMismatch`), and every household's payment in every slot on chain must
   equal the kernel's (for the auction: each slot's volume, price and fills, and each
   household's payments), else :class:`SettlementMismatch`. Off chain, only the meters.
7. **report**: ``bills.csv``, ``slots.csv``, ``gas.csv``, PNG plots and an ``index.html`` in
   `out` (see :mod:`daisee_lab.report`), next to ``readings.sqlite`` and ``run.json``.

Off chain. A collective self-consumption operation (``acc_static``, ``acc_dynamic_default``,
``acc_dynamic_simple``; :mod:`daisee_lab.settlement.acc_methods`) has no chain stage: the
allocation is a deterministic function of the grid operator's certified meter curves, computed
once by the party the law names (Enedis, for the operation's legal entity, the PMO), and the
legal entity, the grid operator's contract and the suppliers' billing are not things a chain
provides (docs/collective-self-consumption.md). The report says so, and has no contracts or gas.

Reading meters in compressed time. A real Linky sends a frame every second or so; a day of
them is 70,000 to 120,000 frames per meter. Here each frame stands for :data:`FRAME_SECONDS`
(225 s) of the meter's clock instead (``MeterSimulator(frame_seconds=...)``): four frames a
slot, landing on every slot boundary, each carrying a quarter of the slot's Wh, which binary
floating point holds exactly, so the indexes the meter shows at a boundary (truncated to the
Wh, as a real meter's) are exactly the profile's sums. Nothing is sampled or dropped: each
simulator makes a frame only once its reader has decoded the one before (a lockstep through a
semaphore shared by the two processes), and the reader stamps each frame with the time of the
frame its simulator made last, which the simulator shares through memory. That is exact for
historic frames, which carry no clock; standard frames carry their own (DATE), which times
their energy, and the check requires it to equal the stamp. The readers' readings are recorded
in batches, one durable transaction each (:meth:`~daisee_lab.recorder.Recorder.record_many`).
The run fails unless every frame each simulator made was decoded and recorded.

The output folder must be new, empty, or a previous run's (it holds ``run.json``); a previous
run's files are replaced. A failure in any stage leaves ``readings.sqlite`` and a ``run.json``
saying what failed. Bad arguments raise :class:`RunArgumentError` before anything starts.
"""

from __future__ import annotations

import json
import logging
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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from daisee_lab import community, contracts, settlement, tic
from daisee_lab import report as report_files
from daisee_lab.report import Report
from daisee_lab.chain import RPC_SCHEMES, Chain, ChainError, TransactionReverted, is_rpc_url
from daisee_lab.errors import DaiseeError
from daisee_lab.meter import PARIS, MeterError, MeterSimulator, open_meter
from daisee_lab.reading import Reading
from daisee_lab.recorder import Recorder
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, dated and sourced there
from daisee_lab.units import MIN_ORDER_WH, SLOT_SECONDS, buyer_pays, day_slots, seller_gets

__all__ = ["CHAIN_METHODS", "DEFAULT_DATE", "FIRST_DAY", "FRAMES_PER_SLOT", "FRAME_SECONDS",
           "FUNDS_UEUR", "LAST_DAY", "LEAD", "MAX_HOUSEHOLDS", "MAX_RUN_SEED", "RUN_METHODS",
           "MeterMismatch", "MeterPlan", "Mismatch", "OFF_CHAIN_METHODS", "REPORT_FILES",
           "RUN_YEARS", "Report", "RunArgumentError", "RunError", "SLOT_FUNCTIONS", "STALL_SECONDS",
           "SettlementMismatch", "run_day"]

log = logging.getLogger(__name__)

CHAIN_METHODS = ("mmr", "bill_sharing", "sdr", "auction")  # settled on chain too, and checked
OFF_CHAIN_METHODS = settlement.ACC_METHODS  # collective self-consumption: the kernel settles
RUN_METHODS = CHAIN_METHODS + OFF_CHAIN_METHODS
MAX_RUN_SEED = 999_999  # the seed of a run (it also seeds the meters' keys and ids)
DEFAULT_DATE = date(2026, 6, 21)  # a long, sunny day: the producers have plenty to share
MAX_HOUSEHOLDS = 50
FUNDS_UEUR = 20_000_000  # what each household deposits in the community market (20 €)
FRAMES_PER_SLOT = 4
FRAME_SECONDS = SLOT_SECONDS // FRAMES_PER_SLOT  # meter seconds a frame stands for
LEAD = timedelta(minutes=15)  # the meters start this long before the first slot
# The days a run can simulate: its meters' clocks run from LEAD before the day to its end, and a
# standard-mode Linky's horodate (DATE) holds only tic.HORODATE_YEARS, within community.YEARS.
RUN_YEARS = range(max(tic.HORODATE_YEARS.start, community.YEARS.start),
                  min(tic.HORODATE_YEARS.stop, community.YEARS.stop))
FIRST_DAY = date(RUN_YEARS.start, 1, 1) + timedelta(days=1)  # its meters start the day before
LAST_DAY = date(RUN_YEARS.stop - 1, 12, 31) - timedelta(days=1)  # its last frame: the next day
STALL_SECONDS = 30.0  # real seconds a meter or its reader may stay silent before the run fails
SLOT_FUNCTIONS = ("settle", "commit", "reveal", "clear", "settleDelivery")  # a slot's transactions
REPORT_FILES = ("run.json", "readings.sqlite", "readings.sqlite-wal", "readings.sqlite-shm",
                "bills.csv", "slots.csv", "gas.csv", "index.html", "households.png",
                "community.png", "prices.png", "bills.png")


class RunError(DaiseeError):
    """The run failed in one of its stages; the message says which and what to do."""


class RunArgumentError(RunError, ValueError):
    """A bad argument to :func:`run_day`, found before anything started."""


class Mismatch(RunError):
    """Two things the run checks equal differ; `mismatches` lists every difference."""

    disagree: str  # which two things, said by each kind of mismatch

    def __init__(self, mismatches: list[str]):
        shown = "; ".join(mismatches[:5])
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        super().__init__(f"{self.disagree}: {shown}{more}")
        self.mismatches = mismatches


class SettlementMismatch(Mismatch):
    """The chain's settlement differs from the kernel's."""

    disagree = "the chain and the kernel disagree"


class MeterMismatch(Mismatch):
    """What the meters sent differs from the households' profiles, or a reading's stamp from
    its meter's clock."""

    disagree = "the meters and the profiles disagree"


@dataclass(frozen=True)
class MeterPlan:
    """How one household's meter is simulated: its id (ADSC/ADCO, also its public id in the
    registry), TIC mode, phases, and whether it reports export."""

    household: str
    meter_id: str
    mode: str
    phases: int
    producer: bool


def run_day(households: int = 8, date: date | str | None = None, method: str = "mmr",
            rpc: str | None = None, out: str | Path | None = None, seed: int = 0,
            slots: int | range | None = None, progress: bool = True,
            echo: Callable[[str], None] | None = None) -> Report:
    """Run a community day through the whole pipeline (see the module's docstring).

    `households` (1 to 50) are seeded by `seed`; `date` is the local day (default 2026-06-21;
    for the auction, which trades before delivery, tomorrow); `method` is one of
    :data:`RUN_METHODS` (:data:`OFF_CHAIN_METHODS` use no chain); `rpc` a JSON-RPC node's URL
    (default: eth-tester in process; none off chain); `out` the
    report folder (default ``reports/DATE-METHOD``); `slots` settles only the day's first `slots`
    slots, or, given a range, those slots of the day (``range(44, 52)``: 11:00 to 13:00 on most
    days). `progress` shows a bar per stage on stderr; `echo`, if given, is called with a line
    saying how long each stage took as it ends. Raises :class:`RunArgumentError` for a bad
    argument, before anything starts, and :class:`RunError` (such as :class:`MeterMismatch` or
    :class:`SettlementMismatch`) if a stage fails.
    """
    chain, day, window, out = _check_arguments(households, date, method, rpc, out, seed, slots)
    run = _Run(out, progress, echo, {"households": households, "date": day.isoformat(),
                                     "method": method, "rpc": rpc, "seed": seed,
                                     "slots": [window.start, window.stop]})
    try:
        return run.execute(chain, households, day, method, seed, window)
    except BaseException as exc:
        run.failed(exc)
        raise


# --- arguments ---------------------------------------------------------------------------------

def _check_arguments(households, day, method, rpc, out, seed, slots
                     ) -> tuple[Chain | None, date, range, Path]:
    """Validate everything before any stage starts; return the chain (None off chain), the day,
    the slots to settle and the report folder (created)."""
    bad = RunArgumentError
    if isinstance(households, bool) or not isinstance(households, int) \
            or not 1 <= households <= MAX_HOUSEHOLDS:
        raise bad(f"households={households!r}: give a whole number from 1 to {MAX_HOUSEHOLDS}")
    if method not in RUN_METHODS:
        raise bad(f"method={method!r}: use one of {', '.join(RUN_METHODS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_RUN_SEED:
        raise bad(f"seed={seed!r}: give a whole number from 0 to {MAX_RUN_SEED}")
    if method in OFF_CHAIN_METHODS and rpc is not None:
        raise bad(f"rpc={rpc!r}: {method} settles off chain, as a collective self-consumption "
                  "operation does: give no node")
    if rpc is not None and not is_rpc_url(rpc):
        raise bad(f"rpc={rpc!r}: give a JSON-RPC node's URL ({' or '.join(RPC_SCHEMES)}), such "
                  "as http://127.0.0.1:8545")
    day = _parse_day(day, method)
    in_day = len(day_slots(day))
    if slots is None:
        slots = range(in_day)
    elif isinstance(slots, int) and not isinstance(slots, bool) and 1 <= slots <= in_day:
        slots = range(slots)
    elif not (isinstance(slots, range) and slots.step == 1 and 0 <= slots.start < slots.stop
              <= in_day):
        raise bad(f"slots={slots!r}: give a whole number from 1 to {in_day}, or a range of "
                  f"the day's slots within range(0, {in_day}) (the slots of {day})")
    chain = _chain(rpc, households) if method in CHAIN_METHODS else None
    if method == "auction":
        commits_close = day_slots(day)[slots.start] * SLOT_SECONDS - 600
        if chain.timestamp > commits_close - 600:  # ten minutes to commit every order
            now = datetime.fromtimestamp(chain.timestamp, UTC).isoformat(timespec="minutes")
            raise bad(f"date={day}: the auction takes orders before each slot, but the chain's "
                      f"clock ({now}) is past the first slot's deadline: choose a later date")
    out = Path(f"reports/{day}-{method}" if out is None else out)
    _check_out(out)
    return chain, day, slots, out


def _chain(rpc: str | None, households: int) -> Chain:
    """The chain at `rpc` (None: eth-tester), with accounts for the operator and `households`."""
    try:
        chain = Chain(rpc, accounts=max(10, households + 1))
    except ChainError as exc:
        raise RunArgumentError(f"rpc={rpc!r}: {exc}") from None
    if len(chain.accounts) < households + 1:
        raise RunArgumentError(
            f"the node at {rpc} has {len(chain.accounts)} accounts: {households} households and "
            f"the operator need {households + 1} (start anvil with --accounts {households + 1}) "
            "or use fewer households")
    return chain


def _parse_day(day, method: str) -> date:
    """`day` as a date; None gives the default (for the auction, tomorrow)."""
    if day is None:
        return (datetime.now(PARIS) + timedelta(days=1)).date() if method == "auction" \
            else DEFAULT_DATE
    if isinstance(day, datetime):
        raise RunArgumentError(f"date={day!r}: give a date (YYYY-MM-DD), not a time")
    if not isinstance(day, date):
        try:
            day = date.fromisoformat(str(day))
        except ValueError:
            raise RunArgumentError(f"date={day!r}: give a day as YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RunArgumentError(f"date={day.isoformat()!r}: give a day from {FIRST_DAY} to "
                               f"{LAST_DAY} (the meters' clocks hold the years "
                               f"{RUN_YEARS.start} to {RUN_YEARS.stop - 1})")
    return day


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

    def __init__(self, out: Path, progress: bool, echo: Callable[[str], None] | None,
                 arguments: dict):
        self.out, self.progress, self.echo = out, progress, echo
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
        """Time stage `name` into run.json (and say it, if there is an `echo`)."""
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 2)
        self._save()
        if self.echo is not None:
            self.echo(f"{name:<9} {self.timings[name]:6.2f} s")

    def execute(self, chain: Chain | None, n: int, day: date, method: str, seed: int,
                window: range) -> Report:
        """The seven stages (six off chain, with no `chain`); see the module's docstring."""
        with self.stage("community"), self.bar("community", 2, "step") as bar:
            homes = community.make_households(n, seed)
            bar.update()
            profile = community.profiles(homes, day, 1, seed)
            bar.update()
            # off chain, the households have no accounts; their meters keep the same ids
            accounts = [a.address for a in chain.accounts[1:n + 1]] if chain else [""] * n
            members = contracts.make_members(accounts, seed)
            plans = _plan_meters(homes, [m.public_id for m in members])
            slots = profile.slots[window.start:window.stop]

        database = self.out / "readings.sqlite"
        with self.stage("meters"):
            cpu = _cpu_seconds()
            frames = _record_meters(plans, profile, slots, seed, database, self)
            self.figures.update(frames=frames,
                                simulators_cpu_s=round(_cpu_seconds()[1] - cpu[1], 1),
                                readers_cpu_s=round(_cpu_seconds()[0] - cpu[0], 1))

        with self.stage("records"), self.bar("records", 2, "step") as bar:
            with Recorder(database) as recorder:
                readings = recorder.to_dataframe()
            bar.update()
            energy = _energy(readings, plans, slots)
            imports, exports = energy.import_wh, energy.export_wh
            bar.update()

        with self.stage("kernel"), self.bar("kernel", 2, "step") as bar:
            baseline = settlement.settle(imports, exports, GRID_BUY, GRID_SELL, "none")
            bar.update()
            if method == "auction":
                orders = _auction_orders(imports, exports, seed)
                kernel = settlement.clear_double_auction_slots(*orders)
            else:
                kernel = settlement.settle(imports, exports, GRID_BUY, GRID_SELL, method)
            bar.update()

        on_chain = {"contracts": {}}
        if chain is not None:
            with self.stage("chain"):
                anchors = _anchors(readings, plans, slots)
                if method == "auction":
                    on_chain = _chain_auction(chain, members, imports, exports, anchors, slots,
                                              orders, kernel, self)
                else:
                    on_chain = _chain_community(chain, members, imports, exports, anchors,
                                                slots, method, self)
                self.status["contracts"] = on_chain["contracts"]

        with self.stage("check"), self.bar("check", 2, "step") as bar:
            _check_meters(readings, energy, profile, window, plans)
            bar.update()
            if method == "auction":
                trades, rest = _auction_payments(kernel, imports, exports)
                _check_auction(kernel, orders, trades, on_chain, plans, slots)
                paid, chain_paid = trades + rest, on_chain["paid"] + rest.sum(axis=1)
                grid_bill, rounding = rest.sum(axis=0), trades.sum(axis=0)
            else:
                if chain is not None:
                    _check_community(kernel, on_chain, plans, slots)
                paid = kernel.payments
                chain_paid = on_chain["paid"].sum(axis=1) if chain is not None else None
                grid_bill, rounding = kernel.grid_bill, kernel.rounding
            bar.update()

        with self.stage("report"), self.bar("report", len(report_files.FIGURES) + 4,
                                            "file") as bar:
            gas = None
            if chain is not None:
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


def _record_meters(plans: list[MeterPlan], profile: community.Profiles, slots: np.ndarray,
                   seed: int, database: Path, run: _Run) -> int:
    """Simulate and read every meter from `LEAD` before `slots` to their end, recording every
    frame's reading; return how many frames were read. A meter that stops, or a frame made but
    not decoded and recorded, fails the run (what was recorded stays). The simulators are
    seeded from `seed` and their household's place."""
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
        with Recorder(database) as recorder, run.bar("meters", len(slots), "slot") as bar:
            for i, (meter, port) in enumerate(zip(meters, ports)):
                thread = threading.Thread(target=_reader, name=f"reader {meter.plan.meter_id}",
                                          args=(i, port, meter.lockstep, end, inbox, stopping),
                                          daemon=True)
                thread.start()
                threads.append(thread)
            return _collect(meters, inbox, recorder, first, bar)
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
                return lockstep.made, meter.stats.frames
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

def _energy(readings: pd.DataFrame, plans: list[MeterPlan],
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


def _anchors(readings: pd.DataFrame, plans: list[MeterPlan],
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


# --- auction orders ----------------------------------------------------------------------------

def _auction_orders(imports: np.ndarray, exports: np.ndarray,
                    seed: int) -> tuple[np.ndarray, ...]:
    """Per slot (rows) and household (columns): buyers bid their net import, sellers ask their
    net export, each at a seeded price between the grid's feed-in and import prices; the other
    side's entries are 0 Wh (no order), and so is a need below the auction's smallest order
    (`MIN_ORDER_WH`): the grid serves it."""
    net = (imports.astype(np.int64) - exports).T
    rng = np.random.default_rng(seed)
    bid_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    ask_prices = rng.integers(GRID_SELL, GRID_BUY + 1, net.shape)
    bids, asks = (np.where(q >= MIN_ORDER_WH, q, 0) for q in (np.maximum(net, 0), np.maximum(-net, 0)))
    return bid_prices, bids, ask_prices, asks


def _auction_payments(clearing: settlement.Clearing, imports: np.ndarray,
                      exports: np.ndarray) -> tuple[np.ndarray, ...]:
    """What each household pays per slot (µ€, households x slots) for its trades at the
    clearing price (buyers rounded up, sellers down, as the AuctionMarket does), and for the
    rest of its net energy (unfilled, or too small to order), bought from or sold to the grid
    at the baseline's rule."""
    net = (imports.astype(np.int64) - exports).T
    price = np.maximum(clearing.price, 0)[:, None]
    trades = buyer_pays(clearing.bid_fills, price) - seller_gets(clearing.ask_fills, price)
    rest = settlement.settle((np.maximum(net, 0) - clearing.bid_fills).T,
                             (np.maximum(-net, 0) - clearing.ask_fills).T,
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


def _chain_community(chain: Chain, members: list[contracts.Member], imports, exports,
                     anchors, slots: np.ndarray, method: str, run: _Run) -> dict:
    """Settle every slot in a CommunityMarket from the meters' signed indexes; return the
    payments per household and slot (µ€) and each slot's grid bill and rounding, read from
    the chain."""
    market = contracts.deploy_community(chain, chain.accounts[0], members, GRID_BUY, GRID_SELL,
                                        method)
    net = imports.astype(np.int64) - exports
    demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
    # The grid account prepays the community's net export: what the day's costs it, rounded up.
    export_cost = -(-np.maximum(surplus - demand, 0) * GRID_SELL // 1000)
    market.fund({m.account: FUNDS_UEUR for m in members}
                | {market.grid: max(int(export_cost.sum()), 1)})
    _catch_up(chain, (int(slots[-1]) + 1) * SLOT_SECONDS)
    index_in, index_out = _indexes(anchors[0], imports), _indexes(anchors[1], exports)
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
            positions.append(households.balance_ueur.to_numpy())
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

    def __init__(self, chain: Chain, members: list[contracts.Member], orders,
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
        _catch_up(self.chain, slot * SLOT_SECONDS - 600)
        for order in self.sealed[t]:
            self.auction.reveal(order)
        _catch_up(self.chain, slot * SLOT_SECONDS)
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


def _chain_auction(chain: Chain, members: list[contracts.Member], imports, exports,
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
        _catch_up(chain, (int(slots[-1]) + 1) * SLOT_SECONDS)
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


def _check_meters(readings: pd.DataFrame, energy: community.SlotEnergy,
                  profile: community.Profiles, window: range, plans: list[MeterPlan]) -> None:
    """Every meter's import and export in every slot must be its household's, from the profile
    (after the battery), to the Wh; and every standard frame's clock (DATE) must be the stamp
    its reader gave it; else :class:`MeterMismatch`."""
    wrong = []
    for name in ("import_wh", "export_wh"):
        read, expected = getattr(energy, name), getattr(profile, name)[:, window.start:window.stop]
        wrong += [f"{plans[h].household} in slot {int(energy.slots[t])}: {name} {read[h, t]} "
                  f"from its meter, {expected[h, t]} in its profile"
                  for h, t in np.argwhere(read != expected)]
    clocked = readings.dropna(subset=["meter_time"])
    wrong += [f"meter {row.meter_id}: its frame of {row.meter_time.isoformat()} was stamped "
              f"{row.received_at.isoformat()}"
              for row in clocked[clocked.meter_time != clocked.received_at].itertuples()]
    if wrong:
        raise MeterMismatch(wrong)


# --- tables ------------------------------------------------------------------------------------

def _gas_table(chain: Chain) -> pd.DataFrame:
    """Gas per contract and function over the run: calls, min, mean, max and total."""
    records = chain.gas.to_dataframe()
    table = records.groupby(["contract", "function"], sort=True)["gas_used"].agg(
        calls="count", min="min", mean="mean", max="max", total="sum").reset_index()
    table["mean"] = table["mean"].round().astype("int64")
    return table


def _bills(plans: list[MeterPlan], imports, exports, paid: np.ndarray,
           chain_paid: np.ndarray | None, baseline: settlement.Settlement) -> pd.DataFrame:
    """One row per household: its meter, energies (Wh) and bills (µ€, positive = paid); the
    bill on chain only if there is one (`chain_paid`)."""
    kernel = paid.sum(axis=1)
    without = baseline.payments.sum(axis=1)
    on_chain = {} if chain_paid is None else {
        "chain_ueur": np.asarray(chain_paid, dtype=np.int64)}
    return pd.DataFrame({
        "household": [p.household for p in plans], "meter_id": [p.meter_id for p in plans],
        "mode": [p.mode for p in plans], "phases": [p.phases for p in plans],
        "import_wh": imports.sum(axis=1), "export_wh": exports.sum(axis=1),
        "kernel_ueur": kernel, **on_chain, "baseline_ueur": without,
        "savings_ueur": without - kernel})


def _slots_table(slots: np.ndarray, imports, exports, kernel, grid_bill: np.ndarray,
                 rounding: np.ndarray, baseline: settlement.Settlement,
                 method: str) -> pd.DataFrame:
    """One row per slot: the community's demand and surplus, what it traded inside and with
    the grid (Wh), its prices (µ€/kWh), and the grid bill and rounding (µ€)."""
    net = imports.astype(np.int64) - exports
    demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
    times = pd.to_datetime(slots * SLOT_SECONDS, unit="s", utc=True)
    if method == "auction":
        price = np.maximum(kernel.price, 0)
        traded, buy_price, sell_price = kernel.volume, price, price
        grid_import, grid_export = demand - traded, surplus - traded
    else:  # what the community shared: min(demand, surplus) but under a static ACC key
        traded = demand - kernel.grid_import_wh
        buy_price, sell_price = kernel.buy_price, kernel.sell_price
        grid_import, grid_export = kernel.grid_import_wh, kernel.grid_export_wh
    return pd.DataFrame({
        "slot": slots, "time": times.tz_convert(PARIS).strftime("%Y-%m-%dT%H:%M%z"),
        "demand_wh": demand, "surplus_wh": surplus, "traded_wh": traded,
        "grid_import_wh": grid_import, "grid_export_wh": grid_export, "grid_buy": GRID_BUY,
        "grid_sell": GRID_SELL, "buy_price": buy_price, "sell_price": sell_price,
        "grid_bill_ueur": grid_bill, "rounding_ueur": rounding,
        "baseline_grid_bill_ueur": baseline.grid_bill})
