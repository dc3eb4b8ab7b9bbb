"""Chapter 10, attack and defend: tampered batches of readings, a re-entrant thief, and the gas
wall of sorting a book on chain.

The checkers measure on chains of their own: 10.1 submits :func:`tampered_batches` to a fresh
community, 10.2 runs the chapter's ``lab/Thief.sol`` against a CommunityMarket, 10.3 sorts books of
rising bids with ``lab/SortingMarket.sol`` on anvil (the in-process EVM takes seconds per block),
each sort sent with the gas mainnet allows one transaction since Fusaka (EIP-7825).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from daisee_lab.chain.gas import TX_GAS_CAP
from daisee_lab.errors import DaiseeError
from daisee_lab.exercises import checker
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, the book's grid prices
from daisee_lab.units import slot_of

LAB = "lab"  # where the chapter writes its Solidity, relative to the notebook
SEED = 9  # the meter keys of the checkers' households
SLOT = slot_of(datetime(2025, 6, 21, 12, tzinfo=UTC))  # noon, 21 June 2025
BATCHES = ("yesterday", "elsewhere", "twice", "stranger")
THIEF_FUNDS, THIEF_CHUNK = 1_000_000, 300_000  # µ€: exercise 10.2
RISING_FROM, RISING_STEP = 100_000, 1_000  # µ€/kWh: the rising bids of exercise 10.3
MAX_BIDS = 1024  # 10.3 looks for the wall below this many bids

_BATCH_HINTS = {
    "yesterday": ("'yesterday' is the previous slot's batch, every signature genuine. The slot "
                  "is not in a reading's calldata: which slot does the contract put in the "
                  "message it checks each signature against?"),
    "elsewhere": ("'elsewhere': Alice's meter really signed this slot and these indexes. What "
                  "else does an EIP-712 signature bind besides the reading?"),
    "twice": ("'twice': every reading is genuine and for this slot; look at whose meters they "
              "are, and remember that the contract stores each reading as soon as it verifies it"),
    "stranger": ("'stranger': its signature is good for its own meter. What does the contract "
                 "look up about a meter before it checks a signature?"),
}


def tampered_batches(community, slot: int) -> dict:
    """Four batches of readings for `slot`, each tampered one way, keyed by the names of
    :data:`BATCHES`. `community` (a :class:`~daisee_lab.contracts.Community` of three or more
    households) must have settled ``slot - 1`` last.

    - ``yesterday``: the batch of ``slot - 1`` exactly as the meters signed it, sent again;
    - ``elsewhere``: honest readings, but the first household's was signed for another market;
    - ``twice``: honest readings, the second household's in place of the last one's;
    - ``stranger``: honest readings, the last one from a meter nobody registered.
    """
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address

    from daisee_lab.contracts import sign_reading

    homes, market = community.households, community.market
    if len(homes) < 3 or market.lastSettledSlot() != slot - 1:
        raise DaiseeError(f"tampered_batches(community, {slot}) needs at least 3 households "
                          f"and slot {slot - 1} settled last; got {len(homes)} households and "
                          f"last settled slot {market.lastSettledSlot()}")
    last = [market.lastReading(h.meter) for h in homes]
    imports, exports = [r[2] for r in last], [r[3] for r in last]
    honest = community.sign_readings(slot, [i + 200 for i in imports], exports)
    first = honest[0]
    other_market = to_checksum_address(keccak(text="another community's market")[:20])
    stranger = Account.from_key(keccak(text="daisee-lab chapter 10 stranger"))
    return {
        "yesterday": community.sign_readings(slot - 1, imports, exports),
        "elsewhere": [sign_reading(homes[0].meter_key, other_market, community.chain_id,
                                   first.meter, slot, first.import_wh, first.export_wh)]
        + honest[1:],
        "twice": honest[:-1] + [honest[1]],
        "stranger": honest[:-1] + [sign_reading(stranger, market.address, community.chain_id,
                                                stranger.address, slot, 200, 0)],
    }


def _submit(community, slot: int, batch, sender) -> str | None:
    """The name of the error that stops `batch`, or None if the market accepts it."""
    from daisee_lab.chain import TransactionReverted

    try:
        community.settle_slot(slot, batch, sender=sender)
    except TransactionReverted as refused:
        return refused.revert.name
    return None


@lru_cache(maxsize=1)
def _batch_errors() -> tuple[dict, frozenset]:
    """What stops each tampered batch on a fresh community, and CommunityMarket's error names."""
    from daisee_lab.chain import Chain
    from daisee_lab.contracts import deploy_community, make_members

    chain = Chain()
    operator, *people = chain.accounts[:5]
    homes = make_members([p.address for p in people[:3]], seed=SEED)
    community = deploy_community(chain, operator, homes, GRID_BUY, GRID_SELL)
    community.settle_slot(SLOT - 1, community.sign_readings(SLOT - 1, [1_000, 2_000, 3_000],
                                                            [0, 0, 0]))
    errors = {name: _submit(community, SLOT, batch, people[3])
              for name, batch in tampered_batches(community, SLOT).items()}
    known = frozenset(e["name"] for e in community.market.abi if e["type"] == "error")
    return errors, known


