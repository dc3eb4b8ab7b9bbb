"""Chapter 7, your first contract: transactions, reverts and gas of the MeterLog contract."""

from __future__ import annotations

from pathlib import Path

from daisee_lab.exercises import checker

LOGS_7_1 = {10: 1200, 11: 800, 12: 950}  # slot -> Wh the owner must log
CALLDATA_SLACK = 100  # gas: what different argument values may change in a log's cost
LAB = "lab"  # where chapter 7 writes MeterLog.sol, relative to the notebook


@checker("7.1")
def three_logs(answer: object) -> tuple[bool, str]:
    """A MeterLog contract on which the owner logged the slots and energies of LOGS_7_1."""
    from daisee_lab.chain import Contract  # the chain stack loads only when a chain is used

    if not isinstance(answer, Contract) or answer.contract_name != "MeterLog":
        return False, "pass the handle that chain.deploy('MeterLog') returned"
    total, last = answer.totalWh(), answer.lastSlot()
    right_total, right_last = sum(LOGS_7_1.values()), max(LOGS_7_1)
    if (total, last) == (right_total, right_last):
        return True, f"{total} Wh over slots 10-12: three transactions, three blocks, three events."
    if last < right_last:
        return False, f"the last slot logged is {last}: log slots 10, 11 and 12, in that order"
    return False, (f"the contract holds {total} Wh (expected {right_total}); deploy a fresh one "
                   f"and log exactly {LOGS_7_1}")


@checker("7.2")
def caught_impostor(answer: object) -> tuple[bool, str]:
    """The decoded revert (``caught.revert``) of a log sent by someone who is not the owner."""
    from daisee_lab.chain import Revert

    if not isinstance(answer, Revert):
        return False, "pass caught.revert, from `with chain.expect_revert() as caught:`"
    if answer.kind == "custom" and answer.name == "NotOwner":
        return True, (f"NotOwner({answer.args.get('caller')}): the contract names the impostor, "
                      "and the state is untouched.")
    if answer.args.get("reason") == "slot already logged":
        return False, ("that is the check against logging a slot twice; send a new slot from "
                       "another account: sender=chain.accounts[1]")
    return False, f"got {answer.message}; log a new slot with sender=chain.accounts[1]"


@checker("7.3")
def storage_gas(answer: object) -> tuple[bool, str]:
    """How much more gas the first `log` of a fresh MeterLog uses than the second. The checker
    measures it on its own chain, with the MeterLog of the chapter's ``lab/`` folder."""
    from daisee_lab.chain import Chain

    if not isinstance(answer, int):
        return False, "answer with a whole number of gas"
    chain = Chain(contract_dirs=[Path(LAB)])
    meter_log = chain.deploy("MeterLog")
    first, second = meter_log.log(1, 100).gas_used, meter_log.log(2, 100).gas_used
    right = first - second
    # calldata costs 4 gas per zero byte and 16 per other byte: the Wh logged move it slightly
    close = lambda a, b: abs(a - b) <= CALLDATA_SLACK  # noqa: E731
    if close(answer, right):
        return True, (f"about {right} gas: writing a storage slot that was zero costs 20,000 "
                      "gas, changing one that is already set costs 2,900.")
    if close(answer, -right):
        return False, "the other way round: the first log minus the second"
    if close(answer, first) or close(answer, second):
        return False, "that is the gas of one log; the question asks for the difference"
    return False, ("deploy a fresh MeterLog, log two slots, and subtract the gas_used of the "
                   "second receipt from the first")
