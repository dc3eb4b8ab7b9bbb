"""Python faces of the trade contracts in ``contracts/``: community markets and sealed-bid
auctions on a :class:`~daisee_lab.chain.Chain`.

>>> chain = Chain()
>>> operator, alice, bob = chain.accounts[:3]
>>> homes = make_members([alice.address, bob.address], seed=1)
>>> community = deploy_community(chain, operator, homes, grid_buy=250_000, grid_sell=100_000)
>>> community.fund({alice.address: 5_000_000, bob.address: 5_000_000,
...                 operator.address: 1_000_000})
>>> first = chain.timestamp // SLOT_SECONDS - 10
>>> payments = community.settle_energy([[800, 0], [0, 300]], [[0, 500], [1000, 0]], first)

:func:`deploy_community` deploys the EnergyCredit token and a CommunityMarket (which is also the
meter registry) and registers the households' meters. The grid account (here the operator's)
prepays the community's net export, each household its imports. Each :class:`Member` has an
account (where its credits live) and a meter signing key; :func:`sign_reading` signs a reading
the way a meter does (EIP-712 typed data, with eth-account), and :meth:`Community.settle_slot`
submits a slot's batch with the demand and surplus it must add up to. The market prices and
rounds exactly as :mod:`daisee_lab.settlement.reference` (``"mmr"``, per-slot ``"bill_sharing"``
and ``"sdr"``).

:func:`deploy_auction` deploys an AuctionMarket: traders :meth:`Auction.commit` sealed orders,
:meth:`Auction.reveal` them, and anyone :meth:`Auction.clear` s the round with the result of
``daisee_lab.settlement.clear_double_auction`` (this module sends the merit order along; it does
not compute the clearing itself); sellers then show their delivery with signed readings.

Amounts are integer µ€, energies integer Wh, prices integer µ€/kWh; a slot is
``unix_seconds // 900`` and a reading for slot ``s`` gives the meter's indexes at its end.
Bad arguments raise :class:`ContractsError`; a contract's refusal raises
:class:`~daisee_lab.chain.TransactionReverted` with the custom error decoded.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from daisee_lab.chain import Chain, Contract, Receipt
from daisee_lab.errors import DaiseeError
from daisee_lab.units import (DEFAULT_POWER_VA, MAX_INDEX_WH, MAX_ORDER_WH, MAX_ORDERS,
                              MAX_POWER_VA, MAX_PRICE, MIN_ORDER_WH, SLOT_SECONDS, buyer_pays)

__all__ = ["Auction", "Community", "ContractsError", "MARKET_METHODS", "MAX_SLOT", "Member", "PAGE",
           "READING_TYPES", "SLOT_SECONDS", "SealedOrder", "SignedReading", "commitment_hash",
           "deploy_auction", "deploy_community", "make_members", "pool_totals",
           "public_id_bytes", "reading_typed_data", "sign_reading"]

MAX_SLOT = 2**32 - 1
PAGE = 500  # items per call of a paged view: a page stays far below a node's call gas limit
MARKET_METHODS = {"mmr": 0, "bill_sharing": 1, "sdr": 2}  # CommunityMarket.Method
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
    seed = _check_int("seed", seed, 0, 999_999)
    power_va = _check_int("power_va", power_va, 1, MAX_POWER_VA)
    return [Member(account, Account.from_key(keccak(text=f"daisee-lab meter {seed} {i}")),
                   f"{seed:06d}{i:06d}", power_va) for i, account in enumerate(accounts)]


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
                      grid_sell=None) -> pd.DataFrame:
        """Settle consecutive slots from `first_slot` on: each household's meter imports its
        consumption and exports its production (Wh, shape (households, slots)). Meters without
        a reading are first anchored at ``first_slot - 1`` (a slot with no energy). With
        `grid_buy` and `grid_sell` (µ€/kWh, scalars or one per slot) the operator sets the grid
        prices before each slot where they change; without, the market's prices stay.

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
        imports, exports = [r[2] for r in last], [r[3] for r in last]
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
            self.settle_slot(slot, self.sign_readings(slot, imports, exports), totals=totals)
            now = self._positions()
            paid[slot] = position - now
            position = now
        return pd.DataFrame(paid, index=pd.Index([h.account for h in self.households],
                                                 name="household"), dtype="int64")

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


