"""A shared anvil chain for a room of learners: a live neighbourhood market in ten minutes.

The instructor runs ``daisee-lab classroom serve --learners 20`` (or :func:`serve`, or a
:class:`Classroom` in a notebook with its :func:`dashboard`): anvil starts, the contracts are
deployed, every learner gets a join file with fresh keys and credits. Each learner runs
``daisee-lab classroom join FILE`` or, in a notebook, ``learner = join(FILE)`` and places
sealed bids and asks (:class:`Learner`). The room's clock (:mod:`.schedule`) moves the chain
through commit, reveal, clearing and delivery; each slot is billed (:mod:`.bills`) and the
leaderboard shows who saved most against the grid.

Modules: :mod:`.schedule` (the clock), :mod:`.instructor` (:class:`Classroom`),
:mod:`.learner` (:class:`Learner`, :func:`join`), :mod:`.meters` (simulated and serial meters),
:mod:`.bills` (a slot's bills), :mod:`.sender` (fast batches of transactions), :mod:`.live`
(terminal and dashboard).
"""

from daisee_lab.classroom.bills import leaderboard, slot_bills
from daisee_lab.classroom.instructor import Classroom, Seat, stop
from daisee_lab.classroom.learner import Learner, join
from daisee_lab.classroom.live import Dashboard, attend, dashboard, serve
from daisee_lab.classroom.meters import ProfileMeter, SerialMeter
from daisee_lab.classroom.schedule import ClassroomError, Phase, Schedule

__all__ = ["Classroom", "ClassroomError", "Dashboard", "Learner", "Phase", "ProfileMeter",
           "Schedule", "Seat", "SerialMeter", "attend", "dashboard", "join", "leaderboard",
           "serve", "slot_bills", "stop"]
