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
:class:`AuctionDay` plays a whole day of rounds for a community's orders (the main job's driver,
``daisee-lab run --method auction``).

The package: :mod:`~daisee_lab.contracts.readings` (members, meter keys, signed readings),
:mod:`~daisee_lab.contracts.community` (the community market) and
:mod:`~daisee_lab.contracts.auction` (the auction and a day of it); import from
``daisee_lab.contracts``.

Amounts are integer µ€, energies integer Wh, prices integer µ€/kWh; a slot is
``unix_seconds // 900`` and a reading for slot ``s`` gives the meter's indexes at its end.
Bad arguments raise :class:`ContractsError`; a contract's refusal raises
:class:`~daisee_lab.chain.TransactionReverted` with the custom error decoded.
"""

from __future__ import annotations

from daisee_lab.contracts.auction import (DEFAULT_REVEAL_SECONDS, PAGE, Auction, AuctionDay,
                                          ClearingRefused, DayTrades, SealedOrder,
                                          commitment_hash, deploy_auction)
from daisee_lab.contracts.community import (DEPOSIT_UEUR, MARKET_METHODS, Community,
                                            deploy_community, pool_totals)
from daisee_lab.contracts.readings import (MAX_MEMBER_SEED, MAX_SLOT, READING_TYPES,
                                           ContractsError, Member, SignedReading, make_members,
                                           public_id_bytes, reading_typed_data, sign_reading)
from daisee_lab.units import MAX_INDEX_WH, MAX_PRICE, SLOT_SECONDS  # bounds the contracts check

__all__ = ["Auction", "AuctionDay", "ClearingRefused", "Community", "ContractsError",
           "DEFAULT_REVEAL_SECONDS", "DEPOSIT_UEUR", "DayTrades", "MARKET_METHODS", "MAX_INDEX_WH",
           "MAX_MEMBER_SEED", "MAX_PRICE", "MAX_SLOT", "Member", "PAGE",
           "READING_TYPES", "SLOT_SECONDS", "SealedOrder",
           "SignedReading", "commitment_hash", "deploy_auction",
           "deploy_community", "make_members", "pool_totals", "public_id_bytes",
           "reading_typed_data", "sign_reading"]
