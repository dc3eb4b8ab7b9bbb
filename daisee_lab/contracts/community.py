"""The community market: a CommunityMarket (also the meter registry) and its EnergyCredit,
settling every slot from the meters' signed readings (:func:`deploy_community`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from eth_account.signers.local import LocalAccount

from daisee_lab.chain import Chain, Contract, Receipt
from daisee_lab.contracts.readings import (MAX_SLOT, ContractsError, Member, SignedReading,
                                           _check_int, _per_slot, public_id_bytes, sign_reading)
from daisee_lab.units import MAX_INDEX_WH, MAX_POWER_VA

__all__ = ["DEPOSIT_UEUR", "MARKET_METHODS", "Community", "deploy_community", "pool_totals"]

MARKET_METHODS = {"mmr": 0, "bill_sharing": 1, "sdr": 2}  # CommunityMarket.Method
DEPOSIT_UEUR = 20_000_000  # what a member deposits by default (20 €): the main job, the classroom


class Community:
    """A deployed community: its `credit` token and `market` (also its meter registry), the
    `operator`, the `grid` account and the registered `households`. Use :func:`deploy_community`."""

    def __init__(self, chain: Chain, credit: Contract, market: Contract, operator: LocalAccount,
                 grid: str, households: Sequence[Member]):
        self.chain, self.credit, self.market = chain, credit, market
        self.operator, self.grid = operator, grid
        self.households = list(households)
        self.chain_id = chain.w3.eth.chain_id

    def __repr__(self) -> str:
        return f"<Community of {len(self.households)} households, market {self.market.address}>"

    def register(self, households: Sequence[Member]) -> Receipt:
        """Register more households' meters with their powers (one operator transaction)."""
        households = list(households)
        powers = [_check_int("power_va", h.power_va, 1, MAX_POWER_VA) for h in households]
        receipt = self.market.registerWithPower(
            [(h.meter, public_id_bytes(h.public_id), h.account) for h in households], powers,
            sender=self.operator)
        self.households += households
        return receipt

    def remove_meter(self, household: Member) -> Receipt:
        """The operator removes `household`'s meter: its readings are refused from now on and
        batches go without it; the household keeps its account (and can withdraw its balance)."""
        receipt = self.market.removeMeter(household.meter, sender=self.operator)
        self.households.remove(household)
        return receipt

    def replace_meter(self, household: Member, meter_key: LocalAccount, public_id: str,
                      import_wh: int = 0, export_wh: int = 0) -> Member:
        """The operator gives `household` (its meter registered or removed) a new meter, whose
        indexes at installation are `import_wh` and `export_wh`: its next reading brings the
        energy since then. Returns the household with its new meter (in place of the old one
        in `households`)."""
        import_wh = _check_int("import_wh", import_wh, 0, MAX_INDEX_WH)
        export_wh = _check_int("export_wh", export_wh, 0, MAX_INDEX_WH)
        self.market.replaceMeter(household.meter, meter_key.address, public_id_bytes(public_id),
                                 import_wh, export_wh, sender=self.operator)
        new = Member(household.account, meter_key, public_id, household.power_va)
        if household in self.households:
            self.households[self.households.index(household)] = new
        else:
            self.households.append(new)
        return new

    def fund(self, amounts: Mapping[str, int]) -> None:
        """Deposit µ€ into accounts (households or the grid), paid by the operator, who mints the
        credits against money received off chain."""
        amounts = {a: _check_int(f"amounts[{a!r}]", v, 1, 2**64 - 1) for a, v in amounts.items()}
        total = sum(amounts.values())
        self.credit.mint(self.operator.address, total, sender=self.operator)
        self.credit.approve(self.market.address, total, sender=self.operator)
        for account, amount in amounts.items():
            self.market.deposit(account, amount, sender=self.operator)

    def withdraw(self, account: LocalAccount, amount: int) -> Receipt:
        """`account` (a household or the grid) pulls `amount` µ€ of its balance as credits."""
        return self.market.withdraw(amount, sender=account)

    def sign_readings(self, slot: int, import_wh: Sequence[int],
                      export_wh: Sequence[int]) -> list[SignedReading]:
        """Every household's meter signs its cumulative indexes at the end of `slot`."""
        if not len(import_wh) == len(export_wh) == len(self.households):
            raise ContractsError(f"import_wh and export_wh need one index per household "
                                 f"({len(self.households)}), got {len(import_wh)} and "
                                 f"{len(export_wh)}")
        return [sign_reading(h.meter_key, self.market.address, self.chain_id, h.meter, slot,
                             imp, exp)
                for h, imp, exp in zip(self.households, import_wh, export_wh)]

    def settle_slot(self, slot: int, readings: Sequence[SignedReading],
                    sender: LocalAccount | None = None,
                    totals: tuple[int, int] | None = None) -> Receipt:
        """Submit one slot's batch of signed readings (anyone may; default the operator), with
        the slot's demand and surplus: `totals` if the caller knows them (the contract checks
        them), else computed from the meters' last indexes on chain (one call per meter)."""
        demand, surplus = self.slot_totals(readings) if totals is None else totals
        return self.market.settle(slot, demand, surplus, [r.calldata() for r in readings],
                                  sender=sender or self.operator)

    def slot_totals(self, readings: Sequence[SignedReading]) -> tuple[int, int]:
        """The demand D and surplus G (Wh) that `readings` bring, against each meter's last
        reading on chain (a meter's first reading brings no energy), without the buyers the
        market leaves out (balance below their import at the grid price). A reading from a
        meter nobody registered counts for nothing here: the market refuses it (UnknownMeter)."""
        known = [(r, self.market.householdOf(r.meter)) for r in readings]
        known = [(r, account) for r, account in known if int(account, 16)]
        readings = [r for r, _ in known]
        balances = self.market.accountsOf([account for _, account in known])[0] if known else []
        nets = []
        for reading in readings:
            _, last_slot, last_import, last_export = self.market.lastReading(reading.meter)
            nets.append((reading.import_wh - last_import) - (reading.export_wh - last_export)
                        if last_slot else 0)
        return pool_totals(nets, balances, self.market.gridBuy())

    def settle_energy(self, consumption_wh, production_wh, first_slot: int, grid_buy=None,
                      grid_sell=None, *,
                      start_wh: tuple[Sequence[int], Sequence[int]] | None = None,
                      on_slot: Callable[[int, Receipt], None] | None = None) -> pd.DataFrame:
        """Settle consecutive slots from `first_slot` on: each household's meter imports its
        consumption and exports its production (Wh, shape (households, slots)). Meters without
        a reading are first anchored at ``first_slot - 1`` (a slot with no energy). With
        `grid_buy` and `grid_sell` (µ€/kWh, scalars or one per slot) the operator sets the grid
        prices before each slot where they change; without, the market's prices stay.
        `start_wh`, if given, is each meter's import and export indexes at the start of
        `first_slot` (a real meter's do not start at 0): a meter with no reading on chain is
        anchored there, one with a reading must be there already. `on_slot`, if given, is
        called with each slot settled (not the anchor's) and its receipt, whose ``SlotSettled``
        event carries the slot's grid bill and rounding.

        Returns each household's payment (µ€, positive = paid) per slot, read from the change
        of its balance on chain (0 for a buyer left out): rows are household accounts, columns
        slots.
        """
        cons, prod = (np.asarray(a) for a in (consumption_wh, production_wh))
        slots = cons.shape[1] if cons.ndim == 2 else 0
        for name, array in (("consumption_wh", cons), ("production_wh", prod)):
            if (array.shape != (len(self.households), slots) or array.dtype.kind not in "iu"
                    or (array < 0).any()):
                raise ContractsError(f"{name} must be non-negative integer Wh, one row per "
                                     f"household ({len(self.households)}) and one column per "
                                     f"slot, got {array.dtype} of shape {array.shape}")
        first_slot = _check_int("first_slot", first_slot, 2, MAX_SLOT - slots)
        if (grid_buy is None) != (grid_sell is None):
            raise ContractsError("give both grid_buy and grid_sell, or neither")
        prices = None if grid_buy is None else list(zip(
            _per_slot("grid_buy", grid_buy, slots), _per_slot("grid_sell", grid_sell, slots)))
        last = [self.market.lastReading(h.meter) for h in self.households]
        imports, exports = self._start(last, start_wh)
        if any(r[1] == 0 for r in last):  # the anchors repeat the last indexes: no energy
            self.settle_slot(first_slot - 1, self.sign_readings(first_slot - 1, imports, exports),
                             totals=(0, 0))
        net = cons.astype(np.int64) - prod
        position = self._positions()
        current = (self.market.gridBuy(), self.market.gridSell())
        paid = {}
        for t in range(slots):
            imports = [i + int(c) for i, c in zip(imports, cons[:, t])]
            exports = [e + int(p) for e, p in zip(exports, prod[:, t])]
            slot = first_slot + t
            if prices and prices[t] != current:
                self.market.setGridPrices(*prices[t], sender=self.operator)
                current = prices[t]
            totals = pool_totals(net[:, t].tolist(), position.tolist(), current[0])
            receipt = self.settle_slot(slot, self.sign_readings(slot, imports, exports),
                                       totals=totals)
            if on_slot is not None:
                on_slot(slot, receipt)
            now = self._positions()
            paid[slot] = position - now
            position = now
        return pd.DataFrame(paid, index=pd.Index([h.account for h in self.households],
                                                 name="household"), dtype="int64")

    def _start(self, last: list, start_wh) -> tuple[list[int], list[int]]:
        """Each meter's indexes where a day starts: `start_wh`, checked against the meters'
        `last` readings on chain, or those readings' indexes."""
        if start_wh is None:
            return [r[2] for r in last], [r[3] for r in last]
        if len(start_wh) != 2 or any(len(side) != len(self.households) for side in start_wh):
            raise ContractsError(f"start_wh must be (import indexes, export indexes), one per "
                                 f"household ({len(self.households)})")
        imports = [_check_int(f"start_wh[0][{i}]", v, 0, MAX_INDEX_WH)
                   for i, v in enumerate(start_wh[0])]
        exports = [_check_int(f"start_wh[1][{i}]", v, 0, MAX_INDEX_WH)
                   for i, v in enumerate(start_wh[1])]
        for h, (_, slot, imp, exp), start in zip(self.households, last, zip(imports, exports)):
            if slot and (imp, exp) != start:
                raise ContractsError(f"start_wh: the meter of {h.account} reads {imp} and {exp} "
                                     f"Wh on chain (slot {slot}), not {start[0]} and {start[1]}")
        return imports, exports

    def _positions(self) -> np.ndarray:
        return np.array(self.market.accountsOf([h.account for h in self.households])[0],
                        dtype=object)

    def accounts(self) -> pd.DataFrame:
        """Balances (µ€) on the market, and the import (Wh) each household had left out of the
        pools for want of a balance: one row per household, then the grid."""
        names = [h.account for h in self.households] + [self.grid]
        balances, left_out = self.market.accountsOf(names)
        return pd.DataFrame({
            "role": ["household"] * len(self.households) + ["grid"],
            "public_id": [h.public_id for h in self.households] + [""],
            "balance_ueur": balances, "left_out_wh": left_out,
        }, index=pd.Index(names, name="account")).astype({"balance_ueur": "int64",
                                                          "left_out_wh": "int64"})

    def books(self) -> dict[str, int]:
        """The market's totals (µ€): credits held, balances (households and grid), rounding
        account. Always ``held == balances + rounding``: every balance can be withdrawn."""
        table = self.accounts()
        return {"held": self.credit.balanceOf(self.market.address),
                "balances": int(table.balance_ueur.sum()),
                "rounding": self.market.roundingBalance()}

    def gas(self) -> pd.DataFrame:
        """Gas per function of this community's contracts: calls, min, mean, max."""
        summary = self.chain.gas.summary()
        names = [n for n in ("CommunityMarket", "EnergyCredit") if n in summary.index.unique(0)]
        return summary.loc[names]


