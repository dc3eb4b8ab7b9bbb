"""The room's clock: classroom slots of a minute or so of real time, chain slots of 900 s.

Classroom slot ``j`` is chain slot ``c = first_slot - 1 + j``: the instructor's clock moves the
chain's time to ``c·900`` when it starts, and to ``(c+1)·900 - REVEAL_SECONDS`` after the commit
share of its real time. Between the two jumps the chain's time runs at wall-clock speed, which
the bounds on ``slot_seconds`` keep inside each window. While slot ``c`` is under way:

* **commit**: chain time in ``[c·900, (c+1)·900 - REVEAL_SECONDS)``. Learners seal orders for
  slot ``c+1``. The clock has just cleared slot ``c``, and the meters have reported their
  readings at the end of slot ``c-1`` and shown what their households delivered in ``c-1``.
* **reveal**: chain time in ``[(c+1)·900 - REVEAL_SECONDS, (c+1)·900)``. Learners open their
  orders for ``c+1``. At the jump the clock has settled the sales of ``c-1`` nobody showed
  delivered (their delivery window, ``DELIVERY_SECONDS``, is over) and billed slot ``c-1``.

The chain's time is the room's only clock: learners read it from the latest block, so a wrong
clock on a learner's laptop changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daisee_lab.errors import DaiseeError
from daisee_lab.simulator import DEFAULT_START
from daisee_lab.units import SLOT_SECONDS

REVEAL_SECONDS = 300  # chain seconds of the reveal window, before a slot starts
DELIVERY_SECONDS = SLOT_SECONDS - REVEAL_SECONDS  # after a slot, for sellers to show delivery
COMMIT_SHARE = 2 / 3  # of a classroom slot's real time, for the commit phase
MIN_SLOT_SECONDS, MAX_SLOT_SECONDS = 3, 600  # real seconds; commit and reveal fit their windows


class ClassroomError(DaiseeError):
    """A classroom could not start, lost its node, or was given a bad setting, code or seat."""


@dataclass(frozen=True)
class Phase:
    """Where the room is: chain slot `slot` is under way, and it is `name` (``"commit"`` or
    ``"reveal"``) time for the orders of slot ``slot + 1``."""

    slot: int
    name: str

    @property
    def trading(self) -> int:
        """The slot whose orders are sealed or opened now."""
        return self.slot + 1


@dataclass(frozen=True)
class Schedule:
    """A session's timetable: orders for chain slots ``first_slot`` to ``first_slot + slots - 1``
    (`slots` None: until the instructor stops), `slot_seconds` of real time per slot, and the
    simulated time at which ``first_slot`` starts (for simulated meters' sun and habits)."""

    first_slot: int
    slots: int | None
    slot_seconds: float
    start: datetime = DEFAULT_START

    def __post_init__(self) -> None:
        if not MIN_SLOT_SECONDS <= self.slot_seconds <= MAX_SLOT_SECONDS:
            raise ClassroomError(
                f"slot_seconds={self.slot_seconds!r}: a classroom slot lasts {MIN_SLOT_SECONDS} "
                f"to {MAX_SLOT_SECONDS} s of real time (its phases must fit the chain's windows)")
        if self.slots is not None and self.slots < 1:
            raise ClassroomError(f"slots={self.slots!r}: give a positive number, or None")
        if self.start.utcoffset() is None:
            raise ClassroomError(f"start={self.start!r} is naive: give a timezone")

    def phase(self, timestamp: int) -> Phase:
        """The phase at chain time `timestamp`."""
        slot, offset = divmod(timestamp, SLOT_SECONDS)
        return Phase(slot, "commit" if offset < SLOT_SECONDS - REVEAL_SECONDS else "reveal")

    def trades(self, slot: int) -> bool:
        """True if the room trades energy for chain slot `slot`."""
        return self.first_slot <= slot and (self.slots is None
                                            or slot < self.first_slot + self.slots)

    @property
    def commit_seconds(self) -> float:
        """Real seconds of the commit phase (at most: it ends early when everyone is done)."""
        return self.slot_seconds * COMMIT_SHARE

    @property
    def reveal_seconds(self) -> float:
        """Real seconds of the reveal phase (at most)."""
        return self.slot_seconds - self.commit_seconds

    def to_json(self) -> dict:
        """The schedule as a seat's data (and the room's saved state) holds it."""
        return {"first_slot": self.first_slot, "slots": self.slots,
                "slot_seconds": self.slot_seconds, "start": self.start.isoformat(),
                "chain_slot": SLOT_SECONDS, "reveal_seconds": REVEAL_SECONDS,
                "delivery_seconds": DELIVERY_SECONDS}

    @classmethod
    def from_json(cls, data: object) -> Schedule:
        """Read :meth:`to_json`'s form back; :class:`ClassroomError` naming the problem if a
        field is missing or wrong, or if the room's chain slot or windows are not this
        version's (its phases would be computed wrong)."""
        if not isinstance(data, dict):
            raise _bad(f"it is {type(data).__name__}, not an object")
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise _bad(f"it has no {missing[0]!r}")
        for name, ours in _WINDOWS.items():
            if name in data and data[name] != ours:
                raise _bad(f"{name}={data[name]!r}, this version's is {ours}: the room runs "
                           "another version of daisee-lab")
        first, slots, seconds, start = (data[name] for name in _FIELDS)
        if not _whole(first):
            raise _bad(f"first_slot={first!r} is not a whole number")
        if slots is not None and not _whole(slots):
            raise _bad(f"slots={slots!r} is not a whole number or null")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise _bad(f"slot_seconds={seconds!r} is not a number")
        try:
            when = datetime.fromisoformat(start)
        except (TypeError, ValueError):
            raise _bad(f"start={start!r} is not an ISO date and time") from None
        try:
            return cls(first, slots, float(seconds), when)
        except ClassroomError as exc:
            raise _bad(str(exc)) from None


_FIELDS = ("first_slot", "slots", "slot_seconds", "start")  # what Schedule.from_json needs
_WINDOWS = {"chain_slot": SLOT_SECONDS, "reveal_seconds": REVEAL_SECONDS,
            "delivery_seconds": DELIVERY_SECONDS}  # what a room and its learners must share


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(problem: str) -> ClassroomError:
    return ClassroomError(f"bad schedule in the seat's data: {problem}: join again with a code "
                          "from the instructor")
