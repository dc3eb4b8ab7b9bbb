"""Sending a batch of one account's transactions without waiting for each one.

:class:`~daisee_lab.chain.Chain`'s contract methods send a transaction and wait for its
receipt, asking the node for the nonce, the fees and a gas estimate each time. In a room of
twenty learners those round trips are the bottleneck. A :class:`Batch` (``chain.batch(account)``)
numbers the nonces itself, gives every transaction the same generous gas limit (on anvil only
the gas used is paid), signs locally, sends, and only then waits for all the receipts. Each
transaction that succeeded is recorded in the chain's gas report (:attr:`Chain.gas`), as every
other transaction of the chain is. A transaction that reverted is mined anyway (its status is
0): the batch replays it on the state before its block to name its error
(:meth:`Chain.why_reverted`).
"""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes

from daisee_lab.chain.chain import Chain, Contract, TransactionReverted
from daisee_lab.chain.gas import GasRecord

MAX_FEE = 100 * 10**9  # wei per gas: far above what an idle anvil asks
GAS_LIMIT = 2_000_000  # per transaction: a learner's largest (a delivery) needs a tenth of it
TRANSFER = ("ether", "transfer")  # the gas report's (contract, function) for a plain transfer
RECEIPT_TIMEOUT = 60  # seconds to wait for each receipt


class Batch:
    """Sends `account`'s transactions on `chain` in batches: :meth:`send` as many as needed
    (the node runs them in that order), then :meth:`wait` for the outcomes. Hold :attr:`lock`
    around a send-and-wait that other threads must not interleave with."""

    def __init__(self, chain: Chain, account: LocalAccount):
        self.chain, self.account = chain, account
        self.chain_id = chain.w3.eth.chain_id
        self.lock = threading.RLock()  # one batch at a time: nonces are numbered here
        self._nonce: int | None = None
        self._pending: list[tuple[tuple[str, str], dict, HexBytes]] = []
        self.sent = 0  # transactions sent, over the batch's life

    def reset(self) -> None:
        """Forget the batch under way (after losing the node): nonces are asked again."""
        with self.lock:
            self._pending, self._nonce = [], None

    def send(self, contract: Contract, function: str, *args: Any) -> None:
        """Send ``contract.function(*args)`` now; its receipt comes with :meth:`wait`."""
        data = contract.web3.encode_abi(function, args=list(args))
        self._send((contract.contract_name, function),
                   {"to": contract.address, "data": data, "value": 0})

    def transfer(self, to: str, wei: int) -> None:
        """Send `wei` of the chain's currency (gas money) to `to`."""
        self._send(TRANSFER, {"to": to, "data": b"", "value": wei})

    def _send(self, what: tuple[str, str], call: dict) -> None:
        w3 = self.chain.w3
        with self.lock:
            if self._nonce is None:
                self._nonce = w3.eth.get_transaction_count(self.account.address, "pending")
            tx = {**call, "gas": GAS_LIMIT, "nonce": self._nonce, "chainId": self.chain_id,
                  "maxFeePerGas": MAX_FEE, "maxPriorityFeePerGas": 0}
            tx_hash = w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
            self._nonce += 1
            self._pending.append((what, tx, tx_hash))
            self.sent += 1

    def wait(self, strict: bool = True) -> list:
        """The outcomes of the transactions sent since the last wait, in order: the raw web3
        receipt, or for one that reverted a :class:`~daisee_lab.chain.TransactionReverted`
        naming its error, raised (the first one, after all receipts are in) if `strict`."""
        with self.lock:
            pending, self._pending, self._nonce = self._pending, [], None
            receipts = [self.chain.w3.eth.wait_for_transaction_receipt(
                h, timeout=RECEIPT_TIMEOUT) for _, _, h in pending]
        outcomes: list = []
        for ((contract, function), tx, _), receipt in zip(pending, receipts):
            if receipt["status"] == 1:
                self.chain.gas.add(GasRecord(contract, function, receipt["gasUsed"],
                                             receipt["transactionHash"].to_0x_hex()))
                outcomes.append(receipt)
            else:
                why = self.chain.why_reverted({**tx, "from": self.account.address},
                                              receipt["blockNumber"])
                what = function if (contract, function) == TRANSFER else f"{contract}.{function}"
                outcomes.append(TransactionReverted(what, why))
        failed = [o for o in outcomes if isinstance(o, TransactionReverted)]
        if strict and failed:
            raise failed[0]
        return outcomes
