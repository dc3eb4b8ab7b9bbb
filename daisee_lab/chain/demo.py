"""The toolchain's end-to-end run: compile the project's contracts, deploy them on an
in-process chain, make transactions, print the gas table. ``daisee-lab toolchain`` runs it."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from daisee_lab.chain.chain import Chain
from daisee_lab.chain.compiler import SOLC_VERSION, compile_contracts


def run_toolchain_demo(out: TextIO | None = None) -> Chain:
    """Compile, deploy EnergyCredit, mint, transfer and redeem credits; print the gas table to
    `out` (default: the standard output of the moment of the call, not of the import).

    Returns the chain so that callers (and tests) can inspect its state.
    """
    out = sys.stdout if out is None else out
    started = time.perf_counter()
    artifacts = compile_contracts()
    own = sorted(n for n, found in artifacts.items()
                 if any(a.unit.startswith("contracts/") for a in found))
    print(f"compiled {', '.join(own)} with solc {SOLC_VERSION} "
          f"in {time.perf_counter() - started:.2f} s (cached artifacts are reused)", file=out)

    chain = Chain()
    operator, alice, bob = chain.accounts[:3]
    credit = chain.deploy("EnergyCredit", operator.address, sender=operator)
    credit.mint(alice.address, 5_000_000, sender=operator)            # alice deposits 5 €
    credit.transfer(bob.address, 1_234_567, sender=alice)             # pays bob 1.234567 €
    credit.redeem(234_567, sender=bob)                                # bob cashes out 0.234567 €
    print(f"EnergyCredit at {credit.address}: alice {credit.balanceOf(alice.address)} µ€, "
          f"bob {credit.balanceOf(bob.address)} µ€, supply {credit.totalSupply()} µ€", file=out)
    print("\ngas used per transaction", file=out)
    print(chain.gas, file=out)
    return chain
