"""Shared fixtures: the real meter captures in tests/data/, and chains of both kinds with the test
contracts."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_CONTRACTS = REPO / "tests" / "contracts"
TESTDATA = REPO / "tests" / "data"  # real meter captures; provenance and licences in its READMEs


def pytest_collection_modifyitems(items):
    """Files with a test marked slow run first: under ``-n 2 --dist loadfile`` a long file
    started last would keep one worker busy after the other has finished everything else."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file's order is kept


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The folder of real meter captures (tests/data/tic, tests/data/dsmr)."""
    return TESTDATA


@pytest.fixture(scope="session")
def anvil_node():
    """One anvil node for the session (tests restore its state with snapshots)."""
    from daisee_lab.chain.anvil import Anvil

    with Anvil() as node:
        yield node


@pytest.fixture(params=["eth-tester", "anvil"])
def chain(request):
    """A chain that also knows the test contracts: in process, or anvil over JSON-RPC.
    The anvil one is returned to its starting state after the test."""
    from daisee_lab.chain import Chain

    if request.param == "eth-tester":
        yield Chain(contract_dirs=[TEST_CONTRACTS])
        return
    node = request.getfixturevalue("anvil_node")
    chain = Chain(node.url, contract_dirs=[TEST_CONTRACTS])
    snap = chain.snapshot()
    yield chain
    chain.revert_to(snap)
