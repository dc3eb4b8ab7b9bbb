"""Stopping and restarting a room on the same folder resumes the session: the chain, the seats,
the learners' doors on the same port, the slot it was in; learners reconnect by themselves."""

import pytest

from daisee_lab.classroom import Classroom, ClassroomError, join
from daisee_lab.settlement import clear_double_auction

pytestmark = pytest.mark.slow  # rooms on anvil, stopped and resumed

SLOTS = 4


def test_a_stopped_room_resumes_where_it_was_and_its_learners_come_back(tmp_path):
    room = Classroom(3, tmp_path, port=None, slots=SLOTS, slot_seconds=60, seed=2)
    with room:
        learners = [join(room.url, seat.code, keep=tmp_path / f"seat-{i}.json")
                    for i, seat in enumerate(room.seats)]
        for learner in learners:
            learner.start(auto=True)
        room.on_slot.append(lambda table: room.stop() if room.results.slot.nunique() == 2
                            else None)
        room.run()
        url, first = room.url, room.schedule.first_slot
    assert not room.anvil.alive() and sorted(room.results.slot.unique()) == [first, first + 1]
    assert all(learner.running for learner in learners)  # calling the silent room again

    again = Classroom(3, tmp_path, port=None, slots=SLOTS, slot_seconds=60, seed=2)
    with again:
        assert again.resumed and again.url == url and again.schedule.first_slot == first
        assert [s.address for s in again.seats] == [one.account.address for one in learners]
        results = again.run()
        for learner in learners:
            assert learner.wait(timeout=60) and learner.failure is None
            learner.stop()
        assert sorted(results.slot.unique()) == list(range(first, first + SLOTS))
        assert len(results) == 3 * SLOTS and not again.failures
        for slot in range(first, first + SLOTS):
            bids, asks = again.auction.book(slot)
            kernel = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                          asks.price.to_numpy(), asks.qty.to_numpy())
            _, _, cleared, price, volume = again.auction.market.rounds(slot)
            assert cleared and (volume, price) == (kernel.volume, max(kernel.price, 0))
            assert (asks.escrow == 0).all()
        after = [o for one in learners for o in one.orders_placed if o.slot >= first + 2]
        placed = [(one, o) for one in learners for o in one.orders_placed]
        assert after and all(one.opened(o) is not None for one, o in placed), \
            [(one.name, one.errors) for one in learners]
        credit = again.auction.credit
        assert credit.totalSupply() == sum(credit.balanceOf(one.account.address)
                                           for one in learners) + credit.balanceOf(
            again.auction.market.address)
    with pytest.raises(ClassroomError, match="cannot reach a JSON-RPC node"):
        join(tmp_path / "seat-0.json")  # the room is closed for good now
    with Classroom(3, tmp_path, port=None, slots=SLOTS, slot_seconds=4) as new:
        assert not new.resumed and all(s.code for s in new.seats)  # that session was over


def test_a_room_not_to_resume_starts_a_new_session(tmp_path):
    with Classroom(1, tmp_path, port=None, slots=1, slot_seconds=3) as room:
        code = room.seats[0].code
    with Classroom(1, tmp_path, port=None, slots=1, slot_seconds=3) as again:
        assert again.resumed and again.seats[0].code == code
    with Classroom(1, tmp_path, port=None, slots=1, slot_seconds=3, resume=False) as new:
        assert not new.resumed and new.seats[0].code != code
