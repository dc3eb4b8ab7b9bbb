"""Chapter 12's checkers accept right answers, worked out here by another path than theirs
(the ground truth, the survival table, a committed settlement on chain), give each typical
wrong answer its hint, and give no verdict to None."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from eth_utils import keccak

from daisee_lab import privacy
from daisee_lab.appliances import simulate_day, simulate_days
from daisee_lab.chain import Chain
from daisee_lab.committed import MerkleTree, deploy_committed, hash_pair
from daisee_lab.contracts import make_members
from daisee_lab.exercises import ch12, check


@pytest.mark.parametrize("exercise", ["12.1", "12.2", "12.3", "12.4"])
def test_no_answer_no_verdict(exercise):
    feedback = check(exercise, None)
    assert not feedback and not feedback.answered and "not answered yet" in feedback.message


# --- 12.1 -------------------------------------------------------------------------------------

def test_12_1_the_true_wake_up_passes_in_any_form():
    day = simulate_day(ch12.EARLY_RISER)
    people = day.events[day.events.human & (day.events.time.dt.hour >= ch12.MORNING_FROM)]
    first = people.time.iloc[0]  # the ground truth, not the detector
    assert day.occupancy[first.floor("15min")] == "awake"
    for answer in (first.strftime("%H:%M"), first.strftime("%H:%M:%S"), first.to_pydatetime(),
                   first.to_pydatetime().time(), first.tz_convert("UTC").to_pydatetime()):
        assert check("12.1", answer), answer


def test_12_1_wrong_answers_get_their_hint():
    day = simulate_day(ch12.EARLY_RISER)
    fridge = day.events[(day.events.appliance == "fridge")
                        & (day.events.time.dt.hour >= ch12.MORNING_FROM)].time.iloc[0]
    assert "fridge" in check("12.1", fridge.strftime("%H:%M:%S")).message
    events = privacy.detect_events(day.power_va)
    start = day.occupancy.index[0]
    inferred = privacy.infer_occupancy(events, start, start + pd.Timedelta("1D"))
    quarter = inferred.index[inferred == "awake"][0]
    assert "quarter hour" in check("12.1", quarter.strftime("%H:%M")).message
    assert "human_events" in check("12.1", "12:00").message
    for bad in ("6h38", 638, datetime(2025, 3, 12).date()):
        assert "'HH:MM'" in check("12.1", bad).message


# --- 12.2 -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def street_size():
    """The fewest homes whose 1 s total shows under LEVEL of home 0's switches, from the
    library's survival table."""
    days = simulate_days(ch12.STREET)
    table = privacy.survival_table(days, resolutions=(), households=range(1, 10),
                                   summed_at=("1s",))
    return int(table[table.recall < ch12.LEVEL].households.min())


@pytest.mark.slow  # recall for every street size
def test_12_2_right_size_passes(street_size):
    assert 2 < street_size < len(ch12.STREET)
    assert check("12.2", street_size) and check("12.2", np.int64(street_size))


def test_12_2_wrong_answers_get_their_hint(street_size):
    assert "bigger" in check("12.2", street_size - 1).message
    assert "smaller street already" in check("12.2", street_size + 1).message
    for bad in (0, 21):
        assert "between 1 and 20" in check("12.2", bad).message
    for bad in ("8", True, 8.0):
        assert "whole number" in check("12.2", bad).message


# --- 12.3 -------------------------------------------------------------------------------------

def learners_verify(proof, root, leaf):
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node == root


def test_12_3_right_functions_pass():
    assert check("12.3", learners_verify)
    assert check("12.3", MerkleTree.verify)


def unsorted(proof, root, leaf):
    node = leaf
    for sibling in proof:
        node = keccak(node + sibling)
    return node == root


def reaches(proof, root, leaf):
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node  # forgot to compare


def skips_the_last(proof, root, leaf):
    return learners_verify(proof[:-1], root, leaf)


@pytest.mark.parametrize("wrong, hint", [
    (unsorted, "smaller first"),
    (lambda proof, root, leaf: True, "accepts a leaf that is not in the tree"),
    (reaches, "accepts a leaf that is not in the tree"),
    (skips_the_last, "rejects leaves that are in the tree"),
    (lambda proof, root, leaf: int(learners_verify(proof, root, leaf)), "the bools"),
    (lambda proof, root, leaf: proof[0], "raised IndexError"),
    (learners_verify([], bytes(32), bytes(32)), "your function itself"),  # called, not given
])
def test_12_3_wrong_answers_get_their_hint(wrong, hint):
    feedback = check("12.3", wrong)
    assert not feedback and hint in feedback.message


# --- 12.4 -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def read_from_chain():
    """Settle the pair's evening on a CommittedSettlement whose k is 2, as the chapter does;
    return (the published demand per slot, home PAIR[0]'s own import per slot)."""
    days = simulate_days(ch12.PAIR)
    cons = np.array([np.rint(privacy.resample(d.power_va, "15min").to_numpy()[ch12.EVENING] / 4)
                     for d in days], dtype=np.int64)
    chain = Chain(accounts=3)
    operator, *people = chain.accounts
    homes = make_members([p.address for p in people], seed=3)
    community = deploy_committed(chain, operator, homes, 194_000, 40_000, k=2)
    first = chain.timestamp // 900 - 20
    books = community.settle_energy(cons, np.zeros_like(cons), first)
    published = {e.args["slot"]: e.args["demandWh"]
                 for e in books.receipt.events_named("SlotPublished")}
    slots = range(first, first + cons.shape[1])
    mine = [books.statement(homes[0], s).leaf.import_wh for s in slots]
    return np.array([published[s] for s in slots]), np.array(mine)


def test_12_4_a_neighbour_read_from_the_totals_passes(read_from_chain):
    demand, mine = read_from_chain
    theirs = demand - mine
    assert (theirs > 0).all()
    assert check("12.4", theirs.tolist()) and check("12.4", theirs)


def test_12_4_wrong_answers_get_their_hint(read_from_chain):
    demand, mine = read_from_chain
    theirs = demand - mine
    assert "published total" in check("12.4", demand).message
    assert "your own" in check("12.4", mine).message
    assert "not kWh" in check("12.4", theirs / 1000).message
    assert "one slot off" in check("12.4", np.roll(theirs, 1)).message
    assert "8 numbers" in check("12.4", theirs[:3]).message
    assert "list of 8" in check("12.4", 5).message
    assert "demandWh" in check("12.4", theirs + 1).message
