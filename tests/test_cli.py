"""The daisee-lab command: --help, --version, the toolchain run."""

import re
import subprocess
import sys

import daisee_lab
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
    assert main(["toolchain"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"compiled .*EnergyCredit.* with solc 0.8.30", out)
    assert "alice 3765433 µ€, bob 1000000 µ€, supply 4765433 µ€" in out
    table = out.split("gas used per transaction")[1]
    for function in ("constructor", "mint", "transfer", "redeem"):
        assert function in table
