"""Gas of the trade contracts, measured on an in-process chain (eth-tester, Prague rules).

For communities of 10, 50 and 200 households, the script deploys a CommunityMarket, registers
the meters, funds every household and the grid account (it prepays exports), anchors the
meters' indexes and settles a few slots of a seeded community (buyers and sellers mixed,
realistic cumulative indexes of millions of Wh). It prints the gas per household per settled
slot (the settle transaction's whole gas, signature verification and the 21,000 base included,
divided by the households), the target being 15,000, and the largest community that one
30M-gas block settles, from a least-squares line through the three measurements (gas is linear
in the households: nothing grows in memory).

For the AuctionMarket, it commits and reveals a seeded book of bids and asks, clears it with
the merit order and result of ``clear_double_auction`` and prints the clearing's gas per order
(verification of the merit order, matching, payments and refunds: everything but the 21,000).

``--json`` prints one JSON object with the keys ``settle_gas_per_household`` (households -> gas
per household), ``auction_gas_per_order`` and ``max_households_per_block``.
"""

import argparse
import json

import numpy as np
from eth_account import Account
from eth_utils import keccak

from daisee_lab.chain import Chain
from daisee_lab.contracts import deploy_auction, deploy_community, make_members
from daisee_lab.settlement import clear_double_auction
from daisee_lab.units import SLOT_SECONDS

SIZES = (10, 50, 200)
TARGET = 15_000
BLOCK_GAS = 30_000_000
SLOTS = 3
ORDERS_PER_SIDE = 20


def settle_gas(households, seed=0, slots=SLOTS):
    """Mean gas of settling `slots` slots of a seeded community of `households`."""
    chain = Chain(accounts=2)
    operator = chain.accounts[0]
    rng = np.random.default_rng(seed)
    accounts = [Account.from_key(keccak(text=f"bench household {seed} {i}")).address
                for i in range(households)]
    community = deploy_community(chain, operator, make_members(accounts, seed=seed),
                                 grid_buy=251_600, grid_sell=130_000)
    community.fund({account: 50_000_000 for account in accounts} | {operator.address: 10**9})
    imports = rng.integers(1_000_000, 60_000_000, households)  # Wh, meters a few years old
    producers = rng.random(households) < 0.4
    exports = np.where(producers, rng.integers(100_000, 9_000_000, households), 0)
    consumption, production = [], []
    for _ in range(slots):  # Wh per 15 minutes
        consumption.append(rng.integers(0, 900, households))
        production.append(np.where(producers, rng.integers(0, 1_200, households), 0))
    gas: list[int] = []
    # the first settlement (one slot before) only anchors the indexes: not measured
    community.settle_energy(np.array(consumption).T, np.array(production).T,
                            chain.timestamp // SLOT_SECONDS - slots - 1,
                            start_wh=(imports.tolist(), exports.tolist()),
                            on_slot=lambda slot, receipt: gas.append(receipt.gas_used))
    return float(np.mean(gas))


def auction_gas(orders_per_side=ORDERS_PER_SIDE, seed=0):
    """Gas per order of clearing a seeded auction of `orders_per_side` bids and as many asks,
    one order per member household (a trader opens few orders a round)."""
    chain = Chain(accounts=2 * orders_per_side + 1)
    operator, *traders = chain.accounts
    buyers, sellers = traders[:orders_per_side], traders[orders_per_side:]
    rng = np.random.default_rng(seed)
    auction = deploy_auction(chain, operator,
                             make_members([t.address for t in traders], seed=seed),
                             grid_buy=251_600)
    for trader in traders:
        auction.fund(trader, 10**12)
    slot = chain.timestamp // SLOT_SECONDS + 3
    sealed = [auction.commit(trader, slot, is_bid, int(price), int(qty))
              for group, is_bid, low, high in ((buyers, True, 50_000, 300_000),
                                                (sellers, False, 0, 250_000))
              for trader, price, qty in zip(group, rng.integers(low, high, orders_per_side),
                                            rng.integers(100, 3_000, orders_per_side))]
    chain.advance_time(slot * SLOT_SECONDS - auction.market.revealSeconds() - chain.timestamp)
    for order in sealed:
        auction.reveal(order)
    chain.advance_time(slot * SLOT_SECONDS - chain.timestamp)
    bids, asks = auction.book(slot)
    clearing = clear_double_auction(bids.price.to_numpy(), bids.qty.to_numpy(),
                                    asks.price.to_numpy(), asks.qty.to_numpy())
    receipt = auction.clear(slot, clearing)
    return (receipt.gas_used - 21_000) / len(sealed)


def main(argv=None):
    """Measure and print the figures (a table, or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    totals = {n: settle_gas(n) for n in SIZES}
    slope, intercept = np.polyfit(list(totals), list(totals.values()), 1)
    figures = {
        "settle_gas_per_household": {n: round(total / n) for n, total in totals.items()},
        "auction_gas_per_order": round(auction_gas()),
        "max_households_per_block": int((BLOCK_GAS - intercept) // slope),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(f"CommunityMarket.settle, gas per household per slot (target <= {TARGET:,}):")
    for n, total in totals.items():
        per = figures["settle_gas_per_household"][n]
        print(f"  {n:4d} households: {total:>12,.0f} gas, {per:>7,} per household"
              f"  {'ok' if per <= TARGET else 'ABOVE TARGET'}")
    print(f"  fit: {intercept:,.0f} gas per slot + {slope:,.0f} gas per household")
    print(f"largest community one {BLOCK_GAS:,}-gas block settles: "
          f"{figures['max_households_per_block']:,} households")
    print(f"AuctionMarket.clear, {2 * ORDERS_PER_SIDE} orders: "
          f"{figures['auction_gas_per_order']:,} gas per order")


if __name__ == "__main__":
    main()
