"""Old names of :class:`daisee_lab.chain.batch.Batch`, kept only until their last caller,
``benchmarks/classroom.py``, calls ``chain.batch(account)``; then this module goes. Nothing
here sends a transaction itself."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from daisee_lab.chain import Chain
from daisee_lab.chain.batch import Batch


def revert_decoder(chain: Chain, names: tuple[str, ...]) -> tuple[str, ...]:
    """Compile contracts `names` (a :class:`Batch` names any error the chain knows)."""
    for name in names:
        chain.artifact(name)
    return names


def Sender(chain: Chain, account: LocalAccount, errors: object = None) -> Batch:
    """``chain.batch(account)``: see :class:`Batch`."""
    return chain.batch(account)
