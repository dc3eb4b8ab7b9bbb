"""A class starts before every learner has opened a laptop: a commit phase while seats are still
empty runs its whole time, so a learner who joins after the clock started still trades."""

import threading

import pytest
from polling import holds_for

from daisee_lab.classroom import Classroom, join

pytestmark = pytest.mark.slow  # a room on anvil over two 30 s slots


def test_a_learner_who_joins_after_the_clock_started_still_trades(tmp_path):
    room = Classroom(1, tmp_path, port=None, slots=2, slot_seconds=30, seed=3)
    with room:
        first_phase = threading.Event()
        room.on_phase.append(lambda phase: first_phase.set())
        clock = threading.Thread(target=room.run, daemon=True)
        clock.start()
        assert first_phase.wait(timeout=60)
        opening = room.phase  # the room's clock runs; the learner is still opening a laptop
        holds_for(lambda: clock.is_alive() and room.phase == opening, seconds=1,
                  what="the session waits in its first commit phase for its empty seat")
        assert opening.name == "commit"
        learner = join(room.url, room.seats[0].code, keep=tmp_path / "seat.json")
        learner.start(auto=True)
        clock.join(timeout=300)
        learner.stop()
        assert not clock.is_alive()
        assert learner.orders_placed and learner.failure is None
        assert all(learner.opened(order) is not None for order in learner.orders_placed)
        assert room.results.learner.tolist() == [room.seats[0].name] * 2
