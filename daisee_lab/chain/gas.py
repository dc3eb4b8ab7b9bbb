"""The gas report: every transaction a `Chain` makes, by contract and function."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


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