@checker("10.1")
def which_check(answer: object) -> tuple[bool, str]:
    """For each batch of :func:`tampered_batches`, the name of the CommunityMarket error that
    stops it (as in ``caught.revert.name``)."""
    shape = (f"answer with a dict from each batch's name ({', '.join(BATCHES)}) to the name of "
             "the error that stops it, as caught.revert.name gives it")
    if not isinstance(answer, dict) or set(answer) != set(BATCHES):
        return False, shape
    right, known = _batch_errors()
    unknown = sorted(str(v) for v in answer.values() if v not in known)
    if unknown:
        return False, (f"{', '.join(unknown)}: not an error of CommunityMarket; submit the batch "
                       "inside `with chain.expect_revert() as caught:` and read "
                       "caught.revert.name")
    wrong = [name for name in BATCHES if answer[name] != right[name]]
    if not wrong:
        return True, ("each reading is checked in this order: a registered meter "
                      "(UnknownMeter), its signature over the reading, the slot, this chain and "
                      "this market (InvalidSignature), a slot after the meter's last "
                      "(StaleReading), indexes that do not go down (IndexWentBackwards). One bad "
                      "reading reverts the whole batch: nothing changes.")
    return False, f"{len(wrong)} of {len(BATCHES)} wrong. " + _BATCH_HINTS[wrong[0]]


def _lab_source(name: str) -> str | None:
    """The text of the chapter's ``lab/<name>.sol`` (it keys the caches: a new text, a new
    measurement), or None if the chapter has not written it."""
    path = Path(LAB) / f"{name}.sol"
    return path.read_text() if path.exists() else None


def _missing(name: str) -> tuple[bool, str]:
    return False, (f"no {Path(LAB, name).resolve()}.sol: run the chapter's %%writefile cell "
                   f"for {name}.sol first (the notebook runs in the book/ folder)")


@lru_cache(maxsize=4)
def _thief_take(source: str) -> tuple[int, int]:
    """µ€ received and payments of lab/Thief.sol (`source`) holding THIEF_FUNDS in a
    CommunityMarket when it calls attack(THIEF_CHUNK)."""
    from daisee_lab.chain import Chain
    from daisee_lab.contracts import deploy_community, make_members

    chain = Chain(contract_dirs=[Path(LAB)])
    operator, neighbour, eve = chain.accounts[:3]
    community = deploy_community(chain, operator, make_members([neighbour.address], SEED),
                                 GRID_BUY, GRID_SELL)
    thief = chain.deploy("Thief", community.market.address, sender=eve)
    community.register(make_members([thief.address], seed=SEED + 1))
    community.fund({neighbour.address: 5 * THIEF_FUNDS, thief.address: THIEF_FUNDS})
    thief.attack(THIEF_CHUNK, sender=eve)
    return thief.received(), thief.payments()


