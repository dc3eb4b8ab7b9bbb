"""Talking to an EVM: the Solidity toolchain and the `Chain` object."""

from urllib.parse import urlsplit

from daisee_lab.chain.chain import (Chain, ChainError, Contract, Event, NoRevert, Receipt,
                                    TransactionReverted)
from daisee_lab.chain.compiler import (SOLC_VERSION, CompilerError, CompilerNotFound,
                                       compile_contracts, find_solc)
from daisee_lab.chain.gas import GasReport
from daisee_lab.chain.reverts import Revert, decode_revert

RPC_SCHEMES = ("http", "https")  # what Chain(rpc_url) speaks: web3's HTTPProvider


def is_rpc_url(text: object) -> bool:
    """Whether `text` is a URL :class:`Chain` can speak to: one of :data:`RPC_SCHEMES`, with a
    host (it says nothing of whether a node answers there)."""
    try:
        parts = urlsplit(text) if isinstance(text, str) else None
        return parts is not None and parts.scheme in RPC_SCHEMES and bool(parts.hostname)
    except ValueError:  # such as an unclosed IPv6 bracket
        return False

__all__ = ["Chain", "ChainError", "CompilerError", "CompilerNotFound", "Contract", "Event",
           "GasReport", "NoRevert", "RPC_SCHEMES", "Receipt", "Revert", "SOLC_VERSION",
           "TransactionReverted", "compile_contracts", "decode_revert", "find_solc", "is_rpc_url"]
