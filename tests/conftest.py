"""Shared fixtures: the real meter captures in tests/data/, and chains of both kinds with the test
contracts."""

import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

REPO = Path(__file__).resolve().parents[1]
TEST_CONTRACTS = REPO / "tests" / "contracts"
TESTDATA = REPO / "tests" / "data"  # real meter captures; provenance and licences in its READMEs

# Hypothesis profiles, chosen by DAISEE_HYPOTHESIS: "dev" (the default, for the edit-test loop)
# or "ci" (thorough; .ci/run sets it). Each gives a number of examples for a property test whose
# example takes milliseconds (the profile's max_examples, which a test's own @settings inherit)
# and one for a test whose example sends transactions to a chain and takes seconds
# (CHAIN_EXAMPLES). Both are derandomized: the same examples on every run and every machine, so
# a run never fails where the last one passed. No deadline: a loaded 2-core machine must not turn
# a slow example into a failure. No database: nothing carried over from an earlier run.
# "ci" is sized to keep `make test` within its time on 2 cores: about as many examples as the
# tests had before the profiles (60 to 300; 4 to 8 on a chain), where "dev" runs a fifth of them.
PROFILES = {"dev": (40, 2), "ci": (200, 5)}  # name: (examples, chain examples)
PROFILE = os.environ.get("DAISEE_HYPOTHESIS", "dev")
if PROFILE not in PROFILES:
    raise pytest.UsageError(f"DAISEE_HYPOTHESIS must be one of {sorted(PROFILES)}, "
                            f"got {PROFILE!r}")
EXAMPLES, CHAIN_EXAMPLES = PROFILES[PROFILE]
for _name, (_examples, _) in PROFILES.items():
    settings.register_profile(_name, max_examples=_examples, derandomize=True, database=None,
                              deadline=None)
settings.load_profile(PROFILE)


def pytest_collection_modifyitems(items):
    """Long files run first: under ``-n 2 --dist loadfile`` a long file started last would keep
    one worker busy after the other has finished everything else. First the files with a test
    that takes minutes (``@pytest.mark.slow(minutes=True)``), then those with a slow test."""
    rank: dict[Path, int] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            rank[item.path] = min(rank.get(item.path, 2), 0 if mark.kwargs.get("minutes") else 1)
    items.sort(key=lambda item: rank.get(item.path, 2))  # stable: each file's order is kept


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


def chain_settings(**kwargs) -> settings:
    """Hypothesis settings for a test whose examples send transactions to a chain, seconds each:
    the profile's CHAIN_EXAMPLES, without the too-slow health check; `kwargs` add to them."""
    return settings(max_examples=CHAIN_EXAMPLES, suppress_health_check=[HealthCheck.too_slow],
                    **kwargs)


def run_chain_machine(machine, world, steps: int, min_examples: int = 0) -> Counter:
    """Run the Hypothesis state machine class `machine`, whose rules send transactions, against
    `world` (set as its class attribute for the run): :func:`chain_settings`, `steps` rules per
    example, and no shrinking, since one example on a chain takes seconds. Derandomized
    Hypothesis begins with its simplest sequences (the first ones have no step), so a machine
    that must meet something gets `min_examples` sequences at the least, whatever the profile.
    Returns what the sequences met: the counts above 0 of ``machine.met``, a Counter emptied
    before the run, to which the rules add the events they meet."""
    machine.world, machine.met = world, Counter()
    try:
        run_state_machine_as_test(machine, settings=settings(
            chain_settings(stateful_step_count=steps, phases=[Phase.explicit, Phase.generate]),
            max_examples=max(CHAIN_EXAMPLES, min_examples)))
    finally:
        machine.world = None
    return +machine.met
