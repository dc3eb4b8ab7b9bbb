"""The French keys as community settlement methods, comparable with mmr, bill sharing and SDR.

``settle(..., method="acc_static" | "acc_dynamic_default" | "acc_dynamic_simple")`` settles a
community as a collective self-consumption operation (rules and sources:
:mod:`.allocation_reference`). Each household first uses its own panels behind its meter
(individual self-consumption); its meter's import is its ACC consumption and its export its ACC
production. The operation's local price is the mid-market rate (λb+λs)/2, the price MMR uses,
so that what differs between the two is who gets the local energy, not its price. Static and
dynamic_simple use equal coefficients, floor(10**6/households) millionths each (a
condominium's simplest choice). dynamic_full needs the PMO's coefficients per slot: call
:func:`.allocation.allocate` directly.

Money, the rounding rule of :mod:`.reference` (the community account): a household pays
ceil((allocated·P_local + complement·λb)/1000) µ€ for what it draws and is paid
floor((sold·P_local + surplus·λs)/1000) µ€ for what it injects; ``grid_bill`` is
floor(import·λb/1000) - ceil(export·λs/1000), import = the complements, export = the surplus;
``rounding`` = payments - grid_bill >= 0. Displayed prices are the drawers' and injectors'
average prices, floored.
"""

from __future__ import annotations

import numpy as np

from daisee_lab.settlement import allocation_reference
from daisee_lab.settlement.reference import Settlement, check_energy, check_prices


def settle_acc(consumption_wh, production_wh, grid_buy, grid_sell, method, allocate):
    """Settle one community (households, slots) under an ACC key; ``allocate`` is the reference's
    or the kernels' :func:`allocate`."""
    cons, prod = check_energy(consumption_wh, production_wh, ndim=2)
    households, slots = cons.shape
    buy, sell = check_prices(grid_buy, grid_sell, slots)
    net = cons.astype(np.int64) - prod
    drawn, injected = np.maximum(net, 0), np.maximum(-net, 0)
    key = method.removeprefix("acc_")
    coefficients = None if key == "dynamic_default" else \
        np.full(households, (allocation_reference.COEFFICIENT_SCALE // households) / 10**6)
    result = allocate(drawn, injected, key, coefficients, by_producer=False)
    local2 = buy + sell  # twice the local price, µ€/kWh
    paid_in = result.allocated_wh * local2 + 2 * result.complement_wh.astype(np.int64) * buy
    paid_out = result.sold_wh * local2 + 2 * result.producer_surplus_wh * sell
    payments = -(-paid_in // 2000) - paid_out // 2000
    imports = result.complement_wh.sum(axis=0, dtype=np.int64)
    exports = result.surplus_wh
    grid_bill = imports * buy // 1000 - (-(-exports * sell // 1000))
    demand, supply = drawn.sum(axis=0), injected.sum(axis=0)
    return Settlement(
        payments=payments,
        buy_price=np.where(demand > 0, paid_in.sum(axis=0) // np.maximum(2 * demand, 1), buy),
        sell_price=np.where(supply > 0, paid_out.sum(axis=0) // np.maximum(2 * supply, 1), sell),
        grid_import_wh=imports, grid_export_wh=exports, grid_bill=grid_bill,
        rounding=payments.sum(axis=0) - grid_bill)
