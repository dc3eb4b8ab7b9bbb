"""Decode why a transaction or call reverted, whatever shape the failure arrived in.

eth-tester raises ``TransactionFailed`` with the reason string, or with the raw revert bytes
written into its message for custom errors and panics; web3 raises ``ContractLogicError``
(``ContractCustomError``, ``ContractPanicError``) with the revert data in hex. :func:`decode_revert`
turns all of them into one :class:`Revert`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_tester.exceptions import TransactionFailed
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3.exceptions import ContractLogicError

REVERT_EXCEPTIONS = (TransactionFailed, ContractLogicError)

PANIC_CODES = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "conversion to an invalid enum value",
    0x22: "badly encoded storage byte array",
    0x31: "pop() on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised internal function",
}
_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


@dataclass(frozen=True)
class Revert:
    """A decoded revert.

    `kind` is ``"reason"`` (``require``/``revert("...")``), ``"custom"`` (a custom error),
    ``"panic"`` (``assert``, overflow, division by zero, ...) or ``"empty"`` (no data).
    `name` is the error's name (``"Error"`` for a reason string, ``"Panic"`` for a panic),
    `args` its decoded arguments by name, `message` a readable one-line summary.
    """

    kind: str
    name: str
    args: dict
    message: str

    def matches(self, expected: str) -> bool:
        """True if `expected` is this revert's reason string, error name or panic code."""
        return expected in (self.message, self.name, self.args.get("reason"),
                            f"Panic(0x{self.args.get('code', -1):02x})")


def error_selectors(abis: list[list[dict]]) -> dict[bytes, dict]:
    """Map the 4-byte selector of every custom error in the given ABIs to its ABI entry."""
    found = {}
    for abi in abis:
        for entry in abi:
            if entry.get("type") == "error":
                types = ",".join(_abi_type(i) for i in entry["inputs"])
                found[function_signature_to_4byte_selector(f"{entry['name']}({types})")] = entry
    return found


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


def _revert_data(exc: Exception) -> bytes | str | None:
    """The raw revert bytes if the exception carries them, else the reason text."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            try:
                return bytes.fromhex(data[2:])
            except ValueError:
                pass
        return str(exc.message or exc)
    text = str(exc.args[0]) if exc.args else ""
    if isinstance(exc.args[0] if exc.args else None, bytes):
        return exc.args[0]
    text = re.sub(r"^execution reverted:?\s*", "", text)
    if text.startswith(("b'", 'b"')):
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            pass
    return text


def decode_revert(exc: Exception, errors: dict[bytes, dict] | None = None) -> Revert:
    """Decode a revert exception into a :class:`Revert`, naming custom errors from `errors`."""
    data = _revert_data(exc)
    if isinstance(data, str):
        reason = re.sub(r"^execution reverted:?\s*", "", data)
        if not reason:
            return Revert("empty", "", {}, "reverted without a reason")
        return Revert("reason", "Error", {"reason": reason}, reason)
    if not data:
        return Revert("empty", "", {}, "reverted without a reason")
    selector, payload = data[:4], data[4:]
    if selector == _ERROR_STRING:
        (reason,) = abi_decode(["string"], payload)
        return Revert("reason", "Error", {"reason": reason}, reason)
    if selector == _PANIC:
        (code,) = abi_decode(["uint256"], payload)
        text = PANIC_CODES.get(code, "unknown panic")
        return Revert("panic", "Panic", {"code": code}, f"Panic(0x{code:02x}): {text}")
    entry = (errors or {}).get(selector)
    if entry is None:
        return Revert("custom", f"0x{selector.hex()}", {"data": "0x" + payload.hex()},
                      f"unknown custom error 0x{selector.hex()} (its ABI is not known here)")
    values = abi_decode([_abi_type(i) for i in entry["inputs"]], payload)
    args = {i["name"] or f"arg{n}": to_checksum_address(v) if i["type"] == "address" else v
            for n, (i, v) in enumerate(zip(entry["inputs"], values))}
    shown = ", ".join(f"{k}={'0x' + v.hex() if isinstance(v, bytes) else v}"
                      for k, v in args.items())
    return Revert("custom", entry["name"], args, f"{entry['name']}({shown})")
