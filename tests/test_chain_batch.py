"""`Chain.batch`: many transactions signed with local nonces, sent, then awaited together; their
gas in the chain's gas report; a reverted one named by replaying it (issue 15, item 2)."""

import pytest

from daisee_lab.chain import TransactionReverted
from daisee_lab.chain.gas import GasRecord

TRANSFER_GAS = 21_000  # the intrinsic gas of a plain value transfer to an account (no code)


@pytest.fixture
def fixture(chain):
    return chain.deploy("Fixture", 5, sender=chain.accounts[1])


def test_a_batch_numbers_its_nonces_after_the_accounts_last_transaction(chain, fixture):
    alice = chain.accounts[2]
    fixture.store(1, sender=alice)  # one transaction the usual way first: the node counts it
    start = chain.w3.eth.get_transaction_count(alice.address)
    batch = chain.batch(alice)
    for value in (10, 20, 30):
        batch.send(fixture, "store", value)
    receipts = batch.wait()
    nonces = [chain.w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts]
    assert nonces == [start, start + 1, start + 2]
    assert fixture.stored() == 30  # run in the order sent
    assert chain.w3.eth.get_transaction_count(alice.address) == start + 3
    batch.send(fixture, "store", 40)  # the next batch asks the node again: start + 3
    (receipt,) = batch.wait()
    assert chain.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == start + 3
    assert batch.sent == 4


def test_a_batchs_gas_is_in_the_chains_gas_report(chain, fixture):
    bob, carol = chain.accounts[3], chain.accounts[4]
    before = len(chain.gas)
    batch = chain.batch(bob)
    batch.send(fixture, "store", 7)
    batch.transfer(carol.address, 10**15)
    store, transfer = batch.wait()
    assert chain.gas.records[before:] == [
        GasRecord("Fixture", "store", store["gasUsed"], store["transactionHash"].to_0x_hex()),
        GasRecord("ether", "transfer", TRANSFER_GAS, transfer["transactionHash"].to_0x_hex())]
    assert store["gasUsed"] > TRANSFER_GAS
    summary = chain.gas.summary()
    assert summary.loc[("ether", "transfer"), "calls"] == 1


def test_a_reverted_transaction_is_named_and_the_others_go_on(chain, fixture):
    dave = chain.accounts[5]
    before = len(chain.gas)
    batch = chain.batch(dave)
    for value in (13, 2000, 8):
        batch.send(fixture, "store", value)
    unlucky, too_large, stored = batch.wait(strict=False)
    assert isinstance(unlucky, TransactionReverted) and unlucky.revert.name == "Error"
    assert str(unlucky) == "Fixture.store reverted: unlucky number"
    assert (too_large.revert.name, too_large.revert.args) == ("TooLarge",
                                                              {"value": 2000, "limit": 1000})
    assert str(too_large) == "Fixture.store reverted: TooLarge(value=2000, limit=1000)"
    assert stored["status"] == 1 and fixture.stored() == 8
    assert [r.function for r in chain.gas.records[before:]] == ["store"]  # the one mined
    batch.send(fixture, "store", 2001)
    with pytest.raises(TransactionReverted, match=r"TooLarge\(value=2001, limit=1000\)"):
        batch.wait()  # strict: the first refusal is raised once every receipt is in
    assert fixture.stored() == 8


def test_a_transaction_read_back_from_its_block_is_named_too(chain, fixture):
    erin = chain.accounts[6]
    batch = chain.batch(erin)
    batch.send(fixture, "store", 5000)
    (refused,) = batch.wait(strict=False)
    block = chain.w3.eth.block_number
    (tx,) = chain.w3.eth.get_block(block, full_transactions=True).transactions  # anvil: "input"
    why = chain.why_reverted(tx, block)
    assert why == refused.revert and why.args == {"value": 5000, "limit": 1000}


def test_a_reset_batch_asks_the_node_for_the_nonce_again(chain, fixture):
    frank = chain.accounts[7]
    batch = chain.batch(frank)
    batch.send(fixture, "store", 1)
    batch.reset()  # as after losing the node: the receipt is no longer awaited
    assert batch.wait() == []
    fixture.store(2, sender=frank)  # the node's count moved on meanwhile
    batch.send(fixture, "store", 3)
    (receipt,) = batch.wait()
    assert receipt["status"] == 1 and fixture.stored() == 3


def test_a_learners_batch_passes_the_rooms_guard():
    """A learner's transactions go in batches through the room's guard, which refuses one
    asking for more gas than its limit: the batch's fixed limit must be under it."""
    from daisee_lab.chain.batch import GAS_LIMIT
    from daisee_lab.classroom.guard import MAX_GAS

    assert GAS_LIMIT <= MAX_GAS
