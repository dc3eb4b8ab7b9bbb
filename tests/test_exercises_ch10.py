"""Chapter 10's checkers: tampered batches, the re-entrant thief, the sorting gas wall. Right
answers pass, typical wrong answers get their hint, and the facts the hints rest on hold."""

import nbformat
import numpy as np
import pytest

from daisee_lab.chain import Chain
from daisee_lab.chain.gas import TX_GAS_CAP
from daisee_lab.contracts import deploy_community, make_members
from daisee_lab.errors import DaiseeError
from daisee_lab.exercises import check, ch10
from daisee_lab.tariffs import GRID_BUY, GRID_SELL

from conftest import REPO

pytestmark = pytest.mark.slow  # the checkers deploy contracts: seconds each

CHAPTER = REPO / "book" / "10-attack-and-defend.ipynb"
RIGHT_10_1 = {"yesterday": "InvalidSignature", "elsewhere": "InvalidSignature",
             "twice": "StaleReading", "stranger": "UnknownMeter"}


@pytest.fixture(scope="module")
def chapter_lab(tmp_path_factory):
    """The Solidity the chapter writes with %%writefile, taken from the chapter, in a `lab/`."""
    lab = tmp_path_factory.mktemp("ch10") / "lab"
    lab.mkdir()
    chapter = nbformat.read(CHAPTER, as_version=4)
    written = [c.source for c in chapter.cells if c.source.startswith("%%writefile lab/")]
    for source in written:
        header, body = source.split("\n", 1)
        (lab.parent / header.split()[1]).write_text(body)
    assert sorted(p.name for p in lab.iterdir()) == ["NaiveVault.sol", "SortingMarket.sol",
                                                     "Thief.sol"]
    return lab


@pytest.fixture
def in_lab(chapter_lab, monkeypatch):
    """Run in the folder holding the chapter's lab/, as the notebook runs in book/."""
    monkeypatch.chdir(chapter_lab.parent)
    return chapter_lab


@pytest.fixture(scope="module")
def street():
    """A community of three anchored at slot SLOT - 1, and an outsider to submit batches."""
    chain = Chain()
    operator, *people = chain.accounts[:5]
    homes = make_members([p.address for p in people[:3]], seed=3)
    community = deploy_community(chain, operator, homes, GRID_BUY, GRID_SELL)
    community.settle_slot(ch10.SLOT - 1, community.sign_readings(
        ch10.SLOT - 1, [5_000, 6_000, 7_000], [0, 100, 0]))
    return chain, community, people[3]


# --- 10.1 -----------------------------------------------------------------------------------

def test_each_tampered_batch_is_stopped_by_its_check_and_the_honest_one_passes(street):
    chain, community, eve = street
    slot = ch10.SLOT
    batches = ch10.tampered_batches(community, slot)
    assert list(batches) == list(ch10.BATCHES)
    assert all(len(batch) == 3 for batch in batches.values())
    assert {r.slot for r in batches["yesterday"]} == {slot - 1}
    homes = community.households
    assert [r.meter for r in batches["twice"]] == [homes[0].meter, homes[1].meter, homes[1].meter]
    for name, batch in batches.items():
        with chain.expect_revert(RIGHT_10_1[name]):
            community.settle_slot(slot, batch, sender=eve)
    assert community.market.lastSettledSlot() == slot - 1
    honest = community.sign_readings(slot, [5_200, 6_200, 7_200], [0, 100, 0])
    assert [r.calldata() for r in honest[1:]] == [r.calldata() for r in batches["elsewhere"][1:]]
    community.settle_slot(slot, honest, sender=eve)
    assert community.market.lastSettledSlot() == slot
    with pytest.raises(DaiseeError, match=f"slot {slot + 4} settled last; got 3 households "
                                          f"and last settled slot {slot}"):
        ch10.tampered_batches(community, slot + 5)


def test_9_1_right_answer_passes():
    feedback = check("10.1", dict(RIGHT_10_1))
    assert feedback and "UnknownMeter" in feedback.message