@checker("10.2")
def thief_take(answer: object) -> tuple[bool, str]:
    """How many µ€ the chapter's Thief receives in all when it holds THIEF_FUNDS in a community
    market and calls ``attack(THIEF_CHUNK)``. Measured with the Thief of ``lab/``."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        return False, "answer with a whole number of µ€"
    source = _lab_source("Thief")
    if source is None:
        return _missing("Thief")
    received, payments = _thief_take(source)
    if answer == received:
        return True, (f"{received:,} µ€ in {payments} payments, nothing more than its balance: "
                      "each nested withdraw found the balance the previous one had already "
                      "debited, and the one that asked too much was refused.")
    if answer > THIEF_FUNDS:
        return False, ("more than its balance: read CommunityMarket.withdraw again; the balance "
                       "is stored, debited, before the credits leave")
    if answer == THIEF_FUNDS:
        return False, (f"the thief asks for {THIEF_CHUNK:,} µ€ each time; what happens when "
                       "less than that is left?")
    if answer == THIEF_CHUNK:
        return False, ("re-entering is not forbidden: each nested withdraw is checked against "
                       "the balance that the previous one left")
    if answer == 0:
        return False, ("the refused withdrawal is inside try/catch: only that last call is "
                       "undone, the payments before it stand")
    return False, ("deploy lab's Thief on a fresh chain, register it as a household with "
                   f"{THIEF_FUNDS:,} µ€, call attack({THIEF_CHUNK:,}) and read received()")


def rising_bids(n: int) -> list[int]:
    """`n` bid prices (µ€/kWh) in rising order: each new bid is the highest so far, the worst
    case of an insertion sort (with distinct non-zero prices, any rising list costs the same)."""
    return [RISING_FROM + RISING_STEP * i for i in range(n)]


def sort_with(chain, n: int, gas: int = TX_GAS_CAP) -> tuple[int, bool]:
    """Sort `n` rising bids on `chain`, sending sortBids with `gas` gas (a wallet's fixed gas
    limit; by default the most one mainnet transaction may use since Fusaka): the gas its
    receipt shows, and whether it went through."""
    market = chain.deploy("SortingMarket")
    market.addBids(rising_bids(n))
    tx = market.web3.functions.sortBids().transact({"from": chain.accounts[0].address,
                                                    "gas": gas})
    receipt = chain.w3.eth.wait_for_transaction_receipt(tx)
    return receipt["gasUsed"], receipt["status"] == 1


@lru_cache(maxsize=4)
def _sort_wall(source: str) -> tuple[int, int, int] | None:
    """With lab/SortingMarket.sol (`source`) on anvil: the most rising bids sortBids sorts in
    one transaction of TX_GAS_CAP gas, the gas its receipt shows, and the gas of checkBids for
    the same book; None if MAX_BIDS bids still sort."""
    from daisee_lab.chain import Chain
    from daisee_lab.chain.anvil import Anvil

    with Anvil() as node:
        chain = Chain(node.url, contract_dirs=[Path(LAB)])
        fits = lambda n: sort_with(chain, n)[1]  # noqa: E731
        low, high = 0, 16  # low fits; double high until it does not, then bisect
        while fits(high):
            if high == MAX_BIDS:
                return None
            low, high = high, 2 * high
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(middle) else (low, middle)
        sort_gas, _ = sort_with(chain, low)
        market = chain.deploy("SortingMarket")
        market.addBids(rising_bids(low))
        check_gas = market.checkBids(list(range(low))[::-1]).gas_used
    return low, sort_gas, check_gas


@checker("10.3")
def sort_wall(answer: object) -> tuple[bool, str]:
    """The largest book of rising bids whose SortingMarket.sortBids transaction goes through
    with TX_GAS_CAP gas, mainnet's cap per transaction since Fusaka. Measured on anvil with the
    SortingMarket of ``lab/``."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        return False, "answer with a whole number of bids"
    source = _lab_source("SortingMarket")
    if source is None:
        return _missing("SortingMarket")
    measured = _sort_wall(source)
    if measured is None:
        return False, (f"lab/SortingMarket.sol sorts {MAX_BIDS} rising bids in one transaction: it "
                       "is no longer the chapter's insertion sort; run its %%writefile cell again")
    wall, sort_gas, check_gas = measured
    if answer == wall:
        return True, (f"{wall} bids: sorting them uses {sort_gas:,} gas, checking the same "
                      f"book sorted off chain {check_gas:,}. The sort grows with the square of "
                      "the book, the check in proportion to it.")
    if wall < answer <= wall + 3:
        return False, ("close, but that many bids do not go through: a receipt shows gas net "
                       "of refunds (storage written back earns gas back at the end), and a "
                       "transaction needs the gross amount while it runs; send the sort and see")
    if answer > wall:
        return False, (f"one transaction of {TX_GAS_CAP:,} gas cannot hold the sort of that many "
                       "bids (a Prague block could hold more: send with gas=TX_GAS_CAP); try "
                       "smaller books, bisecting between one that goes through and one that "
                       "does not")
    if answer < 1:
        return False, "a book has at least one bid"
    return False, ("that many bids go through with room to spare; try larger books (bisect "
                   "between one that goes through and one that does not)")
