"""Community pricing, the plain reference: obviously right, slow. The numba kernels must match it.

A community of households shares one grid connection. In each 15-minute slot a household's *net*
is its consumption minus its production (behind-the-meter netting, integer Wh): buyers have
net > 0, sellers net < 0. ``D`` is the buyers' total net, ``G`` the sellers' total surplus,
``λb`` (``grid_buy``) the grid import price and ``λs`` (``grid_sell``) the feed-in price, integer
µ€/kWh with 0 <= λs <= λb, one per slot or one for all. A *method* turns (D, G, λb, λs) into a
price the buyers pay and a price the sellers receive, both exact fractions of µ€/kWh:

``"none"``
    No community: everyone trades with the grid, buyers at λb, sellers at λs. The baseline.
``"mmr"``, mid-market rate
    Pmid = (λb+λs)/2. G = D: both at Pmid. G < D: sellers get Pmid, buyers pay
    (Pmid·G + λb·(D-G))/D. G > D: buyers pay Pmid, sellers get (Pmid·D + λs·(G-D))/G.
``"sdr"``, supply-demand ratio
    SDR = G/D. SDR < 1: Psell = λb·λs/((λb-λs)·SDR + λs), Pbuy = Psell·SDR + λb·(1-SDR).
    SDR >= 1, or no buyers at all: both at λs. (If λs = 0 and nobody sells, Psell is 0.)
``"bill_sharing"``
    The community's grid bill is shared pro rata (Long et al. 2017; Zhou et al. 2018, Applied
    Energy 222): the import cost is shared among the buyers in proportion to their demand, the
    export revenue among the sellers in proportion to their surplus. Pbuy = import cost / D,
    Psell = export revenue / G (0 for an empty side). Per slot, sellers receive nothing in a slot
    where the community imports: their energy lowers the buyers' share of the import cost instead.
``"acc_static"``, ``"acc_dynamic_default"``, ``"acc_dynamic_simple"``
    French collective self-consumption: Enedis's allocation keys at the mid-market price, the
    rest at λb / λs (rules, sources and rounding: :mod:`.acc_methods`,
    :mod:`.allocation_reference`).

Billing window (``bill_sharing`` only). ``window=k`` settles the bill once every ``k`` slots
(96 = daily billing), as a supplier's bill would be: over the window, each household's demand is
the sum of its positive nets and its surplus the sum of its negative nets (never netted against
each other across slots), the import cost is the sum over the window of import_wh·λb and the
revenue the sum of export_wh·λs, and the prices are those totals divided by the window's total
demand and surplus. Payments, ``grid_bill`` and ``rounding`` are reported at the window's *last*
slot and are zero on its other slots, so the invariant below still holds exactly in every slot;
the displayed prices are the window's, repeated on each of its slots; a trailing partial window
is billed at the last slot. The window changes the answer: a seller whose noon surplus was all
used by neighbours gets nothing under per-slot sharing, but a share of the day's export revenue
under daily billing; buyers pay the day's average import cost instead of each slot's.

The rounding rule (shared with the on-chain contracts). Money is integer µ€. The market is a
community account: buyers pay into it, sellers are paid out of it, the grid is paid out of it for
net import and pays into it for net export. Every transfer into the account is rounded up, every
transfer out of it down, each from its exact rational amount with integer arithmetic only::

    a buyer with d Wh at price P pays     ceil(d·P/1000)  µ€   (payment > 0)
    a seller with s Wh at price P gets    floor(s·P/1000) µ€   (payment < 0)
    grid_bill = floor(import_wh·λb/1000) - ceil(export_wh·λs/1000)
    rounding  = sum of the payments - grid_bill      (0 <= rounding <= households + 2)

``rounding`` is the community's explicit rounding account, so that in every slot, exactly,
``payments.sum(axis=0) == grid_bill + rounding``. With a billing window a household can be a
buyer and a seller within one window, so the bound is 2·households + 2 per window. For
``"none"`` there is no account: ``grid_bill`` is the sum of the payments and ``rounding`` is 0.
Reported ``buy_price`` / ``sell_price`` are the exact prices floored to integer µ€/kWh, for
display only: payments come from the exact fractions.

Bounds, so that no intermediate overflows int64 in the kernels: prices in [0, MAX_PRICE]
(10 €/kWh); every energy value in [0, MAX_WH]; and the demand plus surplus priced at once (one
slot's D + G, or one billing window's) at most MAX_WH (400 GWh). Inputs outside raise
SettlementError (a ValueError).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import SettlementError
from ..units import MAX_PRICE, MAX_WH  # µ€/kWh (10 €/kWh); Wh (400 GWh)

METHODS = ("none", "mmr", "bill_sharing", "sdr")
ACC_METHODS = ("acc_static", "acc_dynamic_default", "acc_dynamic_simple")  # .acc_methods


@dataclass(frozen=True, eq=False)
class Settlement:
    """One community's settlement: per-slot arrays of shape (slots,), payments (households, slots).

    When many communities are settled at once every field gains a leading community axis.
    """

    payments: np.ndarray  # int64 µ€, positive = paid by the household, negative = received
    buy_price: np.ndarray  # int64 µ€/kWh, the buyers' exact price floored (display only)
    sell_price: np.ndarray  # int64 µ€/kWh, the sellers' exact price floored (display only)
    grid_import_wh: np.ndarray  # int64 Wh bought from the grid
    grid_export_wh: np.ndarray  # int64 Wh sold to the grid
    grid_bill: np.ndarray  # int64 µ€ paid to the grid, negative when the grid pays
    rounding: np.ndarray  # int64 µ€ kept by the community's rounding account


def settle(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike, grid_buy: npt.ArrayLike,
           grid_sell: npt.ArrayLike, method: str = "mmr", window: int | None = None) -> Settlement:
    """Settle one community: integer Wh arrays (households, slots) in, a :class:`Settlement` out.

    ``grid_buy`` / ``grid_sell`` are integer µ€/kWh, a scalar or one per slot; ``method`` is one
    of :data:`METHODS`; ``window`` (bill sharing only) bills every ``window`` slots instead of
    every slot. Raises SettlementError (a ValueError) naming the argument on bad input.
    """
    window = check_method(method, window)
    if method in ACC_METHODS:  # French collective self-consumption keys
        from daisee_lab.settlement import acc_methods, allocation_reference
        return acc_methods.settle_acc(consumption_wh, production_wh, grid_buy, grid_sell,
                                      method, allocation_reference.allocate)
    cons, prod = check_energy(consumption_wh, production_wh, ndim=2)
    households, slots = cons.shape
    buy, sell = check_prices(grid_buy, grid_sell, slots)
    for name, energy in (("consumption_wh", cons), ("production_wh", prod)):
        bad = np.argwhere((energy < 0) | (energy > MAX_WH))
        if len(bad):
            raise energy_error(name, energy, tuple(bad[0]))

    payments = np.zeros((households, slots), np.int64)
    per_slot = {name: np.zeros(slots, np.int64) for name in
                ("buy_price", "sell_price", "grid_import_wh", "grid_export_wh", "grid_bill",
                 "rounding")}
    for start in range(0, slots, window):
        stop = min(start + window, slots)
        net = cons[:, start:stop].astype(np.int64) - prod[:, start:stop]
        demand = np.maximum(net, 0).sum(axis=1).tolist()  # per household, over the window
        surplus = np.maximum(-net, 0).sum(axis=1).tolist()
        d_slots, g_slots = np.maximum(net, 0).sum(axis=0), np.maximum(-net, 0).sum(axis=0)
        total_d, total_g = sum(demand), sum(surplus)
        if total_d + total_g > MAX_WH:
            raise total_error(start, total_d + total_g)
        imports = np.maximum(d_slots - g_slots, 0).tolist()
        exports = np.maximum(g_slots - d_slots, 0).tolist()
        cost = sum(e * p for e, p in zip(imports, buy[start:stop].tolist()))  # Wh·µ€/kWh
        revenue = sum(e * p for e, p in zip(exports, sell[start:stop].tolist()))
        p_buy, p_sell = unit_prices(method, total_d, total_g, int(buy[stop - 1]),
                                    int(sell[stop - 1]), cost, revenue)

        paid = [pay_in(d, p_buy) - pay_out(s, p_sell) for d, s in zip(demand, surplus)]
        last = stop - 1
        payments[:, last] = paid
        per_slot["buy_price"][start:stop] = math.floor(p_buy)
        per_slot["sell_price"][start:stop] = math.floor(p_sell)
        if method == "none":
            per_slot["grid_import_wh"][start:stop] = d_slots
            per_slot["grid_export_wh"][start:stop] = g_slots
            per_slot["grid_bill"][last] = sum(paid)
        else:
            per_slot["grid_import_wh"][start:stop] = imports
            per_slot["grid_export_wh"][start:stop] = exports
            per_slot["grid_bill"][last] = cost // 1000 - (-(-revenue // 1000))
            per_slot["rounding"][last] = sum(paid) - per_slot["grid_bill"][last]
    return Settlement(payments=payments, **per_slot)


def unit_prices(method, demand, surplus, grid_buy, grid_sell, cost, revenue):
    """The exact (buy, sell) prices in µ€/kWh as Fractions, straight from the formulas.

    ``demand`` D and ``surplus`` G in Wh; ``cost`` and ``revenue`` (bill sharing) are the
    window's import_wh·λb and export_wh·λs sums.
    """
    lb, ls, d, g = grid_buy, grid_sell, demand, surplus
    if method == "none":
        return Fraction(lb), Fraction(ls)
    if method == "mmr":
        mid = Fraction(lb + ls, 2)
        if g == d:
            return mid, mid
        if g < d:
            return (mid * g + lb * (d - g)) / d, mid
        return mid, (mid * d + ls * (g - d)) / g
    if method == "sdr":
        if d == 0 or g >= d:
            return Fraction(ls), Fraction(ls)
        sdr = Fraction(g, d)
        denominator = (lb - ls) * sdr + ls
        p_sell = lb * ls / denominator if denominator else Fraction(0)
        return p_sell * sdr + lb * (1 - sdr), p_sell
    return (Fraction(cost, d) if d else Fraction(0)), (Fraction(revenue, g) if g else Fraction(0))


def pay_in(energy_wh, price):
    """µ€ a buyer pays into the community account for ``energy_wh`` at ``price``: rounded up."""
    return -(-energy_wh * price.numerator // (price.denominator * 1000))


def pay_out(energy_wh, price):
    """µ€ a seller is paid out of the community account for ``energy_wh`` at ``price``: rounded
    down."""
    return energy_wh * price.numerator // (price.denominator * 1000)


def kpis(import_wh: npt.ArrayLike, export_wh: npt.ArrayLike, grid_buy: npt.ArrayLike,
         grid_sell: npt.ArrayLike, method: str = "mmr", window: int | None = None, *,
         consumption_wh: npt.ArrayLike | None = None, production_wh: npt.ArrayLike | None = None,
         settle: Callable[..., Settlement] = settle) -> pd.DataFrame:
    """Key figures of a settlement as a DataFrame: one row per household, then ``"community"``.

    ``import_wh`` / ``export_wh`` (households, slots) are what each household's meter counts in
    each slot: the energy it draws from the street and injects into it. That is all a real
    community knows, and all a settlement needs (it uses each slot's net, their difference).
    What a house *uses* and what its panels *make* never fully reach the meter (the PV a house
    uses at once, or stores in its battery, does not cross it), so they cannot be recovered from
    meter data: give them as ``consumption_wh`` and ``production_wh`` (a simulation knows them)
    to get the behind-the-meter columns; without them those columns are left out, not guessed.

    Each row is an entity and its outside: a household's outside is the community and the grid,
    the community's is the grid. Columns, always: ``import_wh`` / ``export_wh`` (a household's
    positive / negative nets summed, the community's grid import / export); ``local_share``, the
    share of the energy drawn that came from neighbours rather than the grid (a household: in
    each slot, its draw times min(1, G/D), summed, over its draw; the community: 1 - grid import
    over the households' draws; NaN when nothing was drawn); ``paid_ueur`` (a household's
    payments, the community's grid bill), ``baseline_ueur`` (the same under ``"none"``) and
    ``savings_ueur`` = baseline - paid (negative: the method costs that household money). The
    community's savings are the households' plus the rounding account. With ``consumption_wh``
    and ``production_wh``, also: those sums, ``self_sufficiency`` = 1 - import/consumption (the
    share of its use a household covered itself, behind its meter; the community: 1 - grid
    import over the street's use) and ``self_consumption`` = 1 - export/production (NaN when the
    denominator is 0). ``settle`` chooses the implementation (this module's or the kernels').
    """
    result = settle(import_wh, export_wh, grid_buy, grid_sell, method, window)
    baseline = settle(import_wh, export_wh, grid_buy, grid_sell, "none")
    net = np.asarray(import_wh, np.int64) - np.asarray(export_wh, np.int64)
    drawn, injected = np.maximum(net, 0), np.maximum(-net, 0)
    demand, surplus = drawn.sum(axis=0), injected.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        served = np.where(demand > 0, np.minimum(1.0, surplus / np.maximum(demand, 1)), 0.0)
    local = np.append((drawn * served).sum(axis=1), np.minimum(demand, surplus).sum())
    table = pd.DataFrame({
        "import_wh": np.append(drawn.sum(axis=1), result.grid_import_wh.sum()),
        "export_wh": np.append(injected.sum(axis=1), result.grid_export_wh.sum()),
    }, index=pd.Index([*range(net.shape[0]), "community"], name="participant"))
    wanted = np.append(drawn.sum(axis=1), demand.sum())
    table["local_share"] = local / np.where(wanted > 0, wanted, np.nan)
    if (consumption_wh is None) != (production_wh is None):
        raise SettlementError("give both consumption_wh and production_wh (what each house uses "
                              "and what its panels make), or neither")
    if consumption_wh is not None and production_wh is not None:
        cons, prod = check_energy(consumption_wh, production_wh, ndim=2)
        if cons.shape != net.shape:
            raise SettlementError(f"consumption_wh has shape {cons.shape} but the meter data has "
                                  f"shape {net.shape}: they must match (households, slots)")
        cons, prod = cons.astype(np.int64), prod.astype(np.int64)
        table.insert(0, "consumption_wh", np.append(cons.sum(axis=1), cons.sum()))
        table.insert(1, "production_wh", np.append(prod.sum(axis=1), prod.sum()))
        with np.errstate(divide="ignore", invalid="ignore"):
            used, made = (table[name].replace(0, np.nan)
                          for name in ("consumption_wh", "production_wh"))
            table["self_sufficiency"] = 1 - table.import_wh / used
            table["self_consumption"] = 1 - table.export_wh / made
    table["paid_ueur"] = np.append(result.payments.sum(axis=1), result.grid_bill.sum())
    table["baseline_ueur"] = np.append(baseline.payments.sum(axis=1), baseline.grid_bill.sum())
    table["savings_ueur"] = table.baseline_ueur - table.paid_ueur
    return table


# --- validation, shared with the kernels --------------------------------------------------------

def check_method(method: str, window: int | None) -> int:
    """Validate ``method`` and ``window``; return the window length in slots (1 = every slot)."""
    if method not in METHODS + ACC_METHODS:
        raise SettlementError(f"method must be one of {METHODS + ACC_METHODS}, got {method!r}")
    if window is None:
        return 1
    if method != "bill_sharing":
        raise SettlementError(f"window applies to method='bill_sharing' only, got "
                              f"window={window!r} with method={method!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise SettlementError(f"window must be a positive number of slots (96 = daily billing), "
                              f"got {window!r}")
    return int(window)


def check_energy(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike,
                 ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Both energy arrays: C-contiguous, one dtype (int32 or int64), one shape; values unchecked."""
    arrays = []
    for name, value in (("consumption_wh", consumption_wh), ("production_wh", production_wh)):
        array = np.asarray(value)
        if array.dtype.kind not in "iu":
            hint = " (NaN is not an energy: fill or drop missing readings first)" \
                if array.dtype.kind == "f" and np.isnan(array).any() else ""
            raise SettlementError(f"{name} must be an integer array of Wh, got dtype "
                                  f"{array.dtype}{hint}")
        if array.ndim != ndim:
            axes = "(households, slots)" if ndim == 2 else "(communities, households, slots)"
            raise SettlementError(f"{name} must be {ndim}-D {axes}, got shape {array.shape}")
        if array.dtype == np.uint64 and array.size and array.max() > MAX_WH:
            raise energy_error(name, array, np.unravel_index(array.argmax(), array.shape))
        arrays.append(array)
    cons, prod = arrays
    if cons.shape != prod.shape:
        raise SettlementError(f"production_wh has shape {prod.shape} but consumption_wh has shape "
                              f"{cons.shape}: they must match")
    small = all(a.dtype.itemsize < 4 or a.dtype == np.int32 for a in arrays)
    dtype = np.int32 if small else np.int64
    return np.ascontiguousarray(cons, dtype), np.ascontiguousarray(prod, dtype)


def check_prices(grid_buy: npt.ArrayLike, grid_sell: npt.ArrayLike,
                 slots: int) -> tuple[np.ndarray, np.ndarray]:
    """Both prices as int64 arrays of length ``slots``, in range, with grid_sell <= grid_buy."""
    prices = []
    for name, value in (("grid_buy", grid_buy), ("grid_sell", grid_sell)):
        array = np.asarray(value)
        if array.dtype.kind not in "iu":
            raise SettlementError(f"{name} must be integer µ€/kWh (a scalar or one per slot), "
                                  f"got dtype {array.dtype}")
        if array.ndim == 0:
            array = np.full(slots, array)
        if array.shape != (slots,):
            raise SettlementError(f"{name} must be a scalar or have one price per slot ({slots}), "
                                  f"got shape {array.shape}")
        bad = np.flatnonzero((array < 0) | (array > MAX_PRICE))
        if bad.size:
            raise SettlementError(f"{name} must be in [0, {MAX_PRICE}] µ€/kWh, got "
                                  f"{array[bad[0]]} at slot {bad[0]}")
        prices.append(array.astype(np.int64))
    buy, sell = prices
    bad = np.flatnonzero(sell > buy)
    if bad.size:
        t = bad[0]
        raise SettlementError(f"grid_sell must not exceed grid_buy, got grid_sell={sell[t]} > "
                              f"grid_buy={buy[t]} at slot {t}")
    return buy, sell


def energy_error(name, array, index, bound=MAX_WH):
    """The SettlementError for an energy value out of [0, `bound`] at ``index``."""
    where = ", ".join(str(int(i)) for i in index)
    return SettlementError(f"{name} must hold Wh in [0, {bound}], got {array[tuple(index)]} "
                           f"at [{where}]")


def total_error(slot, total):
    """The SettlementError for a slot's (or billing window's) demand plus surplus above MAX_WH."""
    return SettlementError(f"consumption_wh and production_wh: the demand plus surplus priced at "
                           f"slot {slot} is {total} Wh, above the bound {MAX_WH} Wh; settle "
                           f"smaller communities or use a shorter window")
