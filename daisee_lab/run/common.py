"""The main job's constants, errors and meter plan, shared by its stages (import them from
:mod:`daisee_lab.run`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from daisee_lab import community, contracts, settlement, tic
from daisee_lab.errors import DaiseeError
from daisee_lab.units import SLOT_SECONDS

__all__ = ["CHAIN_METHODS", "COMMIT_SECONDS", "DEFAULT_DATE", "FIRST_DAY", "FRAMES_PER_SLOT",
           "FRAME_SECONDS", "FUNDS_UEUR", "LAST_DAY", "LEAD", "MAX_HOUSEHOLDS", "MAX_RUN_SEED",
           "MeterMismatch", "MeterPlan", "Mismatch", "OFF_CHAIN_METHODS", "REPORT_FILES",
           "RUN_METHODS", "RUN_YEARS", "RunArgumentError", "RunError", "SLOT_FUNCTIONS",
           "STALL_SECONDS", "SettlementMismatch"]

CHAIN_METHODS = ("mmr", "bill_sharing", "sdr", "auction")  # settled on chain too, and checked
OFF_CHAIN_METHODS = settlement.ACC_METHODS  # collective self-consumption: the kernel settles
RUN_METHODS = CHAIN_METHODS + OFF_CHAIN_METHODS
MAX_RUN_SEED = contracts.MAX_MEMBER_SEED  # a run's seed also seeds its meters' keys and ids
DEFAULT_DATE = date(2026, 6, 21)  # a long, sunny day: the producers have plenty to share
MAX_HOUSEHOLDS = 50
FUNDS_UEUR = contracts.DEPOSIT_UEUR  # what each household deposits in the community market
FRAMES_PER_SLOT = 4
FRAME_SECONDS = SLOT_SECONDS // FRAMES_PER_SLOT  # meter seconds a frame stands for
LEAD = timedelta(minutes=15)  # the meters start this long before the first slot
# The days a run can simulate: its meters' clocks run from LEAD before the day to its end, and a
# standard-mode Linky's horodate (DATE) holds only tic.HORODATE_YEARS, within community.YEARS.
RUN_YEARS = range(max(tic.HORODATE_YEARS.start, community.YEARS.start),
                  min(tic.HORODATE_YEARS.stop, community.YEARS.stop))
FIRST_DAY = date(RUN_YEARS.start, 1, 1) + timedelta(days=1)  # its meters start the day before
LAST_DAY = date(RUN_YEARS.stop - 1, 12, 31) - timedelta(days=1)  # its last frame: the next day
COMMIT_SECONDS = 600  # chain seconds the auction needs to commit every order of a run
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

