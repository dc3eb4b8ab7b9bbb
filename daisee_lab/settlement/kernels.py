"""Community pricing, the numba kernels: the same integers as :mod:`.reference`, fast.

The method definitions, the rounding rule and the input bounds are those of
:mod:`daisee_lab.settlement.reference`; read them there. This module only computes them faster,
in three passes over a stack of communities (communities, households, slots):

1. ``_sums``: each slot's demand D and surplus G, summed by chunks of households in parallel
   (``prange``), with the smallest and largest energy seen, to validate the input in the same pass.
2. ``_prices``: each slot's (or billing window's) prices, grid import, export and bill. A price is
   kept as an exact mixed number, buyers ``q + r1/b1 + r2/b2`` (two fractions only for SDR's
   buyers), sellers ``q + r/b``; the few products that exceed 64 bits (SDR's λb·λs·D) use the
   128-bit helpers of :mod:`.intmath`.
3. ``_payments``: every household's payment, by chunks of households in parallel and tiles of
   slots. A payment e·price/1000 is ``e·q + (e·r1) // b1 + ...`` rounded by the rule. x86 has no
   vector integer division, so the fast path divides in float64 and corrects the quotient in
   integers (:func:`.intmath.div_via_float`, exact for x < 2**63 and x/b < 2**50); slots whose
   values could break those conditions (near the input bounds) take an exact integer path.

Dask workers call the ``_serial`` twins of the parallel drivers: Dask already runs one task per
core, and numba's workqueue threading layer must not be entered from two threads at once.
"""

import numba
import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit, prange

from ..units import MAX_WH
from . import reference
from .intmath import compare_products, div_via_float, divmod128, mul128
from .reference import (Settlement, check_energy, check_method, check_prices, energy_error,
                        total_error)

_METHOD_CODES = {"none": 0, "mmr": 1, "bill_sharing": 2, "sdr": 3}
_NONE, _MMR, _BILL_SHARING, _SDR = 0, 1, 2, 3
_INT64_MAX = np.iinfo(np.int64).max
_FLOAT_EXACT = 2**53 - 1000  # below this, int64 -> float64 is exact, with room for a ceil's +1000
_TILE = 1024  # slots per tile in the payment pass: the tile's prices stay in cache
# below these sizes (household-slots, windows) one thread beats waking the thread pool
_PARALLEL_MIN, _PARALLEL_MIN_WINDOWS = 1 << 20, 1 << 17
# price parameters per slot, in the rows of one int64 array
_BQ, _BR1, _BB1, _BR2, _BB2, _SQ, _SR, _SB, _FAST = range(9)


def settle(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike, grid_buy: npt.ArrayLike,
           grid_sell: npt.ArrayLike, method: str = "mmr", window: int | None = None) -> Settlement:
    """Settle one community, exactly as :func:`.reference.settle` does, with the numba kernels."""
    cons, prod = check_energy(consumption_wh, production_wh, ndim=2)
    result = settle_stack(cons[None], prod[None], grid_buy, grid_sell, method, window)
    return Settlement(**{name: value[0] for name, value in vars(result).items()})


def settle_stack(consumption_wh: npt.ArrayLike, production_wh: npt.ArrayLike,
                 grid_buy: npt.ArrayLike, grid_sell: npt.ArrayLike, method: str = "mmr",
                 window: int | None = None, parallel: bool = True) -> Settlement:
    """Settle a stack of communities (communities, households, slots), each on its own slot sums.

    The prices are shared by all communities. Every field of the returned :class:`Settlement`
    gains a leading community axis. ``parallel=False`` stays on the calling thread (for Dask).
    """
    window = check_method(method, window)
    cons, prod = check_energy(consumption_wh, production_wh, ndim=3)
    buy, sell = check_prices(grid_buy, grid_sell, cons.shape[2])
    if method in reference.ACC_METHODS:  # French ACC keys, one operation at a time
        return _settle_acc_stack(cons, prod, buy, sell, method, parallel)
    parallel = parallel and cons.size >= _PARALLEL_MIN
    tasks = 4 * numba.get_num_threads() if parallel else 1  # a few per thread, for balance
    demand, surplus = _slot_sums(cons, prod, tasks, parallel)
    fields, params = _slot_prices(demand, surplus, buy, sell, method, window, tasks, parallel)
    payments, paid = _household_payments(cons, prod, params, window, tasks, parallel)
    buy_price, sell_price, grid_import, grid_export, grid_bill, rounding = fields
    if method == "none":
        grid_bill[...] = paid
    else:
        rounding[...] = paid - grid_bill
    return Settlement(payments, buy_price, sell_price, grid_import, grid_export, grid_bill,
                      rounding)


