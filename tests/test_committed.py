"""CommittedSettlement and daisee_lab.committed: honest operators are never disputed
successfully, a changed leaf is caught by its household, readings cannot be borrowed or reused,
small communities get no totals in clear, and the bond is conserved (stateful)."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from conftest import CHAIN_EXAMPLES

from daisee_lab.chain import Chain
from daisee_lab.committed import (CommittedError, Leaf, MerkleTree, deploy_committed, hash_pair,
                                  payment_ueur, totals_commitment)
from daisee_lab.contracts import make_members
from daisee_lab.settlement import settle

pytestmark = pytest.mark.slow  # its tests send transactions to a chain: seconds each

BUY, SELL, PENALTY, BOND = 250_000, 100_000, 10_000_000, 30_000_000
BOND_DEFAULT = 100_000_000  # deploy_committed's


@pytest.fixture(scope="module")
def chain():
    return Chain()


def community_of(chain, n, **kw):
    operator, *accounts = chain.accounts[:n + 1]
    homes = make_members([a.address for a in accounts], seed=n)
    return deploy_committed(chain, operator, homes, BUY, SELL, **kw)


def energy(n, slots, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 900, (n, slots)), rng.integers(0, 700, (n, slots))


def first_free(community):
    """A slot after everything published, well in the past."""
    return max(community.settlement.lastPublishedSlot() + 1,
               community.chain.timestamp // 900 - 500)


def test_merkle_tree_matches_openzeppelin_layout():
    leaves = [bytes([i]) * 32 for i in (7, 3, 5)]
    tree = MerkleTree(leaves)
    low, mid, high = sorted(leaves)  # StandardMerkleTree: sorted leaves at the array's end,
    assert tree.nodes[2:] == [high, mid, low]  # in reverse; node i's children 2i+1, 2i+2
    assert tree.nodes[1] == hash_pair(mid, low)
    assert tree.root == hash_pair(hash_pair(mid, low), high) == hash_pair(high, tree.nodes[1])
    assert tree.proof(low) == [mid, high]
    for leaf in leaves:
        assert MerkleTree.verify(tree.proof(leaf), tree.root, leaf)
    assert not MerkleTree.verify(tree.proof(low), tree.root, mid)


def test_python_and_contract_agree_on_leaves_and_payments(chain):
    community = community_of(chain, 5)
    leaf = Leaf(community.households[0].meter, 12, 800, 100, -3)
    assert community.settlement.leafHash(leaf.calldata()) == leaf.hash
    cons, prod = energy(5, 6, seed=1)
    kernel = settle(cons, prod, BUY, SELL, method="mmr").payments
    net = cons - prod
    for t in range(6):
        d, g = int(np.maximum(net[:, t], 0).sum()), int(np.maximum(-net[:, t], 0).sum())
        for i in range(5):
            ours = payment_ueur(int(cons[i, t]), int(prod[i, t]), d, g, BUY, SELL)
            assert ours == kernel[i, t] == community.settlement.payment(
                int(cons[i, t]), int(prod[i, t]), d, g, BUY, SELL)


def test_honest_operator_is_never_disputed_successfully(chain):
    community = community_of(chain, 5)
    first = first_free(community)
    books = community.settle_energy(*energy(5, 3, seed=2), first)
    for home in community.households:
        for slot in range(first, first + 3):
            statement = books.statement(home, slot)
            assert community.check(home, statement) == []
            with chain.expect_revert("LeafIsCorrect"):
                community.dispute(home, statement)
    assert community.books() == {"bond": BOND_DEFAULT, "paid_out": 0, "held": BOND_DEFAULT}


@pytest.mark.parametrize("field", ["import_wh", "export_wh", "payment_ueur"])
def test_a_changed_leaf_is_caught_by_its_household(chain, field):
    community = community_of(chain, 5)
    first = first_free(community)
    victim = community.households[3]

    def cheat(leaf):
        if leaf.meter == victim.meter and leaf.slot == first + 1:
            return replace(leaf, **{field: getattr(leaf, field) + 7})
        return leaf

    books = community.settle_energy(*energy(5, 2, seed=3), first, alter=cheat)
    statement = books.statement(victim, first + 1)
    assert community.check(victim, statement)  # the household sees it off chain
    receipt = community.dispute(victim, statement)
    [event] = receipt.events_named("Disputed")
    assert event.args["household"] == victim.account and event.args["paid"] == PENALTY
    assert community.credit.balanceOf(victim.account) == PENALTY
    assert community.books()["bond"] == BOND_DEFAULT - PENALTY
    with chain.expect_revert("AlreadyDisputed"):
        community.dispute(victim, statement)
    other = community.households[0]  # its leaf was right: nothing to claim
    with chain.expect_revert("LeafIsCorrect"):
        community.dispute(other, books.statement(other, first + 1))


def test_no_dispute_with_someone_elses_reading_or_an_old_one(chain):
    community = community_of(chain, 5)
    first = first_free(community)
    victim, neighbour = community.households[1], community.households[2]
    def cheat(leaf):
        return (replace(leaf, import_wh=leaf.import_wh + 1)
                if leaf.meter == victim.meter and leaf.slot == first + 2 else leaf)
    books = community.settle_energy(*energy(5, 3, seed=4), first, alter=cheat)
    statement = books.statement(victim, first + 2)
    mine = (community.reading(victim, first + 1), community.reading(victim, first + 2))
    theirs = (community.reading(neighbour, first + 1), community.reading(neighbour, first + 2))
    # the neighbour cannot dispute the victim's leaf, even with the victim's own readings
    with chain.expect_revert("NotYourMeter"):
        community.dispute(victim, statement, readings=mine,
                          sender=community._account(neighbour))
    # the victim cannot use the neighbour's readings
    with chain.expect_revert("NotThisMeter"):
        community.dispute(victim, statement, readings=theirs)
    # nor its own older readings (signed for earlier slots)
    old = (community.reading(victim, first - 1), community.reading(victim, first))
    with chain.expect_revert("InvalidSignature"):
        community.dispute(victim, statement, readings=old)
    # nor a reading whose indexes it changed
    forged = replace(mine[1], import_wh=mine[1].import_wh + 1)
    with chain.expect_revert("InvalidSignature"):
        community.dispute(victim, statement, readings=(mine[0], forged))
    # nor an old leaf of its own against a later slot's tree
    with chain.expect_revert("NotInTree"):
        community.dispute(victim, replace(statement, leaf=replace(statement.leaf, slot=first + 1)))
    community.dispute(victim, statement)  # with the right readings it wins
    chain.advance_time(community.settlement.disputeSeconds() + 1)
    with chain.expect_revert("DisputeClosed"):
        community.dispute(victim, books.statement(victim, first + 1))


def test_totals_in_clear_only_from_k_households(chain):
    small = community_of(chain, 3)  # k = 5 by default
    first = first_free(small)
    cons, prod = energy(3, 2, seed=5)
    books = small.settle_energy(cons, prod, first)
    assert books.receipt.events_named("SlotSealed") and not books.receipt.events_named(
        "SlotPublished")
    statement = books.statement(small.households[0], first)
    assert statement.salt != bytes(32) and small.check(small.households[0], statement) == []
    with chain.expect_revert("TooFewHouseholds"):
        small.settlement.publishTotals(first + 2, [b"\1" * 32], [1], [1], sender=small.operator)
    big = community_of(chain, 5)
    books = big.settle_energy(*energy(5, 1, seed=5), first_free(big))
    [event] = books.receipt.events_named("SlotPublished")
    assert event.args["households"] == 5
    slot = event.args["slot"]
    assert big.settlement.published(slot)[1] == totals_commitment(
        event.args["demandWh"], event.args["surplusWh"], bytes(32))


def test_only_the_operator_publishes_and_only_over_slots(chain):
    community = community_of(chain, 5)
    stranger = chain.accounts[9]
    with chain.expect_revert("NotOperator"):
        community.settlement.publishSealed(1, [b"\1" * 32], [b"\2" * 32], sender=stranger)
    # the slot after the latest block's: the next block may already be in the latest's next
    # slot, never in the one after (slots last 900 s)
    ahead = chain.timestamp // 900 + 1
    with chain.expect_revert("SlotNotOver"):
        community.settlement.publishSealed(ahead, [b"\1" * 32], [b"\2" * 32],
                                           sender=community.operator)
    first = first_free(community)
    community.settle_energy(*energy(5, 1, seed=6), first)
    with chain.expect_revert("SlotAlreadyPublished"):
        community.settle_energy(*energy(5, 1, seed=6), first)
    with chain.expect_revert("BondLocked"):
        community.settlement.withdrawBond(1, sender=community.operator)


def test_a_refused_publication_leaves_the_meters_as_they_were(chain):
    community = community_of(chain, 5)
    first = first_free(community)
    home = community.households[0]
    books = community.settle_energy(*energy(5, 2, seed=9), first)
    before = [community.reading(home, slot) for slot in (first - 1, first, first + 1)]
    with chain.expect_revert("SlotAlreadyPublished"):  # other energy for the same slots
        community.settle_energy(*energy(5, 2, seed=10), first)
    with pytest.raises(CommittedError, match="first_slot"):
        community.settle_energy(*energy(5, 1, seed=10), -3)
    with pytest.raises(CommittedError, match="first_slot"):
        community.settle_energy(*energy(5, 1, seed=10), "12")
    assert [community.reading(home, slot) for slot in (first - 1, first, first + 1)] == before
    assert community.check(home, books.statement(home, first + 1)) == []
    with pytest.raises(CommittedError, match="settle that slot first"):
        community.reading(home, first + 2)


def test_a_dispute_is_paid_what_is_left_of_the_bond(chain):
    community = community_of(chain, 5, bond=PENALTY // 2, penalty=PENALTY)
    first = first_free(community)
    homes = community.households[:2]
    meters = {h.meter for h in homes}
    books = community.settle_energy(*energy(5, 1, seed=7), first, alter=lambda leaf: replace(
        leaf, export_wh=leaf.export_wh + 1) if leaf.meter in meters else leaf)
    for home, paid in zip(homes, (PENALTY // 2, 0)):  # the second finds the bond empty
        [event] = community.dispute(home, books.statement(home, first)).events_named("Disputed")
        assert event.args["paid"] == paid and community.credit.balanceOf(home.account) == paid
    assert community.books() == {"bond": 0, "paid_out": PENALTY // 2, "held": 0}
    with chain.expect_revert("BondTooLow"):  # an empty bond stops publication
        community.settle_energy(*energy(5, 1, seed=8), first + 1)


class BondMachine(RuleBasedStateMachine):
    """Publish honest and dishonest slots, dispute any leaf, post and withdraw bond: the
    contract's credits always equal its bond, everything posted is bond, payouts or
    withdrawals, the households hold exactly what disputes paid them, and only changed leaves
    are ever paid for. The first publication changes at least one leaf, and a rule disputes
    the changed leaves, so that a few steps already win disputes and drain the bond."""

    @initialize(seed=st.integers(0, 1000), cheat=st.sets(st.integers(0, 9), min_size=1,
                                                         max_size=4))
    def deploy(self, seed, cheat):
        self.chain = Chain()
        self.community = community_of(self.chain, 5, bond=BOND, penalty=PENALTY)
        self.posted, self.withdrawn, self.won = BOND, 0, 0
        self.statements, self.cheated, self.claimed = [], set(), set()
        self.first = self.chain.timestamp // 900 - 400
        self.publish(seed, cheat)

    @rule(seed=st.integers(0, 1000), cheat=st.sets(st.integers(0, 9), max_size=3))
    def publish(self, seed, cheat):
        first = max(self.first, self.community.settlement.lastPublishedSlot() + 1)
        homes = self.community.households
        targets = {(homes[c % 5].meter, first + c // 5) for c in cheat}

        def alter(leaf):
            if (leaf.meter, leaf.slot) in targets:
                return replace(leaf, payment_ueur=leaf.payment_ueur - 5)
            return leaf

        if self.community.books()["bond"] < BOND:
            self.community.post_bond(BOND)
            self.posted += BOND
        books = self.community.settle_energy(*energy(5, 2, seed), first, alter=alter)
        for (account, slot), statement in books.statements.items():
            home = next(h for h in homes if h.account == account)
            self.statements.append((home, statement))
            if (home.meter, slot) in targets:
                self.cheated.add(statement.leaf.hash)

    def _dispute(self, home, statement):
        bond = self.community.books()["bond"]
        if statement.leaf.hash in self.cheated and statement.leaf.hash not in self.claimed:
            receipt = self.community.dispute(home, statement)
            self.claimed.add(statement.leaf.hash)
            paid = receipt.events_named("Disputed")[0].args["paid"]
            assert paid == min(bond, PENALTY)
            self.won += paid
            assert self.community.books()["bond"] == bond - paid
        else:
            with self.chain.expect_revert():
                self.community.dispute(home, statement)

    @rule(pick=st.integers(0, 10_000))
    def dispute(self, pick):
        if self.statements:
            self._dispute(*self.statements[pick % len(self.statements)])

    @rule(pick=st.integers(0, 10_000))
    def dispute_a_changed_leaf(self, pick):
        open_ = [(h, s) for h, s in self.statements if s.leaf.hash in self.cheated]
        if open_:
            self._dispute(*open_[pick % len(open_)])

    @rule(amount=st.integers(1, 2 * BOND))
    def withdraw(self, amount):
        settlement = self.community.settlement
        self.chain.advance_time(settlement.disputeSeconds() + 1)
        self.statements.clear()  # their dispute windows have closed
        if amount > settlement.bond():
            with self.chain.expect_revert("InsufficientBond"):
                settlement.withdrawBond(amount, sender=self.community.operator)
        else:
            settlement.withdrawBond(amount, sender=self.community.operator)
            self.withdrawn += amount

    @invariant()
    def conserved(self):
        if not hasattr(self, "community"):
            return
        books = self.community.books()
        assert books["held"] == books["bond"]
        assert books["paid_out"] == self.won
        assert self.posted == books["bond"] + books["paid_out"] + self.withdrawn
        paid_to_homes = sum(self.community.credit.balanceOf(h.account)
                            for h in self.community.households)
        assert paid_to_homes == books["paid_out"]


BondMachine.TestCase.settings = settings(max_examples=CHAIN_EXAMPLES, stateful_step_count=10,
                                        deadline=None, derandomize=True, database=None,
                                        suppress_health_check=list(HealthCheck),
                                        phases=[Phase.explicit, Phase.generate])  # no shrinking:
# an example sends dozens of transactions, and shrinking a failure would take many minutes
test_bond_is_conserved = BondMachine.TestCase
