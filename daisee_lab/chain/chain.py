"""`Chain`: one object for talking to an EVM, in process (eth-tester) or over JSON-RPC (anvil).

>>> chain = Chain()                                   # py-evm in this process
>>> alice, bob = chain.accounts[:2]
>>> credit = chain.deploy("EnergyCredit", alice.address, sender=alice)
>>> receipt = credit.mint(bob.address, 1_000_000, sender=alice)   # a transaction
>>> credit.balanceOf(bob.address)                                 # a call
1000000

Both back ends use the same accounts (the well-known development mnemonic), sign transactions
locally with their keys, and record every transaction's gas in :attr:`Chain.gas`, those sent
in a :meth:`Chain.batch` too.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit
from collections.abc import Iterator

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_typing import ChecksumAddress
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, TxParams

from daisee_lab.chain.compiler import Artifact, compile_contracts, contracts_dir
from daisee_lab.chain.gas import GasRecord, GasReport
from daisee_lab.chain.reverts import REVERT_EXCEPTIONS, Revert, decode_revert, error_selectors
from daisee_lab.errors import DaiseeError, wrapped_errors

if TYPE_CHECKING:
    from daisee_lab.chain.batch import Batch

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"  # anvil's and hardhat's accounts: DEV_HD_PATH/0, /1, ...
Account.enable_unaudited_hdwallet_features()


RPC_SCHEMES = ("http", "https")  # what Chain(rpc_url) speaks: web3's HTTPProvider


def is_rpc_url(text: object) -> bool:
    """Whether `text` is a URL :class:`Chain` can speak to: one of :data:`RPC_SCHEMES`, with a
    host (it says nothing of whether a node answers there)."""
    try:
        parts = urlsplit(text) if isinstance(text, str) else None
        return parts is not None and parts.scheme in RPC_SCHEMES and bool(parts.hostname)
    except ValueError:  # such as an unclosed IPv6 bracket
        return False


class ChainError(DaiseeError):
    """A chain could not be reached, or was asked something it cannot do."""


def _transport_cause(exc: BaseException) -> str:
    """A few words for why a request to a node failed: the OS error among those `exc` wraps
    (requests and urllib3 wrap it several times), else the HTTP status or the error's class."""
    for error in wrapped_errors(exc):
        if isinstance(error, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, TimeoutError):
            return "no answer in time"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return f"HTTP status {status}" if status else type(exc).__name__


class TransactionReverted(ChainError):
    """A transaction or call reverted; `.revert` holds the decoded reason."""

    def __init__(self, what: str, revert: Revert):
        super().__init__(f"{what} reverted: {revert.message}")
        self.revert = revert


class NoRevert(DaiseeError, AssertionError):
    """Raised by :meth:`Chain.expect_revert` when the block did not revert as expected (an
    AssertionError too, so a test reports it as a failed check)."""


@dataclass(frozen=True)
class Event:
    """A decoded log: event name, arguments by name, emitting address."""

    name: str
    args: dict
    address: str


