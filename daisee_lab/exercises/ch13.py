"""Chapter 13, the classroom market: a refused order, a slot's clearing, a learner's savings."""

from __future__ import annotations

from daisee_lab.exercises import checker


def _room(answer: object, size: int) -> tuple | None:
    """An answer ``(room, ...)`` of `size` items whose first is a classroom, or None."""
    from daisee_lab.classroom import Classroom

    if isinstance(answer, tuple) and len(answer) == size and isinstance(answer[0], Classroom):
        return answer
    return None


@checker("13.2")
def clearing_price(answer: object) -> tuple[bool, str]:
    """``(room, slot, price)``: the uniform price (µ€/kWh) at which `slot` cleared, recomputed
    by the checker from the bids and asks revealed on chain."""
    from daisee_lab.settlement import NO_PRICE, clear_double_auction

    triple = _room(answer, 3)
    if triple is None:
        return False, "answer with a triple: (room, slot, price)"
    room, slot, price = triple
    if not room.schedule.trades(slot):
        return False, f"the room did not trade slot {slot}: pick one of room.clearings"
    bids, asks = room.auction.book(slot)
    clearing = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                    asks.price.to_numpy(), asks.qty.to_numpy())
    right = 0 if clearing.price == NO_PRICE else clearing.price
    if price == right:
        return True, (f"{right} µ€/kWh for {clearing.volume} Wh: chapter 6's midpoint rule on "
                      "the books revealed on chain, which anyone can recompute.")
    best = {int(side.price.max() if side is bids else side.price.min())
            for side in (bids, asks) if not side.empty}
    if price in best:
        return False, ("that is the best bid or the best ask; the price is set where the merit "
                       "orders stop crossing")
    return False, ("sort the revealed bids high to low and the asks low to high "
                   "(room.auction.book(slot)), walk them while they cross, and take the "
                   "midpoint of the last pair that trades")


@checker("13.3")
def savings(answer: object) -> tuple[bool, str]:
    """``(room, name, savings)``: what learner `name` saved (µ€) over the session against
    buying and selling everything at grid prices."""
    triple = _room(answer, 3)
    if triple is None:
        return False, "answer with a triple: (room, learner name, savings in µ€)"
    room, name, value = triple
    rows = room.results[room.results.learner == name]
    if rows.empty:
        names = sorted(room.results.learner.unique())
        return False, f"no learner {name!r} in the results: names are {names}"
    right = int(rows.savings_ueur.sum())
    if value == right:
        return True, (f"{right} µ€: the baseline (everything at grid prices) minus the bill "
                      "(the auction plus the rest at grid prices), summed over the slots.")
    if value == -right:
        return False, "savings are baseline minus bill: keep the sign"
    if value in (int(rows.bill_ueur.sum()), int(rows.baseline_ueur.sum())):
        return False, "that is a bill; the savings are the difference of the two"
    return False, "sum savings_ueur over the learner's rows of room.results"


@checker("13.1")
def refused_order(answer: object) -> tuple[bool, str]:
    """The decoded revert of an order whose deposit the learner's wallet cannot pay."""
    from daisee_lab.chain import Revert

    if not isinstance(answer, Revert):
        return False, "pass caught.revert, from `with learner.chain.expect_revert() as caught:`"
    if answer.name == "ERC20InsufficientBalance":
        return True, (f"{answer.message}: the token refused to move credits the wallet does not "
                      "hold, so the commitment never happened and the room went on.")
    if answer.name == "InsufficientDeposit":
        return False, ("that refusal comes at the reveal, for a deposit too small for the order; "
                       "make the deposit larger than the wallet instead")
    return False, (f"got {answer.message}; place an order with a deposit larger than "
                   "learner.balances()['wallet']")
