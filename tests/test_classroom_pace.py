"""A learner's pace: an order still being recorded when its reveal window opens is opened all
the same (attack 6, the race), and chapter 13 run with real pauses between its cells, as a reader
takes them, ends with no error and no forfeited deposit (its room waits for the reader)."""

import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from daisee_lab.classroom import Classroom, join
from daisee_lab.classroom.schedule import REVEAL_SECONDS
from daisee_lab.units import SLOT_SECONDS

CHAPTER = Path(__file__).parent.parent / "book" / "13-the-classroom-market.ipynb"
# A reader's pause before each exercise, as the book issue asks: five times the whole session
# of chapter 13's room when its clock ran on its own (3 slots of 8 s, phases ending early, about
# 12 s); a reader pausing 20 s before exercise 13.1 found that session over ("it is over").
PAUSE = 60.0


class ObservedLock:
    """A re-entrant lock that tells when a thread has to wait for it."""

    def __init__(self):
        self.lock, self.contended = threading.RLock(), threading.Event()

    def __enter__(self):
        if not self.lock.acquire(blocking=False):
            self.contended.set()
            self.lock.acquire()
        return self

    def __exit__(self, *exc):
        self.lock.release()


def test_an_order_recorded_while_the_reveal_window_opens_is_revealed(tmp_path):
    """Attack 6: the commitment is mined in the commit window, the reveal window opens while
    `bid` is still recording it, and the learner's reveal starts then: it must wait for the
    order and open it, not miss it (its deposit would be forfeited)."""
    with Classroom(1, tmp_path, port=None, slots=1, slot_seconds=3) as room:
        me = join(room.url, room.seats[0].code)
        slot = room.schedule.first_slot
        room.chain.advance_time((slot - 1) * SLOT_SECONDS - room.chain.timestamp)  # commit phase
        me.sender.lock = ObservedLock()
        real_wait, revealed = me.sender.wait, []

        def wait_then_race(strict=True):
            outcomes = real_wait(strict)  # the commitment is mined
            room.chain.advance_time(slot * SLOT_SECONDS - REVEAL_SECONDS - room.chain.timestamp)
            racer = threading.Thread(target=lambda: revealed.extend(me.reveal()))
            racer.start()
            assert me.sender.lock.contended.wait(timeout=30)  # reveal waits for this commit
            me.sender.wait = real_wait
            wait_then_race.racer = racer
            return outcomes

        me.sender.wait = wait_then_race
        order = me.bid(200_000, 100)
        wait_then_race.racer.join(timeout=60)
        assert me.phase().name == "reveal" and revealed == [order]
        assert me.opened(order) == 0
        assert room.auction.book(slot)[0].qty.tolist() == [100]


@pytest.mark.slow(minutes=True)
def test_chapter_13_at_a_readers_pace(tmp_path):
    """The chapter's cells in a fresh kernel, with a 60-second pause before every exercise: no
    cell fails, the reader's every order is opened (no deposit forfeited), and
    every slot of the session is billed."""
    book = nbformat.read(CHAPTER, as_version=4)
    code = [(i, c) for i, c in enumerate(book.cells) if c.cell_type == "code"]
    exercises = {i + 1 for i, c in enumerate(book.cells)
                 if c.cell_type == "markdown" and c.source.startswith("### Exercise")}
    trading = next(i for i, c in code if "me.wait_for(\"commit\", after=phase)" in c.source)
    closing = code[-1][0]
    assert len(exercises) == 3 and closing > max(exercises)
    check = nbformat.v4.new_code_cell(
        "assert all(me.opened(o) is not None for o in me.orders_placed), me.orders()\n"
        "assert me.orders_placed and not me.failure\n"
        "assert sorted(room.results.slot.unique()) == list(range(room.schedule.first_slot, "
        "room.schedule.first_slot + room.schedule.slots))\n"
        "print('checked')")
    book.cells.append(check)
    client = NotebookClient(book, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    paused = 0.0
    with client.setup_kernel():
        for index, cell in code:
            if index in exercises:
                time.sleep(PAUSE)  # the reader reads (the room is live, or over)
                paused += PAUSE
            if index == closing:
                client.execute_cell(check, len(book.cells) - 1)
                assert check.outputs[-1]["text"] == "checked\n"
            client.execute_cell(cell, index)
    assert paused == 3 * PAUSE and trading > min(exercises)  # pauses while the room is live
    assert (tmp_path / "lab" / "room" / "results.csv").exists()

