"""The gas report: every transaction a `Chain` makes, by contract and function; and Ethereum
mainnet's gas limits, dated and sourced, with the capacity they leave a settlement.

The limits are facts about the world, as of :data:`LIMITS_CHECKED` (full references in the
documentation's bibliography, anchors ``eip-7825``, ``fusaka-2025`` and ``gas-limit-2025``):

- :data:`TX_GAS_CAP`: since the Fusaka upgrade (mainnet, 3 December 2025), EIP-7825 caps the gas
  one transaction may use at 2**24 = 16,777,216, whatever the block's limit.
- :data:`MAINNET_BLOCK_GAS`: the block gas limit validators vote for. It was 30 million for years,
  36 million from February 2025, 45 million from July 2025 and 60 million from 25 November 2025,
  the latest value we could confirm.

The chains this project runs locally (eth-tester's py-evm and anvil, both with Prague rules, and
contracts compiled for ``evmVersion: prague``) have no per-transaction cap: one transaction may
use a whole block of about 30 million gas there, which mainnet no longer allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from daisee_lab.errors import DaiseeError


@dataclass(frozen=True)
class GasRecord:
    """One mined transaction: which contract and function, the gas it used, its hash."""

    contract: str
    function: str
    gas_used: int
    tx_hash: str


class GasReport:
    """Collects a :class:`GasRecord` per transaction; prints as a table, exports as a DataFrame."""

    def __init__(self) -> None:
        self.records: list[GasRecord] = []

    def add(self, record: GasRecord) -> None:
        """Append one transaction's record."""
        self.records.append(record)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per transaction: contract, function, gas_used, tx_hash."""
        return pd.DataFrame(self.records, columns=["contract", "function", "gas_used", "tx_hash"])

    def summary(self) -> pd.DataFrame:
        """Per contract and function: number of calls and min / mean / max gas."""
        frame = self.to_dataframe()
        if frame.empty:
            return pd.DataFrame(columns=["calls", "min", "mean", "max"])
        grouped = frame.groupby(["contract", "function"], sort=True)["gas_used"]
        table = grouped.agg(calls="count", min="min", mean="mean", max="max")
        table["mean"] = table["mean"].round().astype("int64")
        return table

    def __len__(self) -> int:
        return len(self.records)

    def __str__(self) -> str:
        if not self.records:
            return "gas report: no transactions yet"
        return self.summary().to_string()

    def _repr_html_(self) -> str:
        return self.summary().to_html()


TX_GAS_CAP = 2**24              # 16,777,216 gas: EIP-7825, on mainnet since Fusaka
TX_GAS_CAP_SINCE = date(2025, 12, 3)
MAINNET_BLOCK_GAS = 60_000_000  # gas: mainnet's block gas limit, the latest we could confirm
MAINNET_BLOCK_GAS_SINCE = date(2025, 11, 25)
BLOCK_SECONDS = 12              # one mainnet block every 12 s (a slot of the beacon chain)
LIMITS_CHECKED = date(2026, 12, 6)  # when these were last checked against their sources


@dataclass(frozen=True)
class Capacity:
    """How many households' slot fits under gas limits, for a settlement costing `fixed` gas per
    transaction plus `per_household` gas per household."""

    fixed: float
    per_household: float
    tx_gas: int | None
    block_gas: int

    @property
    def per_transaction(self) -> int:
        """Households one transaction can settle (the whole block if there is no tx cap)."""
        limit = self.block_gas if self.tx_gas is None else min(self.tx_gas, self.block_gas)
        return max(0, int((limit - self.fixed) // self.per_household))

    @property
    def per_block(self) -> int:
        """Households one block can settle, in as many full transactions as fit and one
        partial transaction in the gas left over (each pays the fixed part again)."""
        each = self.per_transaction
        if each == 0:
            return 0
        full_gas = self.fixed + self.per_household * each
        full, left = divmod(self.block_gas, full_gas)
        partial = max(0, int((left - self.fixed) // self.per_household))
        return int(full) * each + partial

    @property
    def transactions_per_block(self) -> int:
        """Settlement transactions that one block's worth of households needs."""
        each = self.per_transaction
        return 0 if each == 0 else -(-self.per_block // each)


class CapacityError(DaiseeError, ValueError):
    """A capacity asked of an impossible cost (no gas per household, or a negative fixed part)."""


def capacity(fixed: float, per_household: float, tx_gas: int | None = TX_GAS_CAP,
             block_gas: int = MAINNET_BLOCK_GAS) -> Capacity:
    """The :class:`Capacity` of a settlement costing ``fixed + per_household * n`` gas for `n`
    households, under a per-transaction cap `tx_gas` (None: no cap, as on Prague chains) and a
    block gas limit `block_gas`. The defaults are mainnet's as of :data:`LIMITS_CHECKED`."""
    if per_household <= 0 or fixed < 0:
        raise CapacityError(f"capacity needs per_household > 0 and fixed >= 0 gas; got "
                         f"per_household={per_household}, fixed={fixed}")
    return Capacity(fixed, per_household, tx_gas, block_gas)
