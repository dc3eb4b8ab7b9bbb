"""The main job's arguments, checked before any stage starts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from daisee_lab import contracts
from daisee_lab.chain import RPC_SCHEMES, Chain, is_rpc_url
from daisee_lab.run.common import (CHAIN_METHODS, COMMIT_SECONDS, DEFAULT_DATE, FIRST_DAY,
                                   LAST_DAY, MAX_HOUSEHOLDS, MAX_RUN_SEED, OFF_CHAIN_METHODS,
                                   RUN_METHODS, RUN_YEARS, RunArgumentError)
from daisee_lab.units import PARIS, SLOT_SECONDS, day_slots

__all__ = ["check_arguments"]


def check_arguments(households, day, method, rpc, out, seed, slots
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
    if method == "auction" and chain is not None:
        commits_close = (day_slots(day)[slots.start] * SLOT_SECONDS
                         - contracts.DEFAULT_REVEAL_SECONDS)
        if chain.timestamp > commits_close - COMMIT_SECONDS:
            now = datetime.fromtimestamp(chain.timestamp, UTC).isoformat(timespec="minutes")
            raise bad(f"date={day}: the auction takes orders before each slot, but the chain's "
                      f"clock ({now}) is past the first slot's deadline: choose a later date")
    out = Path(f"reports/{day}-{method}" if out is None else out)
    _check_out(out)
    return chain, day, slots, out


def _chain(rpc: str | None, households: int) -> Chain:
    """The chain at `rpc` (None: eth-tester), with accounts for the operator and `households`."""
    chain = Chain(rpc, accounts=max(10, households + 1))  # unreachable: a ChainError (exit 1)
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

