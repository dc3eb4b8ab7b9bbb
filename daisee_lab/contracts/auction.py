"""The sealed-bid double auction: an AuctionMarket and its EnergyCredit (:func:`deploy_auction`),
and :class:`AuctionDay`, a day of its rounds for a community's orders."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from daisee_lab.chain import Chain, Contract, Receipt, TransactionReverted
from daisee_lab.contracts.readings import (MAX_SLOT, ContractsError, Member, SignedReading,
                                           _check_int, public_id_bytes, sign_reading)
from daisee_lab.units import (MAX_ORDER_WH, MAX_ORDERS, MAX_PRICE, MIN_ORDER_WH, SLOT_SECONDS,
                              buyer_pays)

__all__ = ["DEFAULT_REVEAL_SECONDS", "PAGE", "Auction", "AuctionDay", "ClearingRefused",
           "DayTrades", "SealedOrder", "commitment_hash", "deploy_auction"]

PAGE = 500  # items per call of a paged view: a page stays far below a node's call gas limit
DEFAULT_REVEAL_SECONDS = 600  # deploy_auction's reveal window: reveals open this long before a slot


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
    households, the only traders), `operator` and `grid` account. Use :func:`deploy_auction`,
    or build one for an auction already deployed; a trader's own view has no `operator` (None),
    and then the operator's transactions (:meth:`register`, :meth:`fund`) are not its to send.

    A round for delivery slot ``s``: :meth:`commit` until ``s·900 - reveal_seconds``,
    :meth:`reveal` until ``s·900``, then :meth:`clear` with the clearing computed off chain
    (``daisee_lab.settlement.clear_double_auction`` on :meth:`book`), and after the slot
    :meth:`settle_delivery` for each sale.
    """

    def __init__(self, chain: Chain, credit: Contract, market: Contract,
                 operator: LocalAccount | None, grid: str):
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
                                           lambda start, side=side: self.market.bookPage(
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
                   grid_buy: int, *, reveal_seconds: int = DEFAULT_REVEAL_SECONDS,
                   delivery_seconds: int = 3600,
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


# --- a day of rounds ---------------------------------------------------------------------------

class ClearingRefused(ContractsError):
    """The AuctionMarket refused the clearing given for `slot` (its merit order, volume or
    price); `reason` is the contract's error, decoded."""

    def __init__(self, slot: int, reason: str):
        super().__init__(f"slot {slot}: the contract refused the clearing ({reason})")
        self.slot, self.reason = slot, reason


@dataclass(frozen=True)
class DayTrades:
    """What a day of rounds left on chain: each slot's round as the market keeps it (its last
    two fields are the clearing price and volume), the fills of each slot's bids and asks in
    reveal order, and what each trader paid over the day (µ€, positive = paid)."""

    rounds: list[tuple]
    bid_fills: list[list[int]]
    ask_fills: list[list[int]]
    paid: np.ndarray


class AuctionDay:
    """A day of sealed-bid rounds in `auction`, one per delivery slot of `slots` (consecutive),
    for the orders of `members` (all registered, in the same order as `traders`, their
    accounts' keys).

    `orders` is ``(bid_prices, bid_qty, ask_prices, ask_qty)``, rows slots and columns members,
    as :func:`daisee_lab.settlement.clear_double_auction_slots` takes it; 0 Wh is no order.
    `index_in` and `index_out` are each meter's indexes (Wh) at the end of each slot, row 0 at
    the start of the first: the readings sellers sign to show their delivery.

    :meth:`trade` plays the whole day on a development chain (it moves the chain's clock);
    step by step, :meth:`fund`, :meth:`commit` every slot, then for each slot :meth:`clear`
    once it starts and :meth:`deliver` once it is over, and :meth:`paid`.
    """

    def __init__(self, auction: Auction, traders: Sequence[LocalAccount],
                 members: Sequence[Member], slots: Sequence[int], orders: Sequence[np.ndarray],
                 index_in: np.ndarray, index_out: np.ndarray):
        self.auction, self.members = auction, list(members)
        self.traders, self.slots = list(traders), [int(s) for s in slots]
        if not self.slots or self.slots != list(range(self.slots[0],
                                                      self.slots[0] + len(self.slots))):
            raise ContractsError(f"slots must be one or more consecutive slots, got {slots!r}")
        if len(self.traders) != len(self.members):
            raise ContractsError(f"give one trader per member ({len(self.members)}), got "
                                 f"{len(self.traders)}")
        shape = (len(self.slots), len(self.members))
        self.orders = tuple(np.asarray(side) for side in orders)
        if len(self.orders) != 4 or any(side.shape != shape for side in self.orders):
            raise ContractsError(f"orders must be bid prices, bid Wh, ask prices and ask Wh, "
                                 f"each of shape (slots, members) = {shape}")
        self.index_in, self.index_out = np.asarray(index_in), np.asarray(index_out)
        if not self.index_in.shape == self.index_out.shape == (len(self.slots) + 1, shape[1]):
            raise ContractsError(f"index_in and index_out must be of shape (slots + 1, members) "
                                 f"= {(shape[0] + 1, shape[1])}")
        self.sealed: list[list[SealedOrder]] = [[] for _ in self.slots]
        self.last_signed = [0] * len(self.members)
        self.funded = [0] * len(self.members)

    def sides(self, t: int):
        """(is_bid, member, price, Wh) of each order of slot `t`, bids first, members in order:
        the order they are revealed in, so the books' order."""
        bid_prices, bid_qty, ask_prices, ask_qty = self.orders
        for is_bid, prices, qty in ((True, bid_prices, bid_qty), (False, ask_prices, ask_qty)):
            for i in np.flatnonzero(qty[t]).tolist():
                yield is_bid, i, int(prices[t, i]), int(qty[t, i])

    def fund(self) -> None:
        """Give each trader exactly the deposits of all its orders (at least 1 µ€)."""
        for t in range(len(self.slots)):
            for is_bid, i, price, qty in self.sides(t):
                self.funded[i] += self.auction.required_deposit(is_bid, price, qty)
        self.funded = [max(amount, 1) for amount in self.funded]
        for trader, amount in zip(self.traders, self.funded):
            self.auction.fund(trader, amount)

    def commit(self, t: int) -> None:
        """Seal every order of slot `t` (before its reveals open)."""
        self.sealed[t] = [self.auction.commit(self.traders[i], self.slots[t], is_bid, price, qty)
                          for is_bid, i, price, qty in self.sides(t)]

    def clear(self, t: int, clearing) -> tuple[tuple, list[int], list[int]]:
        """Reveal slot `t`'s orders in their window, then clear it once it starts with
        `clearing` (a ``settlement.Clearing`` of the day, as ``clear_double_auction_slots``
        gives it: its row `t` is used); return the round and the books' fills, read from the
        chain. Raises :class:`ClearingRefused` if the contract refuses the clearing."""
        slot = self.slots[t]
        self.auction.chain.advance_to(slot * SLOT_SECONDS - self.auction.market.revealSeconds())
        for order in self.sealed[t]:
            self.auction.reveal(order)
        self.auction.chain.advance_to(slot * SLOT_SECONDS)
        try:
            self.auction.clear(slot, _Row(int(clearing.volume[t]), int(clearing.price[t])))
        except TransactionReverted as exc:
            raise ClearingRefused(slot, str(exc)) from exc
        bids, asks = self.auction.book(slot)
        return self.auction.market.rounds(slot), bids.filled.tolist(), asks.filled.tolist()

    def deliver(self, t: int) -> None:
        """After slot `t`, show each sale's delivery with its seller's signed indexes at the
        end of the slot (and of the one before, unless already on chain)."""
        slot = self.slots[t]
        _, asks = self.auction.book(slot)
        sellers = [i for is_bid, i, _, _ in self.sides(t) if not is_bid]
        for ask, (i, filled) in enumerate(zip(sellers, asks.filled.tolist())):
            if filled == 0:
                continue
            member = self.members[i]
            ends = [t + 1] if self.last_signed[i] == slot - 1 else [t, t + 1]
            readings = [sign_reading(
                member.meter_key, self.auction.market.address, self.auction.chain_id,
                member.meter, self.slots[0] - 1 + end, int(self.index_in[end, i]),
                int(self.index_out[end, i])) for end in ends]
            self.auction.settle_delivery(slot, ask, readings)
            self.last_signed[i] = slot

    def paid(self) -> np.ndarray:
        """What each trader has paid over the day (µ€): its credits in, less what it holds and
        what the market owes it."""
        accounts = [trader.address for trader in self.traders]
        left = self.auction.balances(accounts).to_numpy() + np.array(
            [self.auction.credit.balanceOf(a) for a in accounts])
        return np.array(self.funded) - left

    def trade(self, clearing, step=None) -> DayTrades:
        """Play the day: fund the traders, commit every order first, then per slot reveal and
        clear it with `clearing` (the contract checks it) and, once it is over, settle its
        sales' delivery. `step`, if given, is called after each commit and each clear (twice
        per slot). Returns what the chain shows of the day."""
        self.fund()
        for t in range(len(self.slots)):
            self.commit(t)
            if step is not None:
                step()
        rounds, bid_fills, ask_fills = [], [], []
        for t in range(len(self.slots)):
            round_, bids, asks = self.clear(t, clearing)
            rounds.append(round_)
            bid_fills.append(bids)
            ask_fills.append(asks)
            if t > 0:
                self.deliver(t - 1)  # once slot t has started, slot t - 1 is over
            if step is not None:
                step()
        self.auction.chain.advance_to((self.slots[-1] + 1) * SLOT_SECONDS)
        self.deliver(len(self.slots) - 1)
        return DayTrades(rounds, bid_fills, ask_fills, self.paid())


@dataclass(frozen=True)
class _Row:
    """One slot's clearing, as :meth:`Auction.clear` reads it."""

    volume: int
    price: int
