"""Chapter 13's checkers against a small room on anvil: right answers pass, wrong ones get a
hint."""

import threading

import pytest

from daisee_lab.classroom import Classroom, join
from daisee_lab.exercises import check

pytestmark = pytest.mark.slow  # a room on anvil


@pytest.fixture(scope="module")
def room(tmp_path_factory):
    with Classroom(3, tmp_path_factory.mktemp("room"), port=None, slots=2, slot_seconds=6,
                   seed=5) as room:
        learners = [join(room.url, code=seat.code) for seat in room.seats]
        me = learners[0]
        room.pace(me)  # as in the chapter: a loaded machine cannot make `me` miss a window
        for learner in learners[1:]:
            learner.start(auto=True)
        me.start()
        clock = threading.Thread(target=room.run, daemon=True)
        clock.start()
        first = me.wait_for("commit")
        with me.chain.expect_revert() as caught:
            me.bid(200_000, 100, deposit=me.balances()["wallet"] + 1)
        small = me.bid(200_000, 100, deposit=1)  # refused later, at its reveal
        second = me.wait_for("commit", after=first)
        need = me.meter.forecast(second.trading)  # an order likely to trade: savings
        me.bid(240_000, need) if need > 0 else me.ask(110_000, max(-need, 1))
        clock.join()
        for learner in learners:
            learner.stop()
        room.refused, room.me, room.small = caught.revert, me, small
        yield room


def test_11_1_a_refused_order(room):
    assert check("13.1", room.refused)
    assert room.refused.name == "ERC20InsufficientBalance"
    too_small = [revert for _, revert in room.me.errors if "InsufficientDeposit" in str(revert)]
    assert too_small, room.me.errors
    assert "at the reveal" in check("13.1", too_small[0].revert).message
    assert "caught.revert" in check("13.1", "ERC20InsufficientBalance").message


def test_11_2_the_clearing_price(room):
    slot = room.schedule.first_slot
    price = room.auction.market.rounds(slot)[3]
    assert check("13.2", (room, slot, price))
    assert not check("13.2", (room, slot, price + 1))
    assert "did not trade" in check("13.2", (room, slot - 5, price)).message
    assert "triple" in check("13.2", (slot, price)).message


def test_11_3_savings(room):
    name = room.me.name
    rows = room.results[room.results.learner == name]
    savings = int(rows.baseline_ueur.sum() - rows.bill_ueur.sum())
    assert check("13.3", (room, name, savings))
    if savings:
        assert "keep the sign" in check("13.3", (room, name, -savings)).message
        assert "is a bill" in check("13.3", (room, name, int(rows.bill_ueur.sum()))).message
    assert "no learner" in check("13.3", (room, "nobody", savings)).message