def _settle_acc_stack(cons, prod, buy, sell, method, parallel):
    """Each community of the stack settled under an ACC key by the allocation kernels."""
    from functools import partial

    from daisee_lab.settlement import acc_methods, allocation
    allocate = partial(allocation.allocate, parallel=parallel)
    results = [acc_methods.settle_acc(c, p, buy, sell, method, allocate)
               for c, p in zip(cons, prod)]
    return Settlement(*(np.stack(values) for values in zip(*(vars(r).values()
                                                            for r in results))))


def kpis(import_wh: npt.ArrayLike, export_wh: npt.ArrayLike, grid_buy: npt.ArrayLike,
         grid_sell: npt.ArrayLike, method: str = "mmr", window: int | None = None, *,
         consumption_wh: npt.ArrayLike | None = None,
         production_wh: npt.ArrayLike | None = None) -> pd.DataFrame:
    """The table of :func:`.reference.kpis`, computed with the kernels."""
    return reference.kpis(import_wh, export_wh, grid_buy, grid_sell, method, window,
                          consumption_wh=consumption_wh, production_wh=production_wh,
                          settle=settle)


def _chunks(tasks, communities, size):
    """How many parts to cut each community's households (or windows) into."""
    return max(1, min(size, -(-tasks // communities)))


def _slot_sums(cons, prod, tasks, parallel):
    """Pass 1: each slot's demand D and surplus G (communities, slots); raises on bad values."""
    communities, households, slots = cons.shape
    chunks = _chunks(tasks, communities, households)
    d_parts = np.zeros((communities, chunks, slots), np.int64)
    g_parts = np.zeros((communities, chunks, slots), np.int64)
    extremes = np.zeros((communities, chunks, 4), np.int64)  # min, max of consumption, production
    (_sums_parallel if parallel else _sums_serial)(cons, prod, d_parts, g_parts, extremes)
    for name, energy, low, high in (("consumption_wh", cons, 0, 1), ("production_wh", prod, 2, 3)):
        if (extremes[..., low] < 0).any() or (extremes[..., high] > MAX_WH).any():
            index = tuple(np.argwhere((energy < 0) | (energy > MAX_WH))[0])
            raise energy_error(name, energy[0], index[1:]) if communities == 1 \
                else energy_error(name, energy, index)
    return d_parts.sum(axis=1), g_parts.sum(axis=1)


def _slot_prices(demand, surplus, buy, sell, method, window, tasks, parallel):
    """Pass 2: the Settlement's per-slot fields (6, communities, slots) and the price parameters
    (communities, 9, slots), each window's at its last slot; raises if a window is too large."""
    communities, slots = demand.shape
    starts = np.arange(0, slots, window)
    totals = np.add.reduceat(demand + surplus, starts, axis=1) if slots else demand
    if (totals > MAX_WH).any():
        c, w = np.argwhere(totals > MAX_WH)[0]
        raise total_error(starts[w], int(totals[c, w]))
    fields = np.zeros((6, communities, slots), np.int64)
    params = np.zeros((communities, 9, slots), np.int64)
    parallel = parallel and communities * len(starts) >= _PARALLEL_MIN_WINDOWS
    parts = _chunks(tasks, communities, len(starts)) if parallel else 1
    (_prices_parallel if parallel else _prices_serial)(
        demand, surplus, buy, sell, _METHOD_CODES[method], window, parts, fields, params)
    return fields, params


def _household_payments(cons, prod, params, window, tasks, parallel):
    """Pass 3: every payment (communities, households, slots) and their sums per slot."""
    communities, households, slots = cons.shape
    chunks = _chunks(tasks, communities, households)
    inverses = np.ascontiguousarray(1.0 / params[:, [_BB1, _BB2, _SB]]) if window == 1 \
        else np.ones((communities, 3, 1))  # only the per-slot fast path divides in float
    payments = np.zeros(cons.shape, np.int64)
    paid_parts = np.zeros((communities, chunks, slots), np.int64)
    (_payments_parallel if parallel else _payments_serial)(
        cons, prod, params, inverses, window, payments, paid_parts)
    return payments, paid_parts.sum(axis=1)


# --- pass 1: slot sums ----------------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _sums_parallel(cons, prod, d_parts, g_parts, extremes):
    chunks = d_parts.shape[1]
    for task in prange(cons.shape[0] * chunks):
        _sums_task(cons, prod, task // chunks, task % chunks, d_parts, g_parts, extremes)


@njit(cache=True, nogil=True)
def _sums_serial(cons, prod, d_parts, g_parts, extremes):
    chunks = d_parts.shape[1]
    for task in range(cons.shape[0] * chunks):
        _sums_task(cons, prod, task // chunks, task % chunks, d_parts, g_parts, extremes)


@njit(cache=True, nogil=True)
def _sums_task(cons, prod, c, k, d_parts, g_parts, extremes):
    """Community ``c``, household chunk ``k``: partial D and G per slot, and the extreme values."""
    h0, h1 = _chunk(cons.shape[1], d_parts.shape[1], k)
    d, g = d_parts[c, k], g_parts[c, k]
    c_lo = p_lo = np.int64(0)
    c_hi = p_hi = np.int64(0)
    for h in range(h0, h1):
        for t in range(cons.shape[2]):
            x = np.int64(cons[c, h, t])
            y = np.int64(prod[c, h, t])
            c_lo, c_hi = min(c_lo, x), max(c_hi, x)
            p_lo, p_hi = min(p_lo, y), max(p_hi, y)
            d[t] += max(x - y, 0)
            g[t] += max(y - x, 0)
    extremes[c, k, 0], extremes[c, k, 1] = c_lo, c_hi
    extremes[c, k, 2], extremes[c, k, 3] = p_lo, p_hi


@njit(cache=True, nogil=True)
def _chunk(items, chunks, k):
    """The range [start, stop) of part ``k`` when ``items`` are cut into ``chunks`` parts."""
    size = (items + chunks - 1) // chunks
    return min(items, k * size), min(items, (k + 1) * size)


# --- pass 2: prices -------------------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _prices_parallel(demand, surplus, buy, sell, method, window, parts, fields, params):
    for task in prange(demand.shape[0] * parts):
        _prices_task(demand, surplus, buy, sell, method, window, task // parts, task % parts,
                     parts, fields, params)


@njit(cache=True, nogil=True)
def _prices_serial(demand, surplus, buy, sell, method, window, parts, fields, params):
    for task in range(demand.shape[0] * parts):
        _prices_task(demand, surplus, buy, sell, method, window, task // parts, task % parts,
                     parts, fields, params)


@njit(cache=True, nogil=True, error_model="numpy")
def _prices_task(demand, surplus, buy, sell, method, window, c, k, parts, fields, params):
    """Community ``c``, part ``k`` of its windows: grid flows, bills and prices.

    A window's price parameters are stored at its last slot."""
    slots = demand.shape[1]
    w0, w1 = _chunk((slots + window - 1) // window, parts, k)
    for start in range(w0 * window, min(w1 * window, slots), window):
        stop = min(start + window, slots)
        last = stop - 1
        d = g = cost = revenue = 0
        for t in range(start, stop):
            imp = max(demand[c, t] - surplus[c, t], 0)
            exp = max(surplus[c, t] - demand[c, t], 0)
            fields[2, c, t] = demand[c, t] if method == _NONE else imp
            fields[3, c, t] = surplus[c, t] if method == _NONE else exp
            d += demand[c, t]
            g += surplus[c, t]
            cost += imp * buy[t]
            revenue += exp * sell[t]
        bq, br1, bb1, br2, bb2, sq, sr, sb = _unit_prices(method, d, g, buy[last], sell[last],
                                                          cost, revenue)
        fast = d <= _limit(br1) and d <= _limit(br2) and g <= _limit(sr)
        fast = fast and d * (bq + 3) < _FLOAT_EXACT and g * (sq + 1) < _FLOAT_EXACT
        for i, value in enumerate((bq, br1, bb1, br2, bb2, sq, sr, sb, np.int64(fast))):
            params[c, i, last] = value
        floor = _floor_price(bq, br1, bb1, br2, bb2)
        for t in range(start, stop):
            fields[0, c, t] = floor
            fields[1, c, t] = sq
        if method != _NONE:
            fields[4, c, last] = cost // 1000 - (-(-revenue // 1000))


@njit(cache=True, nogil=True, error_model="numpy")
def _unit_prices(method, d, g, lb, ls, cost, revenue):
    """The exact prices of :func:`.reference.unit_prices` as mixed numbers: buyers
    q + r1/b1 + r2/b2, sellers q + r/b, returned as (q, r1, b1, r2, b2, q, r, b)."""
    bq, br1, bb1, br2, bb2 = lb, 0, 1, 0, 1
    sq, sr, sb = ls, 0, 1
    if method == _MMR:
        mid2 = lb + ls  # 2·Pmid
        bq, br1, bb1 = mid2 // 2, mid2 % 2, 2
        sq, sr, sb = bq, br1, bb1
        if g < d:
            num = mid2 * g + 2 * lb * (d - g)
            bq, br1, bb1 = num // (2 * d), num % (2 * d), 2 * d
        elif g > d:
            num = mid2 * d + 2 * ls * (g - d)
            sq, sr, sb = num // (2 * g), num % (2 * g), 2 * g
    elif method == _SDR:
        if d == 0 or g >= d:
            bq = ls
        else:  # Psell = λb·λs·D/Q, Pbuy = λb·λs·G/Q + λb·(D-G)/D, Q = (λb-λs)·G + λs·D
            q = (lb - ls) * g + ls * d
            bq, br2, bb2 = lb * (d - g) // d, lb * (d - g) % d, d
            sq = 0
            if q > 0:
                hi, lo = mul128(lb * ls, d)
                sq, sr = divmod128(hi, lo, q)
                sb = q
                hi, lo = mul128(lb * ls, g)
                q1, br1 = divmod128(hi, lo, q)
                bq += q1
                bb1 = q
    elif method == _BILL_SHARING:
        bq = sq = 0
        if d > 0:
            bq, br1, bb1 = cost // d, cost % d, d
        if g > 0:
            sq, sr, sb = revenue // g, revenue % g, g
    return bq, br1, bb1, br2, bb2, sq, sr, sb


# --- pass 3: payments -----------------------------------------------------------------------

@njit(parallel=True, cache=True, nogil=True)
def _payments_parallel(cons, prod, params, inverses, window, out, paid_parts):
    chunks = paid_parts.shape[1]
    for task in prange(cons.shape[0] * chunks):
        _payments_task(cons, prod, params, inverses, window, task // chunks, task % chunks, out,
                       paid_parts)


@njit(cache=True, nogil=True)
def _payments_serial(cons, prod, params, inverses, window, out, paid_parts):
    chunks = paid_parts.shape[1]
    for task in range(cons.shape[0] * chunks):
        _payments_task(cons, prod, params, inverses, window, task // chunks, task % chunks, out,
                       paid_parts)


@njit(cache=True, nogil=True, error_model="numpy")
def _payments_task(cons, prod, params, inverses, window, c, k, out, paid_parts):
    """Community ``c``, household chunk ``k``: payments, and their partial sums per slot."""
    h0, h1 = _chunk(cons.shape[1], paid_parts.shape[1], k)
    slots = cons.shape[2]
    paid = paid_parts[c, k]
    p = params[c]
    if window > 1:
        for h in range(h0, h1):
            for start in range(0, slots, window):
                stop = min(start + window, slots)
                demand = surplus = np.int64(0)
                for t in range(start, stop):
                    e = np.int64(cons[c, h, t]) - np.int64(prod[c, h, t])
                    demand += max(e, np.int64(0))
                    surplus += max(-e, np.int64(0))
                amount = _amount_exact(demand, surplus, p[:, stop - 1])
                out[c, h, stop - 1] = amount
                paid[stop - 1] += amount
        return
    inv = inverses[c]
    for t0 in range(0, slots, _TILE):
        t1 = min(t0 + _TILE, slots)
        if not p[_FAST, t0:t1].all():
            for h in range(h0, h1):
                for t in range(t0, t1):
                    e = np.int64(cons[c, h, t]) - np.int64(prod[c, h, t])
                    amount = _amount_exact(max(e, 0), max(-e, 0), p[:, t])
                    out[c, h, t] = amount
                    paid[t] += amount
        elif p[_BR2, t0:t1].any():
            _rows_two_fractions(cons[c], prod[c], h0, h1, t0, t1, p, inv, out[c], paid)
        else:
            _rows_one_fraction(cons[c], prod[c], h0, h1, t0, t1, p, inv, out[c], paid)


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_one_fraction(cons, prod, h0, h1, t0, t1, p, inv, out, paid):
    """The fast path: buyers' and sellers' prices q + r/b (1-D slices from 0 let LLVM vectorise)."""
    bq, br, bb, bi = p[_BQ, t0:t1], p[_BR1, t0:t1], p[_BB1, t0:t1], inv[0, t0:t1]
    sq, sr, sb, si = p[_SQ, t0:t1], p[_SR, t0:t1], p[_SB, t0:t1], inv[2, t0:t1]
    total = paid[t0:t1]
    for h in range(h0, h1):
        c_row, p_row, o_row = cons[h, t0:t1], prod[h, t0:t1], out[h, t0:t1]
        for j in range(t1 - t0):
            e = np.int64(c_row[j]) - np.int64(p_row[j])
            d = max(e, 0)
            s = max(-e, 0)
            q1, f1 = div_via_float(d * br[j], bb[j], bi[j])
            pay = div_via_float(d * bq[j] + q1 + 999 + (1 if f1 > 0 else 0), 1000, 0.001)[0]
            qs = div_via_float(s * sr[j], sb[j], si[j])[0]
            amount = pay - div_via_float(s * sq[j] + qs, 1000, 0.001)[0]
            o_row[j] = amount
            total[j] += amount


@njit(cache=True, nogil=True, error_model="numpy")
def _rows_two_fractions(cons, prod, h0, h1, t0, t1, p, inv, out, paid):
    """The fast path for buyers' prices q + r1/b1 + r2/b2 (SDR)."""
    bq, br1, bb1, bi1 = p[_BQ, t0:t1], p[_BR1, t0:t1], p[_BB1, t0:t1], inv[0, t0:t1]
    br2, bb2, bi2 = p[_BR2, t0:t1], p[_BB2, t0:t1], inv[1, t0:t1]
    sq, sr, sb, si = p[_SQ, t0:t1], p[_SR, t0:t1], p[_SB, t0:t1], inv[2, t0:t1]
    total = paid[t0:t1]
    for h in range(h0, h1):
        c_row, p_row, o_row = cons[h, t0:t1], prod[h, t0:t1], out[h, t0:t1]
        for j in range(t1 - t0):
            e = np.int64(c_row[j]) - np.int64(p_row[j])
            d = max(e, 0)
            s = max(-e, 0)
            q1, f1 = div_via_float(d * br1[j], bb1[j], bi1[j])
            q2, f2 = div_via_float(d * br2[j], bb2[j], bi2[j])
            order = compare_products(f1, bb2[j], bb2[j] - f2, bb1[j])  # f1/b1 + f2/b2 >= 1 ?
            carry = 1 if order >= 0 else 0
            left = 0 if (f1 == 0 and f2 == 0) or order == 0 else 1  # a fraction still left
            pay = div_via_float(d * bq[j] + q1 + q2 + carry + 999 + left, 1000, 0.001)[0]
            qs = div_via_float(s * sr[j], sb[j], si[j])[0]
            amount = pay - div_via_float(s * sq[j] + qs, 1000, 0.001)[0]
            o_row[j] = amount
            total[j] += amount


@njit(cache=True, nogil=True, error_model="numpy")
def _amount_exact(demand, surplus, p):
    """A household's payment for ``demand`` and ``surplus`` Wh at prices ``p``, all-integer."""
    amount = 0
    if demand > 0:
        m, f1 = _scaled(demand, p[_BQ], p[_BR1], p[_BB1])
        exact = f1 == 0
        if p[_BR2] != 0:
            m2, f2 = _scaled(demand, 0, p[_BR2], p[_BB2])
            m += m2
            if f2 != 0:
                order = compare_products(f1, p[_BB2], p[_BB2] - f2, p[_BB1])
                if order >= 0:
                    m += 1
                exact = order == 0
        amount = m // 1000 + (0 if exact and m % 1000 == 0 else 1)
    if surplus > 0:
        amount -= _scaled(surplus, p[_SQ], p[_SR], p[_SB])[0] // 1000
    return amount


@njit(cache=True, nogil=True, error_model="numpy")
def _scaled(e, q, r, b):
    """e·(q + r/b) as (whole, remainder): whole + remainder/b, with 0 <= remainder < b."""
    whole = e * q
    if r == 0:
        return whole, 0
    if e <= _limit(r):
        x = e * r
        return whole + x // b, x % b
    hi, lo = mul128(e, r)
    m, f = divmod128(hi, lo, b)
    return whole + m, f


@njit(cache=True, nogil=True, error_model="numpy")
def _limit(r):
    """The largest e with e·r <= INT64_MAX."""
    return _INT64_MAX // r if r > 0 else _INT64_MAX


@njit(cache=True, nogil=True, error_model="numpy")
def _floor_price(q, r1, b1, r2, b2):
    """floor(q + r1/b1 + r2/b2)."""
    if r1 != 0 and r2 != 0 and compare_products(r1, b2, b2 - r2, b1) >= 0:
        return q + 1
    return q
