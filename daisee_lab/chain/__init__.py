"""Talking to an EVM: the Solidity toolchain and the `Chain` object."""

from daisee_lab.chain.chain import (RPC_SCHEMES, Chain, ChainError, Contract, Event, NoRevert,
                                    Receipt, TransactionReverted, is_rpc_url)
from daisee_lab.chain.compiler import (SOLC_VERSION, CompilerError, CompilerNotFound,
                                       compile_contracts, find_solc)
from daisee_lab.chain.gas import GasReport
from daisee_lab.chain.reverts import Revert, decode_revert

__all__ = ["Chain", "ChainError", "CompilerError", "CompilerNotFound", "Contract", "Event",
           "GasReport", "NoRevert", "RPC_SCHEMES", "Receipt", "Revert", "SOLC_VERSION",
           "TransactionReverted", "compile_contracts", "decode_revert", "find_solc", "is_rpc_url"]
