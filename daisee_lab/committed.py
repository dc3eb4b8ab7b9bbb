"""Settling a community without publishing anyone's curve: the Python face of
``contracts/CommittedSettlement.sol``.

    chain = Chain()
    operator, *accounts = chain.accounts[:6]
    homes = make_members([a.address for a in accounts], seed=1)
    community = deploy_committed(chain, operator, homes, grid_buy=250_000, grid_sell=100_000)
    first = chain.timestamp // SLOT_SECONDS - 10
    books = community.settle_energy(consumption_wh, production_wh, first)  # (5, slots) Wh
    community.check(homes[0], books.statement(homes[0], first))  # [] : nothing wrong

The operator settles off chain with :func:`daisee_lab.settlement.settle` (mid-market rate), and
publishes per slot one Merkle root over every household's leaf ``(meter, slot, import_wh,
export_wh, payment_ueur)`` and the slot's totals (demand and surplus, Wh): in clear when the
registry holds at least ``k`` meters, else as a salted commitment. Each household gets a
:class:`Statement` (its leaf, proof and the slot's totals), checks it (:meth:`check`) and, if it
is wrong, disputes it (:meth:`dispute`) with its meter's signed readings at the ends of the slot
before and of the slot itself: ``import_wh = import index(s) - import index(s - 1)``, likewise
export. A won dispute pays the household ``penalty`` µ€ out of the operator's bond.

The tree is OpenZeppelin's StandardMerkleTree: leaves are ``keccak256(keccak256(abi.encode(
address, uint32, uint40, uint40, int256)))``, sorted; inner nodes hash their two children
sorted; :class:`MerkleTree` gives the same root and proofs as ``StandardMerkleTree.of`` with
those leaf types, which OpenZeppelin's ``MerkleProof`` verifies.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from daisee_lab.chain import Chain, Contract, Receipt
from daisee_lab.contracts import Member, SignedReading, public_id_bytes, sign_reading
from daisee_lab.errors import DaiseeError
from daisee_lab.settlement import settle
from daisee_lab.units import MAX_INDEX_WH

LEAF_TYPES = ["address", "uint32", "uint40", "uint40", "int256"]
MIN_HOUSEHOLDS = 5  # k: totals are published in clear only for communities at least this big
DISPUTE_SECONDS = 7 * 86_400  # a week to check one's statement
MAX_SLOT = 2**32 - 1  # a leaf's slot is a uint32
START_INDEX_WH = 1_000_000  # the meters' indexes before the first settled slot (simulations)


class CommittedError(DaiseeError, ValueError):
    """A bad argument to the committed settlement: the message names it."""


# --- the Merkle tree ------------------------------------------------------------------------

def hash_pair(a: bytes, b: bytes) -> bytes:
    """An inner node: keccak256 of its two children, smaller first (OpenZeppelin's
    ``Hashes.commutativeKeccak256``)."""
    return keccak(min(a, b) + max(a, b))


@dataclass(frozen=True)
class Leaf:
    """A household's line of a slot's settlement: its meter, the slot, its energy (Wh) and its
    payment (µ€, positive paid, negative received)."""

    meter: str
    slot: int
    import_wh: int
    export_wh: int
    payment_ueur: int

    @property
    def hash(self) -> bytes:
        """The leaf as in the tree: keccak256(keccak256(abi.encode(...)))."""
        return keccak(keccak(abi_encode(LEAF_TYPES, [self.meter, self.slot, self.import_wh,
                                                     self.export_wh, self.payment_ueur])))

    def calldata(self) -> tuple:
        """The contract's ``Leaf`` struct."""
        return (self.meter, self.slot, self.import_wh, self.export_wh, self.payment_ueur)