@pytest.mark.parametrize("answer, hint", [
    (None, "not answered yet"),
    ("InvalidSignature", "answer with a dict"),
    ({"yesterday": "InvalidSignature"}, "answer with a dict"),
    ({**RIGHT_10_1, "twice": "Forged"}, "Forged: not an error of CommunityMarket"),
    ({**RIGHT_10_1, "yesterday": "StaleReading"}, "which slot does the contract put"),
    ({**RIGHT_10_1, "elsewhere": "StaleReading"}, "What else does an EIP-712 signature bind"),
    ({**RIGHT_10_1, "twice": "InvalidSignature"}, "look at whose meters they are"),
    ({**RIGHT_10_1, "stranger": "InvalidSignature"}, "look up about a meter"),
    ({name: "InvalidSignature" for name in RIGHT_10_1}, "2 of 4 wrong"),
])
def test_9_1_wrong_answers_get_a_hint(answer, hint):
    feedback = check("10.1", answer)
    assert not feedback and hint in feedback.message, feedback


# --- 10.2 -----------------------------------------------------------------------------------

def test_9_2_the_thief_gets_its_balance_in_whole_chunks_and_no_more(in_lab):
    assert ch10._thief_take((in_lab / "Thief.sol").read_text()) == (900_000, 3)
    feedback = check("10.2", 900_000)
    assert feedback and "3 payments" in feedback.message


@pytest.mark.parametrize("answer, hint", [
    (1_000_000, "what happens when less than that is left"),
    (1_200_000, "more than its balance"),
    (3_000_000, "more than its balance"),
    (300_000, "re-entering is not forbidden"),
    (0, "try/catch"),
    (600_000, "call attack(300,000) and read received()"),
    ("900000", "whole number"),
    (True, "whole number"),
])
def test_9_2_wrong_answers_get_a_hint(in_lab, answer, hint):
    feedback = check("10.2", answer)
    assert not feedback and hint in feedback.message, feedback


def test_checkers_say_which_cell_to_run_when_lab_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for exercise, name in (("10.2", "Thief"), ("10.3", "SortingMarket")):
        feedback = check(exercise, 1)
        assert not feedback and f"%%writefile cell for {name}.sol" in feedback.message


# --- 10.3 -----------------------------------------------------------------------------------

def test_9_3_the_wall_is_where_one_capped_transaction_stops_holding_the_sort(in_lab,
                                                                           anvil_node):
    chain = Chain(anvil_node.url, contract_dirs=[in_lab])
    snapshot = chain.snapshot()
    try:
        assert chain.w3.eth.get_block("latest")["gasLimit"] == 30_000_000  # Prague: no tx cap
        (gas_94, ok_94), (gas_95, ok_95) = (ch10.sort_with(chain, n) for n in (94, 95))
        in_a_block = ch10.sort_with(chain, 95, gas=30_000_000)
        # receipts of smaller books, extrapolated, say 95 fits: the hint for 95 rests on this
        sizes = [48, 64, 80]
        fit = np.polyfit(sizes, [ch10.sort_with(chain, n)[0] for n in sizes], 2)
    finally:
        chain.revert_to(snapshot)
    assert (ok_94, ok_95, gas_95) == (True, False, TX_GAS_CAP)
    assert gas_94 < TX_GAS_CAP and in_a_block[1]  # a Prague block still holds 95
    assert np.polyval(fit, 95) < TX_GAS_CAP
    feedback = check("10.3", 94)
    assert feedback and f"{gas_94:,} gas" in feedback.message


@pytest.mark.parametrize("answer, hint", [
    (95, "net of refunds"),
    (97, "net of refunds"),
    (98, "cannot hold"),
    (127, "a Prague block could hold more"),
    (80, "room to spare"),
    (0, "at least one bid"),
    (94.0, "whole number"),
    ("94", "whole number"),
])
def test_9_3_wrong_answers_get_a_hint(in_lab, answer, hint):
    feedback = check("10.3", answer)
    assert not feedback and hint in feedback.message, feedback


def test_rising_bids_are_distinct_non_zero_and_rising():
    prices = ch10.rising_bids(5)
    assert prices == sorted(set(prices)) and min(prices) > 0 and len(prices) == 5