@dataclass(frozen=True)
class Receipt:
    """A mined transaction: hash, block, gas used, decoded events, and the raw web3 receipt."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: list[Event]
    contract_address: str | None = None
    raw: Any = field(default=None, repr=False)

    def events_named(self, name: str) -> list[Event]:
        """The events of this receipt called `name`, in log order."""
        return [e for e in self.events if e.name == name]


@dataclass
class CatchRevert:
    """What :meth:`Chain.expect_revert` caught: `.revert` is set once the block has reverted."""

    expected: str | None
    revert: Revert | None = None

    def __repr__(self) -> str:
        return f"reverted as expected: {self.revert.message}" if self.revert else "no revert yet"


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in shell.config


class Chain:
    """An EVM chain: ``Chain()`` runs eth-tester (py-evm) in process; ``Chain(url)`` talks to
    any JSON-RPC node, such as anvil. The API is the same for both.

    `accounts` is the number of funded development accounts (in process; a node has its own).
    `contract_dirs` adds folders of Solidity sources to the project's ``contracts/``.
    """

    def __init__(self, rpc_url: str | None = None, *, accounts: int = 10,
                 contract_dirs: tuple[Path, ...] | list[Path] = (), timeout: float = 30.0):
        self.rpc_url = rpc_url
        if rpc_url is None:
            state = PyEVMBackend.generate_genesis_state(
                num_accounts=accounts, mnemonic=DEV_MNEMONIC, hd_path=DEV_HD_PATH)
            self.tester: EthereumTester | None = EthereumTester(
                PyEVMBackend(genesis_state=state, mnemonic=DEV_MNEMONIC, hd_path=DEV_HD_PATH))
            self.w3 = Web3(EthereumTesterProvider(self.tester))
            self._block_gas_limit = self.w3.eth.get_block("latest")["gasLimit"]
            count = accounts
        else:
            if not is_rpc_url(rpc_url):
                raise ChainError(f"rpc_url must be a JSON-RPC node's URL "
                                 f"({' or '.join(RPC_SCHEMES)}, with a host, such as "
                                 f"http://127.0.0.1:8545), got {rpc_url!r}")
            self.tester = None
            self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
            try:
                count = len(self.w3.eth.accounts) or accounts
            except Exception as exc:  # noqa: BLE001 - any transport failure means unreachable
                raise ChainError(f"cannot reach a JSON-RPC node at {rpc_url} "
                                 f"({_transport_cause(exc)}): check the address and that the "
                                 "node is running") from None
        self.accounts: list[LocalAccount] = [
            Account.from_mnemonic(DEV_MNEMONIC, account_path=f"{DEV_HD_PATH}/{i}")
            for i in range(count)]
        self.gas = GasReport()
        self._roots = {"contracts": contracts_dir()}
        for extra in contract_dirs:
            extra = Path(extra).resolve()
            self._roots[f"{extra.parent.name}/{extra.name}"] = extra
        self._artifacts: dict[str, list[Artifact]] | None = None
        self._errors: dict[bytes, dict] = {}
        self._events: dict[tuple[bytes, int], Any] = {}

    def __repr__(self) -> str:
        where = self.rpc_url or "eth-tester (py-evm, in process)"
        return f"Chain({where}, block {self.w3.eth.block_number})"

    # --- contracts -------------------------------------------------------------------------

    def _compile(self) -> dict[str, list[Artifact]]:
        """Every contract's artifacts by name (compiling, with the cache, on first use), and
        the decoders of their errors and events."""
        if self._artifacts is None:
            self._artifacts = compile_contracts(self._roots)
            abis = [a.abi for found in self._artifacts.values() for a in found]
            self._errors = error_selectors(abis)
            for abi in abis:
                for entry in abi:
                    if entry.get("type") == "event" and not entry.get("anonymous"):
                        topics = 1 + sum(1 for i in entry["inputs"] if i["indexed"])
                        key = (event_abi_to_log_topic(entry), topics)
                        self._events.setdefault(key, self.w3.eth.contract(abi=[entry]))
        return self._artifacts

    def artifact(self, name: str) -> Artifact:
        """The compiled contract `name` (compiling, with the cache, on first use)."""
        artifacts = self._compile()
        found = artifacts.get(name)
        if not found:
            known = ", ".join(sorted(n for n, a in artifacts.items() if a[0].bytecode))
            raise ChainError(f"no contract named {name!r} in {', '.join(self._roots)}; "
                             f"deployable contracts: {known}")
        if len(found) > 1:
            raise ChainError(f"{name!r} is defined in several files: "
                             f"{', '.join(a.unit for a in found)}; rename one")
        return found[0]

    def deploy(self, name: str, *args: Any, sender: LocalAccount | None = None,
               value: int = 0) -> Contract:
        """Compile (cached) and deploy contract `name` with constructor `args`; return its
        handle."""
        art = self.artifact(name)
        if not art.bytecode:
            raise ChainError(f"{name} is abstract or an interface: it cannot be deployed")
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self._send(factory.constructor(*args), sender, value, name, "constructor")
        assert receipt.contract_address is not None  # a constructor's receipt names it
        return Contract(self, name, receipt.contract_address, art.abi)

    def at(self, name: str, address: str) -> Contract:
        """A handle on contract `name` already deployed at `address`."""
        return Contract(self, name, Web3.to_checksum_address(address), self.artifact(name).abi)

    # --- transactions ----------------------------------------------------------------------

    def _send(self, fn: Any, sender: LocalAccount | None, value: int, contract: str,
              function: str) -> Receipt:
        sender = sender or self.accounts[0]
        what = f"{contract}.{function}"
        params = {"from": sender.address, "value": value,
                  "nonce": self.w3.eth.get_transaction_count(sender.address, "pending")}
        if self.tester is not None:
            # py-evm's gas estimate re-runs the transaction many times: skip it in process and
            # let a revert be mined (status 0), then replay it to decode the reason.
            params["gas"] = self._block_gas_limit
        try:
            tx = fn.build_transaction(params)
            signed = sender.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except REVERT_EXCEPTIONS as exc:
            raise TransactionReverted(what, decode_revert(exc, self._errors)) from exc
        raw = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if raw["status"] != 1:
            raise TransactionReverted(what, self.why_reverted(tx, raw["blockNumber"]))
        receipt = Receipt(tx_hash=raw["transactionHash"].to_0x_hex(),
                          block_number=raw["blockNumber"], gas_used=raw["gasUsed"],
                          events=self._decode_events(raw["logs"]),
                          contract_address=raw.get("contractAddress"), raw=raw)
        self.gas.add(GasRecord(contract, function, receipt.gas_used, receipt.tx_hash))
        return receipt

    def why_reverted(self, tx: dict, block: int) -> Revert:
        """Why transaction `tx` (its from, to, data or input, and value: as sent, or as a block
        lists it) reverted in `block`: replayed on the state before that block, its error named
        from every contract this chain knows."""
        self._compile()
        call = {k: tx[k] for k in ("from", "to", "value") if k in tx}
        call["data"] = tx.get("data", tx.get("input"))
        try:
            self.w3.eth.call(cast(TxParams, call), block - 1)
        except REVERT_EXCEPTIONS as exc:
            return decode_revert(exc, self._errors)
        return Revert("empty", "", {}, "reverted in the block (out of gas?) but not on replay")

    def batch(self, account: LocalAccount) -> Batch:
        """A :class:`~daisee_lab.chain.batch.Batch` of `account`'s transactions: nonces
        numbered locally, sent without waiting, receipts awaited together, gas recorded in
        :attr:`gas`, reverts named."""
        from daisee_lab.chain.batch import Batch  # it drives this class: imported when used

        return Batch(self, account)

    def _decode_events(self, logs: list) -> list[Event]:
        events = []
        for log in logs:
            topics = log["topics"]
            decoder = self._events.get((bytes(topics[0]), len(topics))) if topics else None
            if decoder is None:
                continue
            event = decoder.events[decoder.abi[0]["name"]]().process_log(log)
            events.append(Event(event["event"], dict(event["args"]), event["address"]))
        return events

    @contextlib.contextmanager
    def expect_revert(self, reason: str | None = None) -> Iterator[CatchRevert]:
        """Pass only if the block reverts (with `reason`, if given: a reason string, a custom
        error's name or ``"Panic(0x11)"``). In a notebook, show the decoded reason."""
        caught = CatchRevert(reason)
        try:
            yield caught
        except TransactionReverted as exc:
            caught.revert = exc.revert
        except REVERT_EXCEPTIONS as exc:
            caught.revert = decode_revert(exc, self._errors)
        else:
            raise NoRevert(f"expected a revert{f' with {reason!r}' if reason else ''}, "
                           f"but the block succeeded")
        if reason is not None and not caught.revert.matches(reason):
            raise NoRevert(f"expected a revert with {reason!r}, got: {caught.revert.message}")
        if _in_notebook():
            print(repr(caught))

    # --- time and state --------------------------------------------------------------------

    def _rpc(self, method: str, params: list) -> Any:
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in response:
            raise ChainError(f"{method} failed on {self.rpc_url}: {response['error']}")
        return response["result"]

    def snapshot(self) -> int:
        """Remember the chain's state; :meth:`revert_to` comes back to it."""
        if self.tester is not None:
            return self.tester.take_snapshot()
        return int(self._rpc("evm_snapshot", []), 16)

    def revert_to(self, snapshot: int) -> None:
        """Return the chain to `snapshot` (nodes such as anvil allow this once per snapshot)."""
        if self.tester is not None:
            self.tester.revert_to_snapshot(snapshot)
        elif not self._rpc("evm_revert", [hex(snapshot)]):
            raise ChainError(f"the node has no snapshot {snapshot} (already reverted to?)")

    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock `seconds` forward and mine a block there."""
        if seconds < 0:
            raise ChainError(f"time only moves forward: cannot advance by {seconds} s")
        if self.tester is not None:
            # eth-tester mines a block one second before the pending block's new time
            pending = self.tester.get_block_by_number("pending")["timestamp"]
            self.tester.time_travel(pending + seconds)
        else:
            self._rpc("evm_setNextBlockTimestamp", [self.timestamp + seconds])
            self._rpc("evm_mine", [])

    def advance_to(self, moment: int) -> None:
        """Move the chain's clock to `moment` (unix seconds) and mine a block there, unless the
        latest block is at or after it already (then nothing happens)."""
        if self.timestamp < moment:
            self.advance_time(moment - self.timestamp)

    def mine(self, blocks: int = 1) -> None:
        """Mine `blocks` empty blocks."""
        if self.tester is not None:
            self.tester.mine_blocks(blocks)
        else:
            for _ in range(blocks):
                self._rpc("evm_mine", [])

    @property
    def timestamp(self) -> int:
        """The latest block's timestamp (unix seconds)."""
        return self.w3.eth.get_block("latest")["timestamp"]


class Contract:
    """A deployed contract. Its Solidity functions are Python methods: a ``view``/``pure``
    function returns its value; any other sends a transaction and returns a :class:`Receipt`.
    Every method takes ``sender=`` (an account, default the first) and payable ones ``value=``.
    The handle's own attributes are `chain`, `contract_name`, `address`, `abi` and `web3` (the
    web3.py contract), so that a Solidity ``name()`` stays callable.
    """

    def __init__(self, chain: Chain, name: str, address: str, abi: list):
        self.chain, self.contract_name, self.address, self.abi = chain, name, address, abi
        self.web3 = chain.w3.eth.contract(address=cast(ChecksumAddress, address), abi=abi)
        self._functions = {e["name"]: e for e in abi if e.get("type") == "function"}

    def __repr__(self) -> str:
        return f"<{self.contract_name} at {self.address}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._functions))

    def __getattr__(self, name: str) -> Any:
        entry = self.__dict__.get("_functions", {}).get(name)
        if entry is None:
            raise AttributeError(
                f"{self.__dict__.get('contract_name', 'contract')} has no function {name!r}")
        read_only = entry.get("stateMutability") in ("view", "pure")

        def method(*args: Any, sender: LocalAccount | None = None, value: int = 0) -> Any:
            fn = self.web3.functions[name](*args)
            if not read_only:
                return self.chain._send(fn, sender, value, self.contract_name, name)
            try:
                return fn.call({"from": (sender or self.chain.accounts[0]).address})
            except REVERT_EXCEPTIONS as exc:
                raise TransactionReverted(f"{self.contract_name}.{name}",
                                          decode_revert(exc, self.chain._errors)) from exc

        method.__name__ = name
        types = ", ".join(i["type"] for i in entry["inputs"])
        method.__doc__ = f"{self.contract_name}.{name}({types})"
        return method
