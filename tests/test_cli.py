"""The daisee-lab command: --help, --version, the toolchain run, what `run` prints."""

import re
import subprocess
import sys

import pytest

import daisee_lab
import daisee_lab.chain.demo  # imported before capsys swaps sys.stdout, as in a full run
from daisee_lab.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "daisee_lab.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_version_and_help():
    assert run("--version").stdout.strip() == f"daisee-lab {daisee_lab.__version__}"
    shown = run("--help")
    assert shown.returncode == 0 and "toolchain" in shown.stdout


def test_unknown_command_exits_2_with_one_line():
    done = run("frobnicate")
    assert done.returncode == 2
    assert "invalid choice: 'frobnicate'" in done.stderr and "Traceback" not in done.stderr


def test_toolchain_prints_balances_and_a_gas_table(capsys):
    """Printed to the standard output of the call: the demo module is imported above, before
    capsys takes over, as another test's import would in a full run (it once printed to the
    stdout of its import, and this test failed only when run after such a test)."""
    assert main(["toolchain"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"compiled .*EnergyCredit.* with solc 0.8.30", out)
    assert "alice 3765433 µ€, bob 1000000 µ€, supply 4765433 µ€" in out
    table = out.split("gas used per transaction")[1]
    for function in ("constructor", "mint", "transfer", "redeem"):
        assert function in table


@pytest.mark.slow  # runs the main job
def test_run_says_each_stage_as_it_ends_then_where_the_report_is_and_how_to_open_it(tmp_path,
                                                                                  capsys):
    out = tmp_path / "day"
    assert main(["run", "--households", "2", "--slots", "2", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    stages = ["community", "meters", "records", "kernel", "chain", "check", "report"]
    assert [line.split()[0] for line in lines[:7]] == stages
    assert all(re.fullmatch(r"\w+ +\d+\.\d\d s", line) for line in lines[:7])
    page = out / "index.html"
    assert lines[-2:] == [f"report: {page}", f"open it: xdg-open {page}  (or, in a browser, "
                                             f"{page.resolve().as_uri()})"]


@pytest.mark.slow  # runs the main job
def test_run_with_a_french_key_settles_off_chain_and_writes_its_report(tmp_path):
    out = tmp_path / "acc"
    done = run("run", "--method", "acc_dynamic_default", "--households", "2", "--slots", "2",
               "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:6]] == ["community", "meters", "records",
                                                       "kernel", "check", "report"]
    assert "acc_dynamic_default" in lines[6] and "settled off chain" in lines[7]
    assert lines[-2] == f"report: {out / 'index.html'}"
    assert "Why no chain" in (out / "index.html").read_text()
    assert sorted(path.name for path in out.glob("*.csv")) == ["bills.csv", "slots.csv"]


@pytest.mark.slow  # runs the main job
def test_run_refuses_an_option_it_does_not_have():
    done = run("run", "--speed", "1200")  # the meters' time is compressed: no speed to choose
    assert done.returncode == 2
    assert "unrecognized arguments: --speed 1200" in done.stderr
    assert "Traceback" not in done.stderr
