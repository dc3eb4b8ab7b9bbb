"""One set of bounds (daisee_lab/units.py), shared by the kernels, the contracts and the
classroom: defined once, equal on chain, and every number the AuctionMarket stores is wide
enough for the largest value those bounds allow (issue 14, truncation)."""

import ast
import re

import pytest

from daisee_lab import units
from daisee_lab.chain.compiler import collect_sources, contracts_dir, find_solc, SETTINGS

from conftest import REPO

pytestmark = pytest.mark.slow  # compiles the contracts

# The bounds of an auction: the contract declares each as a constant of the same name.
AUCTION_BOUNDS = ("MAX_PRICE", "MIN_ORDER_WH", "MAX_ORDER_WH", "MAX_ORDERS",
                  "MAX_ORDERS_PER_TRADER", "MAX_MEMBERS", "MAX_COMMITS", "MAX_DEPOSIT")
# Defined in units.py only.
ONE_DEFINITION = AUCTION_BOUNDS + ("MAX_WH", "MAX_INDEX_WH", "MAX_ACC_WH", "SLOT_SECONDS", "PARIS",
                                   "CHAIN_SLOT")
# The largest value each stored number of AuctionMarket holds, from the bounds: a new stored
# number must be added here, with its bound.
ROUND_DEPOSITS = units.MAX_DEPOSIT * units.MAX_COMMITS * units.MAX_MEMBERS
STORED = {("Round", "committed"): ROUND_DEPOSITS, ("Round", "revealed"): ROUND_DEPOSITS,
          ("Round", "price"): units.MAX_PRICE, ("Round", "volume"): units.MAX_WH,
          ("Commitment", "deposit"): units.MAX_DEPOSIT,
          ("Order", "price"): units.MAX_PRICE, ("Order", "qty"): units.MAX_ORDER_WH,
          ("Order", "escrow"): units.MAX_DEPOSIT, ("Order", "filled"): units.MAX_ORDER_WH,
          ("Order", "prior"): units.MAX_ORDERS,
          ("Tally", "commits"): units.MAX_COMMITS, ("Tally", "bids"): units.MAX_ORDERS_PER_TRADER,
          ("Tally", "asks"): units.MAX_ORDERS_PER_TRADER, ("Tally", "lastAsk"): units.MAX_ORDERS,
          ("Export", "exportedWh"): units.MAX_INDEX_WH}


def test_each_bound_is_defined_once_in_units():
    """No module of the library assigns a bound of units.py itself (it imports it)."""
    defined = []
    for path in sorted((REPO / "daisee_lab").rglob("*.py")):
        if path.name == "units.py" and path.parent.name == "daisee_lab":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                name = getattr(target, "id", "").lstrip("_")
                if name in ONE_DEFINITION:
                    defined.append(f"{path.relative_to(REPO)}:{node.lineno} {target.id}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            by_900 = (isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv)
                      and getattr(node.right, "value", None) == 900)
            paris = (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ZoneInfo"
                     and [getattr(a, "value", None) for a in node.args] == ["Europe/Paris"])
            if by_900 or paris:
                defined.append(f"{path.relative_to(REPO)}:{node.lineno} a slot or zone by hand")
    assert defined == []


def test_the_bounds_fit_together():
    assert units.MAX_ORDERS * units.MAX_ORDER_WH <= units.MAX_WH  # a full side clears
    assert units.MAX_MEMBERS * units.MAX_ORDERS_PER_TRADER <= units.MAX_ORDERS  # room for all
    assert 0 < units.MIN_ORDER_WH <= units.MAX_ORDER_WH
    assert units.MAX_ORDERS_PER_TRADER <= units.MAX_COMMITS


@pytest.fixture(scope="module")
def layout():
    """AuctionMarket's storage layout, from solc: struct name -> {member: bits}."""
    sources = collect_sources({"contracts": contracts_dir()})
    settings = {**SETTINGS, "outputSelection": {
        "contracts/AuctionMarket.sol": {"AuctionMarket": ["storageLayout"]}}}
    output = find_solc().compile_standard({"language": "Solidity", "settings": settings,
                                           "sources": {u: {"content": t}
                                                       for u, t in sources.items()}})
    types = output["contracts"]["contracts/AuctionMarket.sol"]["AuctionMarket"][
        "storageLayout"]["types"]
    structs = {}
    for key, kind in types.items():
        found = re.fullmatch(r"t_struct\((\w+)\)\d+_storage", key)
        if found and found[1] != "RoleData":
            structs[found[1]] = {m["label"]: m["type"] for m in kind["members"]}
    return structs


def test_every_number_the_auction_stores_holds_its_largest_value(layout):
    """A stored field narrower than its bound would keep a truncated value (Round.volume once
    kept 1.2e12 Wh as 100,488,372,224 in 40 bits while the Cleared event had the full one)."""
    stored = {(struct, member): kind for struct, members in layout.items()
              for member, kind in members.items() if kind.startswith("t_uint")}
    assert set(stored) == set(STORED)
    narrow = {field: (kind, STORED[field]) for field, kind in stored.items()
              if 2 ** int(kind.removeprefix("t_uint")) <= STORED[field]}
    assert narrow == {}
