"""Meters and their signed readings: the members of a community or auction, their meter keys,
and the EIP-712 readings every contract of :mod:`daisee_lab.contracts` verifies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from daisee_lab.errors import DaiseeError
from daisee_lab.units import DEFAULT_POWER_VA, MAX_INDEX_WH, MAX_POWER_VA, MAX_PRICE

__all__ = ["MAX_MEMBER_SEED", "MAX_SLOT", "READING_TYPES", "ContractsError", "Member",
           "SignedReading", "make_members", "public_id_bytes", "reading_typed_data",
           "sign_reading"]

MAX_SLOT = 2**32 - 1
MAX_MEMBER_SEED = 999_999  # make_members' seed: six digits of each meter's public id
DOMAIN_NAME, DOMAIN_VERSION = "DAISEE MeterRegistry", "1"
READING_TYPES = {"Reading": [
    {"name": "meter", "type": "address"},
    {"name": "slot", "type": "uint32"},
    {"name": "importWh", "type": "uint40"},
    {"name": "exportWh", "type": "uint40"},
]}


class ContractsError(DaiseeError, ValueError):
    """A bad argument to a contract face: the message names it and says what is allowed."""


@dataclass(frozen=True)
class SignedReading:
    """A meter's signed reading for one slot; :meth:`calldata` gives the contracts' form."""

    meter: str
    slot: int
    import_wh: int
    export_wh: int
    r: bytes
    vs: bytes  # EIP-2098 compact signature: s with v's parity in the top bit

    def calldata(self) -> tuple:
        """The contracts' ``SignedReading``: ``(word, r, vs)`` with the meter and both indexes
        packed in one word, ``meter << 80 | import_wh << 40 | export_wh``."""
        word = int(self.meter, 16) << 80 | self.import_wh << 40 | self.export_wh
        return (word, self.r, self.vs)


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or not low <= value <= high):
        raise ContractsError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


def _per_slot(name: str, value, slots: int) -> list[int]:
    """A price given as a scalar or one per slot, as `slots` checked integers."""
    values = np.asarray(value, dtype=object)
    if values.ndim == 0:
        values = np.full(slots, value, dtype=object)
    if values.shape != (slots,):
        raise ContractsError(f"{name} must be a scalar or one price per slot ({slots}), "
                             f"got shape {values.shape}")
    return [_check_int(f"{name}[{t}]", v, 0, MAX_PRICE) for t, v in enumerate(values)]


def reading_typed_data(registry_address: str, chain_id: int, meter: str, slot: int,
                       import_wh: int, export_wh: int) -> dict:
    """The EIP-712 typed data of a reading (domain: the registry on `chain_id`)."""
    return {
        "types": {"EIP712Domain": [
            {"name": "name", "type": "string"}, {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"}], **READING_TYPES},
        "primaryType": "Reading",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                   "verifyingContract": registry_address},
        "message": {"meter": meter, "slot": slot, "importWh": import_wh, "exportWh": export_wh},
    }


def sign_reading(meter_key: LocalAccount | bytes | str, registry_address: str, chain_id: int,
                 meter: str, slot: int, import_wh: int, export_wh: int) -> SignedReading:
    """Sign, with `meter_key`, the reading of `meter` at the end of `slot`: cumulative import and
    export indexes in Wh. The registry accepts it only if `meter_key` is `meter`'s key."""
    slot = _check_int("slot", slot, 1, MAX_SLOT)
    import_wh = _check_int("import_wh", import_wh, 0, MAX_INDEX_WH)
    export_wh = _check_int("export_wh", export_wh, 0, MAX_INDEX_WH)
    key = meter_key.key if isinstance(meter_key, LocalAccount) else meter_key
    data = reading_typed_data(registry_address, chain_id, meter, slot, import_wh, export_wh)
    signed = Account.sign_message(encode_typed_data(full_message=data), key)
    vs = signed.s | ((signed.v - 27) << 255)
    return SignedReading(meter, slot, import_wh, export_wh, signed.r.to_bytes(32, "big"),
                         vs.to_bytes(32, "big"))


def public_id_bytes(public_id: str) -> bytes:
    """A meter's public id (ADSC/ADCO, DSMR equipment id) as the registry's bytes32."""
    if not isinstance(public_id, str) or not public_id.isascii() or not 0 < len(public_id) <= 32:
        raise ContractsError(f"public_id must be 1 to 32 ASCII characters, got {public_id!r}")
    return public_id.encode("ascii").ljust(32, b"\0")


@dataclass(frozen=True)
class Member:
    """A community member: the account its credits belong to, its meter's signing key, the
    meter's public id and its power (VA: the connection's subscribed power, which caps the
    energy of a reading at power x 15 min per slot)."""

    account: str
    meter_key: LocalAccount
    public_id: str
    power_va: int = DEFAULT_POWER_VA

    @property
    def meter(self) -> str:
        """The meter's address (of its signing key), its identity in the registry."""
        return self.meter_key.address


def make_members(accounts: Sequence[str], seed: int = 0,
                 power_va: int = DEFAULT_POWER_VA) -> list[Member]:
    """One household per account, with a meter key and a 12-digit public id derived from `seed`
    (same seed, same keys), each meter of `power_va` VA."""
    seed = _check_int("seed", seed, 0, MAX_MEMBER_SEED)
    power_va = _check_int("power_va", power_va, 1, MAX_POWER_VA)
    return [Member(account, Account.from_key(keccak(text=f"daisee-lab meter {seed} {i}")),
                   f"{seed:06d}{i:06d}", power_va) for i, account in enumerate(accounts)]

