"""A shared anvil chain for a room of learners: a live neighbourhood market in ten minutes.

The instructor runs ``daisee-lab classroom serve --learners 20`` (or :func:`serve`, or a
:class:`Classroom` in a notebook with its :func:`dashboard`): anvil starts on loopback, the
contracts are deployed, every seat gets a one-time join code and a meter. Each learner runs
``daisee-lab classroom join http://ROOM --code CODE`` or, in a notebook,
``learner = join("http://ROOM", code="CODE")``: its key is made on its own machine, it reaches
the chain through the room's guarded endpoint (:mod:`.guard`), and it places sealed bids and
asks (:class:`Learner`). The room's clock (:mod:`.schedule`) moves the chain
through commit, reveal, clearing and delivery; each slot is billed (:mod:`.bills`) and the
leaderboard shows who saved most against the grid.

Modules: :mod:`.schedule` (the clock), :mod:`.instructor` (:class:`Classroom`), :mod:`.joins`
(seats, join codes, the pages to project and hand out, the QR code), :mod:`.state` (a session
on disk, resumed), :mod:`.relay` (the simulated meters' readings), :mod:`.learner`
(:class:`Learner`, :func:`join`), :mod:`.meters` (simulated and serial meters),
:mod:`.meter_process` (a learner's real meter, signing in a process of its own), :mod:`.bills`
(a slot's bills), :mod:`.guard` (the learners' endpoint and join desk), :mod:`.live` (terminal
and dashboard). Transactions go in batches (:meth:`daisee_lab.chain.Chain.batch`).
"""

from daisee_lab.classroom.bills import leaderboard, slot_bills
from daisee_lab.classroom.guard import Guard
from daisee_lab.classroom.instructor import Classroom, stop
from daisee_lab.classroom.joins import Seat
from daisee_lab.classroom.learner import Learner, join
from daisee_lab.classroom.live import Dashboard, attend, dashboard, serve
from daisee_lab.classroom.meter_process import LedgerForecast, MeterProcess
from daisee_lab.classroom.meters import ProfileMeter, SerialMeter
from daisee_lab.classroom.schedule import ClassroomError, Phase, Schedule

__all__ = ["Classroom", "ClassroomError", "Dashboard", "Guard", "Learner", "LedgerForecast",
           "MeterProcess", "Phase", "ProfileMeter", "Schedule", "Seat", "SerialMeter", "attend",
           "dashboard", "join", "leaderboard", "serve", "slot_bills", "stop"]
