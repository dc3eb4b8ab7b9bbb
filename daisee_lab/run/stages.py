"""The main job's stages, in order: :func:`run_day` and the state of one run."""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from daisee_lab import community, contracts, settlement
from daisee_lab import report as report_files
from daisee_lab.chain import Chain
from daisee_lab.recorder import Recorder
from daisee_lab.report import Report
from daisee_lab.run.arguments import check_arguments
from daisee_lab.run.checks import (bills_table, check_auction, check_community, check_meters,
                                   gas_table, slots_table)
from daisee_lab.run.common import REPORT_FILES, SLOT_FUNCTIONS
from daisee_lab.run.fleet import anchors_of, energy_of, plan_meters, record_meters
from daisee_lab.run.market import auction_orders, auction_payments, chain_auction, chain_community
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, dated and sourced there

__all__ = ["run_day"]


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
    chain, day, window, out = check_arguments(households, date, method, rpc, out, seed, slots)
    run = _Run(out, progress, echo, {"households": households, "date": day.isoformat(),
                                     "method": method, "rpc": rpc, "seed": seed,
                                     "slots": [window.start, window.stop]})
    try:
        return run.execute(chain, households, day, method, seed, window)
    except BaseException as exc:
        run.failed(exc)
        raise



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
            plans = plan_meters(homes, [m.public_id for m in members])
            slots = profile.slots[window.start:window.stop]

        database = self.out / "readings.sqlite"
        with self.stage("meters"):
            cpu = _cpu_seconds()
            frames = record_meters(plans, profile, slots, seed, database, self.bar)
            self.figures.update(frames=frames,
                                simulators_cpu_s=round(_cpu_seconds()[1] - cpu[1], 1),
                                readers_cpu_s=round(_cpu_seconds()[0] - cpu[0], 1))

        with self.stage("records"), self.bar("records", 2, "step") as bar:
            with Recorder(database) as recorder:
                readings = recorder.to_dataframe()
            bar.update()
            energy = energy_of(readings, plans, slots)
            imports, exports = energy.import_wh, energy.export_wh
            bar.update()

        with self.stage("kernel"), self.bar("kernel", 2, "step") as bar:
            baseline = settlement.settle(imports, exports, GRID_BUY, GRID_SELL, "none")
            bar.update()
            kernel: settlement.Settlement | settlement.Clearing  # what the report shows
            if method == "auction":
                orders = auction_orders(imports, exports, seed)
                kernel = clearing = settlement.clear_double_auction_slots(*orders)
            else:
                kernel = settled = settlement.settle(imports, exports, GRID_BUY, GRID_SELL,
                                                     method)
            bar.update()

        on_chain: dict[str, Any] = {"contracts": {}}
        if chain is not None:
            with self.stage("chain"):
                anchors = anchors_of(readings, plans, slots)
                if method == "auction":
                    on_chain = chain_auction(chain, members, imports, exports, anchors, slots,
                                             orders, clearing, self.bar)
                else:
                    on_chain = chain_community(chain, members, imports, exports, anchors,
                                               slots, method, self.bar)
                self.status["contracts"] = on_chain["contracts"]

        with self.stage("check"), self.bar("check", 2, "step") as bar:
            check_meters(readings, energy, profile, window, plans)
            bar.update()
            if method == "auction":
                trades, rest = auction_payments(clearing, imports, exports)
                check_auction(clearing, orders, trades, on_chain, plans, slots)
                paid, chain_paid = trades + rest, on_chain["paid"] + rest.sum(axis=1)
                grid_bill, rounding = rest.sum(axis=0), trades.sum(axis=0)
            else:
                if chain is not None:
                    check_community(settled, on_chain, plans, slots)
                paid = settled.payments
                chain_paid = on_chain["paid"].sum(axis=1) if chain is not None else None
                grid_bill, rounding = settled.grid_bill, settled.rounding
            bar.update()

        with self.stage("report"), self.bar("report", len(report_files.FIGURES) + 4,
                                            "file") as bar:
            gas = None
            if chain is not None:
                gas = gas_table(chain)
                self.figures["gas_per_slot"] = int(
                    gas[gas.function.isin(SLOT_FUNCTIONS)].total.sum() / len(slots))
            meters = pd.DataFrame([vars(p) for p in plans]).assign(
                pv_kwp=[h.pv_kwp for h in homes], battery_kwh=[h.battery_kwh for h in homes])
            result = Report(self.out, method, day, meters, energy, kernel, baseline,
                            bills_table(plans, imports, exports, paid, chain_paid, baseline),
                            slots_table(slots, imports, exports, kernel, grid_bill, rounding,
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

