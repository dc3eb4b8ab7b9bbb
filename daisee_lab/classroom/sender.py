"""Sending a batch of one account's transactions without waiting for each one.

:class:`~daisee_lab.chain.Chain`'s contract methods send a transaction and wait for its
receipt, asking the node for the nonce, the fees and a gas estimate each time. In a room of
twenty learners those round trips are the bottleneck. A :class:`Sender` numbers the nonces
itself, gives every transaction the same generous gas limit (on anvil only the gas used is
paid, and a block holds one transaction), signs locally, sends, and only then waits for all
the receipts. A transaction that reverted is mined anyway (its status is 0): the sender
replays it on the state before its block to decode why, as :class:`Chain` does.
"""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount

from daisee_lab.chain import Chain, Contract, TransactionReverted
from daisee_lab.chain.reverts import REVERT_EXCEPTIONS, Revert, decode_revert, error_selectors

MAX_FEE = 100 * 10**9  # wei per gas: far above what an idle anvil asks
GAS_LIMIT = 2_000_000  # per transaction: a learner's largest (a delivery) needs a tenth of it


def revert_decoder(chain: Chain, names: tuple[str, ...]) -> dict[bytes, dict]:
    """The custom errors of contracts `names`, by selector, for :func:`decode_revert`."""
    return error_selectors([chain.artifact(name).abi for name in names])


class Sender:
    """Sends `account`'s transactions on `chain` in batches: :meth:`send` as many as needed
    (the node runs them in that order), then :meth:`wait` for the outcomes. `errors` decodes
    reverts (:func:`revert_decoder`)."""

    def __init__(self, chain: Chain, account: LocalAccount, errors: dict[bytes, dict]):
        self.chain, self.account, self.errors = chain, account, errors
        self.chain_id = chain.w3.eth.chain_id
        self.lock = threading.RLock()  # one batch at a time: nonces are numbered here
        self._nonce: int | None = None
        self._pending: list[tuple[str, dict, bytes]] = []
        self.sent = 0

    def reset(self) -> None:
        """Forget the batch under way (after losing the node): nonces are asked again."""
        with self.lock:
            self._pending, self._nonce = [], None

    def send(self, contract: Contract, function: str, *args: Any) -> None:
        """Send ``contract.function(*args)`` now; its receipt comes with :meth:`wait`."""
        data = contract.web3.encode_abi(function, args=list(args))
        self._send(f"{contract.contract_name}.{function}", {"to": contract.address, "data": data,
                                                   "value": 0})

    def transfer(self, to: str, wei: int) -> None:
        """Send `wei` of the chain's currency (gas money) to `to`."""
        self._send("transfer", {"to": to, "data": b"", "value": wei})

    def _send(self, what: str, call: dict) -> None:
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
        """The outcomes of the transactions sent since the last wait, in order: the raw receipt,
        or for one that reverted a :class:`TransactionReverted` with the decoded reason, raised
        (the first one, after all receipts are in) if `strict`."""
        with self.lock:
            pending, self._pending, self._nonce = self._pending, [], None
            receipts = [self.chain.w3.eth.wait_for_transaction_receipt(h, timeout=60)
                        for _, _, h in pending]
        outcomes = [receipt if receipt["status"] == 1 else
                    TransactionReverted(what, self._replay(tx, receipt["blockNumber"]))
                    for (what, tx, _), receipt in zip(pending, receipts)]
        failed = [o for o in outcomes if isinstance(o, TransactionReverted)]
        if strict and failed:
            raise failed[0]
        return outcomes

    def _replay(self, tx: dict, block: int) -> Revert:
        return why_reverted(self.chain, self.errors, {**tx, "from": self.account.address}, block)


def why_reverted(chain: Chain, errors: dict[bytes, dict], tx: dict, block: int) -> Revert:
    """Why transaction `tx` (from, to, data, value) reverted in `block`: replayed on the state
    before that block, its revert decoded (`errors`: :func:`revert_decoder`)."""
    call = {"from": tx["from"], "to": tx["to"], "data": tx.get("data", tx.get("input")),
            "value": tx["value"]}
    try:
        chain.w3.eth.call(call, block - 1)
    except REVERT_EXCEPTIONS as exc:
        return decode_revert(exc, errors)
    return Revert("empty", "", {}, "reverted in its block but not on replay")
