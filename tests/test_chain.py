"""`Chain`: deploy, call, transact, events, every revert shape, gas report, snapshots, time."""

import http.server
import re
import threading

import pytest
from eth_tester.exceptions import TransactionFailed
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from daisee_lab.chain import Chain, ChainError, NoRevert, TransactionReverted, decode_revert
from daisee_lab.chain.reverts import error_selectors


@pytest.fixture
def fixture(chain):
    return chain.deploy("Fixture", 5, sender=chain.accounts[1])


def test_accounts_are_the_development_mnemonic_accounts(chain):
    assert chain.accounts[0].address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert all(chain.w3.eth.get_balance(a.address) > 10**21 for a in chain.accounts)
    assert len(Chain(accounts=3).accounts) == 3


def test_deploy_call_transact_and_events(chain, fixture):
    alice = chain.accounts[2]
    assert fixture.stored() == 5
    receipt = fixture.store(42, sender=alice)
    assert fixture.stored() == 42
    assert receipt.gas_used > 21_000
    (event,) = receipt.events
    assert (event.name, event.args, event.address) == (
        "Stored", {"by": alice.address, "value": 42}, fixture.address)
    assert receipt.events_named("Stored") == [event]
    assert receipt.block_number == chain.w3.eth.block_number


def test_a_solidity_name_function_is_not_shadowed_by_the_handle(chain):
    credit = chain.deploy("EnergyCredit", chain.accounts[0].address)
    assert (credit.name(), credit.contract_name) == ("Energy Credit", "EnergyCredit")
    assert repr(credit) == f"<EnergyCredit at {credit.address}>"


def test_events_of_other_contracts_are_decoded_too(chain):
    operator, alice = chain.accounts[:2]
    credit = chain.deploy("EnergyCredit", operator.address, sender=operator)
    receipt = credit.mint(alice.address, 7, sender=operator)
    assert [(e.name, e.args["value"]) for e in receipt.events] == [("Transfer", 7)]
    assert credit.decimals() == 6


def test_unknown_contract_and_function_are_clear_errors(chain, fixture):
    with pytest.raises(ChainError, match=r"no contract named 'Nope'.*Fixture"):
        chain.deploy("Nope")
    with pytest.raises(ChainError, match="interface"):
        chain.deploy("IERC20")
    with pytest.raises(AttributeError, match="Fixture has no function 'nope'"):
        fixture.nope()


def test_reason_string_revert(chain, fixture):
    with chain.expect_revert("unlucky number") as caught:
        fixture.store(13)
    assert (caught.revert.kind, caught.revert.message) == ("reason", "unlucky number")
    assert fixture.stored() == 5


def test_custom_error_revert_is_decoded_by_name_and_arguments(chain, fixture):
    with chain.expect_revert("TooLarge") as caught:
        fixture.store(2000)
    assert caught.revert.kind == "custom"
    assert caught.revert.args == {"value": 2000, "limit": 1000}


def test_panic_revert_is_decoded(chain, fixture):
    with chain.expect_revert("Panic(0x12)") as caught:
        fixture.divide(0)
    assert caught.revert.args == {"code": 0x12}
    assert "division or modulo by zero" in caught.revert.message


def test_bare_revert(chain, fixture):
    with chain.expect_revert() as caught:
        fixture.failBare()
    assert caught.revert.kind == "empty"


def test_expect_revert_fails_when_nothing_reverts_or_the_reason_differs(chain, fixture):
    with pytest.raises(NoRevert, match="block succeeded"):
        with chain.expect_revert():
            fixture.store(1)
    with pytest.raises(NoRevert, match="expected a revert with 'TooLarge', got: unlucky number"):
        with chain.expect_revert("TooLarge"):
            fixture.store(13)


def test_a_revert_outside_expect_revert_is_a_clear_exception(fixture):
    with pytest.raises(TransactionReverted, match=r"Fixture.store reverted: TooLarge\(value=5000"):
        fixture.store(5000)


def test_raw_eth_tester_and_web3_revert_shapes(chain, fixture):
    """expect_revert also catches the exceptions of web3 and eth-tester used directly."""
    sender = chain.accounts[0].address
    with chain.expect_revert("unlucky number"):
        fixture.web3.functions.store(13).transact({"from": sender})
    with chain.expect_revert("TooLarge") as caught:
        fixture.web3.functions.store(2000).transact({"from": sender})
    assert caught.revert.args["value"] == 2000
    with chain.expect_revert("Panic(0x12)"):
        fixture.web3.functions.divide(0).call()


