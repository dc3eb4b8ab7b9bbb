"""The main job: one community day, from the bytes of its meters to on-chain settlement.

:func:`run_day` (``daisee-lab run``) chains the library's real components, stage by stage:

1. **community**: :func:`daisee_lab.community.make_households` and
   :func:`~daisee_lab.community.profiles` give seeded households (some with PV) and their day.
2. **meters**: each household gets a :class:`~daisee_lab.simulator.MeterSimulator` on its own
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
5. **chain** (:data:`CHAIN_METHODS` only): the meters sign their indexes at each slot's end
   (EIP-712) and a CommunityMarket (:func:`~daisee_lab.contracts.deploy_community`) settles
   every slot, one transaction each (:meth:`~daisee_lab.contracts.Community.settle_energy`); or
   an AuctionMarket takes every order sealed, then per slot reveals, clears and settles the
   deliveries (:class:`~daisee_lab.contracts.AuctionDay`). In process on eth-tester by default,
   or on any JSON-RPC node (`rpc`).
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

The package: :mod:`~daisee_lab.run.stages` (:func:`run_day`, the stages in order),
:mod:`~daisee_lab.run.arguments`, :mod:`~daisee_lab.run.fleet` (the meters and their readers),
:mod:`~daisee_lab.run.market` (the auction's orders, the chain stage),
:mod:`~daisee_lab.run.checks` (the checks and the report's tables) and
:mod:`~daisee_lab.run.common` (constants and errors); import from ``daisee_lab.run``.
"""

from __future__ import annotations

from daisee_lab.report import Report
from daisee_lab.run.common import (CHAIN_METHODS, DEFAULT_DATE, FIRST_DAY, FRAME_SECONDS,
                                   FRAMES_PER_SLOT, FUNDS_UEUR, LAST_DAY, LEAD, MAX_HOUSEHOLDS,
                                   MAX_RUN_SEED, OFF_CHAIN_METHODS, REPORT_FILES, RUN_METHODS,
                                   RUN_YEARS, SLOT_FUNCTIONS, STALL_SECONDS, MeterMismatch,
                                   MeterPlan, Mismatch, RunArgumentError, RunError,
                                   SettlementMismatch)
from daisee_lab.run.stages import run_day

__all__ = ["CHAIN_METHODS", "DEFAULT_DATE", "FIRST_DAY", "FRAMES_PER_SLOT", "FRAME_SECONDS",
           "FUNDS_UEUR", "LAST_DAY", "LEAD", "MAX_HOUSEHOLDS", "MAX_RUN_SEED", "RUN_METHODS",
           "MeterMismatch", "MeterPlan", "Mismatch", "OFF_CHAIN_METHODS", "REPORT_FILES",
           "RUN_YEARS", "Report", "RunArgumentError", "RunError", "SLOT_FUNCTIONS", "STALL_SECONDS",
           "SettlementMismatch", "run_day"]
