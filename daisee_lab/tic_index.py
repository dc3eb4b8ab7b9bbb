"""The index check of a TIC stream decoder: what a 6-bit checksum cannot catch about a
meter's energy indexes, judged against the stream's history (see :mod:`daisee_lab.tic`).

An index that goes backwards, or forwards by more than twice the subscribed power allows over
the time elapsed, is flagged; `REANCHOR_READINGS` flagged readings in a row that agree with each
other replace the reference. Used by :class:`daisee_lab.tic.TicDecoder`. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from daisee_lab.tic_labels import _PLAUSIBLE_FACTOR, _registers, _subscribed

if TYPE_CHECKING:
    from daisee_lab.tic import Frame

__all__ = ["CLOCK_SLACK_S", "REANCHOR_READINGS"]

REANCHOR_READINGS = 3  # flagged readings in a row that agree replace the reference index
CLOCK_SLACK_S = 1  # added to an elapsed time: the meter's clock counts whole seconds
_TRACKED_METERS = 8  # meters whose last index a decoder keeps (a line has one; noise makes more)


@dataclass(frozen=True)
class _Snapshot:
    """A meter's valid indexes at one frame, and when: its clock (DATE), the caller's `at`."""

    registers: dict[str, int]
    meter_time: datetime | None
    at: float | None

    def elapsed(self, before: _Snapshot) -> float | None:
        """Seconds since `before`, by the meter's clock, else the caller's; None if unknown."""
        if self.meter_time is not None and before.meter_time is not None:
            seconds = (self.meter_time - before.meter_time).total_seconds()
        elif self.at is not None and before.at is not None:
            seconds = self.at - before.at
        else:
            return None
        return seconds if seconds >= 0 else None


@dataclass
class _Track:
    """What a decoder remembers of one meter: its last plausible indexes, the flagged readings
    in a row that agree with each other, and its subscribed power."""

    reference: _Snapshot
    pending: list[_Snapshot] = field(default_factory=list)
    subscribed: tuple[int, str] | None = None


def _implausible(before: _Snapshot, now: _Snapshot,
                 subscribed: tuple[int, str] | None) -> tuple[tuple[str, str], ...]:
    """(label, reason) for each index of `now` that went backwards from `before`, or forwards
    by more than twice the subscribed power allows over the elapsed time (if known)."""
    elapsed, flags = now.elapsed(before), []
    for label, wh in now.registers.items():
        last = before.registers.get(label)
        if last is None:
            continue
        if wh < last:
            flags.append((label, f"{label} = {wh} Wh: below {last} Wh, the last plausible "
                                 "index: an index never goes backwards"))
        elif elapsed is not None and subscribed is not None:
            va, source = subscribed
            allowed = 1 + _PLAUSIBLE_FACTOR * va * (elapsed + CLOCK_SLACK_S) / 3600
            if wh - last > allowed:
                flags.append((label, f"{label} = {wh} Wh: {wh - last} Wh more than {last} Wh, "
                              f"the last plausible index, {elapsed:g} s earlier; twice the "
                              f"subscribed {va} VA ({source}) allows {int(allowed)} Wh"))
    return tuple(flags)


class _IndexCheck:
    """The index check of a stream decoder (see the module's docstring), per meter id."""

    def __init__(self) -> None:
        self._meters: dict[str, _Track] = {}

    def check(self, frame: Frame, at: float | None) -> tuple[tuple[tuple[str, str], ...],
                                                             tuple[str, ...]]:
        """(flags, notes) for `frame`, received at `at`; remembers its plausible indexes."""
        values = frame.values
        meter_id = values.get("ADCO" if frame.mode == "historic" else "ADSC")
        registers = _registers(values, frame.mode, [])
        if not meter_id or not registers:
            return (), ()
        now = _Snapshot(registers, frame.horodates.get("DATE"), at)
        track = self._meters.get(meter_id)
        if track is None:
            if len(self._meters) >= _TRACKED_METERS:
                del self._meters[next(iter(self._meters))]
            self._meters[meter_id] = _Track(now, subscribed=_subscribed(values, frame.mode))
            return (), ()
        track.subscribed = _subscribed(values, frame.mode) or track.subscribed
        flags = _implausible(track.reference, now, track.subscribed)
        if not flags:
            track.reference, track.pending = now, []
            return (), ()
        agrees = track.pending and not _implausible(track.pending[-1], now, track.subscribed)
        track.pending = [*track.pending, now] if agrees else [now]
        if len(track.pending) < REANCHOR_READINGS:
            return flags, ()
        track.reference, track.pending = now, []
        return (), (f"index re-anchored: {REANCHOR_READINGS} readings in a row agree with each "
                    f"other, not with the last plausible one ({'; '.join(r for _, r in flags)})"
                    ": that one was wrong, or the meter was reset",)