class MerkleTree:
    """OpenZeppelin's StandardMerkleTree over leaf hashes: leaves sorted, stored at the end of
    an array of ``2n - 1`` nodes (node ``i`` has children ``2i + 1`` and ``2i + 2``)."""

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise CommittedError("a Merkle tree needs at least one leaf")
        ordered = sorted(leaves)
        self.nodes: list[bytes] = [b""] * (2 * len(ordered) - 1)
        for i, leaf in enumerate(ordered):
            self.nodes[len(self.nodes) - 1 - i] = leaf
        for i in range(len(self.nodes) - 1 - len(ordered), -1, -1):
            self.nodes[i] = hash_pair(self.nodes[2 * i + 1], self.nodes[2 * i + 2])
        self._position = {leaf: len(self.nodes) - 1 - i for i, leaf in enumerate(ordered)}

    @property
    def root(self) -> bytes:
        return self.nodes[0]

    def proof(self, leaf: bytes) -> list[bytes]:
        """The sibling hashes from `leaf` up to the root."""
        if leaf not in self._position:
            raise CommittedError(f"leaf 0x{leaf.hex()} is not in this tree")
        i, path = self._position[leaf], []
        while i > 0:
            path.append(self.nodes[i + 1 if i % 2 else i - 1])
            i = (i - 1) // 2
        return path

    @staticmethod
    def verify(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
        """Whether `proof` leads from `leaf` to `root` (as ``MerkleProof.verify``)."""
        node = leaf
        for sibling in proof:
            node = hash_pair(node, sibling)
        return node == root


# --- statements and the published books -----------------------------------------------------

def totals_commitment(demand_wh: int, surplus_wh: int, salt: bytes) -> bytes:
    """A slot's committed totals: keccak256(abi.encode(D, G, salt)); salt 0 when in clear."""
    return keccak(abi_encode(["uint256", "uint256", "bytes32"], [demand_wh, surplus_wh, salt]))


@dataclass(frozen=True)
class Statement:
    """What the operator hands one household for one slot: its leaf, the proof that the leaf
    is in the slot's tree, the slot's totals (Wh) and their salt (zero bytes when in clear)."""

    leaf: Leaf
    proof: tuple[bytes, ...]
    demand_wh: int
    surplus_wh: int
    salt: bytes

    def totals(self) -> tuple:
        """The contract's ``Totals`` struct."""
        return (self.demand_wh, self.surplus_wh, self.salt)


@dataclass(frozen=True)
class Books:
    """An operator's settled slots: every household's statement, and what went on chain."""

    statements: dict[tuple[str, int], Statement]  # (household account, slot) -> statement
    roots: dict[int, bytes]
    receipt: Receipt

    def statement(self, household: Member | str, slot: int) -> Statement:
        """`household`'s statement for `slot`."""
        account = household.account if isinstance(household, Member) else household
        return self.statements[account, slot]


def payment_ueur(imported: int, exported: int, demand: int, surplus: int, grid_buy: int,
                 grid_sell: int) -> int:
    """A household's mid-market-rate payment, as ``CommittedSettlement.payment`` computes it
    (the integer formulas of :mod:`daisee_lab.settlement.reference`): buyers ceil, sellers
    floor."""
    both = grid_buy + grid_sell
    buy, sell = (both, 2000), (both, 2000)
    if surplus < demand:
        buy = (both * surplus + 2 * grid_buy * (demand - surplus), 2000 * demand)
    if surplus > demand:
        sell = (both * demand + 2 * grid_sell * (surplus - demand), 2000 * surplus)
    if imported > exported:
        return -(-(imported - exported) * buy[0] // buy[1])
    return -((exported - imported) * sell[0] // sell[1])


# --- the community ---------------------------------------------------------------------------

class CommittedCommunity:
    """A deployed committed settlement: the `registry` of meters, the `credit` token, the
    `settlement` contract, its `operator` and `households`. Use :func:`deploy_committed`.

    The meters' cumulative indexes are kept here, as each household's gateway would keep its
    meter's signed readings: :meth:`reading` signs one.
    """

    def __init__(self, chain: Chain, registry: Contract, credit: Contract, settlement: Contract,
                 operator: LocalAccount, households: Sequence[Member]):
        self.chain, self.registry, self.credit = chain, registry, credit
        self.settlement, self.operator = settlement, operator
        self.households = list(households)
        self.chain_id = chain.w3.eth.chain_id
        self.indexes: dict[str, dict[int, tuple[int, int]]] = {h.account: {}
                                                                for h in self.households}

    def __repr__(self) -> str:
        return (f"<CommittedCommunity of {len(self.households)} households, "
                f"settlement {self.settlement.address}>")

    @property
    def k(self) -> int:
        """The least number of households for totals in clear."""
        return self.settlement.minHouseholds()

    def post_bond(self, amount: int) -> Receipt:
        """The operator mints `amount` µ€ of credits (against money received off chain) and
        adds them to its bond."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise CommittedError(f"amount must be a positive integer of µ€, got {amount!r}")
        self.credit.mint(self.operator.address, amount, sender=self.operator)
        self.credit.approve(self.settlement.address, amount, sender=self.operator)
        return self.settlement.postBond(amount, sender=self.operator)

    def reading(self, household: Member, slot: int) -> SignedReading:
        """`household`'s meter's signed reading at the end of `slot` (its cumulative indexes)."""
        try:
            imported, exported = self.indexes[household.account][slot]
        except KeyError:
            raise CommittedError(f"no meter index of {household.account} at the end of slot "
                                 f"{slot}: settle that slot first") from None
        return sign_reading(household.meter_key, self.registry.address, self.chain_id,
                            household.meter, slot, imported, exported)

    def settle_energy(self, consumption_wh, production_wh, first_slot: int, *,
                      alter: Callable[[Leaf], Leaf] | None = None) -> Books:
        """Settle consecutive slots from `first_slot` off chain (each household imports its
        consumption and exports its production, Wh, shape (households, slots)) at the
        contract's grid prices, and publish every slot's root and totals in one transaction.

        `alter` lets a dishonest operator rewrite leaves before they are hashed (a test's or a
        chapter's attack): it gets each leaf and returns the leaf to publish.
        """
        cons, prod = self._energy(consumption_wh, production_wh)
        slots = cons.shape[1]
        if (isinstance(first_slot, bool) or not isinstance(first_slot, (int, np.integer))
                or not 1 <= first_slot <= MAX_SLOT - slots + 1):
            raise CommittedError(f"first_slot must be an integer slot (unix seconds // 900) "
                                 f"from 1 to {MAX_SLOT - slots + 1}, got {first_slot!r}")
        first_slot = int(first_slot)
        moved: dict[str, dict[int, tuple[int, int]]] = {h.account: {} for h in self.households}
        grid_buy, grid_sell = self.settlement.gridBuy(), self.settlement.gridSell()
        paid = settle(cons, prod, grid_buy, grid_sell, method="mmr").payments
        net = cons - prod
        demand, surplus = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
        clear = len(self.households) >= self.k
        statements, roots, commitments = {}, {}, []
        for t in range(slots):
            slot = first_slot + t
            leaves = [self._leaf(h, slot, int(cons[i, t]), int(prod[i, t]), int(paid[i, t]),
                                 moved[h.account]) for i, h in enumerate(self.households)]
            if alter is not None:
                leaves = [alter(leaf) for leaf in leaves]
            tree = MerkleTree([leaf.hash for leaf in leaves])
            salt = bytes(32) if clear else secrets.token_bytes(32)
            d, g = int(demand[t]), int(surplus[t])
            roots[slot] = tree.root
            commitments.append(totals_commitment(d, g, salt))
            for h, leaf in zip(self.households, leaves):
                statements[h.account, slot] = Statement(leaf, tuple(tree.proof(leaf.hash)), d,
                                                        g, salt)
        root_list = [roots[first_slot + t] for t in range(slots)]
        if clear:
            receipt = self.settlement.publishTotals(first_slot, root_list,
                                                    [int(x) for x in demand],
                                                    [int(x) for x in surplus],
                                                    sender=self.operator)
        else:
            receipt = self.settlement.publishSealed(first_slot, root_list, commitments,
                                                    sender=self.operator)
        for account, indexes in moved.items():  # the meters move only once the chain accepted
            self.indexes[account].update(indexes)
        return Books(statements, roots, receipt)

    def _energy(self, consumption_wh, production_wh) -> tuple[np.ndarray, np.ndarray]:
        cons, prod = (np.asarray(a) for a in (consumption_wh, production_wh))
        for name, array in (("consumption_wh", cons), ("production_wh", prod)):
            if (array.ndim != 2 or array.shape[0] != len(self.households) or not array.shape[1]
                    or array.dtype.kind not in "iu" or (array < 0).any()):
                raise CommittedError(f"{name} must be non-negative integer Wh, one row per "
                                     f"household ({len(self.households)}) and at least one "
                                     f"column, got {array.dtype} of shape {array.shape}")
        if cons.shape != prod.shape:
            raise CommittedError(f"consumption_wh {cons.shape} and production_wh {prod.shape} "
                                 f"differ in shape")
        return cons.astype(np.int64), prod.astype(np.int64)

    def _leaf(self, household: Member, slot: int, imported: int, exported: int,
              payment: int, moved: dict[int, tuple[int, int]]) -> Leaf:
        """The household's leaf; its meter's indexes, moved by the slot's energy, go into
        `moved` (kept once the publication succeeds)."""
        indexes = self.indexes[household.account]
        before = moved.get(slot - 1, indexes.get(slot - 1, (START_INDEX_WH, START_INDEX_WH)))
        after = before[0] + imported, before[1] + exported
        if max(after) > MAX_INDEX_WH:
            raise CommittedError(f"{household.account}'s meter index would pass "
                                 f"{MAX_INDEX_WH} Wh")
        if slot - 1 not in indexes:
            moved.setdefault(slot - 1, before)
        moved[slot] = after
        return Leaf(household.meter, slot, imported, exported, payment)

    def check(self, household: Member, statement: Statement) -> list[str]:
        """What is wrong with `statement`, as `household` sees it from its own meter and the
        chain (an empty list: nothing)."""
        leaf, problems = statement.leaf, []
        published = self.settlement.published(leaf.slot)
        root, totals = published[0], published[1]
        if leaf.meter != household.meter:
            problems.append(f"the leaf is meter {leaf.meter}'s, not {household.meter}'s")
        if not MerkleTree.verify(statement.proof, root, leaf.hash):
            problems.append(f"the leaf is not in slot {leaf.slot}'s published tree")
        if totals_commitment(statement.demand_wh, statement.surplus_wh, statement.salt) != totals:
            problems.append(f"the totals differ from slot {leaf.slot}'s published ones")
        before = self.indexes[household.account].get(leaf.slot - 1)
        after = self.indexes[household.account].get(leaf.slot)
        if before is None or after is None:
            return problems + [f"no meter readings around slot {leaf.slot}"]
        imported, exported = after[0] - before[0], after[1] - before[1]
        if (leaf.import_wh, leaf.export_wh) != (imported, exported):
            problems.append(f"the meter says {imported} Wh in, {exported} Wh out; the leaf "
                            f"{leaf.import_wh} and {leaf.export_wh}")
        expected = payment_ueur(imported, exported, statement.demand_wh, statement.surplus_wh,
                                published[4], published[5])
        if leaf.payment_ueur != expected:
            problems.append(f"the payment should be {expected} µ€, the leaf says "
                            f"{leaf.payment_ueur}")
        return problems

    def dispute(self, household: Member, statement: Statement, *,
                readings: tuple[SignedReading, SignedReading] | None = None,
                sender: LocalAccount | None = None) -> Receipt:
        """`household` (its account, or `sender`) disputes `statement` on chain with its
        meter's signed readings at the ends of slots ``slot - 1`` and ``slot`` (or `readings`)."""
        slot = statement.leaf.slot
        before, after = readings or (self.reading(household, slot - 1),
                                     self.reading(household, slot))
        account = sender or self._account(household)
        return self.settlement.dispute(statement.leaf.calldata(), list(statement.proof),
                                       statement.totals(), before.calldata(), after.calldata(),
                                       sender=account)

    def _account(self, household: Member) -> LocalAccount:
        for account in self.chain.accounts:
            if account.address == household.account:
                return account
        raise CommittedError(f"no key for {household.account} on this chain: pass sender=")

    def books(self) -> dict[str, int]:
        """The bond, what disputes paid out and the credits the contract holds (µ€): always
        ``held == bond``."""
        return {"bond": self.settlement.bond(), "paid_out": self.settlement.paidOut(),
                "held": self.credit.balanceOf(self.settlement.address)}


def deploy_committed(chain: Chain, operator: LocalAccount, households: Sequence[Member],
                     grid_buy: int, grid_sell: int, *, k: int = MIN_HOUSEHOLDS,
                     bond: int = 100_000_000, penalty: int = 10_000_000,
                     dispute_seconds: int = DISPUTE_SECONDS) -> CommittedCommunity:
    """Deploy EnergyCredit, a MeterRegistry with `households`' meters and a
    CommittedSettlement run by `operator`, who posts `bond` µ€ (the least bond to publish).
    A won dispute pays `penalty` µ€; `k` households at least for totals in clear."""
    for name, value, low in (("k", k, 1), ("bond", bond, 1), ("penalty", penalty, 1),
                             ("dispute_seconds", dispute_seconds, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise CommittedError(f"{name} must be an integer >= {low}, got {value!r}")
    if not households:
        raise CommittedError("a committed settlement needs at least one household")
    credit = chain.deploy("EnergyCredit", operator.address, sender=operator)
    registry = chain.deploy("MeterRegistry", operator.address, sender=operator)
    registry.register([(h.meter, public_id_bytes(h.public_id), h.account) for h in households],
                      sender=operator)
    settlement = chain.deploy("CommittedSettlement", registry.address, credit.address,
                              operator.address, k, bond, penalty, dispute_seconds, grid_buy,
                              grid_sell, sender=operator)
    community = CommittedCommunity(chain, registry, credit, settlement, operator, households)
    community.post_bond(bond)
    return community


__all__ = ["LEAF_TYPES", "MIN_HOUSEHOLDS", "Books", "CommittedCommunity", "CommittedError",
           "Leaf", "MerkleTree", "Statement", "deploy_committed", "hash_pair", "payment_ueur",
           "totals_commitment"]