def pool_totals(nets: Sequence[int], balances: Sequence[int],
                grid_buy: int) -> tuple[int, int]:
    """The demand D and surplus G (Wh) of a slot's pool, given each reading's net energy (Wh,
    import minus export) and its household's balance (µ€) before the slot: a buyer whose balance
    does not cover its import at the grid price `grid_buy` is left out (imports are prepaid)."""
    demand = surplus = 0
    for net, balance in zip(nets, balances, strict=True):
        if net > 0 and net * grid_buy <= balance * 1000:
            demand += net
        elif net < 0:
            surplus -= net
    return int(demand), int(surplus)


def deploy_community(chain: Chain, operator: LocalAccount, households: Sequence[Member],
                     grid_buy: int, grid_sell: int, method: str = "mmr", *,
                     grid: str | None = None) -> Community:
    """Deploy EnergyCredit and a CommunityMarket run by `operator`, and register `households`.

    `grid_buy` / `grid_sell` are the grid's import and feed-in prices (µ€/kWh, the operator can
    change them later); `method` is ``"mmr"`` (mid-market rate), ``"bill_sharing"`` (per slot)
    or ``"sdr"`` (supply-demand ratio); `grid` is the grid supplier's account (default: the
    operator, acting for it).
    """
    if method not in MARKET_METHODS:
        raise ContractsError(f"method must be one of {sorted(MARKET_METHODS)}, got {method!r}")
    grid = grid or operator.address
    credit = chain.deploy("EnergyCredit", operator.address, sender=operator)
    market = chain.deploy("CommunityMarket", operator.address, credit.address, grid,
                          MARKET_METHODS[method], grid_buy, grid_sell, sender=operator)
    community = Community(chain, credit, market, operator, grid, [])
    if households:
        community.register(households)
    return community