# --- the sealed-bid double auction ------------------------------------------------------------

def commitment_hash(market_address: str, slot: int, trader: str, is_bid: bool, price: int,
                    qty: int, salt: bytes) -> bytes:
    """The hash sealing an order in an AuctionMarket (``AuctionMarket.commitmentHash``)."""
    return keccak(abi_encode(["address", "uint32", "address", "bool", "uint256", "uint256",
                              "bytes32"], [market_address, slot, trader, is_bid, price, qty, salt]))


@dataclass(frozen=True)
class SealedOrder:
    """An order committed to an auction, with what its trader keeps secret until the reveal."""

    slot: int
    id: int  # the commitment's id in its slot
    trader: LocalAccount
    is_bid: bool
    price: int  # µ€/kWh
    qty: int  # Wh
    salt: bytes
    deposit: int  # µ€


class Auction:
    """A deployed AuctionMarket: its `credit` token, `market` (also the registry of its member
    households, the only traders), `operator` and `grid` account. Use :func:`deploy_auction`.

    A round for delivery slot ``s``: :meth:`commit` until ``s·900 - reveal_seconds``,
    :meth:`reveal` until ``s·900``, then :meth:`clear` with the clearing computed off chain
    (``daisee_lab.settlement.clear_double_auction`` on :meth:`book`), and after the slot
    :meth:`settle_delivery` for each sale.
    """

    def __init__(self, chain: Chain, credit: Contract, market: Contract, operator: LocalAccount,
                 grid: str):
        self.chain, self.credit, self.market = chain, credit, market
        self.operator, self.grid = operator, grid
        self.chain_id = chain.w3.eth.chain_id

    def __repr__(self) -> str:
        return f"<Auction market {self.market.address}>"

    def register(self, households: Sequence[Member]) -> Receipt:
        """Register sellers' meters (one operator transaction)."""
        return self.market.register(
            [(h.meter, public_id_bytes(h.public_id), h.account) for h in households],
            sender=self.operator)

    def fund(self, trader: LocalAccount, amount: int) -> None:
        """The operator mints `amount` µ€ for `trader`, who lets the market take its credits."""
        amount = _check_int("amount", amount, 1, 2**88 - 1)
        self.credit.mint(trader.address, amount, sender=self.operator)
        self.credit.approve(self.market.address, 2**256 - 1, sender=trader)

    def required_deposit(self, is_bid: bool, price: int, qty: int) -> int:
        """The least deposit an order needs (µ€): a bid's price · qty, an ask's bond."""
        per_kwh = price if is_bid else self.market.gridBuy()
        return max(1, buyer_pays(qty, per_kwh))

    def commit(self, trader: LocalAccount, slot: int, is_bid: bool, price: int, qty: int,
               deposit: int | None = None, salt: bytes | None = None) -> SealedOrder:
        """Seal an order of `trader` for delivery slot `slot` (deposit: at least the required
        one; salt: 32 secret bytes, random by default). Keep the returned order to reveal it."""
        slot = _check_int("slot", slot, 1, MAX_SLOT)
        price = _check_int("price", price, 0, MAX_PRICE)
        qty = _check_int("qty", qty, MIN_ORDER_WH, MAX_ORDER_WH)
        deposit = self.required_deposit(is_bid, price, qty) if deposit is None else deposit
        salt = secrets.token_bytes(32) if salt is None else salt
        if len(salt) != 32:
            raise ContractsError(f"salt must be 32 bytes, got {len(salt)}")
        hashed = commitment_hash(self.market.address, slot, trader.address, is_bid, price, qty,
                                 salt)
        receipt = self.market.commit(slot, hashed, deposit, sender=trader)
        (event,) = receipt.events_named("Committed")
        return SealedOrder(slot, event.args["id"], trader, is_bid, price, qty, salt, deposit)

    def reveal(self, order: SealedOrder) -> Receipt:
        """Open a sealed order (in the reveal window)."""
        return self.market.reveal(order.slot, order.id, order.is_bid, order.price, order.qty,
                                  order.salt, sender=order.trader)

    def book(self, slot: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The revealed bids and asks of `slot`, in reveal order: trader, price, qty, escrow,
        filled, prior (1 + the index of the seller's previous ask; read a page at a time)."""
        columns = ["trader", "price", "qty", "escrow", "filled", "prior"]
        return tuple(pd.DataFrame(
            [tuple(o) for o in self._pages(self.market.orderCount(slot, side),
                                           lambda start: self.market.bookPage(
                                               slot, side, start, PAGE))],
            columns=columns, dtype=object).astype({c: "int64" for c in columns[1:]})
            for side in (True, False))

    def commitments(self, slot: int) -> list[tuple]:
        """The commitments of `slot` in commit order, (trader, deposit, hash; zero once
        revealed), read a page at a time."""
        return self._pages(self.market.commitmentCount(slot),
                           lambda start: self.market.commitmentsPage(slot, start, PAGE))

    @staticmethod
    def _pages(count: int, page) -> list:
        return [tuple(item) for start in range(0, count, PAGE) for item in page(start)]

    def clear(self, slot: int, clearing, sender: LocalAccount | None = None) -> Receipt:
        """Submit the clearing of `slot`: `clearing` is what ``clear_double_auction`` (rule
        ``"midpoint"``) returns for :meth:`book`'s prices and quantities (its ``volume`` and
        ``price`` are used); the merit order is sent along for the contract to check."""
        bids, asks = self.book(slot)
        bid_order = np.argsort(-bids.price.to_numpy(), kind="stable").tolist()
        ask_order = np.argsort(asks.price.to_numpy(), kind="stable").tolist()
        price = max(int(clearing.price), 0)  # NO_PRICE (-1) when nothing trades: 0 on chain
        return self.market.clear(slot, bid_order, ask_order, int(clearing.volume), price,
                                 sender=sender or self.operator)

    def settle_delivery(self, slot: int, ask: int, readings: Sequence[SignedReading],
                        sender: LocalAccount | None = None) -> Receipt:
        """Settle sale `ask` of `slot` from its seller's signed meter readings at the end of
        slot ``slot - 1`` (unless the meter's last reading is there already) and of `slot`; once
        one of the seller's sales of the slot is settled, the others need none."""
        return self.market.settleDelivery(slot, ask, [r.calldata() for r in readings],
                                          sender=sender or self.operator)

    def balances(self, accounts: Sequence[str]) -> pd.Series:
        """What each account can withdraw from the market (µ€)."""
        return pd.Series([self.market.balanceOf(a) for a in accounts],
                         index=pd.Index(list(accounts), name="account"), name="balance_ueur",
                         dtype="int64")


def deploy_auction(chain: Chain, operator: LocalAccount, sellers: Sequence[Member],
                   grid_buy: int, *, reveal_seconds: int = 600, delivery_seconds: int = 3600,
                   max_orders: int = MAX_ORDERS, grid: str | None = None) -> Auction:
    """Deploy EnergyCredit and an AuctionMarket run by `operator`, registering the households
    `sellers` (only registered households trade, buyers too). `grid_buy` (µ€/kWh) prices energy
    sold and not delivered; reveals close when the slot starts and open `reveal_seconds`
    before; sellers have `delivery_seconds` after the slot to show their delivery; a round takes
    at most `max_orders` bids and as many asks, and the market at most ``max_orders //
    MAX_ORDERS_PER_TRADER`` households."""
    grid = grid or operator.address
    credit = chain.deploy("EnergyCredit", operator.address, sender=operator)
    market = chain.deploy("AuctionMarket", operator.address, credit.address, grid, grid_buy,
                          reveal_seconds, delivery_seconds, max_orders, sender=operator)
    auction = Auction(chain, credit, market, operator, grid)
    if sellers:
        auction.register(sellers)
    return auction
