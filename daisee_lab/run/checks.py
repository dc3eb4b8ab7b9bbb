"""The main job's checks (the meters against the profiles, the chain against the kernel) and
the tables of its report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from daisee_lab import community, settlement
from daisee_lab.chain import Chain
from daisee_lab.run.common import MeterMismatch, MeterPlan, SettlementMismatch
from daisee_lab.tariffs import GRID_BUY, GRID_SELL  # µ€/kWh, dated and sourced there
from daisee_lab.units import PARIS, SLOT_SECONDS

__all__ = ["bills_table", "check_auction", "check_community", "check_meters",
           "demand_and_surplus", "gas_table", "slots_table"]


def check_community(kernel: settlement.Settlement, on_chain: dict, plans: list[MeterPlan],
                     slots: np.ndarray) -> None:
    """Every household's payment in every slot, and each slot's grid bill and rounding, must be
    the kernel's; else :class:`SettlementMismatch`."""
    wrong = [f"{plans[h].household} in slot {int(slots[t])}: chain "
             f"{int(on_chain['paid'][h, t])} µ€, kernel {int(kernel.payments[h, t])} µ€"
             for h, t in np.argwhere(on_chain["paid"] != kernel.payments)]
    for name in ("grid_bill", "rounding"):
        expected = getattr(kernel, name)
        wrong += [f"slot {int(slots[t])}: {name} {int(on_chain[name][t])} µ€ on chain, "
                  f"{int(expected[t])} µ€ in the kernel"
                  for t in np.flatnonzero(on_chain[name] != expected)]
    if wrong:
        raise SettlementMismatch(wrong)


def check_auction(clearing: settlement.Clearing, orders, trades: np.ndarray, on_chain: dict,
                   plans: list[MeterPlan], slots: np.ndarray) -> None:
    """Each round's volume, price and fills, and each household's payments for its trades over
    the day, must be the kernel's; else :class:`SettlementMismatch`."""
    _, bid_qty, _, ask_qty = orders
    wrong = []
    for t, slot in enumerate(slots.tolist()):
        _, _, _, price, volume = on_chain["rounds"][t]
        expected = (int(np.asarray(clearing.volume)[t]),
                    max(int(np.asarray(clearing.price)[t]), 0))
        if (volume, price) != expected:
            wrong.append(f"slot {slot}: chain cleared {volume} Wh at {price} µ€/kWh, kernel "
                         f"{expected[0]} Wh at {expected[1]} µ€/kWh")
        for side, fills, qty in (("bid", clearing.bid_fills, bid_qty),
                                 ("ask", clearing.ask_fills, ask_qty)):
            kernel_fills = fills[t][qty[t] > 0].tolist()
            if on_chain[f"{side}_fills"][t] != kernel_fills:
                wrong.append(f"slot {slot}: {side} fills {on_chain[f'{side}_fills'][t]} on "
                             f"chain, {kernel_fills} in the kernel")
    for plan, chain_paid, kernel_paid in zip(plans, on_chain["paid"], trades.sum(axis=1)):
        if int(chain_paid) != int(kernel_paid):
            wrong.append(f"{plan.household}: paid {int(chain_paid)} µ€ for its trades on "
                         f"chain, {int(kernel_paid)} µ€ in the kernel")
    if wrong:
        raise SettlementMismatch(wrong)


def check_meters(readings: pd.DataFrame, energy: community.SlotEnergy,
                  profile: community.Profiles, window: range, plans: list[MeterPlan]) -> None:
    """Every meter's import and export in every slot must be its household's, from the profile
    (after the battery), to the Wh; and every standard frame's clock (DATE) must be the stamp
    its reader gave it; else :class:`MeterMismatch`."""
    wrong = []
    for name in ("import_wh", "export_wh"):
        read, expected = getattr(energy, name), getattr(profile, name)[:, window.start:window.stop]
        wrong += [f"{plans[h].household} in slot {int(energy.slots[t])}: {name} {read[h, t]} "
                  f"from its meter, {expected[h, t]} in its profile"
                  for h, t in np.argwhere(read != expected)]
    clocked = readings.dropna(subset=["meter_time"])
    wrong += [f"meter {row.meter_id}: its frame of {row.meter_time.isoformat()} was stamped "
              f"{row.received_at.isoformat()}"
              for row in clocked[clocked.meter_time != clocked.received_at].itertuples()]
    if wrong:
        raise MeterMismatch(wrong)



def gas_table(chain: Chain) -> pd.DataFrame:
    """Gas per contract and function over the run: calls, min, mean, max and total."""
    records = chain.gas.to_dataframe()
    table = records.groupby(["contract", "function"], sort=True)["gas_used"].agg(
        calls="count", min="min", mean="mean", max="max", total="sum").reset_index()
    table["mean"] = table["mean"].round().astype("int64")
    return table


def bills_table(plans: list[MeterPlan], imports, exports, paid: np.ndarray,
           chain_paid: np.ndarray | None, baseline: settlement.Settlement) -> pd.DataFrame:
    """One row per household: its meter, energies (Wh) and bills (µ€, positive = paid); the
    bill on chain only if there is one (`chain_paid`)."""
    kernel = paid.sum(axis=1)
    without = baseline.payments.sum(axis=1)
    on_chain = {} if chain_paid is None else {
        "chain_ueur": np.asarray(chain_paid, dtype=np.int64)}
    return pd.DataFrame({
        "household": [p.household for p in plans], "meter_id": [p.meter_id for p in plans],
        "mode": [p.mode for p in plans], "phases": [p.phases for p in plans],
        "import_wh": imports.sum(axis=1), "export_wh": exports.sum(axis=1),
        "kernel_ueur": kernel, **on_chain, "baseline_ueur": without,
        "savings_ueur": without - kernel})


def slots_table(slots: np.ndarray, imports, exports, kernel, grid_bill: np.ndarray,
                 rounding: np.ndarray, baseline: settlement.Settlement,
                 method: str) -> pd.DataFrame:
    """One row per slot: the community's demand and surplus, what it traded inside and with
    the grid (Wh), its prices (µ€/kWh), and the grid bill and rounding (µ€)."""
    demand, surplus = demand_and_surplus(imports, exports)
    times = pd.to_datetime(slots * SLOT_SECONDS, unit="s", utc=True)
    if method == "auction":
        price = np.maximum(kernel.price, 0)
        traded, buy_price, sell_price = kernel.volume, price, price
        grid_import, grid_export = demand - traded, surplus - traded
    else:  # what the community shared: min(demand, surplus) but under a static ACC key
        traded = demand - kernel.grid_import_wh
        buy_price, sell_price = kernel.buy_price, kernel.sell_price
        grid_import, grid_export = kernel.grid_import_wh, kernel.grid_export_wh
    return pd.DataFrame({
        "slot": slots, "time": times.tz_convert(PARIS).strftime("%Y-%m-%dT%H:%M%z"),
        "demand_wh": demand, "surplus_wh": surplus, "traded_wh": traded,
        "grid_import_wh": grid_import, "grid_export_wh": grid_export, "grid_buy": GRID_BUY,
        "grid_sell": GRID_SELL, "buy_price": buy_price, "sell_price": sell_price,
        "grid_bill_ueur": grid_bill, "rounding_ueur": rounding,
        "baseline_grid_bill_ueur": baseline.grid_bill})


def demand_and_surplus(imports, exports) -> tuple[np.ndarray, np.ndarray]:
    """The community's demand and surplus per slot (Wh): its households' net imports and net
    exports (households x slots in, one value per slot out)."""
    net = imports.astype(np.int64) - exports
    return np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
