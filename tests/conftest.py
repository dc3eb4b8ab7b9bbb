"""Shared fixtures: the real meter captures in tests/data/, and chains of both kinds with the test
contracts."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

REPO = Path(__file__).resolve().parents[1]
TEST_CONTRACTS = REPO / "tests" / "contracts"
TESTDATA = REPO / "tests" / "data"  # real meter captures; provenance and licences in its READMEs

# Every property test is derandomized: the same examples on every run and every machine, so a
# run never fails where the last one passed (a test's own @settings keep this default). No
# deadline: a loaded 2-core machine must not turn a slow example into a failure.
settings.register_profile("daisee", derandomize=True, database=None, deadline=None)
settings.load_profile("daisee")


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


def run_chain_machine(machine, world, examples: int, steps: int) -> None:
    """Run the Hypothesis state machine class `machine`, whose rules send transactions, against
    `world` (set as its class attribute for the run): derandomized, so a run never differs from
    the last one; no shrinking and no deadline, since one example on a chain takes seconds."""
    machine.world = world
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None, derandomize=True,
            database=None, phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow]))
    finally:
        machine.world = None