def test_decode_revert_handles_each_shape():
    abi = [{"type": "error", "name": "TooLarge", "inputs": [
        {"name": "value", "type": "uint256"}, {"name": "limit", "type": "uint256"}]}]
    errors = error_selectors([abi])
    selector = next(iter(errors)).hex()
    payload = selector + f"{2000:064x}{1000:064x}"
    shapes = {
        TransactionFailed("execution reverted: too big"): ("reason", "too big"),
        TransactionFailed("execution reverted: " + repr(bytes.fromhex(payload))): (
            "custom", "TooLarge(value=2000, limit=1000)"),
        ContractLogicError("execution reverted: too big", data="0x08c379a0"
                           + f"{32:064x}{7:064x}" + b"too big".hex().ljust(64, "0")):
            ("reason", "too big"),
        ContractCustomError("0x" + payload, data="0x" + payload): (
            "custom", "TooLarge(value=2000, limit=1000)"),
        ContractPanicError("Panic error 0x11", data="0x4e487b71" + f"{0x11:064x}"): (
            "panic", "Panic(0x11): arithmetic overflow or underflow"),
    }
    for exc, (kind, message) in shapes.items():
        revert = decode_revert(exc, errors)
        assert (revert.kind, revert.message) == (kind, message), exc
    unknown = decode_revert(ContractCustomError("0x" + payload, data="0x" + payload), {})
    assert unknown.kind == "custom" and "not known" in unknown.message


def test_decoded_addresses_are_checksummed(chain):
    abi = [{"type": "error", "name": "NotYours", "inputs": [{"name": "who", "type": "address"}]}]
    errors = error_selectors([abi])
    who = chain.accounts[1].address
    data = "0x" + next(iter(errors)).hex() + who[2:].lower().rjust(64, "0")
    revert = decode_revert(ContractCustomError(data, data=data), errors)
    assert revert.args == {"who": who} and revert.message == f"NotYours(who={who})"


def test_gas_report_records_every_transaction(chain, fixture):
    fixture.store(1)
    fixture.store(2)
    frame = chain.gas.to_dataframe()
    assert list(frame["function"]) == ["constructor", "store", "store"]
    assert list(frame["contract"].unique()) == ["Fixture"]
    summary = chain.gas.summary()
    assert summary.loc[("Fixture", "store"), "calls"] == 2
    assert summary.loc[("Fixture", "constructor"), "min"] == frame["gas_used"].iloc[0]
    assert "store" in str(chain.gas)
    with chain.expect_revert():
        fixture.store(13)
    assert len(chain.gas) == 3  # a reverted transaction is not counted as spent gas


def test_snapshot_and_revert(chain, fixture):
    snap = chain.snapshot()
    block = chain.w3.eth.block_number
    fixture.store(99)
    assert fixture.stored() == 99
    chain.revert_to(snap)
    assert fixture.stored() == 5 and chain.w3.eth.block_number == block


def test_time_travel_and_mining(chain, fixture):
    start = chain.timestamp
    chain.advance_time(3600)
    assert chain.timestamp - start == 3600
    assert fixture.elapsed(start) == 3600
    block = chain.w3.eth.block_number
    chain.mine(4)
    assert chain.w3.eth.block_number == block + 4
    with pytest.raises(ChainError, match="forward"):
        chain.advance_time(-1)


def test_advance_to_a_moment_moves_the_clock_only_forward(chain):
    moment = chain.timestamp + 900
    chain.advance_to(moment)
    assert chain.timestamp == moment
    block = chain.w3.eth.block_number
    chain.advance_to(moment - 60)  # already past it: no block, no time
    chain.advance_to(moment)
    assert (chain.timestamp, chain.w3.eth.block_number) == (moment, block)


def test_unreachable_node_is_a_clear_error():
    with pytest.raises(ChainError, match=re.escape(
            "cannot reach a JSON-RPC node at http://127.0.0.1:9 (connection refused): check the "
            "address and that the node is running")):
        Chain("http://127.0.0.1:9", timeout=2)


def test_a_web_server_that_is_not_a_node_is_named_by_its_status():
    """Not urllib3's pool text: the HTTP status a server that is no JSON-RPC node answers."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ChainError, match=r"\(HTTP status 501\): check the address"):
            Chain(f"http://127.0.0.1:{server.server_port}", timeout=2)
    finally:
        server.shutdown()


class _Silent(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test's output clean
        pass


@pytest.mark.parametrize("url", ["localhost:8545", "ftp://127.0.0.1", "", "http://", "ws://x:1",
                                 "http://[::1"])
def test_a_url_chain_cannot_speak_to_is_named_before_any_connection(url):
    with pytest.raises(ChainError, match=r"rpc_url must be a JSON-RPC node's URL \(http or "
                                         r"https.*got " + re.escape(repr(url))):
        Chain(url, timeout=2)
