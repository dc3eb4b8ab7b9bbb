"""The Hypothesis profiles of tests/conftest.py: chosen by DAISEE_HYPOTHESIS, never flaky."""

import os
import subprocess
import sys

from hypothesis import settings

import conftest
from conftest import REPO

PROBE = ("import conftest; from hypothesis import settings; s = settings(); "
         "print(conftest.PROFILE, s.max_examples, conftest.CHAIN_EXAMPLES, s.derandomize, "
         "s.deadline, s.database)")


def probe(profile: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAISEE_HYPOTHESIS"}
    if profile is not None:
        env["DAISEE_HYPOTHESIS"] = profile
    return subprocess.run([sys.executable, "-c", PROBE], cwd=REPO / "tests", env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_loaded_profile_is_derandomized_with_no_deadline_and_no_database():
    current = settings()
    assert current.derandomize and current.deadline is None and current.database is None
    assert current.max_examples == conftest.EXAMPLES


def test_dev_is_the_default_and_ci_is_more_thorough():
    assert probe(None).stdout.split() == ["dev", "40", "2", "True", "None", "None"]
    assert probe("ci").stdout.split() == ["ci", "200", "5", "True", "None", "None"]
    (dev, dev_chain), (ci, ci_chain) = conftest.PROFILES["dev"], conftest.PROFILES["ci"]
    assert ci > dev and ci_chain > dev_chain


def test_an_unknown_profile_is_refused_by_name():
    done = probe("thorough")
    assert done.returncode != 0
    assert "DAISEE_HYPOTHESIS must be one of ['ci', 'dev'], got 'thorough'" in done.stderr


def test_a_chain_test_gets_the_chain_examples_and_keeps_what_it_adds():
    chain = conftest.chain_settings(stateful_step_count=7)
    assert chain.max_examples == conftest.CHAIN_EXAMPLES and chain.stateful_step_count == 7
    assert chain.derandomize and chain.deadline is None
