"""Every admin function of the trade contracts refuses a stranger (issue 14): each contract's
state-changing functions, read from its ABI, are called by an account holding no role, and
exactly the listed ones revert with ``AccessControlUnauthorizedAccount`` naming their role. A
function added later without a role check, or a role check dropped, fails here."""

import pytest
from eth_utils import keccak

from daisee_lab.chain import Chain, TransactionReverted
from daisee_lab.contracts import deploy_auction, deploy_community

pytestmark = pytest.mark.slow  # deploys three contracts and sends some sixty transactions

ROLES = ("grantRole", "revokeRole")  # OpenZeppelin AccessControl: the role's admin only
REGISTRY = {"register": "OPERATOR_ROLE", "registerWithPower": "OPERATOR_ROLE",
            "removeMeter": "OPERATOR_ROLE", "replaceMeter": "OPERATOR_ROLE"}
ADMIN = {  # contract: {function: the role it needs}
    "EnergyCredit": {"mint": "MINTER_ROLE"},
    "CommunityMarket": REGISTRY | {"setGridPrices": "OPERATOR_ROLE",
                                   "withdrawRounding": "OPERATOR_ROLE"},
    "AuctionMarket": REGISTRY | {"voidRound": "OPERATOR_ROLE",
                                 "withdrawCommunity": "OPERATOR_ROLE"},
}


def dummy(kind: dict, who: str):
    """A value of ABI type `kind` (its JSON entry), `who` for an address."""
    name = kind["type"]
    if name.endswith("]"):
        size = name[name.rindex("[") + 1:-1]
        inner = dict(kind, type=name[:name.rindex("[")])
        return [dummy(inner, who) for _ in range(int(size or 0))]
    if name == "tuple":
        return tuple(dummy(part, who) for part in kind["components"])
    if name == "address":
        return who
    if name.startswith(("uint", "int")):
        return 1
    if name == "bool":
        return False
    if name.startswith("bytes") and name != "bytes":
        return b"\x01" * int(name[5:])
    return b"" if name == "bytes" else ""


def refusals(contract, stranger) -> dict[str, bytes]:
    """Each state-changing function of `contract` (every overload) that refuses `stranger` for
    want of a role: its name and the role named."""
    refused = {}
    for entry in contract.abi:
        if entry.get("type") != "function" or entry["stateMutability"] in ("view", "pure"):
            continue
        args = [dummy(kind, stranger.address) for kind in entry["inputs"]]
        try:
            getattr(contract, entry["name"])(*args, sender=stranger)
        except TransactionReverted as exc:
            if exc.revert.matches("AccessControlUnauthorizedAccount"):
                assert exc.revert.args["account"] == stranger.address
                refused[entry["name"]] = exc.revert.args["neededRole"]
    return refused


def test_a_stranger_is_refused_by_every_admin_function_and_only_by_them():
    chain = Chain()
    operator, stranger = chain.accounts[0], chain.accounts[7]
    community = deploy_community(chain, operator, [], 250_000, 100_000)
    auction = deploy_auction(chain, operator, [], 250_000)
    for contract in (community.credit, community.market, auction.market):
        admin = ADMIN[contract.contract_name]
        expected = {name: keccak(text=role) for name, role in admin.items()}
        expected |= dict.fromkeys(ROLES, b"\0" * 32)  # DEFAULT_ADMIN_ROLE
        assert refusals(contract, stranger) == expected, contract.contract_name
